//! Markdown export of a run (GitHub-flavoured): host, one table row per case, comparisons.

use std::io::Write;

use super::table::{HEADERS, row};
use super::{comparisons, failure_note, grouped, params_label};
use crate::results::RunResult;

/// Escapes text for a Markdown table cell: pipes, HTML and line breaks.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace(['\n', '\r'], " ")
}

pub fn render<W: Write>(w: &mut W, run: &RunResult) -> std::io::Result<()> {
    let h = &run.host;
    writeln!(w, "## {}\n", escape(&run.scenario.name))?;
    let chip = h.chip.clone().unwrap_or_else(|| h.cpu.clone());
    writeln!(
        w,
        "Host: **{}** ({} {}, {} cores, {:.1} GiB), started {}\n",
        escape(&chip),
        escape(&h.os),
        escape(&h.os_version),
        h.cores,
        h.memory_bytes as f64 / (1u64 << 30) as f64,
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    writeln!(w, "| {} |", HEADERS.join(" | "))?;
    writeln!(w, "|{}", HEADERS.iter().enumerate().map(|(i, _)| if i >= 3 { "---:|" } else { "---|" }).collect::<String>())?;
    for g in grouped(&run.cases) {
        for c in g {
            let cells: Vec<String> = row(c).iter().map(|s| escape(s)).collect();
            writeln!(w, "| {} |", cells.join(" | "))?;
        }
    }
    writeln!(
        w,
        "\nMedian ± standard deviation over successful requests. Total tok/s: output tokens of all concurrent streams per run / run wall time. Load: cold load."
    )?;
    let comps = comparisons(&run.cases);
    if !comps.is_empty() {
        writeln!(w)?;
        for c in comps {
            writeln!(w, "- {}", escape(&c))?;
        }
    }
    let failures: Vec<String> = run
        .cases
        .iter()
        .filter_map(|c| {
            failure_note(c).map(|n| format!("- **{}** / {} {}: {}", escape(&c.target), escape(&c.workload), params_label(c), escape(&n)))
        })
        .collect();
    if !failures.is_empty() {
        writeln!(w, "\n### Failures\n")?;
        for f in failures {
            writeln!(w, "{f}")?;
        }
    }
    Ok(())
}
