//! Presentation of runs: the terminal summary table, progress bars, Markdown export, and
//! the pieces every output shares (cells, side-by-side sentences, failures, the host
//! line), so the run table and the report say the same thing the same way. Everything
//! renders into a `W: Write` so tests can capture it.

pub mod markdown;
pub mod progress;
pub mod table;

use crate::fmt::{bytes, num};
use crate::metric::Metric;
use crate::results::{CaseResult, RunResult};

/// `ok/total` requests, or `error` when the case could not run.
pub fn ok_cell(c: &CaseResult) -> String {
    if c.error.is_some() { "error".into() } else { format!("{}/{}", c.ok_count(), c.samples.len()) }
}

/// Cold load time in ms, or `-`.
pub fn load_cell(c: &CaseResult) -> String {
    c.load.as_ref().and_then(|l| l.cold_ms).map(num).unwrap_or_else(|| "-".into())
}

/// Peak memory (after-load memory when no peak was sampled), or `-`.
/// Peak memory of a case: host memory (RSS / phys_footprint), plus the GPU memory where
/// the case used a GPU (NVML for NVIDIA processes; MLX's own allocator peak for an
/// in-process case on a GPU).
pub fn peak_cell(c: &CaseResult) -> String {
    let Some(m) = c.memory.as_ref() else { return "-".into() };
    let host = m.peak_bytes.or(m.after_load_bytes).map(bytes).unwrap_or_else(|| "-".into());
    let on_gpu = c.device.as_ref().is_some_and(|d| d.kind == crate::results::DeviceKind::Gpu);
    let mlx_gpu = on_gpu.then(|| m.allocator.as_ref()?.get("peak_bytes")?.as_u64()).flatten();
    match m.gpu_peak_bytes.or(mlx_gpu) {
        Some(g) => format!("{host} + {} GPU", bytes(g)),
        None => host,
    }
}

/// The machine in one line: name, OS, architecture, cores, memory, GPU cores and
/// bandwidth where known.
pub fn host_line(r: &RunResult) -> String {
    let h = &r.host;
    let mut s = format!(
        "{} ({} {}, {}, {} cores, {:.1} GiB",
        r.machine(),
        h.os,
        h.os_version,
        h.arch,
        h.cores,
        h.memory_bytes as f64 / (1u64 << 30) as f64
    );
    if let Some(g) = h.gpu_cores {
        s.push_str(&format!(", {g} GPU cores"));
    }
    if let Some(bw) = h.memory_bandwidth_gbps {
        s.push_str(&format!(", {bw} GB/s"));
    }
    for g in h.discrete_gpus() {
        s.push_str(&format!("; GPU {}", crate::measure::gpu::describe(g)));
    }
    s.push(')');
    s
}

/// Cases grouped by workload and parameters, targets side by side, plan order kept.
pub fn grouped(cases: &[CaseResult]) -> Vec<Vec<&CaseResult>> {
    let mut groups: Vec<Vec<&CaseResult>> = Vec::new();
    for c in cases {
        match groups.iter_mut().find(|g| g[0].workload == c.workload && g[0].params == c.params) {
            Some(g) => g.push(c),
            None => groups.push(vec![c]),
        }
    }
    groups
}

/// For each group with several targets: how much faster the fastest target is than each
/// other one, on decode and on time to first token, as sentences.
pub fn side_by_side(cases: &[CaseResult]) -> Vec<String> {
    let mut out = Vec::new();
    for g in grouped(cases) {
        if g.len() < 2 {
            continue;
        }
        let label = g[0].label();
        let ranked = |metric: Metric| {
            // from the samples, not the stored summary: files written by other tools may lack it
            let median = |c: &CaseResult| Some(c.values(metric)).filter(|v| !v.is_empty()).map(|v| crate::stats::median(&v));
            // a ratio needs finite medians
            let mut v: Vec<(&str, f64)> =
                g.iter().filter_map(|c| Some((c.target.as_str(), median(c).filter(|m| m.is_finite())?))).collect();
            v.sort_by(|a, b| if metric.higher_is_better() { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
            v
        };
        let decode = ranked(Metric::DecodeTps);
        for other in decode.iter().skip(1).filter(|o| o.1 > 0.0) {
            let (best, ratio) = (decode[0], decode[0].1 / other.1);
            out.push(format!("{label}: {} is {ratio:.2}x {} on decode ({} vs {} tokens/s)", best.0, other.0, num(best.1), num(other.1)));
        }
        let ttft = ranked(Metric::TtftMs);
        for other in ttft.iter().skip(1).filter(|_| ttft[0].1 > 0.0) {
            let (best, ratio) = (ttft[0], other.1 / ttft[0].1);
            out.push(format!(
                "{label}: {} reaches the first token {ratio:.2}x sooner than {} ({} vs {} ms)",
                best.0,
                other.0,
                num(best.1),
                num(other.1)
            ));
        }
    }
    out
}

/// `(case, why)` for every case with failures.
pub fn failures(cases: &[CaseResult]) -> Vec<(String, String)> {
    cases.iter().filter_map(|c| Some((c.full_label(), c.failure_note()?))).collect()
}
