//! The terminal summary: one row per case, cases of the same workload and parameters
//! next to each other so backends compare side by side.

use std::io::Write;

use super::{failures, grouped, load_cell, ok_cell, peak_cell, side_by_side};
use crate::fmt::{Grid, median_spread, one_line, opt_num};
use crate::metric::Metric;
use crate::results::CaseResult;

/// What the summary's spread means, printed under it.
pub const NOTE: &str =
    "median ± standard deviation over successful requests; total = output tokens of all concurrent streams / run time; load = cold load";

/// The run summary: one row per case, grouped (shared with the Markdown export).
pub fn summary_grid(cases: &[CaseResult]) -> Grid {
    // energy columns only where some case measured energy
    let energy: &[Metric] = if cases.iter().any(|c| c.summary.contains_key(Metric::PowerW.name())) { &Metric::ENERGY } else { &[] };
    let metrics: Vec<Metric> = Metric::EXPORTED.iter().chain(energy).copied().collect();
    let headers =
        ["Target", "Workload", "Params", "OK"].into_iter().chain(metrics.iter().map(|m| m.column())).chain(["Load ms", "Peak mem"]);
    let mut g = Grid::new(headers, 3);
    for c in grouped(cases).into_iter().flatten() {
        let mut row = vec![c.target.clone(), c.workload.clone(), c.params.label(), ok_cell(c)];
        // per-request metrics with their spread; a per-run one (total speed) as its median
        row.extend(metrics.iter().map(|m| if m.per_request() { median_spread(c.summary_of(*m)) } else { opt_num(c.median(*m)) }));
        row.extend([load_cell(c), peak_cell(c)]);
        g.push(row);
    }
    g
}

/// Writes the table, a line per cross-target comparison, failure reasons and warnings.
pub fn render<W: Write>(w: &mut W, cases: &[CaseResult], width: Option<u16>) -> std::io::Result<()> {
    writeln!(w, "{}", summary_grid(cases).terminal(width))?;
    writeln!(w, "{NOTE}")?;
    // every line one line: a server's text with line breaks cannot forge lines of ours
    for line in side_by_side(cases) {
        writeln!(w, "  {}", one_line(&line))?;
    }
    for (case, why) in failures(cases) {
        writeln!(w, "  FAILED {}: {}", one_line(&case), one_line(&why))?;
    }
    for c in cases {
        for warn in c.warnings.texts() {
            writeln!(w, "  warning {}: {}", one_line(&c.full_label()), one_line(warn))?;
        }
    }
    Ok(())
}
