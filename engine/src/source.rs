//! Where a target's `model` lives: a local directory in Hugging Face / MLX layout, or a
//! repo id found in the local Hugging Face cache (never downloaded).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Resolves `model` against the scenario folder, then the Hugging Face cache: a model
/// directory, or a `.gguf` file.
pub fn resolve(model: &str, base: &Path) -> Result<PathBuf> {
    let p = Path::new(model);
    let local = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    if local.is_dir() || (model.ends_with(".gguf") && local.is_file()) {
        return Ok(local);
    }
    if model.ends_with(".gguf") && local.exists() {
        // a FIFO, socket or device: say so (files.rs) rather than "not found"
        crate::files::check(&local)?;
    }
    let mut looked = vec![local.display().to_string()];
    if let Some(s) = crate::hub::snapshot(model, &mut looked) {
        return Ok(s);
    }
    // a catalog name (`name:tag`, as `mlxbench models list` shows it) in $MLXBENCH_MODELS
    if let Some(v) = std::env::var_os("MLXBENCH_MODELS") {
        let dirs: Vec<PathBuf> = std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect();
        if let Some(e) = crate::catalog::find(&crate::catalog::scan(&dirs, false), model) {
            return Ok(e.path.clone());
        }
        looked.push(format!("model names in $MLXBENCH_MODELS ({})", v.to_string_lossy()));
    }
    Err(Error::NotFound(format!("model \"{model}\" not found (looked in: {}); mlxbench never downloads models", looked.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repo_ids_in_the_hub_cache_and_says_where_it_looked() {
        let home = tempfile::tempdir().unwrap();
        let snap = home.path().join("hub/models--org--tiny/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::create_dir_all(home.path().join("hub/models--org--tiny/refs")).unwrap();
        std::fs::write(home.path().join("hub/models--org--tiny/refs/main"), "abc123\n").unwrap();
        // SAFETY: this test is the only one in the crate that reads or writes HF_HOME
        unsafe { std::env::set_var("HF_HOME", home.path()) };
        assert_eq!(resolve("org/tiny", Path::new("/nonexistent")).unwrap(), snap);
        let e = resolve("org/missing", Path::new("/nonexistent")).unwrap_err().to_string();
        assert!(e.contains("models--org--missing") && e.contains("never downloads"), "{e}");
        assert!(resolve("nope.gguf", Path::new("/nonexistent")).is_err());
    }
}
