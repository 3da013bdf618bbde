//! Markdown export of a run (GitHub-flavoured): host, one table row per case, the
//! side-by-side comparisons and failures.

use std::io::Write;

use super::table::{NOTE, summary_grid};
use super::{failures, host_line, side_by_side};
use crate::fmt::md_escape;
use crate::results::RunResult;

pub fn render<W: Write>(w: &mut W, run: &RunResult) -> std::io::Result<()> {
    writeln!(w, "## {}\n", md_escape(&run.scenario.name))?;
    writeln!(w, "Host: {}, started {}\n", md_escape(&host_line(run)), run.started_at.format("%Y-%m-%d %H:%M:%S UTC"))?;
    write!(w, "{}", summary_grid(&run.cases).markdown())?;
    writeln!(w, "\n{}.", capitalized(NOTE))?;
    list(w, None, side_by_side(&run.cases))?;
    list(w, Some("Failures"), failures(&run.cases).into_iter().map(|(case, why)| format!("{case}: {why}")).collect())?;
    Ok(())
}

/// A bulleted list, escaped, under an optional heading; nothing when empty.
pub fn list<W: Write>(w: &mut W, heading: Option<&str>, items: Vec<String>) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    match heading {
        Some(h) => writeln!(w, "\n### {h}\n")?,
        None => writeln!(w)?,
    }
    for i in items {
        writeln!(w, "- {}", md_escape(&i))?;
    }
    Ok(())
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
