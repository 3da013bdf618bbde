//! Files this process writes: new ones under names nobody can predict or plant (O_EXCL,
//! mode 0600 where asked), and outputs the user named, replaced whole or not at all.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A random 16-hex-digit name part (std's per-process random hasher keys, the clock and
/// `attempt`).
fn random_part(attempt: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(attempt);
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{:016x}", h.finish())
}

/// Creates a new file `dir/{prefix}{random}{suffix}`: `create_new` (O_EXCL: an existing
/// file or a symbolic link planted at the name fails instead of being followed), mode
/// 0600 when `private`; a few names are tried.
pub fn create_new_in(dir: &Path, prefix: &str, suffix: &str, private: bool) -> std::io::Result<(File, PathBuf)> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut last = None;
    for attempt in 0..8u64 {
        let path = dir.join(format!("{prefix}{}{suffix}", random_part(attempt)));
        let mut o = fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        o.mode(if private { 0o600 } else { 0o644 });
        #[cfg(not(unix))]
        let _ = private;
        match o.open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no name left to try")))
}

/// Where writing `path` lands: a symbolic link's final target (so that a `latest.json`
/// link keeps pointing at the file it names, as a shell's `>` would write through it),
/// else `path` itself.
fn destination(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => target,
            // a dangling link: the file it names, made next to where the link points
            Err(_) => fs::read_link(path).map(|t| path.parent().unwrap_or(Path::new(".")).join(t)).unwrap_or_else(|_| path.into()),
        },
        _ => path.into(),
    }
}

/// Writes `bytes` to `path` whole or not at all: into a new, unpredictably named file in
/// the destination's folder (`.NAME.RANDOM.PID.tmp`), synced, then renamed over it. A symbolic link at `path` is
/// written through, never replaced.
pub fn write_output(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let bytes = bytes.as_ref();
    let dest = destination(path);
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let result = (|| -> Result<()> {
        // the folder may have been removed while a run went on: make it again
        fs::create_dir_all(dir)?;
        // `.NAME.RANDOM.PID.tmp`: the process id lets a later run remove what a killed
        // one left (store.rs)
        let (mut f, tmp) = create_new_in(dir, &format!(".{name}."), &format!(".{}.tmp", std::process::id()), false)?;
        let written = f.write_all(bytes).and_then(|_| f.sync_all()).and_then(|_| fs::rename(&tmp, &dest));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    })();
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_written_through_and_planted_names_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("runs").join("a.json");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "old").unwrap();
        let link = d.path().join("latest.json");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&real, &link).unwrap();
        #[cfg(unix)]
        {
            write_output(&link, b"new").unwrap();
            assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
            assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        }
        // a plain file is replaced whole, and no temporary file is left
        let plain = d.path().join("out.md");
        write_output(&plain, b"x").unwrap();
        write_output(&plain, b"y").unwrap();
        assert_eq!(fs::read_to_string(&plain).unwrap(), "y");
        let left: Vec<_> = fs::read_dir(d.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert!(left.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "{left:?}");
        // new files: exclusive, so the same name twice never opens the first one again
        let (_, a) = create_new_in(d.path(), "p-", ".log", true).unwrap();
        let (_, b) = create_new_in(d.path(), "p-", ".log", true).unwrap();
        assert_ne!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
