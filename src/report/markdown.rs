//! The report as GitHub-flavoured Markdown: fits a CI job summary or a PR comment.

use std::io::Write;

use super::hardware::ASSUMPTIONS;
use super::{Report, tables};
use crate::fmt::md_escape;
use crate::output::markdown::list;
use crate::output::{failures, host_line, side_by_side};

pub fn render<W: Write>(w: &mut W, r: &Report) -> std::io::Result<()> {
    let run = &r.latest;
    writeln!(w, "# {}: mlxbench report\n", md_escape(&r.scenario))?;
    writeln!(
        w,
        "Newest run {}{} on {}; mlxbench {}; {}.\n",
        run.started_at.format("%Y-%m-%d %H:%M UTC"),
        super::interrupted_mark(run),
        md_escape(&host_line(run)),
        md_escape(&run.mlxbench_version),
        md_escape(&r.latest_path.display().to_string())
    )?;
    let devices = super::device_lines(run);
    if !devices.is_empty() {
        writeln!(w, "MLX devices: {}.\n", md_escape(&devices.join("; ")))?;
    }
    writeln!(w, "## Cases\n")?;
    writeln!(w, "Median (95% interval of the median) over successful requests.\n")?;
    write!(w, "{}", tables::cases(run).markdown())?;
    if let Some(g) = tables::energy(run) {
        writeln!(w, "\n## Energy\n")?;
        writeln!(w, "Median (95% interval of the median) per request; J/token over the decode phase.\n")?;
        write!(w, "{}", g.markdown())?;
    }
    list(w, Some("Side by side"), side_by_side(&run.cases))?;
    list(w, Some("Failures"), failures(&run.cases).into_iter().map(|(case, why)| format!("{case}: {why}")).collect())?;
    if let Some((counted, lines)) = super::warnings(run) {
        writeln!(w, "\n### Warnings\n\nBy kind: {}.", md_escape(&counted))?;
        list(w, None, lines)?;
    }
    if r.machines.len() > 1 {
        writeln!(w, "\n## Hardware comparison\n")?;
        for m in &r.machines {
            writeln!(w, "- {} — run {}", md_escape(&host_line(m)), m.started_at.format("%Y-%m-%d %H:%M UTC"))?;
        }
        for (metric, heading) in tables::machine_metrics(r) {
            writeln!(w, "\n### {heading}\n")?;
            write!(w, "{}", tables::machines(r, metric).markdown())?;
        }
        writeln!(w, "\n### Roofline efficiency (decode)\n")?;
        write!(w, "{}", tables::rooflines(r).markdown())?;
        writeln!(w, "\n{ASSUMPTIONS}")?;
    }
    if r.history.len() > 1 {
        writeln!(w, "\n## Trend on {}\n", md_escape(&r.latest.machine()))?;
        writeln!(w, "Medians per run, oldest first; ⚠ marks a run that `mlxbench compare` flags as regressed against the one before.")?;
        for (metric, heading) in tables::section_metrics() {
            writeln!(w, "\n### {heading}\n")?;
            write!(w, "{}", tables::trend(r, metric).markdown())?;
        }
    }
    if !r.notes.is_empty() {
        writeln!(w, "\n## Notes\n")?;
        for n in &r.notes {
            writeln!(w, "- {}", md_escape(n))?;
        }
    }
    Ok(())
}
