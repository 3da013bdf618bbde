//! The formats existing dashboards read, from the newest run of each machine:
//!
//! - `gab-bigger.json` and `gab-smaller.json`: github-action-benchmark's custom formats
//!   (`tool: customBiggerIsBetter` / `customSmallerIsBetter`), a JSON array of
//!   `{name, unit, value, range, extra}`, split by the metric's direction. `name` is
//!   `scenario/target/case/metric`, `value` the median, `range` `± h` with `h` the larger
//!   half of the median's 95% interval (the action reads a symmetric range), `extra` the
//!   machine, the sample count and the exact interval.
//! - `bmf.json`: Bencher Metric Format, `{"scenario/target/case": {"metric": {value,
//!   lower_value, upper_value}}}` with the median and its 95% interval.
//!
//! Names are stable across runs (they use no dates or paths). With several machines in
//! one report each name ends in ` @ machine`, so that no two entries share a name.

use serde_json::{Map, Value, json};

use super::{Report, median_with_ci};
use crate::metric::Metric;
use crate::results::RunResult;

/// One exported value.
struct Point {
    /// `scenario/target/case`.
    bench: String,
    /// ` @ machine` when several machines are reported, else empty.
    suffix: String,
    machine: String,
    metric: Metric,
    median: f64,
    lo: f64,
    hi: f64,
    n: usize,
}

fn points(reports: &[&Report]) -> Vec<Point> {
    let runs: Vec<&RunResult> =
        reports.iter().flat_map(|r| if r.machines.is_empty() { vec![&r.latest] } else { r.machines.iter().collect() }).collect();
    let mut machines: Vec<String> = runs.iter().map(|r| r.machine_key()).collect();
    machines.sort();
    machines.dedup();
    let several = machines.len() > 1;
    let mut v = Vec::new();
    for run in runs {
        let machine = run.machine();
        for c in &run.cases {
            let bench = format!("{}/{}/{}", run.scenario.name, c.target, c.label());
            let suffix = if several { format!(" @ {machine}") } else { String::new() };
            // energy metrics only where measured (a case without them has no value)
            for metric in Metric::EXPORTED.into_iter().chain(Metric::ENERGY) {
                let Some((median, lo, hi)) = median_with_ci(c, metric) else { continue };
                let n = c.values(metric).len();
                v.push(Point { bench: bench.clone(), suffix: suffix.clone(), machine: machine.clone(), metric, median, lo, hi, n });
            }
        }
    }
    v
}

/// github-action-benchmark's entries of one direction.
pub fn gab(reports: &[&Report], bigger_is_better: bool) -> Value {
    let entries: Vec<Value> = points(reports)
        .into_iter()
        .filter(|p| p.metric.higher_is_better() == bigger_is_better)
        .map(|p| {
            let half = (p.median - p.lo).max(p.hi - p.median);
            json!({
                "name": fit(format!("{}/{}{}", p.bench, p.metric.name(), p.suffix)),
                "unit": p.metric.unit(),
                "value": p.median,
                "range": format!("± {}", round(half)),
                "extra": format!("machine: {}; n = {}; median's 95% interval {}..{}", p.machine, p.n, round(p.lo), round(p.hi)),
            })
        })
        .collect();
    Value::Array(entries)
}

/// Bencher Metric Format.
pub fn bmf(reports: &[&Report]) -> Value {
    let mut out = Map::new();
    for p in points(reports) {
        let bench = out.entry(fit(format!("{}{}", p.bench, p.suffix))).or_insert_with(|| Value::Object(Map::new()));
        bench[p.metric.name()] = json!({"value": p.median, "lower_value": p.lo, "upper_value": p.hi});
    }
    Value::Object(out)
}

/// Bencher takes benchmark names of 1 to 1024 bytes; a longer name (scenario and target
/// names are the user's) keeps its first part and a hash of the whole, so it stays
/// unique and the same from run to run.
fn fit(name: String) -> String {
    const MAX: usize = 1024;
    if name.len() <= MAX {
        return name;
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(name.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
    let mut cut = MAX - hash.len() - 3;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} #{hash}", &name[..cut])
}

/// Six significant digits: enough for any interval, no float noise in the text.
fn round(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    let digits = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::{fit, round};

    #[test]
    fn long_names_fit_bencher_and_stay_unique() {
        let (a, b) = ("é".repeat(600) + "a", "é".repeat(600) + "b");
        let (fa, fb) = (fit(a.clone()), fit(b));
        assert!(fa.len() <= 1024 && fb.len() <= 1024 && fa != fb, "{} {}", fa.len(), fb.len());
        assert_eq!(fit(a), fa, "not stable");
        assert_eq!(fit("short".into()), "short");
    }

    #[test]
    fn ranges_print_without_float_noise() {
        assert_eq!(round(1.234567891), "1.23457");
        assert_eq!(round(1234.5), "1234.5");
        assert_eq!(round(0.000123456789), "0.000123457");
        assert_eq!(round(2.0), "2");
    }
}
