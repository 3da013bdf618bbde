//! Which charts a report has, built from its runs as data (rendered by `charts`).

use super::charts::{Bar, BarChart, Chart, LineChart, Series};
use super::{Report, median_with_ci};
use crate::compare::{self, Verdict};
use crate::metric::Metric;
use crate::results::{CaseResult, RunResult};

/// One chart with where it belongs.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem, e.g. `bars-decode_tps`.
    pub id: String,
    /// "cases", "sweeps", "timeline", "hardware" or "trend".
    pub section: &'static str,
    pub chart: Chart,
}

/// The per-case bar charts; the first two also make the machine and trend sections.
pub const BAR_METRICS: [Metric; 3] = Metric::CHARTED;

/// Most case groups one bar chart shows; more are unreadable (the tables have them all).
pub const MAX_BAR_GROUPS: usize = 40;
/// Most bars one chart shows: fewer groups when there are many series.
pub const MAX_BARS: usize = 200;

fn group_cap(series: usize) -> usize {
    (MAX_BARS / series.max(1)).clamp(4, MAX_BAR_GROUPS)
}
/// Most lines one trend or sweep chart shows.
pub const MAX_SERIES: usize = 24;

fn unique<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Keeps the first `max` items; the note to put in a title says what was left out.
fn cap<T>(v: &mut Vec<T>, max: usize, what: &str) -> String {
    let n = v.len();
    if n <= max {
        return String::new();
    }
    v.truncate(max);
    format!(" (first {max} of {n} {what})")
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
    let mut groups = unique(run.cases.iter().map(CaseResult::label));
    let targets = unique(run.cases.iter().map(|c| c.target.clone()));
    let capped = cap(&mut groups, group_cap(targets.len()), "cases");
    let mut index = std::collections::HashMap::new();
    for c in &run.cases {
        index.entry((c.target.clone(), c.label())).or_insert(c);
    }
    let find = |t: &str, g: &str| index.get(&(t.to_string(), g.to_string())).copied();
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
                title: format!("{title} (median, 95% interval){capped}"),
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
            let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            for c in &run.cases {
                let Some(x) = param(c, p) else { continue };
                let Some((m, _, _)) = median_with_ci(c, metric) else { continue };
                let others: Vec<String> =
                    swept.iter().filter(|o| **o != p).filter_map(|o| param(c, o).map(|v| format!("{}={v}", short(o)))).collect();
                let name = format!("{} / {} {}", c.target, c.workload, others.join(" "));
                match by_name.get(&name) {
                    Some(i) => series[*i].points.push((x, m)),
                    None => {
                        by_name.insert(name.clone(), series.len());
                        series.push(Series { name, points: vec![(x, m)] });
                    }
                }
            }
            series.retain(|s| s.points.len() > 1);
            let capped = cap(&mut series, MAX_SERIES, "lines");
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
                    title: format!("{} against {}{capped}", capitalize(what), p.replace('_', " ")),
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
    let mut keys: Vec<(crate::results::Identity, String)> =
        super::machine_cases(machines).into_iter().map(|(k, l)| (k, l.replacen(" / ", "\n", 1))).collect();
    let capped = cap(&mut keys, group_cap(machines.len()), "cases");
    let indexes: Vec<_> = machines.iter().map(RunResult::index).collect();
    for metric in &Metric::TRENDED {
        let (metric, title, unit) = (*metric, metric.title(), metric.unit());
        let values: Vec<Vec<Option<Bar>>> = indexes
            .iter()
            .map(|ix| {
                keys.iter()
                    .map(|(k, _)| {
                        let c = ix.get(k)?;
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
                title: format!("{title} by machine (median, 95% interval){capped}"),
                x_label: "case".into(),
                y_label: format!("{title} ({unit})"),
                groups: keys.iter().map(|(_, l)| l.clone()).collect(),
                series: machines.iter().map(RunResult::machine).collect(),
                values,
            }),
        });
    }
}

/// One case's medians over time: (run index, median, verdict against the previous run).
pub type TrendPoints = Vec<(String, Vec<(usize, f64, Verdict)>)>;

/// Per case and metric: medians over time, and the runs `compare` flags against the
/// previous run. Linear in cases (runs are indexed by key), spread over the cores.
pub fn trend_points(r: &Report, metric: Metric) -> TrendPoints {
    let opts = compare::Options { metrics: vec![metric], ..Default::default() };
    let keys = unique(r.history.iter().flat_map(|(_, run)| run.cases.iter().map(|c| (c.identity(), c.full_label()))));
    let indexes: Vec<_> = r.history.iter().map(|(_, run)| run.index()).collect();
    let per_case = crate::stats::par_map(&keys, |(key, label)| {
        let mut pts = Vec::new();
        let mut prev: Option<Vec<f64>> = None;
        for (i, ix) in indexes.iter().enumerate() {
            let Some(c) = ix.get(key) else { continue };
            let v = c.values(metric);
            if v.is_empty() {
                continue;
            }
            let verdict = prev.as_ref().map_or(Verdict::Unchanged, |p| compare::compare_values(label, metric, p, &v, &opts).verdict);
            pts.push((i, crate::stats::median(&v), verdict));
            prev = Some(v);
        }
        (label.clone(), pts)
    });
    per_case.into_iter().filter(|(_, pts)| !pts.is_empty()).collect()
}

fn trend(r: &Report, figs: &mut Vec<Figure>) {
    let ticks: Vec<(f64, String)> =
        r.history.iter().enumerate().map(|(i, (_, run))| (i as f64, run.started_at.format("%m-%d\n%H:%M").to_string())).collect();
    for metric in &Metric::TRENDED {
        let (metric, title, unit) = (*metric, metric.title(), metric.unit());
        let mut pts = r.trend(metric);
        if pts.is_empty() {
            continue;
        }
        let capped = cap(&mut pts, MAX_SERIES, "cases");
        let flagged = pts.iter().flat_map(|(_, p)| p.iter().filter(|x| x.2 == Verdict::Regressed).map(|x| (x.0 as f64, x.1))).collect();
        let series = pts.into_iter().map(|(name, p)| Series { name, points: p.iter().map(|x| (x.0 as f64, x.1)).collect() }).collect();
        figs.push(Figure {
            id: format!("trend-{metric}"),
            section: "trend",
            chart: Chart::Lines(LineChart {
                title: format!("{title} over time ({}){capped}", r.latest.machine()),
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
