//! `report`: turns result files into Markdown, a self-contained HTML page, CSV and
//! SVG/PNG charts. Damaged or foreign files are skipped with a message naming them; the
//! rest of the report is still produced.
//!
//! Sections: the newest run's cases (tables, bars with 95% intervals, sweep lines, a
//! per-request timeline), a hardware comparison when several machines ran the scenario,
//! and a trend when one machine ran it several times.

pub mod charts;
mod csv;
mod dashboard;
pub mod export;
mod figures;
mod hardware;
mod html;
mod markdown;
pub mod site;
mod tables;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::metric::Metric;
use crate::results::{CaseResult, Identity, RunResult, load_result, result_paths};
use crate::stats::{median, significance::median_ci95};

pub use hardware::{Roofline, roofline};

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// GitHub-flavoured Markdown.
    Md,
    /// One self-contained HTML page.
    Html,
    /// Every chart as SVG.
    Svg,
    /// Every chart as PNG.
    Png,
    /// One row per case.
    Csv,
    /// github-action-benchmark's custom formats: gab-bigger.json, gab-smaller.json.
    Gab,
    /// Bencher Metric Format: bmf.json.
    Bmf,
}

impl Format {
    pub const ALL: [Format; 7] = [Format::Md, Format::Html, Format::Svg, Format::Png, Format::Csv, Format::Gab, Format::Bmf];
}

/// Median and its 95% interval of a metric over a case's successful requests.
pub fn median_with_ci(c: &CaseResult, metric: Metric) -> Option<(f64, f64, f64)> {
    let v = c.values(metric);
    if v.is_empty() {
        return None;
    }
    let (lo, hi) = median_ci95(&v)?;
    Some((median(&v), lo, hi))
}

/// Cases across machines, first appearance first: (identity, "target / case").
pub fn machine_cases(machines: &[RunResult]) -> Vec<(Identity, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut v: Vec<(Identity, String)> = Vec::new();
    for m in machines {
        for c in &m.cases {
            let id = c.identity();
            if seen.insert(id.clone()) {
                v.push((id, c.full_label()));
            }
        }
    }
    v
}

/// The runs a report is built from.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: String,
    /// The newest run: its cases fill the main tables and charts.
    pub latest: RunResult,
    pub latest_path: PathBuf,
    /// The newest run of every machine, when there is more than one machine.
    pub machines: Vec<RunResult>,
    /// All runs of the latest run's machine, oldest first, when there are several.
    pub history: Vec<(PathBuf, RunResult)>,
    /// Files that were skipped, and why.
    pub notes: Vec<String>,
    /// Which case's requests the timeline shows (index into `latest.cases`).
    pub timeline_case: Option<usize>,
    /// Trend points of the trend section's metrics, computed once.
    pub trends: Vec<(Metric, figures::TrendPoints)>,
    /// The charts, made once for every format that shows them (HTML, SVG, PNG).
    charts: std::sync::OnceLock<Vec<figures::Figure>>,
}

impl Report {
    /// Every chart of the report, made on first use.
    pub fn figures(&self) -> &[figures::Figure] {
        self.charts.get_or_init(|| figures::all(self))
    }

    /// One metric's trend over `history` (from the cache when it has it).
    pub fn trend(&self, metric: Metric) -> figures::TrendPoints {
        match self.trends.iter().find(|(m, _)| *m == metric) {
            Some((_, t)) => t.clone(),
            None => figures::trend_points(self, metric),
        }
    }
}

/// Loads result files and folders; `timeline` picks the timeline's case by substring of
/// `target / case label`.
pub fn build(inputs: &[PathBuf], timeline: Option<&str>) -> Result<Report> {
    let (runs, notes) = load_runs(inputs)?;
    build_from(runs, notes, timeline)
}

/// Result files with their paths, as read.
pub type Runs = Vec<(PathBuf, RunResult)>;

/// Every usable result file under `inputs` (folders at any depth), and a note for each
/// file skipped.
pub fn load_runs(inputs: &[PathBuf]) -> Result<(Runs, Vec<String>)> {
    let paths = result_paths(inputs).context("cannot list result files")?;
    let mut notes = Vec::new();
    let mut runs: Vec<(PathBuf, RunResult)> = Vec::new();
    for p in paths {
        match load_result(&p) {
            Ok(r) => runs.push((p, r)),
            Err(e) => notes.push(format!("skipped {e}")),
        }
    }
    if runs.is_empty() {
        bail!("no usable result files{}", if notes.is_empty() { String::new() } else { format!(":\n  {}", notes.join("\n  ")) });
    }
    // one run copied into two places (CI artifacts and the history) counts once
    let mut seen = std::collections::HashSet::new();
    runs.retain(|(p, r)| {
        let fresh = seen.insert((r.scenario.name.clone(), r.machine_key(), r.started_at));
        if !fresh {
            notes.push(format!("{}: the same run as another file (scenario, machine and start time); counted once", p.display()));
        }
        fresh
    });
    Ok((runs, notes))
}

/// The report of the scenario most of `runs` belong to (the others are skipped with a
/// note; [`site`] reports every scenario).
pub fn build_from(runs: Vec<(PathBuf, RunResult)>, mut notes: Vec<String>, timeline: Option<&str>) -> Result<Report> {
    // The report covers one scenario: the one most files belong to (ties: the newest).
    let mut counts: Vec<(String, usize, chrono::DateTime<chrono::Utc>)> = Vec::new();
    for (_, r) in &runs {
        match counts.iter_mut().find(|(n, _, _)| *n == r.scenario.name) {
            Some(c) => {
                c.1 += 1;
                c.2 = c.2.max(r.started_at);
            }
            None => counts.push((r.scenario.name.clone(), 1, r.started_at)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    let scenario = counts[0].0.clone();
    let (mut keep, other): (Vec<_>, Vec<_>) = runs.into_iter().partition(|(_, r)| r.scenario.name == scenario);
    for (p, r) in other {
        notes.push(format!(
            "skipped {}: scenario \"{}\" differs from \"{scenario}\" of the other files; report it separately",
            p.display(),
            r.scenario.name
        ));
    }
    keep.sort_by_key(|(_, r)| r.started_at);
    // an interrupted run is never silently the one the report is about
    let newest_complete = keep.iter().rposition(|(_, r)| r.complete);
    let (latest_path, latest) = keep.get(newest_complete.unwrap_or(keep.len().saturating_sub(1))).cloned().context("no runs")?;
    match newest_complete {
        None => notes.push(format!("every run is interrupted (complete: false); the report shows {}", latest_path.display())),
        Some(i) if i + 1 < keep.len() => notes.push(format!(
            "{} newer interrupted run(s) not shown as the newest run: {}",
            keep.len() - i - 1,
            keep[i + 1..].iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )),
        Some(_) => {}
    }
    let mut machines: Vec<RunResult> = Vec::new();
    for (_, r) in keep.iter().rev().filter(|(_, r)| r.complete).chain(keep.iter().rev().filter(|(_, r)| !r.complete)) {
        if !machines.iter().any(|m| m.machine_key() == r.machine_key()) {
            machines.push(r.clone());
        }
    }
    machines.sort_by_key(RunResult::machine);
    let history: Vec<(PathBuf, RunResult)> = keep.iter().filter(|(_, r)| r.machine_key() == latest.machine_key()).cloned().collect();
    let timeline_case = match timeline {
        Some(pat) => Some(
            latest
                .cases
                .iter()
                .position(|c| c.full_label().contains(pat))
                .with_context(|| format!("--timeline {pat}: no case of the newest run matches"))?,
        ),
        None => latest.cases.iter().position(|c| c.samples.iter().any(|s| s.ok && !s.arrival_ms.is_empty())),
    };
    let mut report = Report {
        scenario,
        latest,
        latest_path,
        machines: if machines.len() > 1 { machines } else { Vec::new() },
        history: if history.len() > 1 { history } else { Vec::new() },
        notes,
        timeline_case,
        trends: Vec::new(),
        charts: std::sync::OnceLock::new(),
    };
    if report.history.len() > 1 {
        report.trends = tables::section_metrics().map(|(m, _)| (m, figures::trend_points(&report, m))).collect();
    }
    Ok(report)
}

/// Where each in-process target computed, e.g. `mlx-small: gpu cuda (NVIDIA H200)`.
pub fn device_lines(run: &RunResult) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for c in &run.cases {
        if let Some(d) = &c.device {
            let line = format!("{}: {} {}{}", c.target, d.kind, d.api, d.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default());
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines
}

/// The newest run's warnings: a count per kind (`outliers 2, throttled 1`), then one
/// line per warning naming its case and kind; `None` when there are none.
pub fn warnings(run: &RunResult) -> Option<(String, Vec<String>)> {
    let mut counts: std::collections::BTreeMap<crate::results::WarningKind, usize> = Default::default();
    let mut lines = Vec::new();
    for c in &run.cases {
        for w in &c.warnings {
            *counts.entry(w.kind).or_default() += 1;
            lines.push(format!("{} ({}): {}", c.full_label(), w.kind, w.text));
        }
    }
    let counted = counts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
    (!lines.is_empty()).then_some((counted, lines))
}

/// " (interrupted: N cases finished)" for a run that did not complete, else "".
pub fn interrupted_mark(run: &RunResult) -> String {
    if run.complete { String::new() } else { format!(" (interrupted: {} case(s) finished)", run.cases.len()) }
}

/// Writes the dashboard formats asked for (gab, bmf) over `reports` into `out`.
pub fn write_dashboards(reports: &[&Report], out: &Path, formats: &[Format]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in formats.iter().filter(|f| matches!(f, Format::Gab | Format::Bmf)) {
        written.extend(export::exporter(*f).write(reports, "", out)?);
    }
    Ok(written)
}

/// Writes the requested formats into `out`; returns the files written.
pub fn write(report: &Report, out: &Path, formats: &[Format]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let stem = crate::results::slug_for_file(&report.scenario);
    let mut written = Vec::new();
    // in a fixed order, whatever the order asked
    for f in Format::ALL.into_iter().filter(|f| formats.contains(f)) {
        written.extend(export::exporter(f).write(&[report], &stem, out)?);
    }
    Ok(written)
}
