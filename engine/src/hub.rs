//! The local Hugging Face cache: where it is and which snapshot a repo id means (never
//! downloaded). Used by model resolution (source.rs) and the catalog (catalog.rs).

use std::path::PathBuf;

/// Hub cache folders, in the order huggingface_hub uses them.
pub fn hub_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(c) = std::env::var_os("HF_HUB_CACHE") {
        v.push(PathBuf::from(c));
    }
    if let Some(h) = std::env::var_os("HF_HOME") {
        v.push(PathBuf::from(h).join("hub"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        v.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    v
}

/// The snapshot folder of `org/name` in the hub cache (the one `refs/main` names, else
/// the newest with a config.json); the repo folders looked in are added to `looked`.
pub fn snapshot(model: &str, looked: &mut Vec<String>) -> Option<PathBuf> {
    let (org, name) = model.split_once('/').filter(|(o, n)| !o.is_empty() && !n.contains('/') && !model.starts_with('.'))?;
    for hub in hub_dirs() {
        let repo = hub.join(format!("models--{org}--{name}"));
        looked.push(repo.display().to_string());
        let snapshots = repo.join("snapshots");
        let wanted = crate::files::read_text(&repo.join("refs/main"), 4096).ok().map(|r| snapshots.join(r.trim()));
        if let Some(s) = wanted.filter(|s| s.join("config.json").exists()) {
            return Some(s);
        }
        if let Ok(entries) = std::fs::read_dir(&snapshots) {
            let mut snaps: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|s| s.join("config.json").exists()).collect();
            snaps.sort_by_key(|s| std::fs::metadata(s).and_then(|m| m.modified()).ok());
            if let Some(s) = snaps.pop() {
                return Some(s);
            }
        }
    }
    None
}
