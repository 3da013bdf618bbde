//! Comparison output: a terminal table and GitHub-flavoured Markdown for PR comments
//! (JSON is the serde form of [`Comparison`]).

use std::io::Write;

use super::{Comparison, MetricComparison, Verdict};
use crate::fmt::{Grid, md_escape as escape, num};

fn cells(r: &MetricComparison) -> [String; 7] {
    let opt = |v: Option<f64>| v.map(num).unwrap_or_else(|| "-".into());
    let change = match (r.change, r.change_ci95) {
        (Some(c), Some((lo, hi))) => format!("{:+.1}% [{:+.1}%, {:+.1}%]", c * 100.0, lo * 100.0, hi * 100.0),
        (Some(c), None) => format!("{:+.1}%", c * 100.0),
        _ => "-".into(),
    };
    [
        r.case.clone(),
        r.metric.name().to_string(),
        format!("{} (n={})", opt(r.median_baseline), r.n_baseline),
        format!("{} (n={})", opt(r.median_candidate), r.n_candidate),
        change,
        r.p_value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "-".into()),
        r.verdict.as_str().to_string(),
    ]
}

const HEADERS: [&str; 7] = ["Case", "Metric", "Baseline median", "Candidate median", "Change [95% CI]", "p", "Verdict"];

/// The comparison table; regressions flagged.
fn grid(c: &Comparison) -> Grid {
    let mut g = Grid::new(HEADERS, 2);
    g.align[6] = crate::fmt::Align::Left;
    for r in &c.results {
        let flagged = if r.verdict == Verdict::Regressed { vec![6] } else { Vec::new() };
        g.push_flagged(cells(r).to_vec(), flagged);
    }
    g
}

fn summary_line(c: &Comparison) -> String {
    format!(
        "{} regressed, {} improved, {} unchanged, {} inconclusive (threshold ±{:.1}%, alpha {})",
        c.count(Verdict::Regressed),
        c.count(Verdict::Improved),
        c.count(Verdict::Unchanged),
        c.count(Verdict::Inconclusive),
        c.threshold * 100.0,
        c.alpha
    )
}

pub fn render_text<W: Write>(w: &mut W, c: &Comparison) -> std::io::Result<()> {
    writeln!(w, "baseline:  {}\ncandidate: {}", c.baseline, c.candidate)?;
    writeln!(w, "{}", grid(c).terminal(None))?;
    writeln!(w, "{}", summary_line(c))?;
    for u in &c.unmatched {
        writeln!(w, "  not compared: {u}")?;
    }
    for warn in &c.warnings {
        writeln!(w, "  warning: {warn}")?;
    }
    Ok(())
}

pub fn render_markdown<W: Write>(w: &mut W, c: &Comparison) -> std::io::Result<()> {
    let verdict = if c.regressed() { "❌ regression" } else { "✅ no regression" };
    writeln!(w, "## mlxbench compare: {verdict}\n")?;
    writeln!(w, "Baseline {} vs candidate {}.\n", escape(&c.baseline), escape(&c.candidate))?;
    writeln!(w, "{}\n", summary_line(c))?;
    write!(w, "{}", grid(c).markdown())?;
    if !c.unmatched.is_empty() || !c.warnings.is_empty() {
        writeln!(w)?;
        for u in &c.unmatched {
            writeln!(w, "- not compared: {}", escape(u))?;
        }
        for warn in &c.warnings {
            writeln!(w, "- warning: {}", escape(warn))?;
        }
    }
    writeln!(
        w,
        "\nChange = candidate median / baseline median - 1, with a 95% bootstrap interval; p from a two-sided Mann-Whitney U test. Regressed/improved: beyond the threshold and p < alpha."
    )?;
    Ok(())
}
