//! CSV: one row per case of the newest run of each machine, medians with the 95%
//! interval of the median (`*_median_ci95_low/high`; the result file's `ci95_*` is the
//! interval of the mean, a different quantity, hence the different name).

use std::io::Write;

use super::{Report, median_with_ci};
use crate::fmt::csv_field as field;
use crate::metric::Metric;

const METRICS: [Metric; 5] = Metric::EXPORTED;

/// A metric's median and the 95% interval of the median, or three empty cells.
fn ci_cells(c: &crate::results::CaseResult, m: Metric) -> [String; 3] {
    match median_with_ci(c, m) {
        Some((v, lo, hi)) => [v, lo, hi].map(|x| format!("{x:.4}")),
        None => [String::new(), String::new(), String::new()],
    }
}

pub fn render<W: Write>(w: &mut W, r: &Report) -> std::io::Result<()> {
    let mut header: Vec<String> = [
        "scenario",
        "machine",
        "started_at",
        "target",
        "backend",
        "model",
        "workload",
        "max_tokens",
        "prompt_tokens",
        "concurrency",
        "ok",
        "failed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in METRICS {
        header.extend([format!("{m}_median"), format!("{m}_median_ci95_low"), format!("{m}_median_ci95_high")]);
    }
    header.extend(["load_cold_ms", "load_warm_ms", "peak_memory_bytes", "error"].map(String::from));
    let runs: Vec<&crate::results::RunResult> = if r.machines.is_empty() { vec![&r.latest] } else { r.machines.iter().collect() };
    // energy columns, appended after the fixed ones, when some case measured energy
    let energy = runs.iter().any(|run| run.cases.iter().any(|c| c.energy.is_some()));
    if energy {
        for m in Metric::ENERGY {
            header.extend([format!("{m}_median"), format!("{m}_median_ci95_low"), format!("{m}_median_ci95_high")]);
        }
        header.extend(["idle_power_w", "throttled_requests"].map(String::from));
    }
    writeln!(w, "{}", header.join(","))?;
    for run in runs {
        for c in &run.cases {
            let mut row = vec![
                field(&run.scenario.name),
                field(&run.machine()),
                run.started_at.to_rfc3339(),
                field(&c.target),
                field(c.backend.name()),
                field(&c.model),
                field(&c.workload),
                c.params.max_tokens.to_string(),
                c.params.prompt_tokens.map(|n| n.to_string()).unwrap_or_default(),
                c.params.concurrency.to_string(),
                c.ok_count().to_string(),
                c.failed_count().to_string(),
            ];
            for m in METRICS {
                row.extend(ci_cells(c, m));
            }
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
            row.push(opt(c.load.as_ref().and_then(|l| l.cold_ms)));
            row.push(opt(c.load.as_ref().and_then(|l| l.warm_ms)));
            row.push(c.memory.as_ref().and_then(|m| m.peak_bytes.or(m.after_load_bytes)).map(|b| b.to_string()).unwrap_or_default());
            row.push(field(c.error.as_deref().unwrap_or("")));
            if energy {
                for m in Metric::ENERGY {
                    row.extend(ci_cells(c, m));
                }
                row.push(opt(c.energy.as_ref().and_then(|e| e.idle_power_w)));
                row.push(c.energy.as_ref().map(|e| e.throttled.to_string()).unwrap_or_default());
            }
            writeln!(w, "{}", row.join(","))?;
        }
    }
    Ok(())
}
