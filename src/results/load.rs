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
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
    let malformed = |reason: String| LoadError::Malformed { path: path.to_path_buf(), reason };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
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

/// Expands files and folders (their `*.json`, sorted) into result file paths.
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
    Ok(out)
}
