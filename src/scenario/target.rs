//! Targets resolved at validation into their backend's own configuration: URLs
//! normalised once (every command agrees on what `base_url` means), paths anchored to the
//! scenario's folder, extra request fields as JSON. Backends read only these types, never
//! the scenario's TOML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::plan::BackendKind;
use super::schema::TargetSpec;

/// A resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub model: String,
    pub config: BackendConfig,
}

impl Target {
    pub fn backend(&self) -> BackendKind {
        self.config.kind()
    }

    /// Whether mlxbench starts (and stops) this target's server itself.
    pub fn launched(&self) -> bool {
        match &self.config {
            BackendConfig::Mlx(_) => false,
            BackendConfig::Ollama(c) => c.launch.is_some(),
            BackendConfig::Openai(c) => c.launch.is_some(),
        }
    }
}

/// Each backend's own settings.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    Mlx(MlxConfig),
    Ollama(OllamaConfig),
    Openai(OpenAiConfig),
}

impl BackendConfig {
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendConfig::Mlx(_) => BackendKind::Mlx,
            BackendConfig::Ollama(_) => BackendKind::Ollama,
            BackendConfig::Openai(_) => BackendKind::Openai,
        }
    }
}

/// In-process MLX.
#[derive(Debug, Clone)]
pub struct MlxConfig {
    /// Folder a relative model path is found from (the scenario's folder, absolute).
    pub base_dir: PathBuf,
    /// How long loading the model may take.
    pub load_timeout: Duration,
    /// `Some(true)`: compute on the GPU, `Some(false)`: on the CPU, `None`: MLX's default.
    pub gpu: Option<bool>,
}

/// Ollama's native API.
#[derive(Debug, Clone)]
pub struct OllamaConfig {
    /// `scheme://host:port`, no trailing slash.
    pub host: String,
    /// Extra `options` sent with every request.
    pub options: Map<String, Value>,
    /// Processes to sample for memory; found by name when absent.
    pub pids: Option<Vec<u32>>,
    pub process_names: Vec<String>,
    /// How long one load request may take.
    pub load_timeout: Duration,
    /// An Ollama mlxbench starts and stops itself (ready once it lists the model).
    pub launch: Option<LaunchConfig>,
}

impl OllamaConfig {
    /// Ollama where `$OLLAMA_HOST` (or the default) says, with no scenario.
    pub fn from_env() -> Self {
        OllamaConfig {
            host: resolve_ollama_host(None),
            options: Map::new(),
            pids: None,
            process_names: vec!["ollama".into()],
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            launch: None,
        }
    }
}

/// Any OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Ends in the API root (usually `/v1`), no trailing slash.
    pub base_url: String,
    /// Environment variable holding the API key (read when the backend is made).
    pub api_key_env: Option<String>,
    /// Extra fields merged into every request body.
    pub extra_body: Map<String, Value>,
    /// A server mlxbench starts and stops itself.
    pub launch: Option<LaunchConfig>,
    pub pids: Option<Vec<u32>>,
    pub process_names: Option<Vec<String>>,
    /// How long an already-running server that answers "503 Loading model" (llama.cpp)
    /// is waited for: `ready_timeout_s`, default 180 s.
    pub loading_timeout: Duration,
}

impl OpenAiConfig {
    /// The default local server, with no scenario.
    pub fn local_default() -> Self {
        OpenAiConfig {
            base_url: resolve_base_url(None),
            api_key_env: None,
            extra_body: Map::new(),
            launch: None,
            pids: None,
            process_names: None,
            loading_timeout: Duration::from_secs(180),
        }
    }
}

/// A server to launch.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub argv: Vec<String>,
    /// Where it runs: the scenario's folder, absolute.
    pub cwd: PathBuf,
    /// How long to wait for it to answer.
    pub ready_timeout: Duration,
    /// How long it has to exit after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
}

pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_OLLAMA_HOST: &str = "http://127.0.0.1:11434";
pub const DEFAULT_OPENAI_BASE_URL: &str = "http://127.0.0.1:8080/v1";

/// Builds the target of a spec that validation has accepted.
pub(crate) fn resolve(t: &TargetSpec, kind: BackendKind, base_dir: &Path) -> Target {
    register_secrets(t);
    let load_timeout = t.load_timeout_s.as_ref().map_or(DEFAULT_LOAD_TIMEOUT, |v| Duration::from_secs_f64(*v.get_ref()));
    let config = match kind {
        BackendKind::Mlx => BackendConfig::Mlx(MlxConfig {
            base_dir: base_dir.to_path_buf(),
            load_timeout,
            gpu: t.device.as_ref().map(|d| d.get_ref() == "gpu"),
        }),
        BackendKind::Ollama => BackendConfig::Ollama(OllamaConfig {
            host: resolve_ollama_host(t.host.as_ref().map(|h| h.get_ref().as_str())),
            options: json_table(t.options.as_ref()),
            pids: t.pids.clone(),
            process_names: t.process_names.clone().unwrap_or_else(|| vec!["ollama".into()]),
            load_timeout,
            launch: launch_config(t, base_dir),
        }),
        BackendKind::Openai => BackendConfig::Openai(OpenAiConfig {
            base_url: resolve_base_url(t.base_url.as_ref().map(|u| u.get_ref().as_str())),
            api_key_env: t.api_key_env.clone(),
            extra_body: json_table(t.extra_body.as_ref()),
            launch: launch_config(t, base_dir),
            pids: t.pids.clone(),
            process_names: t.process_names.clone(),
            loading_timeout: Duration::from_secs_f64(t.ready_timeout_s.as_ref().map_or(180.0, |v| *v.get_ref())),
        }),
    };
    Target {
        name: t.name.clone().unwrap_or_else(|| format!("{}:{}", t.backend.get_ref(), t.model.get_ref())),
        model: t.model.get_ref().clone(),
        config,
    }
}

fn launch_config(t: &TargetSpec, base_dir: &Path) -> Option<LaunchConfig> {
    t.launch.as_ref().map(|l| LaunchConfig {
        argv: l.get_ref().clone(),
        cwd: base_dir.to_path_buf(),
        ready_timeout: Duration::from_secs_f64(t.ready_timeout_s.as_ref().map_or(180.0, |v| *v.get_ref())),
        stop_grace: Duration::from_secs_f64(t.stop_grace_s.as_ref().map_or(10.0, |v| *v.get_ref())),
    })
}

/// Tells [`crate::secrets`] what this target must never print: URL passwords and the
/// API key its `api_key_env` names.
fn register_secrets(t: &TargetSpec) {
    for url in [&t.base_url, &t.host].into_iter().flatten() {
        crate::secrets::register_url_password(url.get_ref());
    }
    if let Some(key) = t.api_key_env.as_ref().and_then(|v| std::env::var(v).ok()) {
        crate::secrets::register(&key);
    }
}

fn json_table(t: Option<&toml::Table>) -> Map<String, Value> {
    t.into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), serde_json::to_value(v).ok()?))).collect()
}

/// What an OpenAI `base_url` means: the default when absent, `http://` when no scheme is
/// given, no trailing slash.
pub fn resolve_base_url(base_url: Option<&str>) -> String {
    let u = base_url.map(str::trim).filter(|u| !u.is_empty()).unwrap_or(DEFAULT_OPENAI_BASE_URL);
    let u = if u.contains("://") { u.to_string() } else { format!("http://{u}") };
    u.trim_end_matches('/').to_string()
}

/// The Ollama host: the target's, else `$OLLAMA_HOST`, else the default; normalised the
/// way Ollama's own client does (scheme and port filled in), and `0.0.0.0` (where servers
/// bind) replaced by `127.0.0.1` (where clients connect).
pub fn resolve_ollama_host(target_host: Option<&str>) -> String {
    let env = std::env::var("OLLAMA_HOST").ok().filter(|h| !h.trim().is_empty());
    if let Some(h) = &env {
        crate::secrets::register_url_password(h);
    }
    match target_host.map(str::to_string).or(env) {
        Some(h) => normalize_ollama_host(&h).replace("://0.0.0.0", "://127.0.0.1"),
        None => DEFAULT_OLLAMA_HOST.into(),
    }
}

/// `host`, `host:port`, `scheme://host[:port]` -> `scheme://host:port`.
pub fn normalize_ollama_host(h: &str) -> String {
    let h = h.trim().trim_end_matches('/');
    let with_scheme = if h.contains("://") { h.to_string() } else { format!("http://{h}") };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    let hostport = after_scheme.split('/').next().unwrap_or("");
    let has_port =
        hostport.rsplit_once(':').is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty()) && !hostport.ends_with(']');
    if has_port || hostport.is_empty() { with_scheme } else { with_scheme.replacen(hostport, &format!("{hostport}:11434"), 1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise_like_ollama() {
        assert_eq!(normalize_ollama_host("127.0.0.1"), "http://127.0.0.1:11434");
        assert_eq!(normalize_ollama_host("http://box:8000/"), "http://box:8000");
        assert_eq!(normalize_ollama_host("https://example.org"), "https://example.org:11434");
        assert_eq!(normalize_ollama_host("localhost:1234"), "http://localhost:1234");
    }

    #[test]
    fn base_urls_normalise_once() {
        assert_eq!(resolve_base_url(Some("127.0.0.1:18081/v1/")), "http://127.0.0.1:18081/v1");
        assert_eq!(resolve_base_url(Some("  ")), DEFAULT_OPENAI_BASE_URL);
        assert_eq!(resolve_base_url(Some("https://h/v1")), "https://h/v1");
    }
}
