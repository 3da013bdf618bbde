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

/// The comparison table of `rows`; regressions flagged.
fn grid(rows: &[&MetricComparison]) -> Grid {
    let mut g = Grid::new(HEADERS, 2);
    g.align[6] = crate::fmt::Align::Left;
    for r in rows {
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
    let rows: Vec<&MetricComparison> = c.results.iter().collect();
    writeln!(w, "{}", grid(&rows).terminal(None))?;
    writeln!(w, "{}", summary_line(c))?;
    for u in &c.unmatched {
        writeln!(w, "  not compared: {u}")?;
    }
    for warn in &c.warnings {
        writeln!(w, "  warning: {warn}")?;
    }
    Ok(())
}

/// Most characters of a GitHub comment (65,536), less room for a heading a workflow adds.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// Markdown for a PR comment or a job summary, at most [`MARKDOWN_LIMIT`] characters:
/// when every row does not fit, regressions come first, then the largest changes, and
/// the rows left out are counted by verdict (the JSON output keeps them all).
pub fn render_markdown<W: Write>(w: &mut W, c: &Comparison) -> std::io::Result<()> {
    let all: Vec<&MetricComparison> = c.results.iter().collect();
    let full = markdown(c, &all, usize::MAX);
    if full.chars().count() <= MARKDOWN_LIMIT {
        return w.write_all(full.as_bytes());
    }
    let mut ranked = all;
    let rank = |r: &MetricComparison| (r.verdict != Verdict::Regressed, std::cmp::Reverse(r.change.map_or(0, |x| (x.abs() * 1e6) as i64)));
    ranked.sort_by_key(|r| rank(r));
    // the most rows that fit, found by bisection (each try renders the table once)
    let (mut lo, mut hi) = (0, ranked.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if markdown(c, &ranked[..mid], 20).chars().count() <= MARKDOWN_LIMIT { lo = mid } else { hi = mid - 1 }
    }
    w.write_all(markdown(c, &ranked[..lo], 20).as_bytes())
}

/// The Markdown of `rows` (all of `c.results` or the first of them by rank) with at most
/// `max_list` lines of unmatched cases and of warnings each.
fn markdown(c: &Comparison, rows: &[&MetricComparison], max_list: usize) -> String {
    let mut w = String::new();
    let verdict = if c.regressed() { "❌ regression" } else { "✅ no regression" };
    w.push_str(&format!("## mlxbench compare: {verdict}\n\n"));
    w.push_str(&format!("Baseline {} vs candidate {}.\n\n", escape(&c.baseline), escape(&c.candidate)));
    w.push_str(&format!("{}\n\n", summary_line(c)));
    w.push_str(&grid(rows).markdown());
    let left = c.results.len() - rows.len();
    if left > 0 {
        let shown: std::collections::HashSet<*const MetricComparison> = rows.iter().map(|r| *r as *const _).collect();
        let count = |v: Verdict| c.results.iter().filter(|r| r.verdict == v && !shown.contains(&(*r as *const _))).count();
        w.push_str(&format!(
            "\n{left} more rows not shown to stay within a GitHub comment ({} regressed, {} improved, {} unchanged, {} inconclusive); the JSON output has them all.\n",
            count(Verdict::Regressed),
            count(Verdict::Improved),
            count(Verdict::Unchanged),
            count(Verdict::Inconclusive)
        ));
    }
    if !c.unmatched.is_empty() || !c.warnings.is_empty() {
        w.push('\n');
        for (what, list) in [("not compared", &c.unmatched), ("warning", &c.warnings)] {
            for u in list.iter().take(max_list) {
                w.push_str(&format!("- {what}: {}\n", escape(u)));
            }
            if list.len() > max_list {
                w.push_str(&format!("- ... and {} more ({what})\n", list.len() - max_list));
            }
        }
    }
    w.push_str(
        "\nChange = candidate median / baseline median - 1, with a 95% bootstrap interval; p from a two-sided Mann-Whitney U test. Regressed/improved: beyond the threshold and p < alpha.\n",
    );
    w
}
