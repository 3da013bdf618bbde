//! Serde types of the scenario file. Fields that validation must point at are
//! `Spanned`; all types serialise back to JSON for the result file's `scenario` block.

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A whole scenario file as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub targets: Vec<Spanned<TargetSpec>>,
    #[serde(default)]
    pub workloads: Vec<Spanned<WorkloadSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
    /// `"interleaved"`: counted runs take turns across targets (A1 B1 A2 B2 ...), for
    /// in-process and already-running targets; `"sequential"` (default): target by target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<super::plan::Order>,
}

/// `[defaults]`: every key optional; the documented default applies when absent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Runs per case that are not counted.
    pub warmup: Option<Spanned<u32>>,
    /// Counted runs per case (each run is `concurrency` simultaneous requests).
    pub iterations: Option<Spanned<u32>>,
    pub max_tokens: Option<Spanned<u32>>,
    pub temperature: Option<Spanned<f64>>,
    /// Nucleus sampling; sent only when set.
    pub top_p: Option<Spanned<f64>>,
    pub seed: Option<u64>,
    /// Per-request limit in seconds, from sending the request to the end of its stream.
    pub timeout_s: Option<Spanned<f64>>,
    /// Pause between runs in seconds.
    pub cooldown_s: Option<Spanned<f64>>,
    /// Pause before each case after the plan's first, in seconds (extension).
    pub case_cooldown_s: Option<Spanned<f64>>,
    /// Ask for exactly `max_tokens` where the backend allows it.
    pub ignore_eos: Option<bool>,
    /// Leave requests that ran throttled (heat, power caps) out of the statistics.
    pub exclude_throttled: Option<bool>,
    /// `"until-cool"`: wait before each counted run until power and clocks are back near
    /// the idle baseline, at most `cooldown_max_s` seconds.
    pub cooldown: Option<super::plan::Cooldown>,
    pub cooldown_max_s: Option<Spanned<f64>>,
    /// `"cold"` (default): every request starts with a prefix no earlier request had, so
    /// no server can reuse a cached prompt; `"warm"`: identical prompts, caching allowed
    /// (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache: Option<super::PromptCache>,
    /// Simultaneous streams per run when `[sweep]` does not set it (extension; default 1).
    pub concurrency: Option<Spanned<u32>>,
}

/// One `[[targets]]` table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub name: Option<String>,
    pub backend: Spanned<String>,
    pub model: Spanned<String>,
    /// Ollama server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Spanned<String>>,
    /// OpenAI-compatible base URL, e.g. `http://127.0.0.1:8080/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<Spanned<String>>,
    /// Command that starts the server; run from the scenario file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Spanned<Vec<String>>>,
    /// Seconds to wait for a launched server to answer (extension; default 180).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_timeout_s: Option<Spanned<f64>>,
    /// Seconds a launched server has to exit after SIGTERM before SIGKILL (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_s: Option<Spanned<f64>>,
    /// `mlx` only: `"cpu"` or `"gpu"` pins MLX's device (default: MLX's own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Spanned<String>>,
    /// Seconds a model load may take (`mlx` and `ollama`; extension; default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_timeout_s: Option<Spanned<f64>>,
    /// Name of the environment variable holding the API key, never the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Extra JSON fields merged into every OpenAI request body (extension), e.g.
    /// `{ cache_prompt = false }` for llama.cpp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<toml::Table>,
    /// Extra Ollama `options` (extension), e.g. `{ num_ctx = 4096 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<toml::Table>,
    /// Process ids whose memory is measured, instead of finding them (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Vec<u32>>,
    /// Bytes of weights read per decoded token, for the report's roofline (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_bytes: Option<u64>,
    /// Process names whose memory is measured (extension; Ollama default `ollama*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_names: Option<Vec<String>>,
}

/// A chat message as written in a workload.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    pub role: String,
    pub content: String,
}

/// One `[[workloads]]` table: exactly one of `prompt`, `messages`, `prompt_file`,
/// `prompt_tokens`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub name: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Spanned<Vec<MessageSpec>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<Spanned<u32>>,
    /// Send `prompt`/`prompt_file` as one user chat message (extension; default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<bool>,
    /// Overrides `defaults.max_tokens` for this workload (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<Spanned<u32>>,
    /// Overrides `defaults.prompt_cache` for this workload (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache: Option<super::PromptCache>,
}

/// `[sweep]`: every combination of the listed values becomes a case.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<Spanned<Vec<u32>>>,
    /// Synthetic prompt sizes; applies to workloads defined by `prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<Spanned<Vec<u32>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Spanned<Vec<u32>>>,
}
