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

/// Expands files and folders (their `*.json`, sorted) into result file paths; a file
/// named twice (or through two paths) is one run.
pub fn result_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| LoadError::Read { path: p.clone(), source })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}
