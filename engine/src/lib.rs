//! mlxbench-engine: a native LLM engine on MLX through mlx-rs (Metal on macOS, MLX's CPU
//! or CUDA backend elsewhere). Llama-family models (Llama, Mistral, Qwen2, Qwen3, SmolLM),
//! dense or affine-quantized, from Hugging Face / MLX directories or GGUF files; a
//! tokenizer with chat templates; greedy and mlx-lm-compatible sampled generation that
//! reports each token's text the moment its value is read.
//!
//! The harness (`mlxbench`) uses: [`load`] and [`Loaded`] (encode, check, generate),
//! [`Sampling`], [`Outcome`], [`token_rate`], [`memory`], [`describe`], [`self_check`],
//! [`resolve_model`] and [`hub_dirs`], [`Tokenizer`] (for `serve`'s chat turns),
//! [`catalog`] (models by name), [`device`] (which device MLX computes on, pinning it),
//! [`template`] (the chat-template check's child process), [`gguf`] (`models convert`).
//! Errors reach it as [`EngineError`], made from the crate's own [`Error`] in one place.

mod cache;
pub mod catalog;
mod config;
pub mod device;
pub mod error;
pub mod files;
mod fused;
mod gemma;
mod generate;
pub mod gguf;
mod hub;
mod linear;
mod model;
mod moe;
mod raw;
mod rotating;
mod source;
mod swiglu;
pub mod template;
#[cfg(test)]
mod testmodel;
mod tokenizer;

use std::path::Path;
use std::time::Instant;

pub use config::ModelConfig;
pub use device::DeviceInfo;
pub use error::Error;
pub use generate::{Cancel, Generation, Outcome, Sampling, StepTimes, TextSink, token_rate};
pub use hub::hub_dirs;
pub use model::{Model, load_weights};
pub use source::resolve as resolve_model;
pub use tokenizer::Tokenizer;

/// The MLX release mlx-sys 0.7.0's mlx-c pins (and scripts/build_mlx.sh installs on Linux).
pub const MLX_VERSION: &str = "0.32.2";

/// Where MLX computes by default on this platform (what it reports is in [`device`]).
pub const DEVICE: &str = if cfg!(target_os = "macos") { "gpu (Metal)" } else { "cpu" };

/// Why the engine could not do what was asked. Each displays as one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// Model files missing, unreadable, malformed or of an unsupported kind.
    #[error("{0}")]
    Model(String),
    /// The tokenizer failed or is missing what the request needs (a chat template).
    #[error("{0}")]
    Tokenizer(String),
    /// The request cannot run on this model (empty prompt, over the context).
    #[error("{0}")]
    Request(String),
    /// MLX itself failed while computing.
    #[error("MLX: {0}")]
    Mlx(String),
    /// The deadline passed mid-generation.
    #[error("timed out after {tokens} tokens")]
    TimedOut { tokens: u32 },
}

/// The one place an engine [`Error`] becomes what the harness sees: MLX's failures,
/// the tokenizer's and the template's, the rest as the model's (files, formats, shapes).
impl From<Error> for EngineError {
    fn from(e: Error) -> Self {
        match e {
            Error::Mlx(source) => EngineError::Mlx(source.to_string()),
            Error::MlxCall(m) => EngineError::Mlx(m),
            e @ (Error::Tokenizer { .. } | Error::Template(_)) => EngineError::Tokenizer(e.to_string()),
            e @ (Error::Io { .. }
            | Error::File { .. }
            | Error::Json { .. }
            | Error::Model(_)
            | Error::Unsupported(_)
            | Error::NotFound(_)) => EngineError::Model(e.to_string()),
        }
    }
}

pub(crate) fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// MLX's version and the device it computes on now, as results record it, e.g.
/// `mlx 0.32.2 (cpu, in-process via mlx-rs 0.33.0)` or `mlx 0.32.2 (gpu: cuda NVIDIA H200,
/// in-process via mlx-rs 0.33.0, MLX_MAX_OPS_PER_BUFFER=100)`.
pub fn describe() -> String {
    let d = device::current();
    let on = if d.kind == device::DeviceKind::Cpu {
        "cpu".to_string()
    } else {
        format!("gpu: {}{}", d.api, d.name.map(|n| format!(" {n}")).unwrap_or_default())
    };
    let tuned = device::launch_setting().map(|s| format!(", {s}")).unwrap_or_default();
    let plain = if model::plain_step() { ", plain step: MLXBENCH_NO_COMPILE=1" } else { "" };
    format!("mlx {MLX_VERSION} ({on}, in-process via mlx-rs 0.33.0{tuned}{plain})")
}

/// Runs a tiny computation to show the linked MLX library works.
pub fn self_check() -> Result<(), EngineError> {
    let a = mlx_rs::Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]);
    let broken = |e: &dyn std::fmt::Display| EngineError::Mlx(format!("MLX does not compute: {e}"));
    let sum = a.sum(None).map_err(|e| broken(&e))?.try_item_cast::<f32>().map_err(|e| broken(&e))?;
    if sum == 6.0 { Ok(()) } else { Err(EngineError::Mlx(format!("MLX computed 1 + 2 + 3 = {sum}"))) }
}

/// A loaded model and its tokenizer.
pub struct Loaded {
    pub model: Model,
    pub tokenizer: Option<Tokenizer>,
}

/// Reads config, weights and tokenizer from a model directory or a `.gguf` file and
/// forces MLX to materialise every weight (MLX is lazy: without this, load time would
/// leak into the first request).
pub fn load(path: &Path) -> Result<Loaded, EngineError> {
    let (config, weights, tokenizer) = if path.is_file() && path.extension().is_some_and(|e| e == "gguf") {
        let g = gguf::Gguf::open(path)?;
        let c = gguf::convert_gguf(&g)?;
        let config = ModelConfig::parse(&c.config.to_string())?;
        let tok = Tokenizer::from_parts(c.tokenizer, &c.tokenizer_config, None, &config.eos_ids());
        (config, c.weights, Some(tok))
    } else {
        let cfg_path = path.join("config.json");
        let text = files::read_text(&cfg_path, files::JSON_LIMIT)?;
        let config = ModelConfig::parse(&text)?;
        let eos = config.eos_ids();
        let weights = load_weights(path)?;
        let tok = if path.join("tokenizer.json").exists() { Some(Tokenizer::load(path, &eos)?) } else { None };
        (config, weights, tok)
    };
    let model = Model::from_weights(config, weights)?;
    mlx_rs::transforms::eval(model.arrays()).map_err(|e| EngineError::Mlx(format!("materialising weights: {e}")))?;
    if let Some(t) = &tokenizer
        && t.vocab_size() > model.config.vocab_size as usize
    {
        return Err(EngineError::Model(format!(
            "tokenizer has {} tokens but the embedding only {} rows: tokenizer and weights do not match",
            t.vocab_size(),
            model.config.vocab_size
        )));
    }
    Ok(Loaded { model, tokenizer })
}

impl Loaded {
    fn tokenizer(&self) -> Result<&Tokenizer, EngineError> {
        self.tokenizer.as_ref().ok_or_else(|| EngineError::Tokenizer("the model directory has no tokenizer.json".into()))
    }

    /// Token ids of a completion prompt (with the tokenizer's special prefix).
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        Ok(self.tokenizer()?.encode(text, true)?)
    }

    /// Token ids of chat messages (anything serialising as `{role, content}`) rendered
    /// through the model's chat template.
    pub fn encode_chat<M: serde::Serialize>(&self, messages: &[M]) -> Result<Vec<u32>, EngineError> {
        let tok = self.tokenizer()?;
        match tok.render_chat(messages)? {
            Some(text) => Ok(tok.encode(&text, false)?),
            None => Err(EngineError::Tokenizer("the tokenizer has no chat template; use a completion prompt".into())),
        }
    }

    /// Generates from token ids; `sink` receives each token's text as it is read.
    pub fn generate(&self, ids: &[u32], s: &Sampling, deadline: Instant, sink: TextSink<'_>) -> Result<Outcome, EngineError> {
        self.generate_cancellable(Generation { prompt: ids, sampling: s, deadline, sink, cancel: &|| false })
    }

    /// As [`Loaded::generate`], asking the generation's `cancel` after every token (and
    /// between prefill chunks) whether to stop there.
    pub fn generate_cancellable(&self, g: Generation<'_>) -> Result<Outcome, EngineError> {
        generate::generate(&self.model, self.tokenizer.as_ref(), g)
    }

    /// Whether these prompt ids and `max_tokens` fit the model (vocabulary, context).
    pub fn check(&self, ids: &[u32], max_tokens: u32) -> Result<(), EngineError> {
        generate::check(&self.model, ids, max_tokens)
    }
}

/// MLX's allocator counters, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryCounters {
    pub active_bytes: Option<u64>,
    /// Since the last reset.
    pub peak_bytes: Option<u64>,
    pub cache_bytes: Option<u64>,
}

/// Reads MLX's allocator counters; `reset_peak` starts a new peak afterwards.
pub fn memory(reset_peak: bool) -> MemoryCounters {
    let c = MemoryCounters {
        active_bytes: mlx_rs::memory::active_memory().ok().map(|v| v as u64),
        peak_bytes: mlx_rs::memory::peak_memory().ok().map(|v| v as u64),
        cache_bytes: mlx_rs::memory::cache_memory().ok().map(|v| v as u64),
    };
    if reset_peak {
        let _ = mlx_rs::memory::reset_peak_memory();
    }
    c
}

/// mlx-rs's random module calls this macOS function for time-based seeds; on other
/// systems we provide it (nanoseconds since the Unix epoch).
#[cfg(not(target_os = "macos"))]
#[unsafe(no_mangle)]
pub extern "C" fn mach_approximate_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
