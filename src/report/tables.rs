//! The report's tables as [`Grid`]s, built once; the Markdown and HTML writers only
//! choose the syntax.

use super::hardware::roofline;
use super::{Report, machine_cases, median_with_ci};
use crate::compare::Verdict;
use crate::fmt::{Grid, bytes, num, opt_num};
use crate::metric::Metric;
use crate::output::{load_cell, ok_cell, peak_cell};
use crate::results::{CaseResult, RunResult};

/// `median (lo–hi)` of a metric, or `-`.
pub fn cell(c: &CaseResult, metric: Metric) -> String {
    match median_with_ci(c, metric) {
        Some((m, lo, hi)) => format!("{} ({}–{})", num(m), num(lo), num(hi)),
        None => "-".into(),
    }
}

/// The newest run's cases.
pub fn cases(run: &RunResult) -> Grid {
    let mut g = Grid::new(
        ["Target", "Case", "Model", "OK", "TTFT ms", "Decode tok/s", "Prefill tok/s", "Total tok/s", "Load ms (cold)", "Peak memory"],
        3,
    );
    for c in &run.cases {
        g.push(vec![
            c.target.clone(),
            c.label(),
            c.model.clone(),
            ok_cell(c),
            cell(c, Metric::TtftMs),
            cell(c, Metric::DecodeTps),
            cell(c, Metric::PrefillTps),
            cell(c, Metric::AggregateOutputTps),
            load_cell(c),
            peak_cell(c),
        ]);
    }
    g
}

/// Energy per case where it was measured (`None` when no case was): what the sources
/// cover, idle and average power, J per decoded token gross and above idle, tokens per J
/// and how many requests ran throttled.
pub fn energy(run: &RunResult) -> Option<Grid> {
    let measured: Vec<&CaseResult> = run.cases.iter().filter(|c| c.energy.is_some()).collect();
    if measured.is_empty() {
        return None;
    }
    let mut g = Grid::new(["Target", "Case", "Measured", "Idle W", "Power W", "J/token", "J/token above idle", "Tokens/J", "Throttled"], 3);
    for c in measured {
        let Some(e) = &c.energy else { continue };
        let covers: Vec<String> =
            e.sources.iter().map(|s| format!("{}{}", s.covers, if s.estimate { " (estimate)" } else { "" })).collect();
        g.push(vec![
            c.target.clone(),
            c.label(),
            covers.join("; "),
            opt_num(e.idle_power_w),
            cell(c, Metric::PowerW),
            cell(c, Metric::JPerToken),
            cell(c, Metric::JPerTokenAboveIdle),
            cell(c, Metric::TokensPerJ),
            format!("{} of {}", e.throttled, c.ok_count()),
        ]);
    }
    Some(g)
}

/// One metric across machines: a row per case, a column per machine.
pub fn machines(r: &Report, metric: Metric) -> Grid {
    let mut g = Grid::new(std::iter::once("Case".to_string()).chain(r.machines.iter().map(RunResult::machine)), 1);
    let indexes: Vec<_> = r.machines.iter().map(RunResult::index).collect();
    for (id, label) in machine_cases(&r.machines) {
        let mut row = vec![label];
        row.extend(indexes.iter().map(|ix| ix.get(&id).map(|c| cell(c, metric)).unwrap_or_else(|| "-".into())));
        g.push(row);
    }
    g
}

/// Decode speed against each machine's memory-bandwidth ceiling.
pub fn rooflines(r: &Report) -> Grid {
    let mut g = Grid::new(["Machine", "Case", "Memory", "Bandwidth GB/s", "Weights", "Ceiling tok/s", "Decode tok/s", "Efficiency"], 3);
    for row in roofline(&r.machines) {
        let weights =
            row.weights_bytes.map(|b| format!("{} ({})", bytes(b), row.weights_source.unwrap_or(""))).unwrap_or_else(|| "unknown".into());
        g.push(vec![
            row.machine,
            row.case,
            row.memory,
            opt_num(row.bandwidth_gbps),
            weights,
            opt_num(row.ceiling_tps),
            opt_num(row.decode_tps),
            row.efficiency.map(|e| format!("{:.0}%", e * 100.0)).unwrap_or_else(|| "-".into()),
        ]);
    }
    g
}

/// One metric over time on the newest run's machine; regressions flagged.
pub fn trend(r: &Report, metric: Metric) -> Grid {
    let dates: Vec<String> = r
        .history
        .iter()
        .map(|(_, run)| format!("{}{}", run.started_at.format("%m-%d %H:%M"), if run.complete { "" } else { " (interrupted)" }))
        .collect();
    let mut g = Grid::new(std::iter::once("Case".to_string()).chain(dates.iter().cloned()), 1);
    for (label, pts) in r.trend(metric) {
        let mut row = vec![label];
        let mut flagged = Vec::new();
        for i in 0..dates.len() {
            match pts.iter().find(|p| p.0 == i) {
                Some((_, v, verdict)) => {
                    if *verdict == Verdict::Regressed {
                        flagged.push(i + 1);
                    }
                    row.push(num(*v));
                }
                None => row.push("-".into()),
            }
        }
        g.push_flagged(row, flagged);
    }
    g
}

/// The metrics the machine and trend sections show, with their headings.
pub fn section_metrics() -> impl Iterator<Item = (Metric, String)> {
    Metric::TRENDED.iter().map(|m| (*m, format!("{} ({})", m.title(), m.unit())))
}

/// The machine comparison's sections: the trended metrics, and efficiency (tokens per
/// J, J per token) when some machine measured energy.
pub fn machine_metrics(r: &Report) -> Vec<(Metric, String)> {
    let mut v: Vec<(Metric, String)> = section_metrics().collect();
    if r.machines.iter().any(|m| m.cases.iter().any(|c| c.summary.contains_key(Metric::TokensPerJ.name()))) {
        v.extend([Metric::TokensPerJ, Metric::JPerToken].map(|m| (m, format!("{} ({})", m.title(), m.unit()))));
    }
    v
}
