//! Result files: `<dir>/<utc-timestamp>-<scenario>-<host>.json`, never overwriting another
//! run's file, rewritten atomically (temp file + rename) after every case.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::RunResult;

/// Where one run's result file lives.
#[derive(Debug, Clone)]
pub struct ResultStore {
    path: PathBuf,
}

/// Lowercase, `[a-z0-9._-]` only, for file names.
pub fn slug(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c.to_ascii_lowercase() } else { '-' }).collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "unnamed".into() } else { out }
}

impl ResultStore {
    /// Reserves a fresh file name in `dir` (created if needed) for this run.
    pub fn create(dir: &Path, result: &RunResult) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create results folder {}", dir.display()))?;
        let stem =
            format!("{}-{}-{}", result.started_at.format("%Y%m%dT%H%M%SZ"), slug(&result.scenario.name), slug(&result.host.hostname));
        for n in 0..1000 {
            let name = if n == 0 { format!("{stem}.json") } else { format!("{stem}-{n}.json") };
            let path = dir.join(name);
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    let store = ResultStore { path };
                    store.write(result)?;
                    return Ok(store);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
            }
        }
        anyhow::bail!("no free result file name for {stem} in {}", dir.display())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's content atomically.
    pub fn write(&self, result: &RunResult) -> Result<()> {
        write_json_atomic(&self.path, result)
    }
}

/// Serialises `value` as pretty JSON to `path` through a temp file in the same folder.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = fs::File::create(&tmp)?;
        let json = serde_json::to_string_pretty(value)?;
        // the last line of defence: no registered secret is ever written
        f.write_all(crate::secrets::redact(&json).as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_safe() {
        assert_eq!(slug("SmolLM2 mlx vs llama.cpp!"), "smollm2-mlx-vs-llama.cpp");
        assert_eq!(slug("///"), "unnamed");
    }
}
