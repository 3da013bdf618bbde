//! Parsing and semantic checks. Every problem becomes a [`Diagnostic`] naming the file,
//! the 1-based line and column, and the dotted key; all problems of a file are reported
//! together.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::BackendKind;
use super::plan::{self, Plan};
use super::schema::ScenarioSpec;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: `{}`: {}", self.file.display(), self.line, self.column, self.key, self.message)
    }
}

/// Why a scenario could not be turned into a plan.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid scenario {}:\n{}", path.display(), join(.diagnostics))]
    Invalid { path: PathBuf, diagnostics: Vec<Diagnostic> },
}

fn join(d: &[Diagnostic]) -> String {
    d.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
}

/// Most cases one scenario may expand into.
pub const MAX_CASES: u64 = 100_000;

/// Reads, validates and expands one scenario file (files.rs reads it, bounded).
pub fn load_file(path: &Path) -> Result<Plan, ScenarioError> {
    let src = super::files::read_scenario(path).map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })?;
    parse_str(&src, path)
}

/// Validates and expands scenario text; `path` names it in errors and anchors
/// `prompt_file` and `launch` (its parent folder).
pub fn parse_str(src: &str, path: &Path) -> Result<Plan, ScenarioError> {
    let mut cx = Checker { src, path, diagnostics: Vec::new(), kinds: Vec::new() };
    let spec: ScenarioSpec = match toml::from_str(src) {
        Ok(spec) => spec,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let key =
                key_from_message(&message).map(|k| qualify(&table_at(src, span.start), &k)).unwrap_or_else(|| key_at(src, span.start));
            cx.push_at(span.start, key, message);
            return Err(cx.into_error());
        }
    };
    cx.check(&spec);
    let base_dir = scenario_dir(path);
    let prompts = if cx.diagnostics.is_empty() { cx.read_prompt_files(&spec, &base_dir) } else { Vec::new() };
    if !cx.diagnostics.is_empty() {
        return Err(cx.into_error());
    }
    let sha = Sha256::digest(src.as_bytes());
    let source_sha256 = sha.iter().map(|b| format!("{b:02x}")).collect();
    // no diagnostics: every target's backend was known, in order
    Ok(plan::expand(spec, &cx.kinds, prompts, path.to_path_buf(), base_dir, source_sha256))
}

/// The folder a scenario's relative paths mean, absolute: a bare file name means the
/// current folder (not the empty path, which no process can run in).
fn scenario_dir(path: &Path) -> PathBuf {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    }
}

struct Checker<'a> {
    src: &'a str,
    path: &'a Path,
    diagnostics: Vec<Diagnostic>,
    /// Each known target's backend, in order (all of them when nothing was wrong).
    kinds: Vec<BackendKind>,
}

impl Checker<'_> {
    fn into_error(self) -> ScenarioError {
        ScenarioError::Invalid { path: self.path.to_path_buf(), diagnostics: self.diagnostics }
    }

    fn push_at(&mut self, offset: usize, key: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_col(self.src, offset);
        self.diagnostics.push(Diagnostic { file: self.path.to_path_buf(), line, column, key: key.into(), message: message.into() });
    }

    fn push<T>(&mut self, at: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) {
        self.push_at(at.span().start, key, message);
    }

    fn positive_u32(&mut self, v: &Option<Spanned<u32>>, key: &str) {
        self.u32_range(v, key, 1);
    }

    /// `min..=` the key's limit (see [`limit_of`]).
    fn u32_range(&mut self, v: &Option<Spanned<u32>>, key: &str, min: u32) {
        let Some(v) = v else { return };
        let x = *v.get_ref();
        let max = limit_of(key);
        if x < min {
            self.push(v, key, format!("must be at least {min}"));
        } else if x > max {
            self.push(v, key, format!("must be at most {max}, got {x}"));
        }
    }

    fn number_range(&mut self, v: &Option<Spanned<f64>>, key: &str, min: f64, max: f64, allow_min: bool) {
        if let Some(s) = v {
            let x = *s.get_ref();
            let ok = x.is_finite() && x <= max && (x > min || (allow_min && x == min));
            if !ok {
                let lower = if allow_min { format!("at least {min}") } else { format!("greater than {min}") };
                self.push(s, key, format!("must be {lower} and at most {max}, got {x}"));
            }
        }
    }

    fn check(&mut self, spec: &ScenarioSpec) {
        match &spec.name {
            None => self.push_at(0, "name", "missing: every scenario needs a name"),
            Some(n) if n.get_ref().trim().is_empty() => self.push(n, "name", "must not be empty"),
            Some(n) if n.get_ref().chars().any(char::is_control) => self.push(n, "name", "names may not hold control characters"),
            Some(n) if n.get_ref().chars().count() > 100 => {
                self.push(n, "name", "names may be at most 100 characters (file names are made of them)")
            }
            _ => {}
        }
        let d = &spec.defaults;
        self.positive_u32(&d.iterations, "defaults.iterations");
        self.u32_range(&d.warmup, "defaults.warmup", 0);
        self.positive_u32(&d.max_tokens, "defaults.max_tokens");
        self.positive_u32(&d.concurrency, "defaults.concurrency");
        self.number_range(&d.temperature, "defaults.temperature", 0.0, 10.0, true);
        self.number_range(&d.top_p, "defaults.top_p", 0.0, 1.0, false);
        self.number_range(&d.timeout_s, "defaults.timeout_s", 0.0, 86_400.0, false);
        self.number_range(&d.cooldown_s, "defaults.cooldown_s", 0.0, 3_600.0, true);
        self.number_range(&d.case_cooldown_s, "defaults.case_cooldown_s", 0.0, 3_600.0, true);
        self.number_range(&d.cooldown_max_s, "defaults.cooldown_max_s", 0.0, 3_600.0, false);

        self.check_targets(spec);
        self.check_workloads(spec);
        self.check_case_count(spec);
        if let Some(s) = &spec.sweep {
            for (k, v) in [("max_tokens", &s.max_tokens), ("prompt_tokens", &s.prompt_tokens), ("concurrency", &s.concurrency)] {
                if let Some(v) = v {
                    if v.get_ref().is_empty() {
                        self.push(v, format!("sweep.{k}"), "must list at least one value");
                    } else if v.get_ref().contains(&0) {
                        self.push(v, format!("sweep.{k}"), "values must be at least 1");
                    } else if let Some(x) = v.get_ref().iter().find(|x| **x > limit_of(k)) {
                        self.push(v, format!("sweep.{k}"), format!("values must be at most {}, got {x}", limit_of(k)));
                    }
                }
            }
        }
    }

    /// Targets x workloads x sweep points, counted before anything is expanded.
    fn check_case_count(&mut self, spec: &ScenarioSpec) {
        let Some(sw) = &spec.sweep else { return };
        let dims = [&sw.max_tokens, &sw.prompt_tokens, &sw.concurrency];
        let cases = dims.iter().fold((spec.targets.len().max(1) * spec.workloads.len().max(1)) as u64, |n, d| {
            n.saturating_mul(d.as_ref().map_or(1, |v| v.get_ref().len().max(1) as u64))
        });
        if let Some(at) = dims.iter().find_map(|d| d.as_ref()).filter(|_| cases > MAX_CASES) {
            self.push(at, "sweep", format!("{cases} cases (targets x workloads x sweep points); a scenario may have at most {MAX_CASES}"));
        }
    }

    fn check_targets(&mut self, spec: &ScenarioSpec) {
        if spec.targets.is_empty() {
            self.push_at(self.src.len(), "targets", "no [[targets]]: a scenario needs at least one target");
        }
        let mut names = Vec::new();
        for (i, t) in spec.targets.iter().enumerate() {
            let t = t.get_ref();
            let key = |k: &str| format!("targets[{i}].{k}");
            if t.process_names.as_ref().is_some_and(|p| p.iter().any(|n| n.trim().is_empty())) {
                self.push(&spec.targets[i], key("process_names"), "an empty process name would match every process on the machine");
            }
            let backend = t.backend.get_ref().as_str();
            let kind = BackendKind::from_name(backend);
            self.kinds.extend(kind);
            if kind.is_none() {
                let known: Vec<&str> = BackendKind::ALL.iter().map(|b| b.name()).collect();
                self.push(&t.backend, key("backend"), format!("unknown backend \"{backend}\"; expected one of {}", known.join(", ")));
            }
            if t.model.get_ref().trim().is_empty() {
                self.push(&t.model, key("model"), "must not be empty");
            }
            for (field, url) in [("host", &t.host), ("base_url", &t.base_url)] {
                if let Some(u) = url
                    && !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://") || !u.get_ref().contains("://"))
                {
                    self.push(u, key(field), "must be an http:// or https:// URL");
                }
            }
            if t.host.is_some() && kind != Some(BackendKind::Ollama) {
                self.push(t.host.as_ref().unwrap_or(&t.backend), key("host"), "only the ollama backend takes `host`; use `base_url`");
            }
            if let Some(b) = t.base_url.as_ref().filter(|_| kind != Some(BackendKind::Openai)) {
                self.push(b, key("base_url"), "only the openai backend takes `base_url`");
            }
            if let Some(l) = &t.launch {
                if l.get_ref().is_empty() || l.get_ref()[0].trim().is_empty() {
                    self.push(l, key("launch"), "must name a program to run");
                } else if kind == Some(BackendKind::Mlx) {
                    self.push(l, key("launch"), "the mlx backend runs in-process: there is no server to launch");
                }
            }
            self.number_range(&t.ready_timeout_s, &key("ready_timeout_s"), 0.0, 86_400.0, false);
            self.number_range(&t.stop_grace_s, &key("stop_grace_s"), 0.0, 600.0, true);
            self.number_range(&t.load_timeout_s, &key("load_timeout_s"), 0.0, 86_400.0, false);
            if let Some(d) = &t.device {
                if !["cpu", "gpu"].contains(&d.get_ref().as_str()) {
                    self.push(d, key("device"), format!("must be \"cpu\" or \"gpu\", got \"{}\"", d.get_ref()));
                } else if kind != Some(BackendKind::Mlx) {
                    self.push(d, key("device"), "only the mlx backend takes `device` (a server picks its own)");
                }
            }
            let name = t.name.clone().unwrap_or_else(|| format!("{}:{}", backend, t.model.get_ref()));
            if name.chars().any(char::is_control) {
                self.push(&t.backend, key("name"), "names may not hold control characters");
            } else if names.contains(&name) {
                self.push(&t.backend, key("name"), format!("duplicate target name \"{name}\""));
            }
            names.push(name);
        }
    }

    fn check_workloads(&mut self, spec: &ScenarioSpec) {
        if spec.workloads.is_empty() {
            self.push_at(self.src.len(), "workloads", "no [[workloads]]: a scenario needs at least one workload");
        }
        let mut wnames = Vec::new();
        for (i, w) in spec.workloads.iter().enumerate() {
            let span_start = w.span().start;
            let w = w.get_ref();
            let key = |k: &str| format!("workloads[{i}].{k}");
            if w.name.get_ref().trim().is_empty() {
                self.push(&w.name, key("name"), "must not be empty");
            } else if w.name.get_ref().chars().any(char::is_control) {
                self.push(&w.name, key("name"), "names may not hold control characters");
            } else if wnames.contains(w.name.get_ref()) {
                self.push(&w.name, key("name"), format!("duplicate workload name \"{}\"", w.name.get_ref()));
            }
            wnames.push(w.name.get_ref().clone());
            let sources = [w.prompt.is_some(), w.messages.is_some(), w.prompt_file.is_some(), w.prompt_tokens.is_some()];
            match sources.iter().filter(|s| **s).count() {
                1 => {}
                0 => self.push_at(span_start, key("prompt"), "needs one of prompt, messages, prompt_file, prompt_tokens"),
                _ => self.push_at(span_start, key("prompt"), "give only one of prompt, messages, prompt_file, prompt_tokens"),
            }
            if let Some(m) = &w.messages {
                if m.get_ref().is_empty() {
                    self.push(m, key("messages"), "must hold at least one message");
                }
                for msg in m.get_ref() {
                    if !["system", "user", "assistant", "tool", "developer"].contains(&msg.role.as_str()) {
                        self.push(m, key("messages.role"), format!("unknown role \"{}\"", msg.role));
                    }
                }
                if w.chat == Some(false) {
                    self.push(m, key("chat"), "messages are always sent as chat");
                }
            }
            self.positive_u32(&w.prompt_tokens, &key("prompt_tokens"));
            self.positive_u32(&w.max_tokens, &key("max_tokens"));
        }
    }

    /// Reads every `prompt_file` (relative to the scenario's folder), in workload order.
    fn read_prompt_files(&mut self, spec: &ScenarioSpec, base: &Path) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for (i, w) in spec.workloads.iter().enumerate() {
            let Some(pf) = &w.get_ref().prompt_file else {
                out.push(None);
                continue;
            };
            let p = base.join(pf.get_ref());
            match super::files::read_prompt_file(&p) {
                Ok(text) => out.push(Some(text)),
                Err(e) => {
                    self.push(pf, format!("workloads[{i}].prompt_file"), e);
                    out.push(None);
                }
            }
        }
        out
    }
}

/// The largest value a count may take, by its last key part: beyond these a scenario is
/// a mistake (or an attack), and sums over cases could overflow.
fn limit_of(key: &str) -> u32 {
    match key.rsplit('.').next().unwrap_or(key) {
        "iterations" => 100_000,
        "warmup" => 10_000,
        "concurrency" => 4_096,
        "max_tokens" | "prompt_tokens" => 1_000_000,
        _ => u32::MAX,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(src, offset);
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, src[line_start..offset].chars().count() + 1)
}

/// The largest char boundary at or below `offset`.
fn floor_boundary(src: &str, offset: usize) -> usize {
    let offset = offset.min(src.len());
    (0..=offset).rev().find(|o| src.is_char_boundary(*o)).unwrap_or(0)
}

/// The `[table]` or `[[array]]` header in force at `offset`, if any.
fn table_at(src: &str, offset: usize) -> String {
    let offset = floor_boundary(src, offset);
    let upto = src.get(..offset).unwrap_or(src);
    let line_end = src[upto.len()..].find('\n').map_or(src.len(), |i| upto.len() + i);
    src[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        .unwrap_or_default()
}

fn qualify(table: &str, key: &str) -> String {
    if table.is_empty() { key.to_string() } else { format!("{table}.{key}") }
}

/// The key a parse error points at: the left side of `=` on its line, within its table.
fn key_at(src: &str, offset: usize) -> String {
    let offset = floor_boundary(src, offset);
    let start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    let line = src[start..end].trim();
    if line.starts_with('[') {
        return line.trim_matches(|c| c == '[' || c == ']').trim().to_string();
    }
    match line.split_once('=') {
        Some((k, _)) => qualify(&table_at(src, start.saturating_sub(1)), k.trim()),
        None => table_at(src, offset),
    }
}

/// serde names the field in backticks: "unknown field `foo`", "missing field `bar`".
fn key_from_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    Some(rest[..rest.find('`')?].to_string())
}
