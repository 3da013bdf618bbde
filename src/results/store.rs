//! Result files: `<dir>/<utc-timestamp>-<scenario>-<host>.json`, never overwriting another
//! run's file, rewritten atomically (temp file + rename) after every case.

use std::fs;
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
    // at most 80 characters: file names have 255 bytes for the timestamp, scenario and host
    let out: String = out.trim_matches('-').chars().take(80).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "unnamed".into() } else { out }
}

impl ResultStore {
    /// Reserves a fresh file name in `dir` (created if needed) for this run.
    pub fn create(dir: &Path, result: &RunResult) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create results folder {}", dir.display()))?;
        remove_stale_temp_files(dir);
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

/// Removes `.NAME.PID.tmp` files that killed runs left behind (their process is gone).
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else { continue };
        let Some(pid) = stem.rsplit_once('.').and_then(|(_, p)| p.parse::<u32>().ok()) else { continue };
        if !process_alive(pid) {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        // SAFETY: signal 0 only checks that the process exists
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Serialises `value` as pretty JSON to `path`, whole or not at all (write.rs); no
/// registered secret is ever written.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value).with_context(|| format!("cannot write {}", path.display()))?;
    let mut text = crate::secrets::redact(&json).into_owned();
    text.push('\n');
    super::write::write_output(path, text.as_bytes())
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
