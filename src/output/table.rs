//! The terminal summary: one row per case, cases of the same workload and parameters
//! next to each other so backends compare side by side.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::{bytes, comparisons, failure_note, grouped, median_spread, num, params_label};
use crate::results::CaseResult;

pub const HEADERS: [&str; 11] =
    ["Target", "Workload", "Params", "OK", "TTFT ms", "Decode tok/s", "Prefill tok/s", "E2E ms", "Total tok/s", "Load ms", "Peak mem"];

/// One row of cells (shared with the Markdown exporter).
pub fn row(c: &CaseResult) -> Vec<String> {
    let load = c.load.as_ref().and_then(|l| l.cold_ms).map(num).unwrap_or_else(|| "-".into());
    let peak = c.memory.as_ref().and_then(|m| m.peak_bytes.or(m.after_load_bytes)).map(bytes).unwrap_or_else(|| "-".into());
    let ok = if c.error.is_some() { "error".to_string() } else { format!("{}/{}", c.ok_count(), c.samples.len()) };
    vec![
        c.target.clone(),
        c.workload.clone(),
        params_label(c),
        ok,
        median_spread(c.summary.get("ttft_ms")),
        median_spread(c.summary.get("decode_tps")),
        median_spread(c.summary.get("prefill_tps")),
        median_spread(c.summary.get("e2e_ms")),
        c.median("aggregate_output_tps").map(num).unwrap_or_else(|| "-".into()),
        load,
        peak,
    ]
}

/// Writes the table, a line per cross-target comparison, and failure reasons.
pub fn render<W: Write>(w: &mut W, cases: &[CaseResult], width: Option<u16>) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    match width {
        Some(wd) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(wd);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(HEADERS.iter().map(|h| Cell::new(h)));
    for g in grouped(cases) {
        for c in g {
            let cells = row(c);
            t.add_row(cells.into_iter().enumerate().map(|(i, v)| {
                let cell = Cell::new(v);
                if i >= 3 { cell.set_alignment(CellAlignment::Right) } else { cell }
            }));
        }
    }
    writeln!(w, "{t}")?;
    writeln!(
        w,
        "median ± standard deviation over successful requests; total = output tokens of all concurrent streams / run time; load = cold load"
    )?;
    for line in comparisons(cases) {
        writeln!(w, "  {line}")?;
    }
    for c in cases {
        if let Some(note) = failure_note(c) {
            writeln!(w, "  FAILED {} / {} {}: {note}", c.target, c.workload, params_label(c))?;
        }
        for warn in &c.warnings {
            writeln!(w, "  warning {} / {} {}: {warn}", c.target, c.workload, params_label(c))?;
        }
    }
    Ok(())
}
