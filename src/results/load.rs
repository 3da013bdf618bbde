//! Reading result files back: damaged, hand-edited or foreign files become one clear
//! message naming the file, never a panic.

use std::path::{Path, PathBuf};

use super::{RunResult, SCHEMA_VERSION};

/// Why a result file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not a valid result file (truncated or edited?): {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: unsupported schema_version {found} (this mlxbench reads {SCHEMA_VERSION})", path.display())]
    Schema { path: PathBuf, found: String },
}

/// Reads and checks one result file.
pub fn load_result(path: &Path) -> Result<RunResult, LoadError> {
    let text = read_bounded(path)?;
    let malformed = |reason: String| LoadError::Malformed { path: path.to_path_buf(), reason };
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    clean_strings(&mut value);
    match value.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => return Err(LoadError::Schema { path: path.to_path_buf(), found: v.to_string() }),
        None => {
            let found = value.get("schema_version").map_or("missing".to_string(), |v| v.to_string());
            return Err(LoadError::Schema { path: path.to_path_buf(), found });
        }
    }
    serde_json::from_value(value).map_err(|e| malformed(e.to_string()))
}

/// Most bytes of one result file: far above any real run, far below what would hurt.
pub const MAX_RESULT_FILE_BYTES: u64 = 1 << 30;

/// Reads a regular file of at most [`MAX_RESULT_FILE_BYTES`]; devices and FIFOs are refused.
fn read_bounded(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let read_err = |source| LoadError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let refuse = |reason: String| LoadError::Malformed { path: path.to_path_buf(), reason };
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > MAX_RESULT_FILE_BYTES {
        return Err(refuse(format!("{} bytes is more than the {} MiB a result file may have", meta.len(), MAX_RESULT_FILE_BYTES >> 20)));
    }
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_RESULT_FILE_BYTES).read_to_string(&mut text)).map_err(read_err)?;
    Ok(text)
}

/// Control characters in a file's strings (an ANSI escape sequence in a target name or
/// an error) are replaced, so no output of `report` or `compare` can carry them.
fn clean_strings(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(c) = crate::fmt::strip_controls(s) {
                *s = c;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(clean_strings),
        Value::Object(o) => o.values_mut().for_each(clean_strings),
        _ => {}
    }
}

/// How deep `result_paths` descends into folders (a CI artifacts tree is a few levels).
const MAX_DEPTH: usize = 16;

/// Expands files and folder trees (their `*.json` at any depth up to [`MAX_DEPTH`],
/// sorted; hidden folders such as `.git` skipped; a folder reached twice through links
/// read once) into result file paths; a file named twice (or through two paths) is one run.
pub fn result_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut dirs_seen = std::collections::HashSet::new();
    for p in inputs {
        if p.is_dir() {
            walk(p, 0, &mut dirs_seen, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

fn walk(dir: &Path, depth: usize, seen: &mut std::collections::HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    if depth > MAX_DEPTH || !seen.insert(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| LoadError::Read { path: dir.to_path_buf(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if p.is_dir() {
            // an unreadable subfolder is skipped; only the folder asked for must be readable
            if !hidden {
                let _ = walk(&p, depth + 1, seen, out);
            }
        } else if p.extension().is_some_and(|x| x == "json") && p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_read_at_any_depth_once() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in ["a.json", "m1/s1/b.json", "m1/s2/deeper/c.json", ".git/x.json", "m2/readme.txt"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "{}").unwrap();
        }
        // a link back up must not loop
        std::os::unix::fs::symlink(root, root.join("m1/loop")).unwrap();
        let found = result_paths(&[root.to_path_buf(), root.join("m1")]).unwrap();
        let names: Vec<String> = found.iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.json", "m1/s1/b.json", "m1/s2/deeper/c.json"]);
    }
}
