//! The code's shape, checked: no import cycle between the top-level modules of either
//! crate (the harness in `src/`, the engine in `engine/src/`), no
//! `.rs` file over 400 lines, and no function over 80 lines unless the comment above it
//! says why it is long.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn files(dirs: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = Vec::new();
    for d in dirs {
        rust_files(&root.join(d), &mut v);
    }
    v.sort();
    v
}

/// The module path of a file under `src` (`report/html.rs` -> [report, html],
/// `gguf/mod.rs` -> [gguf], `lib.rs` -> []).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The names a path names after its prefix: `x` in `x::y`, `a` and `b` in `{a, b::c}`.
fn path_heads(rest: &str) -> Vec<String> {
    let ident = |s: &str| s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    match rest.strip_prefix('{') {
        Some(group) => {
            let mut heads = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        heads.push(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        heads.push(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            heads
        }
        None => vec![ident(rest)],
    }
}

/// Which top-level modules each top-level module of the crate in `src` uses, by any
/// path form: `crate::x`, `<crate name>::x`, `super::x` (and `super::super::x`) resolved
/// from the file's place, and `{a, b}` groups. A file's `#[cfg(test)]` tail (its tests
/// module, whose `super` is the file itself) is not scanned.
fn module_graph(src: &str, crate_name: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files(&[src]) {
        let here = module_path(&root, &f);
        let Some(from) = here.first().cloned() else { continue };
        let full = std::fs::read_to_string(&f).unwrap();
        let text = full.split("#[cfg(test)]\nmod tests").next().unwrap_or(&full);
        let deps = graph.entry(from.clone()).or_default();
        let mut targets = Vec::new();
        for prefix in ["crate::".to_string(), format!("{crate_name}::")] {
            for (i, _) in text.match_indices(prefix.as_str()) {
                // `engine::` inside `mlxbench_engine::`, or `crate::` inside `$crate::`
                if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
                    continue;
                }
                targets.extend(path_heads(&text[i + prefix.len()..]));
            }
        }
        for (i, _) in text.match_indices("super::") {
            if text[..i].ends_with("super::") || text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue; // counted from the first `super::` of the chain
            }
            let mut rest = &text[i..];
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            let base = &here[..here.len().saturating_sub(up)];
            targets.extend(path_heads(rest).into_iter().map(|h| base.first().cloned().unwrap_or(h)));
        }
        for t in targets {
            if !t.is_empty() && t != from && t.chars().next().is_some_and(char::is_lowercase) && t != "self" {
                deps.insert(t);
            }
        }
    }
    graph
}

fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, node: &str, path: &mut Vec<String>) -> Option<Vec<String>> {
    if let Some(pos) = path.iter().position(|p| p == node) {
        let mut c = path[pos..].to_vec();
        c.push(node.to_string());
        return Some(c);
    }
    path.push(node.to_string());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = cycle_from(graph, next, path) {
            return Some(c);
        }
    }
    path.pop();
    None
}

fn assert_acyclic(graph: &BTreeMap<String, BTreeSet<String>>) {
    for node in graph.keys() {
        if let Some(c) = cycle_from(graph, node, &mut Vec::new()) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph("src", "mlxbench");
    assert!(graph.get("compare").is_some_and(|d| d.contains("results")), "the scan sees imports: {graph:?}");
    assert_acyclic(&graph);
}

#[test]
fn the_engines_modules_import_each_other_without_cycles() {
    let graph = module_graph("engine/src", "mlxbench_engine");
    // `super::config` in linear.rs and `crate::files` in model.rs are both seen
    assert!(graph.get("linear").is_some_and(|d| d.contains("config")), "the scan sees super:: paths: {graph:?}");
    assert!(graph.get("model").is_some_and(|d| d.contains("files")), "the scan sees crate:: paths: {graph:?}");
    assert!(graph.get("gguf").is_some_and(|d| d.contains("error")), "the scan sees nested files: {graph:?}");
    assert_acyclic(&graph);
}

#[test]
fn every_path_form_is_resolved_from_the_files_place() {
    assert_eq!(path_heads("x::y;"), ["x"]);
    assert_eq!(path_heads("{a, b::{c, d}, e}"), ["a", "b", "e"]);
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(cycle_from(&g, "a", &mut Vec::new()), Some(vec!["a".into(), "b".into(), "a".into()]));
}

const SOURCES: &[&str] = &["src", "engine/src", "vocab/src", "tests", "benches"];

#[test]
fn no_rust_file_over_400_lines() {
    let long: Vec<String> = files(SOURCES)
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (n > 400).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

/// `(name, first line, lines)` of every function longer than `limit` lines whose comment
/// block above does not say why it is long (rustfmt layout: a body ends at a `}` at the
/// signature's indentation).
fn long_functions(text: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let is_fn = ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn ", "pub(super) fn "].iter().any(|p| t.starts_with(p));
        if !is_fn || t.ends_with(';') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        let Some(end) = lines[i..].iter().position(|l| *l == close) else { continue };
        if end < limit {
            continue;
        }
        let comments: String =
            lines[..i].iter().rev().take_while(|l| l.trim_start().starts_with("//") || l.trim_start().starts_with("#[")).copied().collect();
        if !comments.to_lowercase().contains("long") && !comments.to_lowercase().contains("kept whole") {
            let name = t.split('(').next().unwrap_or(t).to_string();
            out.push((name, i + 1, end + 1));
        }
    }
    out
}

#[test]
fn no_function_over_80_lines_without_a_reason() {
    let mut long = Vec::new();
    for f in files(SOURCES) {
        for (name, line, n) in long_functions(&std::fs::read_to_string(&f).unwrap(), 80) {
            long.push(format!("{}:{line} {name} ({n} lines)", f.display()));
        }
    }
    assert!(long.is_empty(), "shorten these or say why they are long in the comment above: {long:#?}");
}

#[test]
fn the_function_length_check_sees_a_long_function() {
    let body = "    let x = 1;\n".repeat(90);
    let long = format!("fn big() {{\n{body}}}\n");
    assert_eq!(long_functions(&long, 80).len(), 1);
    let excused = format!("// long: one table of cases\n{long}");
    assert!(long_functions(&excused, 80).is_empty());
}
