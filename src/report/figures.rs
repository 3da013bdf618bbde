//! Which charts a report has, built from its runs as data (rendered by `charts`).

use super::charts::{Bar, BarChart, Chart, LineChart, Series};
use super::{Report, median_with_ci};
use crate::compare::{self, Verdict};
use crate::metric::Metric;
use crate::results::{CaseResult, RunResult};

/// One chart with where it belongs.
pub struct Figure {
    /// File stem, e.g. `bars-decode_tps`.
    pub id: String,
    /// "cases", "sweeps", "timeline", "hardware" or "trend".
    pub section: &'static str,
    pub chart: Chart,
}

/// The per-case bar charts; the first two also make the machine and trend sections.
pub const BAR_METRICS: [Metric; 3] = [Metric::DecodeTps, Metric::TtftMs, Metric::PrefillTps];

fn unique<T: PartialEq + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    for i in items {
        if !v.contains(&i) {
            v.push(i);
        }
    }
    v
}

pub fn all(r: &Report) -> Vec<Figure> {
    let mut figs = Vec::new();
    case_bars(&r.latest, &mut figs);
    sweeps(&r.latest, &mut figs);
    if let Some(i) = r.timeline_case
        && let Some(c) = r.latest.cases.get(i)
    {
        figs.push(Figure { id: "timeline".into(), section: "timeline", chart: timeline(c) });
    }
    if r.machines.len() > 1 {
        hardware(&r.machines, &mut figs);
    }
    if r.history.len() > 1 {
        trend(r, &mut figs);
    }
    figs
}

/// Bar charts of the newest run's cases, one per metric, plus the load and memory bars.
/// Long, and kept whole: each chart is one literal, read top to bottom.
fn case_bars(run: &RunResult, figs: &mut Vec<Figure>) {
    let groups = unique(run.cases.iter().map(CaseResult::label));
    let targets = unique(run.cases.iter().map(|c| c.target.clone()));
    let find = |t: &str, g: &str| run.cases.iter().find(|c| c.target == t && c.label() == g);
    for metric in BAR_METRICS {
        let (title, unit) = (metric.title(), metric.unit());
        let values: Vec<Vec<Option<Bar>>> = targets
            .iter()
            .map(|t| {
                groups
                    .iter()
                    .map(|g| find(t, g).and_then(|c| median_with_ci(c, metric)).map(|(v, lo, hi)| Bar { value: v, lo, hi }))
                    .collect()
            })
            .collect();
        if values.iter().flatten().all(Option::is_none) {
            continue;
        }
        figs.push(Figure {
            id: format!("bars-{metric}"),
            section: "cases",
            chart: Chart::Bars(BarChart {
                title: format!("{title} (median, 95% interval)"),
                x_label: "case".into(),
                y_label: format!("{title} ({unit})"),
                groups: groups.clone(),
                series: targets.clone(),
                values,
            }),
        });
    }
    let load: Vec<Vec<Option<Bar>>> = targets
        .iter()
        .map(|t| {
            let l = run.cases.iter().find(|c| &c.target == t).and_then(|c| c.load.clone());
            let at = |v: Option<f64>| v.map(|x| Bar { value: x, lo: x, hi: x });
            vec![at(l.as_ref().and_then(|l| l.cold_ms)), at(l.as_ref().and_then(|l| l.warm_ms))]
        })
        .collect();
    if load.iter().flatten().any(Option::is_some) {
        figs.push(Figure {
            id: "bars-load_ms".into(),
            section: "cases",
            chart: Chart::Bars(BarChart {
                title: "Model load time".into(),
                x_label: "load".into(),
                y_label: "load time (ms)".into(),
                groups: vec!["cold".into(), "warm".into()],
                series: targets.clone(),
                values: load,
            }),
        });
    }
    let mem: Vec<Vec<Option<Bar>>> = targets
        .iter()
        .map(|t| {
            groups
                .iter()
                .map(|g| {
                    let m = find(t, g)?.memory.as_ref()?;
                    let b = m.peak_bytes.or(m.after_load_bytes)? as f64 / (1u64 << 20) as f64;
                    Some(Bar { value: b, lo: b, hi: b })
                })
                .collect()
        })
        .collect();
    if mem.iter().flatten().any(Option::is_some) {
        figs.push(Figure {
            id: "bars-memory".into(),
            section: "cases",
            chart: Chart::Bars(BarChart {
                title: "Peak memory of the processes holding the model".into(),
                x_label: "case".into(),
                y_label: "peak memory (MiB)".into(),
                groups,
                series: targets,
                values: mem,
            }),
        });
    }
}

fn param(c: &CaseResult, k: &str) -> Option<f64> {
    let p = &c.params;
    match k {
        "concurrency" => Some(f64::from(p.concurrency)),
        "prompt_tokens" => p.prompt_tokens.map(f64::from),
        "max_tokens" => Some(f64::from(p.max_tokens)),
        _ => None,
    }
}

fn sweeps(run: &RunResult, figs: &mut Vec<Figure>) {
    let swept = ["concurrency", "prompt_tokens", "max_tokens"];
    for p in swept {
        let values = unique(run.cases.iter().filter_map(|c| param(c, p)).map(|v| v.to_bits()));
        if values.len() < 2 {
            continue;
        }
        let mut metrics = vec![(Metric::DecodeTps, "decode speed"), (Metric::TtftMs, "time to first token")];
        if p == "concurrency" {
            metrics.push((Metric::AggregateOutputTps, "total output"));
        }
        for (metric, what) in metrics {
            let unit = metric.unit();
            let mut series: Vec<Series> = Vec::new();
            for c in &run.cases {
                let Some(x) = param(c, p) else { continue };
                let Some((m, _, _)) = median_with_ci(c, metric) else { continue };
                let others: Vec<String> =
                    swept.iter().filter(|o| **o != p).filter_map(|o| param(c, o).map(|v| format!("{}={v}", short(o)))).collect();
                let name = format!("{} / {} {}", c.target, c.workload, others.join(" "));
                match series.iter_mut().find(|s| s.name == name) {
                    Some(s) => s.points.push((x, m)),
                    None => series.push(Series { name, points: vec![(x, m)] }),
                }
            }
            series.retain(|s| s.points.len() > 1);
            if series.is_empty() {
                continue;
            }
            for s in &mut series {
                s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            figs.push(Figure {
                id: format!("sweep-{p}-{metric}"),
                section: "sweeps",
                chart: Chart::Lines(LineChart {
                    title: format!("{} against {}", capitalize(what), p.replace('_', " ")),
                    x_label: p.replace('_', " "),
                    y_label: format!("{what} ({unit}), median"),
                    series,
                    flagged: Vec::new(),
                    ticks: None,
                    markers: true,
                }),
            });
        }
    }
}

fn short(p: &str) -> &str {
    match p {
        "concurrency" => "c",
        "prompt_tokens" => "pt",
        "max_tokens" => "mt",
        _ => p,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// Cumulative tokens received against time since the request was sent, per request.
pub fn timeline(c: &CaseResult) -> Chart {
    let series: Vec<Series> = c
        .samples
        .iter()
        .filter(|s| s.ok && !s.arrival_ms.is_empty())
        .take(16)
        .map(|s| {
            let mut total = 0.0;
            let points = s
                .arrival_ms
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    total += f64::from(s.arrival_tokens.get(i).copied().unwrap_or(1));
                    (*t, total)
                })
                .collect();
            Series { name: format!("run {} stream {}", s.iteration, s.stream), points }
        })
        .collect();
    Chart::Lines(LineChart {
        title: format!("Token arrivals: {}", c.full_label()),
        x_label: "time since request sent (ms)".into(),
        y_label: "tokens received".into(),
        series,
        flagged: Vec::new(),
        ticks: None,
        markers: false,
    })
}

fn hardware(machines: &[RunResult], figs: &mut Vec<Figure>) {
    let keys: Vec<(String, String)> = super::machine_cases(machines).into_iter().map(|(k, l)| (k, l.replacen(" / ", "\n", 1))).collect();
    for metric in &BAR_METRICS[..2] {
        let (metric, title, unit) = (*metric, metric.title(), metric.unit());
        let values: Vec<Vec<Option<Bar>>> = machines
            .iter()
            .map(|m| {
                keys.iter()
                    .map(|(k, _)| {
                        let c = m.cases.iter().find(|c| &c.key() == k)?;
                        median_with_ci(c, metric).map(|(v, lo, hi)| Bar { value: v, lo, hi })
                    })
                    .collect()
            })
            .collect();
        if values.iter().flatten().all(Option::is_none) {
            continue;
        }
        figs.push(Figure {
            id: format!("hardware-{metric}"),
            section: "hardware",
            chart: Chart::Bars(BarChart {
                title: format!("{title} by machine (median, 95% interval)"),
                x_label: "case".into(),
                y_label: format!("{title} ({unit})"),
                groups: keys.iter().map(|(_, l)| l.clone()).collect(),
                series: machines.iter().map(RunResult::machine).collect(),
                values,
            }),
        });
    }
}

/// Per case and metric: medians over time, and the runs `compare` flags against the
/// previous run.
pub fn trend_points(r: &Report, metric: Metric) -> Vec<(String, Vec<(usize, f64, Verdict)>)> {
    let opts = compare::Options { metrics: vec![metric], ..Default::default() };
    let keys = unique(r.history.iter().flat_map(|(_, run)| run.cases.iter().map(|c| (c.key(), c.full_label()))));
    let mut out = Vec::new();
    for (key, label) in keys {
        let mut pts = Vec::new();
        let mut prev: Option<&CaseResult> = None;
        for (i, (_, run)) in r.history.iter().enumerate() {
            let Some(c) = run.cases.iter().find(|c| c.key() == key) else { continue };
            let v = c.values(metric);
            if v.is_empty() {
                continue;
            }
            let verdict =
                prev.map(|p| compare::compare_values(&label, metric, &p.values(metric), &v, &opts).verdict).unwrap_or(Verdict::Unchanged);
            pts.push((i, crate::stats::median(&v), verdict));
            prev = Some(c);
        }
        if !pts.is_empty() {
            out.push((label, pts));
        }
    }
    out
}

fn trend(r: &Report, figs: &mut Vec<Figure>) {
    let ticks: Vec<(f64, String)> =
        r.history.iter().enumerate().map(|(i, (_, run))| (i as f64, run.started_at.format("%m-%d\n%H:%M").to_string())).collect();
    for metric in &BAR_METRICS[..2] {
        let (metric, title, unit) = (*metric, metric.title(), metric.unit());
        let pts = trend_points(r, metric);
        if pts.is_empty() {
            continue;
        }
        let flagged = pts.iter().flat_map(|(_, p)| p.iter().filter(|x| x.2 == Verdict::Regressed).map(|x| (x.0 as f64, x.1))).collect();
        let series = pts.into_iter().map(|(name, p)| Series { name, points: p.iter().map(|x| (x.0 as f64, x.1)).collect() }).collect();
        figs.push(Figure {
            id: format!("trend-{metric}"),
            section: "trend",
            chart: Chart::Lines(LineChart {
                title: format!("{title} over time ({})", r.latest.machine()),
                x_label: "run (UTC start)".into(),
                y_label: format!("{title} ({unit}), median"),
                series,
                flagged,
                ticks: Some(ticks.clone()),
                markers: true,
            }),
        });
    }
}
