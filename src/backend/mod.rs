//! Backends turn a request into a timestamped stream record, and know how to start,
//! describe and load a model and which processes to watch for memory.
//!
//! Every network read is timestamped with a monotonic clock the moment its bytes arrive,
//! before any parsing.

#[cfg(feature = "mlx")]
pub mod engine_host;
pub mod error;
pub mod http;
pub mod launch;
pub mod managed;
#[cfg(feature = "mlx")]
pub mod mlx;
pub mod ollama;
pub mod openai;
pub mod scripted;
pub mod streaming;

use futures_util::future::BoxFuture;

use crate::measure::sample::StreamRecord;
use crate::results::{LoadResult, MemoryResult};
use crate::scenario::{BackendConfig, Params, Prompt, Target};

pub use error::{BackendError, RequestError, one_line};

/// What a backend says about itself and the model, once it is reachable.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    pub backend_version: Option<String>,
    /// Where an in-process engine computes.
    pub device: Option<crate::results::DeviceRecord>,
    pub model_info: Option<serde_json::Value>,
    pub warnings: crate::results::Warnings,
}

/// Load time and the memory around it.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    pub load: Option<LoadResult>,
    pub memory: Option<MemoryResult>,
    pub warnings: crate::results::Warnings,
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
    pub error: RequestError,
    pub partial: Option<Box<StreamRecord>>,
}

impl GenFailure {
    pub fn new(error: RequestError) -> Self {
        GenFailure { error, partial: None }
    }
}

impl From<RequestError> for GenFailure {
    fn from(error: RequestError) -> Self {
        GenFailure::new(error)
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

/// Builds the backend for a target from its resolved configuration.
pub fn create(target: &Target) -> Result<Box<dyn Backend>, BackendError> {
    match &target.config {
        BackendConfig::Ollama(c) => Ok(Box::new(ollama::Ollama::new(&target.name, &target.model, c))),
        BackendConfig::Openai(c) => Ok(Box::new(openai::OpenAi::new(&target.name, &target.model, c))),
        #[cfg(feature = "mlx")]
        BackendConfig::Mlx(c) => Ok(Box::new(mlx::MlxBackend::new(&target.model, c))),
        #[cfg(not(feature = "mlx"))]
        BackendConfig::Mlx(_) => Err(BackendError::NotBuiltIn(NOT_BUILT_IN.into())),
    }
}

#[cfg(not(feature = "mlx"))]
const NOT_BUILT_IN: &str = "this mlxbench was built without the `mlx` feature (scripts/setup.sh builds it; or scripts/build_mlx.sh, then cargo build --features mlx)";

/// What `mlxbench info` says of one endpoint or engine.
#[derive(Debug, Clone)]
pub struct Probe {
    pub url: String,
    pub reachable: bool,
    /// Version when reachable, else why not.
    pub detail: String,
}

/// Asks a backend whether it is there, within `timeout`; never fails.
pub async fn probe(config: &BackendConfig, timeout: std::time::Duration) -> Probe {
    match config {
        BackendConfig::Ollama(c) => ollama::probe(c, timeout).await,
        BackendConfig::Openai(c) => openai::probe(c, timeout).await,
        #[cfg(feature = "mlx")]
        BackendConfig::Mlx(_) => mlx::probe(),
        #[cfg(not(feature = "mlx"))]
        BackendConfig::Mlx(_) => Probe { url: "in-process".into(), reachable: false, detail: format!("not built in: {NOT_BUILT_IN}") },
    }
}
