//! The result-file contract (docs/DESIGN.md "Result file") and its store. Units are in
//! field names; what a backend cannot measure is absent rather than zero. Case identity
//! and labels live here, as methods, so every output names a case the same way.

mod identity;
mod load;
mod store;
mod warning;
pub mod write;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::measure::host::HostInfo;
pub use crate::measure::sample::Sample;
use crate::metric::Metric;
pub use crate::scenario::{Api, BackendKind, Params, PromptCache};
pub use crate::stats::Summary;
pub use identity::{CaseIndex, Identity};
pub use load::{LoadError, load_result, result_paths};
pub use store::{ResultStore, slug as slug_for_file, write_json_atomic};
pub use warning::{Warning, WarningKind, Warnings};

/// Bumped on any change that is not a pure addition.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of one scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The mlxbench release that wrote the file.
    pub mlxbench_version: String,
    /// When the run began (UTC).
    pub started_at: DateTime<Utc>,
    /// When the run ended, interrupted or not (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// False while the run is in progress or when it was interrupted.
    pub complete: bool,
    /// The machine it ran on.
    pub host: HostInfo,
    /// The scenario it ran.
    pub scenario: ScenarioRecord,
    /// One entry per case, in plan order, as each finished.
    pub cases: Vec<CaseResult>,
}

/// The scenario as parsed, with where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// The scenario's `name`.
    pub name: String,
    /// The scenario's `description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The scenario file as given on the command line.
    pub path: String,
    /// SHA-256 of the scenario file's bytes, hex.
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
    /// The server's own load time for the warm load, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_warm_ms: Option<f64>,
}

/// Memory of the processes holding the model, bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryResult {
    /// "rss" (Linux) or "phys_footprint" (macOS).
    pub source: String,
    /// The processes measured (summed).
    pub pids: Vec<u32>,
    /// Before the model was loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_bytes: Option<u64>,
    /// Right after the load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_load_bytes: Option<u64>,
    /// Highest sample during the case's counted runs (polled every 20 ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
    /// after_load - baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_delta_bytes: Option<i64>,
    /// peak - after_load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_delta_bytes: Option<i64>,
    /// Highest GPU memory of the same processes during the counted runs, through NVML
    /// (NVIDIA), sampled with `peak_bytes`; absent when they used no GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_peak_bytes: Option<u64>,
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
    /// Counted run index.
    pub iteration: u32,
    /// First request sent -> last stream complete, ms.
    pub wall_ms: f64,
    /// Requests of the run that succeeded.
    pub ok: u32,
    /// Requests of the run that failed.
    pub failed: u32,
    /// Output tokens of the successful requests.
    pub output_tokens: u64,
    /// Output tokens of all streams / wall time, tokens/s.
    pub output_tps: f64,
}

/// One target x workload x sweep point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// The target's name.
    pub target: String,
    /// Which backend ran it.
    pub backend: BackendKind,
    /// The target's `model` as written in the scenario.
    pub model: String,
    /// The backend's own version string (server version, or MLX's and its device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_version: Option<String>,
    /// The device the case computed on, as the in-process engine's MLX reports it
    /// (absent for servers, and in files written before mlxbench recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceRecord>,
    /// Model details the backend reported (e.g. Ollama `/api/show` details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_info: Option<serde_json::Value>,
    /// The workload's name.
    pub workload: String,
    /// The case's parameters.
    pub params: Params,
    /// The target's model load measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadResult>,
    /// Memory of the processes holding the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryResult>,
    /// One entry per counted request (warmup requests are not stored).
    pub samples: Vec<Sample>,
    /// One entry per counted run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunAggregate>,
    /// Metric name -> summary over successful requests (per-run metrics over runs).
    /// Keyed by name, not by [`Metric`], so files with metrics this build does not know
    /// still load.
    pub summary: BTreeMap<String, Summary>,
    /// What makes the numbers less trustworthy (outliers, cache hits, ...): written as
    /// `warnings` (texts) and `warning_kinds` (the kind of each, by index).
    #[serde(flatten)]
    pub warnings: Warnings,
    /// Why the whole case could not run (target unreachable, model missing, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run was interrupted (Ctrl-C, SIGTERM) during this case: its samples are the
    /// rounds of requests that finished before, fewer than `params.iterations` asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Where the energy figures of the samples come from, the idle power before the case,
    /// and how many requests were below resolution or throttled; absent where no energy
    /// or heat source was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<crate::measure::energy::CaseEnergy>,
}

/// The device a case computed on (`cases[].device`), declared with the engine.
pub use mlxbench_vocab::{DeviceKind, DeviceRecord};

impl CaseResult {
    pub fn ok_count(&self) -> usize {
        self.samples.iter().filter(|s| s.ok).count()
    }

    pub fn failed_count(&self) -> usize {
        self.samples.len() - self.ok_count()
    }

    /// Masks registered secrets and control characters in every text a server or a
    /// backend put here.
    pub fn redact_secrets(&mut self) {
        let r = |s: &mut String| {
            if let std::borrow::Cow::Owned(o) = crate::secrets::redact(s) {
                *s = o;
            }
            if let std::borrow::Cow::Owned(o) = crate::fmt::strip_controls(s) {
                *s = o;
            }
        };
        self.error.iter_mut().for_each(r);
        self.warnings.texts_mut().for_each(r);
        self.backend_version.iter_mut().for_each(r);
        self.samples.iter_mut().filter_map(|s| s.error.as_mut()).for_each(r);
    }

    /// True when the case or any of its samples failed.
    pub fn has_failures(&self) -> bool {
        self.error.is_some() || self.failed_count() > 0
    }

    /// The summary of a metric, if the case has one.
    pub fn summary_of(&self, metric: Metric) -> Option<&Summary> {
        self.summary.get(metric.name())
    }

    pub fn median(&self, metric: Metric) -> Option<f64> {
        self.summary_of(metric).map(|s| s.median)
    }

    /// The case without its target: workload and the parameters that vary, e.g.
    /// `short mt=128 c=4`.
    pub fn label(&self) -> String {
        format!("{} {}", self.workload, self.params.label())
    }

    /// Target and case, e.g. `ollama / short mt=128 c=4`: how every output names a case.
    pub fn full_label(&self) -> String {
        format!("{} / {}", self.target, self.label())
    }

    /// Per-request values of a metric over successful requests (per-run values for the
    /// aggregate metric).
    /// A metric's values over the successful samples (without the throttled ones when
    /// `params.exclude_throttled`) or over the runs.
    pub fn values(&self, metric: Metric) -> Vec<f64> {
        let kept = self.samples.iter().filter(|s| !self.params.exclude_throttled || s.throttled.is_empty());
        metric.values(kept, self.runs.iter().map(|r| (r.ok, r.output_tps)))
    }

    /// Why a case has failures, in one line, if it has any.
    pub fn failure_note(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        let failed: Vec<_> = self.samples.iter().filter(|s| !s.ok).collect();
        failed.first().map(|s| format!("{}/{} failed: {}", failed.len(), self.samples.len(), s.error.as_deref().unwrap_or("unknown")))
    }
}

impl RunResult {
    /// Its cases by identity ([`CaseIndex`]).
    pub fn index(&self) -> CaseIndex<'_> {
        CaseIndex::new(&self.cases)
    }

    pub fn has_failures(&self) -> bool {
        self.cases.iter().any(CaseResult::has_failures)
    }

    /// The one identity of a machine across runs (hostname, chip, CPU): runs with the same
    /// key are one machine's history; `report` and `compare` group runs by it.
    pub fn machine_key(&self) -> String {
        format!("{}|{}|{}", self.host.hostname, self.host.chip.as_deref().unwrap_or(""), self.host.cpu)
    }

    /// The machine's hardware without its hostname (a GitHub-hosted runner gets a new
    /// hostname every run): how a fleet comparison pairs machines when keys differ.
    pub fn hardware(&self) -> String {
        let mut m = self.host.chip.clone().unwrap_or_else(|| self.host.cpu.clone());
        // discrete GPUs name the machine too
        for g in self.host.discrete_gpus() {
            m.push_str(&format!(" + {}", g.name));
        }
        m
    }

    /// Chip name when known, else the CPU, for grouping machines.
    pub fn machine(&self) -> String {
        let m = self.hardware();
        if self.host.hostname.is_empty() { m } else { format!("{m} ({})", self.host.hostname) }
    }
}
