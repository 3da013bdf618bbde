//! Backends turn a request into a timestamped stream record, and know how to start,
//! describe and load a model and which processes to watch for memory.
//!
//! Every network read is timestamped with a monotonic clock the moment its bytes arrive,
//! before any parsing.

pub mod launch;
#[cfg(feature = "mlx")]
pub mod mlx;
pub mod ollama;
pub mod openai;
pub mod scripted;
pub mod streaming;

use std::time::Instant;

use futures_util::future::BoxFuture;

use crate::measure::metrics::StreamRecord;
use crate::results::{LoadResult, MemoryResult};
use crate::scenario::{BackendKind, Params, Prompt, Target};

/// Failures a caller branches on; each displays as one line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("model \"{model}\" not found at {url}{}", available_list(.available))]
    ModelNotFound { model: String, url: String, available: Vec<String> },
    #[error("{0}")]
    Launch(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Request(String),
    #[error("the mlx backend is not built in: {0}")]
    NotBuiltIn(String),
}

fn available_list(v: &[String]) -> String {
    if v.is_empty() { String::new() } else { format!(" (server has: {})", v.join(", ")) }
}

/// What a backend says about itself and the model, once it is reachable.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    pub backend_version: Option<String>,
    pub model_info: Option<serde_json::Value>,
    pub warnings: Vec<String>,
}

/// Load time and the memory around it.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    pub load: Option<LoadResult>,
    pub memory: Option<MemoryResult>,
    pub warnings: Vec<String>,
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenRequest {
    pub prompt: Prompt,
    pub params: Params,
}

/// A request that failed, with whatever was measured before it did.
#[derive(Debug)]
pub struct GenFailure {
    pub reason: String,
    pub partial: Option<StreamRecord>,
}

impl GenFailure {
    pub fn new(reason: impl Into<String>) -> Self {
        GenFailure { reason: reason.into(), partial: None }
    }
}

pub type GenResult = Result<StreamRecord, GenFailure>;

/// The interface the runner drives.
pub trait Backend: Send + Sync {
    /// Makes the server reachable: launches it if the target says so, else checks it answers.
    fn start(&self) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Version, model presence and details.
    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>>;
    /// Measures model load (cold and warm where possible) and memory around it.
    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>>;
    /// Sends one request and records its stream.
    fn generate<'a>(&'a self, req: &'a GenRequest) -> BoxFuture<'a, GenResult>;
    /// Processes holding the model, for memory sampling.
    fn memory_pids(&self) -> Vec<u32>;
    /// The in-process allocator's own counters (MLX active/peak/cache bytes), where there
    /// is one; `reset_peak` starts a new peak for the next case.
    fn allocator_memory(&self, _reset_peak: bool) -> BoxFuture<'_, Option<serde_json::Value>> {
        futures_util::FutureExt::boxed(async { None })
    }
    /// Stops what `start` launched. Also done on drop.
    fn stop(&self) -> BoxFuture<'_, ()>;
}

/// Builds the backend for a target. `base_dir` is where `launch` runs.
pub fn create(target: &Target, base_dir: &std::path::Path) -> Result<Box<dyn Backend>, BackendError> {
    match target.backend {
        BackendKind::Ollama => Ok(Box::new(ollama::Ollama::new(target)?)),
        BackendKind::Openai => Ok(Box::new(openai::OpenAi::new(target, base_dir)?)),
        #[cfg(feature = "mlx")]
        BackendKind::Mlx => Ok(Box::new(mlx::MlxBackend::new(target, base_dir))),
        #[cfg(not(feature = "mlx"))]
        BackendKind::Mlx => Err(BackendError::NotBuiltIn(
            "this mlxbench was built without the `mlx` feature (scripts/setup.sh builds it; or scripts/build_mlx.sh, then cargo build --features mlx)".into(),
        )),
    }
}

/// The HTTP client every backend uses: no proxies (targets are local servers), short
/// connect timeout, no overall timeout (each request has its own deadline).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// One line out of an error and its causes, without repeats.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// Explains a non-success HTTP response in one line, using the server's error message
/// when the body carries one (`{"error": "..."}` or `{"error": {"message": "..."}}`).
pub async fn http_error(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = tokio::time::timeout(std::time::Duration::from_secs(5), resp.bytes()).await;
    let text = match body {
        Ok(Ok(b)) => String::from_utf8_lossy(&b[..b.len().min(2000)]).into_owned(),
        _ => String::new(),
    };
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.as_str().map(str::to_string).or_else(|| e.get("message")?.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| text.trim().chars().take(200).collect());
    if msg.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {}", msg.replace('\n', " ")) }
}

/// How a streamed body ended.
pub enum StreamEnd {
    /// The body ended (the backend decides whether its done marker was seen).
    Eof,
    /// The per-request deadline passed.
    TimedOut,
    /// The connection broke.
    Broken(String),
}

/// Reads a response body chunk by chunk, stamping each chunk with the instant it arrived,
/// and hands it to `on_chunk`, which returns `Ok(true)` once the stream is complete.
pub async fn read_body(
    resp: &mut reqwest::Response,
    rec: &mut StreamRecord,
    deadline: tokio::time::Instant,
    mut on_chunk: impl FnMut(&[u8], Instant, &mut StreamRecord) -> Result<bool, String>,
) -> Result<StreamEnd, String> {
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Ok(StreamEnd::TimedOut),
            Ok(Err(e)) => return Ok(StreamEnd::Broken(one_line(&e))),
            Ok(Ok(None)) => return Ok(StreamEnd::Eof),
            Ok(Ok(Some(bytes))) => {
                let now = Instant::now();
                rec.first_byte.get_or_insert(now);
                if on_chunk(&bytes, now, rec)? {
                    return Ok(StreamEnd::Eof);
                }
            }
        }
    }
}

/// Sends a request under the deadline, mapping transport failures to one-line reasons.
pub async fn send(
    builder: reqwest::RequestBuilder,
    url: &str,
    deadline: tokio::time::Instant,
    timeout_s: f64,
) -> Result<reqwest::Response, GenFailure> {
    match tokio::time::timeout_at(deadline, builder.send()).await {
        Err(_) => Err(GenFailure::new(format!("timed out after {timeout_s} s waiting for response headers from {url}"))),
        Ok(Err(e)) if e.is_connect() => Err(GenFailure::new(format!("cannot connect to {url}: {}", one_line(&e)))),
        Ok(Err(e)) => Err(GenFailure::new(format!("request to {url} failed: {}", one_line(&e)))),
        Ok(Ok(r)) if !r.status().is_success() => Err(GenFailure::new(http_error(r).await)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Reason for a stream that ended without its done marker.
pub fn incomplete_reason(end: StreamEnd, rec: &StreamRecord, timeout_s: f64) -> String {
    let got = rec.arrival_tokens();
    match end {
        StreamEnd::TimedOut => format!("timed out after {timeout_s} s: stream stalled after {got} tokens"),
        StreamEnd::Broken(e) => format!("connection broke after {got} tokens: {e}"),
        StreamEnd::Eof => format!("stream ended without completion marker after {got} tokens (truncated)"),
    }
}

/// Merges a TOML table into a JSON object (extra request fields from the scenario).
pub fn merge_toml(into: &mut serde_json::Map<String, serde_json::Value>, extra: Option<&toml::Table>) {
    if let Some(t) = extra {
        for (k, v) in t {
            if let Ok(j) = serde_json::to_value(v) {
                into.insert(k.clone(), j);
            }
        }
    }
}
