//! `report` over a tree of several scenarios and machines: one site.
//!
//! - `OUT/index.html`: a row per scenario x machine x case with the newest run's decode
//!   speed and TTFT (medians with their 95% intervals), a trend of the decode median over
//!   that machine's runs, and the change against its previous run with `compare`'s
//!   verdict (a regression flagged); each scenario links to its own page.
//! - `OUT/<scenario>/`: that scenario's report, as `report` writes it for one scenario
//!   (machines side by side, trend of the newest machine's runs).
//! - `OUT/summary.md`: the counts and the rows whose verdict changed, short enough for a
//!   GitHub job summary.
//! - `OUT/gab-*.json`, `OUT/bmf.json` when asked for: every scenario in one file each.
//!
//! Self-contained (inline CSS and SVG, relative links), and the same input gives the
//! same bytes (no clock, sorted groups).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Format, Report, build_from, median_with_ci, write, write_dashboards};
use crate::compare::{self, Verdict};
use crate::fmt::{html_escape as esc, md_escape, num};
use crate::metric::Metric;
use crate::results::{CaseResult, RunResult, slug_for_file};

/// One row of the index: a case of the newest run of a scenario on a machine.
struct Row {
    scenario: String,
    page: String,
    machine: String,
    case: String,
    runs: usize,
    decode: Option<(f64, f64, f64)>,
    ttft: Option<(f64, f64, f64)>,
    /// Decode medians of the runs that had the case, oldest first.
    trend: Vec<f64>,
    decode_change: Option<compare::MetricComparison>,
    ttft_change: Option<compare::MetricComparison>,
}

/// Writes the site; returns the files written and the notes of every scenario's report.
pub fn write_site(runs: Vec<(PathBuf, RunResult)>, notes: Vec<String>, out: &Path, formats: &[Format]) -> Result<(Vec<PathBuf>, usize)> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let files = runs.len();
    // runs moved into their scenario's group (sorted by name), never copied
    let mut by_scenario: std::collections::BTreeMap<String, Vec<(PathBuf, RunResult)>> = std::collections::BTreeMap::new();
    for (p, r) in runs {
        by_scenario.entry(r.scenario.name.clone()).or_default().push((p, r));
    }
    let scenarios = by_scenario.len();
    let mut written = Vec::new();
    let mut reports = Vec::new();
    let mut rows = Vec::new();
    let page_formats: Vec<Format> = formats.iter().copied().filter(|f| !matches!(f, Format::Gab | Format::Bmf)).collect();
    for (name, mine) in by_scenario {
        rows.extend(index_rows(&name, &mine));
        let report = build_from(mine, notes.clone(), None)?;
        let dir = out.join(slug_for_file(&name));
        written.extend(write(&report, &dir, &page_formats)?);
        reports.push(report);
    }
    let refs: Vec<&Report> = reports.iter().collect();
    written.extend(write_dashboards(&refs, out, formats)?);
    let index = out.join("index.html");
    crate::results::write::write_output(&index, index_html(&rows, files, &notes))?;
    written.push(index);
    let summary = out.join("summary.md");
    crate::results::write::write_output(&summary, summary_md(&rows, files))?;
    written.push(summary);
    Ok((written, scenarios))
}

/// The rows of one scenario: per machine, the cases of its newest run against its runs.
fn index_rows(scenario: &str, runs: &[(PathBuf, RunResult)]) -> Vec<Row> {
    // each machine's runs (keys made once per run)
    let mut by_machine: std::collections::BTreeMap<String, Vec<&RunResult>> = std::collections::BTreeMap::new();
    for (_, r) in runs {
        by_machine.entry(r.machine_key()).or_default().push(r);
    }
    let slug = slug_for_file(scenario);
    let page = format!("{slug}/{slug}.html");
    let opts = compare::Options::default();
    let mut rows = Vec::new();
    for mut history in by_machine.into_values() {
        history.sort_by_key(|r| r.started_at);
        // the newest complete run (an interrupted one only when there is nothing else)
        let Some(newest) = history.iter().rev().find(|r| r.complete).or(history.last()).copied() else { continue };
        history.retain(|r| r.complete || std::ptr::eq(*r, newest));
        let indexes: Vec<_> = history.iter().map(|r| r.index()).collect();
        for c in &newest.cases {
            let id = c.identity();
            let series: Vec<&CaseResult> = indexes.iter().filter_map(|ix| ix.get(&id)).collect();
            let trend = series.iter().filter_map(|s| median_with_ci(s, Metric::DecodeTps).map(|m| m.0)).collect();
            let previous = series.iter().rev().nth(1);
            let change = |m: Metric| previous.map(|p| compare::compare_case_metric(p, c, m, &opts));
            rows.push(Row {
                scenario: scenario.to_string(),
                page: page.clone(),
                machine: newest.machine(),
                case: c.full_label(),
                runs: series.len(),
                decode: median_with_ci(c, Metric::DecodeTps),
                ttft: median_with_ci(c, Metric::TtftMs),
                trend,
                decode_change: change(Metric::DecodeTps),
                ttft_change: change(Metric::TtftMs),
            });
        }
    }
    rows
}

fn with_interval(v: Option<(f64, f64, f64)>) -> String {
    v.map(|(m, lo, hi)| format!("{} [{}, {}]", num(m), num(lo), num(hi))).unwrap_or_else(|| "-".into())
}

/// `-3.1% regressed` with the verdict, or `-` for a first run.
fn change_text(c: &Option<compare::MetricComparison>) -> String {
    match c {
        Some(m) => match m.change {
            Some(x) => format!("{:+.1}% {}", x * 100.0, m.verdict.as_str()),
            None => m.verdict.as_str().to_string(),
        },
        None => "-".into(),
    }
}

fn regressed(c: &Option<compare::MetricComparison>) -> bool {
    c.as_ref().is_some_and(|m| m.verdict == Verdict::Regressed)
}

/// A small line of the medians over runs, newest at the right.
fn sparkline(values: &[f64]) -> String {
    let (w, h) = (120.0, 28.0);
    if values.is_empty() {
        return "-".into();
    }
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = if values.len() > 1 { (w - 8.0) / (values.len() - 1) as f64 } else { 0.0 };
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", 4.0 + step * i as f64, h - 4.0 - (v - lo) / span * (h - 8.0)))
        .collect();
    let last = pts.last().cloned().unwrap_or_default();
    let (lx, ly) = last.split_once(',').unwrap_or(("0", "0"));
    format!(
        "<svg class=\"trend\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"decode median over {n} runs\"><polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/><circle cx=\"{lx}\" cy=\"{ly}\" r=\"2.5\" fill=\"#1f77b4\"/></svg>",
        pts.join(" "),
        n = values.len()
    )
}

const STYLE: &str = "body{font-family:-apple-system,\"Segoe UI\",Helvetica,Arial,sans-serif;margin:0 auto;max-width:1300px;padding:1.5rem;color:#1b1b1b}\
table{border-collapse:collapse;font-size:.88rem}th,td{border:1px solid #ddd;padding:.3rem .55rem;text-align:right;vertical-align:middle}\
th{background:#f4f6f8}td.l,th.l{text-align:left}td a{white-space:nowrap}tr.bad td{background:#fff1f0}.flag{color:#c00;font-weight:bold}.note{color:#555;font-size:.9rem}";

fn index_html(rows: &[Row], files: usize, notes: &[String]) -> String {
    let scenarios: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
    let machines: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.machine.as_str()).collect();
    let bad = rows.iter().filter(|r| regressed(&r.decode_change) || regressed(&r.ttft_change)).count();
    let mut h = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlxbench: {} scenarios x {} machines</title><style>{STYLE}</style></head><body>\
         <h1>mlxbench results</h1><p class=\"note\">{} scenarios x {} machines from {files} result files. Newest run of each machine; medians with the 95% interval of the median; change against the same machine's previous run with <code>compare</code>'s verdict (Mann-Whitney U, 5% threshold).</p>",
        scenarios.len(),
        machines.len(),
        scenarios.len(),
        machines.len()
    );
    if bad > 0 {
        h.push_str(&format!("<p class=\"flag\">⚠ {bad} case(s) regressed against their previous run.</p>"));
    }
    h.push_str("<table><thead><tr><th class=\"l\">Scenario</th><th class=\"l\">Machine</th><th class=\"l\">Case</th><th>Runs</th><th>Decode tok/s [95%]</th><th>Decode trend</th><th>Decode change</th><th>TTFT ms [95%]</th><th>TTFT change</th></tr></thead><tbody>");
    for r in rows {
        let flag = |c: &Option<compare::MetricComparison>| {
            let t = esc(&change_text(c));
            if regressed(c) { format!("<span class=\"flag\">⚠ {t}</span>") } else { t }
        };
        let class = if regressed(&r.decode_change) || regressed(&r.ttft_change) { " class=\"bad\"" } else { "" };
        h.push_str(&format!(
            "<tr{class}><td class=\"l\"><a href=\"{}\">{}</a></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.page),
            esc(&r.scenario),
            esc(&r.machine),
            esc(&r.case),
            r.runs,
            with_interval(r.decode),
            sparkline(&r.trend),
            flag(&r.decode_change),
            with_interval(r.ttft),
            flag(&r.ttft_change)
        ));
    }
    h.push_str("</tbody></table>");
    if !notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for n in notes {
            h.push_str(&format!("<li>{}</li>", esc(n)));
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    h
}

/// At most this many rows in summary.md (a job summary may hold 1 MiB; a reader, less).
const SUMMARY_ROWS: usize = 40;

fn summary_md(rows: &[Row], files: usize) -> String {
    let changed: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            [&r.decode_change, &r.ttft_change]
                .iter()
                .any(|c| c.as_ref().is_some_and(|m| matches!(m.verdict, Verdict::Regressed | Verdict::Improved)))
        })
        .collect();
    let bad = rows.iter().filter(|r| regressed(&r.decode_change) || regressed(&r.ttft_change)).count();
    let scenarios: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
    let machines: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.machine.as_str()).collect();
    let mut s = format!(
        "## mlxbench: {} scenarios x {} machines, {files} result files\n\n{}\n\n",
        scenarios.len(),
        machines.len(),
        if bad > 0 {
            format!("❌ {bad} case(s) regressed against their previous run.")
        } else {
            "✅ no case regressed against its previous run.".into()
        }
    );
    if !changed.is_empty() {
        s.push_str("| Scenario | Machine | Case | Decode tok/s | Decode change | TTFT change |\n| --- | --- | --- | ---: | --- | --- |\n");
        for r in changed.iter().take(SUMMARY_ROWS) {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                md_escape(&r.scenario),
                md_escape(&r.machine),
                md_escape(&r.case),
                r.decode.map(|d| num(d.0)).unwrap_or_else(|| "-".into()),
                change_text(&r.decode_change),
                change_text(&r.ttft_change)
            ));
        }
        if changed.len() > SUMMARY_ROWS {
            s.push_str(&format!("\n... and {} more changed cases in index.html.\n", changed.len() - SUMMARY_ROWS));
        }
    }
    s.push_str("\nEvery case, its trend and its interval: index.html of the report.\n");
    s
}
