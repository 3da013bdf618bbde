//! The result-file contract (DESIGN.md "Result file") and its store. Units are in field
//! names; what a backend cannot measure is absent rather than zero.

mod load;
mod store;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::measure::host::HostInfo;
pub use crate::measure::metrics::Sample;
pub use crate::stats::Summary;
pub use load::{LoadError, load_result, result_paths};
pub use store::{ResultStore, slug as slug_for_file, write_json_atomic};

/// Bumped on any change that is not a pure addition.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of one scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub schema_version: u32,
    pub mlxbench_version: String,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// False while the run is in progress or when it was interrupted.
    pub complete: bool,
    pub host: HostInfo,
    pub scenario: ScenarioRecord,
    pub cases: Vec<CaseResult>,
}

/// The scenario as parsed, with where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub path: String,
    pub source_sha256: String,
    /// The parsed scenario file.
    pub spec: serde_json::Value,
}

/// Model load measurement of a target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// How the load was measured, in words.
    pub method: String,
    /// Wall time of a load from unloaded, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_ms: Option<f64>,
    /// Wall time of a load request when the model is already loaded, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_ms: Option<f64>,
    /// The server's own load time for the cold load (Ollama `load_duration`), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cold_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_warm_ms: Option<f64>,
}

/// Memory of the processes holding the model, bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryResult {
    /// "rss" (Linux) or "phys_footprint" (macOS).
    pub source: String,
    pub pids: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_load_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
    /// after_load - baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_delta_bytes: Option<i64>,
    /// peak - after_load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_delta_bytes: Option<i64>,
    /// What the server itself reports (Ollama `/api/ps`: `size`, `size_vram`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_reported: Option<serde_json::Value>,
    /// The in-process allocator's counters at the end of the case (MLX: `active_bytes`,
    /// `peak_bytes` since the case started, `cache_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator: Option<serde_json::Value>,
}

/// One counted run: `concurrency` simultaneous requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunAggregate {
    pub iteration: u32,
    /// First request sent -> last stream complete, ms.
    pub wall_ms: f64,
    pub ok: u32,
    pub failed: u32,
    pub output_tokens: u64,
    /// Output tokens of all streams / wall time, tokens/s.
    pub output_tps: f64,
}

/// One target x workload x sweep point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub target: String,
    pub backend: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_version: Option<String>,
    /// Model details the backend reported (e.g. Ollama `/api/show` details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_info: Option<serde_json::Value>,
    pub workload: String,
    pub params: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryResult>,
    pub samples: Vec<Sample>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunAggregate>,
    pub summary: BTreeMap<String, Summary>,
    pub warnings: Vec<String>,
    /// Why the whole case could not run (target unreachable, model missing, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CaseResult {
    pub fn ok_count(&self) -> usize {
        self.samples.iter().filter(|s| s.ok).count()
    }

    pub fn failed_count(&self) -> usize {
        self.samples.len() - self.ok_count()
    }

    /// True when the case or any of its samples failed.
    pub fn has_failures(&self) -> bool {
        self.error.is_some() || self.failed_count() > 0
    }

    pub fn median(&self, metric: &str) -> Option<f64> {
        self.summary.get(metric).map(|s| s.median)
    }
}

impl RunResult {
    pub fn has_failures(&self) -> bool {
        self.cases.iter().any(CaseResult::has_failures)
    }

    /// Chip name when known, else the CPU, for grouping machines.
    pub fn machine(&self) -> String {
        let m = self.host.chip.clone().unwrap_or_else(|| self.host.cpu.clone());
        if self.host.hostname.is_empty() { m } else { format!("{m} ({})", self.host.hostname) }
    }
}

impl CaseResult {
    /// Identity of a case across runs: target, workload and the parameters that change
    /// what is measured (not warmup/iterations/timeouts).
    pub fn key(&self) -> String {
        let p = |k: &str| self.params.get(k).map(|v| v.to_string()).unwrap_or_default();
        format!("{} / {} mt={} pt={} c={} {}", self.target, self.workload, p("max_tokens"), p("prompt_tokens"), p("concurrency"), p("api"))
    }

    /// Per-request values of a sample metric over successful requests, or the per-run
    /// `aggregate_output_tps`.
    pub fn values(&self, metric: &str) -> Vec<f64> {
        if metric == "aggregate_output_tps" {
            return self.runs.iter().filter(|r| r.ok > 0).map(|r| r.output_tps).collect();
        }
        self.samples
            .iter()
            .filter(|s| s.ok)
            .filter_map(|s| match metric {
                "ttft_ms" => s.ttft_ms,
                "e2e_ms" => s.e2e_ms,
                "first_byte_ms" => s.first_byte_ms,
                "decode_tps" => s.decode_tps,
                "decode_tps_server" => s.decode_tps_server,
                "prefill_tps" => s.prefill_tps,
                "output_tokens" => s.output_tokens.map(|n| n as f64),
                _ => None,
            })
            .collect()
    }
}

/// Whether larger values of a metric are better (rates) or worse (times, bytes).
pub fn higher_is_better(metric: &str) -> bool {
    metric.ends_with("_tps")
}
