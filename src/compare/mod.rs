//! `compare`: matches the cases of a baseline and a candidate run, and per metric decides
//! improved / regressed / unchanged / inconclusive with a Mann-Whitney U test and a
//! bootstrap interval of the median ratio. Also used by the report's trend section
//! (report depends on compare, never the other way).

mod fleet;
mod render;

use serde::Serialize;

use crate::metric::Metric;
use crate::results::{CaseResult, RunResult};
use crate::stats::{median, significance};

pub use fleet::{compare_fleets, group_name, newest_runs};
pub use render::{render_markdown, render_text};

/// Decision rules.
#[derive(Debug, Clone)]
pub struct Options {
    /// Smallest relative change that matters, e.g. 0.05.
    pub threshold: f64,
    pub metrics: Vec<Metric>,
    /// Significance level of the Mann-Whitney test.
    pub alpha: f64,
    /// Fewer samples than this on either side is inconclusive.
    pub min_samples: usize,
    pub bootstrap_resamples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { threshold: 0.05, metrics: Metric::COMPARED_BY_DEFAULT.to_vec(), alpha: 0.05, min_samples: 3, bootstrap_resamples: 2000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Improved,
    Regressed,
    Unchanged,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One metric of one matched case.
#[derive(Debug, Clone, Serialize)]
pub struct MetricComparison {
    /// The case, target included.
    pub case: String,
    pub metric: Metric,
    pub higher_is_better: bool,
    pub n_baseline: usize,
    pub n_candidate: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_candidate: Option<f64>,
    /// median_candidate / median_baseline - 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// 95% bootstrap interval of the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_ci95: Option<(f64, f64)>,
    /// Two-sided Mann-Whitney U p-value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    pub verdict: Verdict,
    pub reason: String,
}

/// Everything `compare` found.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub candidate: String,
    pub threshold: f64,
    pub alpha: f64,
    pub results: Vec<MetricComparison>,
    /// Cases present on one side only.
    pub unmatched: Vec<String>,
    pub warnings: Vec<String>,
}

impl Comparison {
    pub fn regressed(&self) -> bool {
        self.results.iter().any(|r| r.verdict == Verdict::Regressed)
    }

    pub fn count(&self, v: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == v).count()
    }
}

/// Decides one metric from the two sets of per-request values.
pub fn compare_values(case: &str, metric: Metric, base: &[f64], cand: &[f64], opts: &Options) -> MetricComparison {
    let hib = metric.higher_is_better();
    let mut m = MetricComparison {
        case: case.into(),
        metric,
        higher_is_better: hib,
        n_baseline: base.len(),
        n_candidate: cand.len(),
        median_baseline: (!base.is_empty()).then(|| median(base)),
        median_candidate: (!cand.is_empty()).then(|| median(cand)),
        change: None,
        change_ci95: None,
        p_value: None,
        verdict: Verdict::Inconclusive,
        reason: String::new(),
    };
    if base.len() < opts.min_samples || cand.len() < opts.min_samples {
        m.reason = format!("too few samples ({} vs {}; need {})", base.len(), cand.len(), opts.min_samples);
        return m;
    }
    let (mb, mc) = (median(base), median(cand));
    if mb == 0.0 || !mb.is_finite() || !mc.is_finite() {
        m.reason = "baseline median is zero or not finite".into();
        return m;
    }
    let change = mc / mb - 1.0;
    m.change = Some(change);
    m.change_ci95 = significance::bootstrap_median_ratio(base, cand, opts.bootstrap_resamples, 0x5eed).map(|(lo, hi)| (lo - 1.0, hi - 1.0));
    m.p_value = significance::mann_whitney_p(base, cand);
    let worse = if hib { change < 0.0 } else { change > 0.0 };
    let significant = m.p_value.is_some_and(|p| p < opts.alpha);
    let t = opts.threshold;
    let ci_width = m.change_ci95.map_or(f64::INFINITY, |(lo, hi)| hi - lo);
    (m.verdict, m.reason) = if change.abs() > t && significant {
        let v = if worse { Verdict::Regressed } else { Verdict::Improved };
        (v, format!("{:+.1}% beyond ±{:.1}%, p = {:.3}", change * 100.0, t * 100.0, m.p_value.unwrap_or(1.0)))
    } else if change.abs() <= t && ci_width <= 4.0 * t {
        (Verdict::Unchanged, format!("{:+.1}% within ±{:.1}%", change * 100.0, t * 100.0))
    } else if change.abs() > t {
        (Verdict::Inconclusive, format!("{:+.1}% but not significant (p = {:.3}): too noisy", change * 100.0, m.p_value.unwrap_or(1.0)))
    } else {
        (Verdict::Inconclusive, format!("95% interval {:.1}% wide: too noisy to tell", ci_width * 100.0))
    };
    m
}

/// Compares every metric of every case present in both runs.
pub fn compare_runs(base: &RunResult, cand: &RunResult, base_name: &str, cand_name: &str, opts: &Options) -> Comparison {
    let mut out = Comparison {
        baseline: base_name.into(),
        candidate: cand_name.into(),
        threshold: opts.threshold,
        alpha: opts.alpha,
        results: Vec::new(),
        unmatched: Vec::new(),
        warnings: Vec::new(),
    };
    if base.scenario.name != cand.scenario.name {
        out.warnings.push(format!(
            "different scenarios: \"{}\" vs \"{}\"; only cases with the same target, workload and parameters are compared",
            base.scenario.name, cand.scenario.name
        ));
    }
    if base.hardware() != cand.hardware() {
        out.warnings.push(format!("different machines: {} vs {}", base.machine(), cand.machine()));
    }
    for (side, run) in [("baseline", base), ("candidate", cand)] {
        if !run.complete {
            out.warnings
                .push(format!("the {side} is an interrupted run (complete: false): only its {} finished case(s) count", run.cases.len()));
        }
    }
    // match by identity through an index: linear in the number of cases
    let (base_ix, cand_ix) = (base.index(), cand.index());
    let mut pairs = Vec::new();
    for bc in &base.cases {
        match cand_ix.get(&bc.identity()) {
            Some(cc) => pairs.push((bc, cc)),
            None => out.unmatched.push(format!("{} (baseline only)", bc.key())),
        }
    }
    // the bootstrap dominates on large runs: spread the pairs over the cores
    out.results = crate::stats::par_map(&pairs, |(b, c)| compare_case(b, c, opts)).into_iter().flatten().collect();
    for cc in &cand.cases {
        if base_ix.get(&cc.identity()).is_none() {
            out.unmatched.push(format!("{} (candidate only)", cc.key()));
        }
    }
    out
}

/// All requested metrics of one matched pair of cases ([`compare_case_metric`] each).
pub fn compare_case(b: &CaseResult, c: &CaseResult, opts: &Options) -> Vec<MetricComparison> {
    opts.metrics.iter().map(|m| compare_case_metric(b, c, *m, opts)).collect()
}

/// One metric of one matched pair of cases. A case that succeeded in the baseline and
/// never in the candidate is broken: a regression of every metric the baseline
/// measured, not "too few samples".
pub fn compare_case_metric(b: &CaseResult, c: &CaseResult, metric: Metric, opts: &Options) -> MetricComparison {
    let (bv, cv) = (b.values(metric), c.values(metric));
    let mut r = compare_values(&b.full_label(), metric, &bv, &cv, opts);
    if b.ok_count() > 0 && c.ok_count() == 0 && !bv.is_empty() {
        r.verdict = Verdict::Regressed;
        r.reason =
            format!("broken: no request of the candidate succeeded ({})", c.failure_note().unwrap_or_else(|| "no request ran".into()));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::significance::Rng;

    fn noisy(rng: &mut Rng, n: usize, mean: f64, cv: f64) -> Vec<f64> {
        (0..n).map(|_| mean * (1.0 + cv * rng.normal())).collect()
    }

    #[test]
    fn same_distribution_rarely_alarms() {
        let opts = Options::default();
        let mut unchanged = 0;
        for seed in 0..20 {
            let mut rng = Rng::new(1000 + seed);
            let a = noisy(&mut rng, 10, 100.0, 0.03);
            let b = noisy(&mut rng, 10, 100.0, 0.03);
            let m = compare_values("c", Metric::DecodeTps, &a, &b, &opts);
            assert_ne!(m.verdict, Verdict::Regressed, "seed {seed}: {m:?}");
            if m.verdict == Verdict::Unchanged {
                unchanged += 1;
            }
        }
        assert!(unchanged >= 19, "only {unchanged}/20 unchanged");
    }

    #[test]
    fn a_case_that_only_fails_in_the_candidate_is_broken_not_inconclusive() {
        let case = |oks: &[bool]| -> CaseResult {
            let samples: Vec<serde_json::Value> = oks
                .iter()
                .enumerate()
                .map(|(i, ok)| {
                    if *ok {
                        serde_json::json!({"iteration": i, "stream": 0, "ok": true, "start_offset_ms": 0.0, "ttft_ms": 100.0 + i as f64, "e2e_ms": 500.0, "decode_tps": 50.0 + i as f64})
                    } else {
                        serde_json::json!({"iteration": i, "stream": 0, "ok": false, "error": "connection refused", "start_offset_ms": 0.0})
                    }
                })
                .collect();
            serde_json::from_value(serde_json::json!({
                "target": "t", "backend": "ollama", "model": "m", "workload": "w",
                "params": {"max_tokens": 8, "concurrency": 1, "temperature": 0.0, "seed": 1, "ignore_eos": true,
                           "warmup": 0, "iterations": 5, "timeout_s": 1.0, "cooldown_s": 0.0, "api": "chat"},
                "samples": samples, "summary": {}, "warnings": []
            }))
            .unwrap()
        };
        let opts = Options::default();
        let r = compare_case(&case(&[true; 5]), &case(&[false; 5]), &opts);
        let decode = r.iter().find(|m| m.metric == Metric::DecodeTps).unwrap();
        assert_eq!(decode.verdict, Verdict::Regressed, "{decode:?}");
        assert!(decode.reason.contains("broken") && decode.reason.contains("connection refused"), "{}", decode.reason);
        // one success left is not broken: too few samples stays inconclusive
        let r = compare_case(&case(&[true; 5]), &case(&[true, false, false, false, false]), &opts);
        assert!(r.iter().all(|m| m.verdict == Verdict::Inconclusive), "{r:?}");
        // failing on both sides is nothing new
        let r = compare_case(&case(&[false; 5]), &case(&[false; 5]), &opts);
        assert!(r.iter().all(|m| m.verdict != Verdict::Regressed), "{r:?}");
    }

    #[test]
    fn ten_percent_slower_decode_is_a_regression() {
        let opts = Options::default();
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let a = noisy(&mut rng, 10, 100.0, 0.03);
            let b = noisy(&mut rng, 10, 90.0, 0.03);
            let m = compare_values("c", Metric::DecodeTps, &a, &b, &opts);
            assert_eq!(m.verdict, Verdict::Regressed, "seed {seed}: {m:?}");
            let (lo, hi) = m.change_ci95.unwrap();
            assert!(lo < -0.05 && hi < 0.0, "{m:?}");
        }
        // for times, higher is worse
        let mut rng = Rng::new(3);
        let a = noisy(&mut rng, 10, 100.0, 0.03);
        let b = noisy(&mut rng, 10, 110.0, 0.03);
        assert_eq!(compare_values("c", Metric::TtftMs, &a, &b, &opts).verdict, Verdict::Regressed);
        assert_eq!(compare_values("c", Metric::TtftMs, &b, &a, &opts).verdict, Verdict::Improved);
    }

    #[test]
    fn two_samples_are_inconclusive_and_noise_is_not_a_verdict() {
        let opts = Options::default();
        let m = compare_values("c", Metric::DecodeTps, &[100.0, 101.0], &[80.0, 81.0], &opts);
        assert_eq!(m.verdict, Verdict::Inconclusive);
        assert!(m.reason.contains("too few samples"));
        let mut rng = Rng::new(9);
        let a = noisy(&mut rng, 5, 100.0, 0.4);
        let b = noisy(&mut rng, 5, 100.0, 0.4);
        assert_ne!(compare_values("c", Metric::DecodeTps, &a, &b, &opts).verdict, Verdict::Regressed);
    }
}
