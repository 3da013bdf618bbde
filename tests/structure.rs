//! The code's shape, checked: no import cycle between the crate's top-level modules, no
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

/// The top-level module a file of `src/` belongs to (`src/report/html.rs` -> `report`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let m = first.trim_end_matches(".rs").to_string();
    (!matches!(m.as_str(), "lib" | "main")).then_some(m)
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files(&["src"]) {
        let Some(from) = module_of(&f) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = graph.entry(from.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            // `crate::{a, b}` groups are not used in this code base
            if !name.is_empty() && name != from && name.chars().next().is_some_and(char::is_lowercase) {
                deps.insert(name);
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

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph();
    assert!(graph.get("compare").is_some_and(|d| d.contains("results")), "the scan sees imports: {graph:?}");
    for node in graph.keys() {
        if let Some(c) = cycle_from(&graph, node, &mut Vec::new()) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(cycle_from(&g, "a", &mut Vec::new()), Some(vec!["a".into(), "b".into(), "a".into()]));
}

const SOURCES: &[&str] = &["src", "engine/src", "tests", "benches"];

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
