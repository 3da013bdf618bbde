//! `compare` over trees of result files (a CI artifacts folder with several scenarios
//! and machines): each side is reduced to the newest run of each (scenario, machine),
//! runs are paired by scenario and machine, and their cases by identity; one
//! [`Comparison`] holds every verdict, with the runs and cases found on one side only.

use std::path::PathBuf;

use super::{Comparison, Options, compare_runs};
use crate::results::RunResult;

/// The newest run of each (scenario, machine): the newest complete one, else the newest.
pub fn newest_runs(mut runs: Vec<(PathBuf, RunResult)>) -> Vec<(PathBuf, RunResult)> {
    // the machine key is a formatted string: made once per run, not per comparison
    runs.sort_by_cached_key(|(p, r)| (r.scenario.name.clone(), r.machine_key(), r.complete, r.started_at, p.clone()));
    let mut out: Vec<(PathBuf, RunResult)> = Vec::new();
    for (p, r) in runs {
        match out.last_mut() {
            // sorted: the later one of a group is newer (complete ones after interrupted ones)
            Some((lp, last)) if last.scenario.name == r.scenario.name && last.machine_key() == r.machine_key() => {
                *lp = p;
                *last = r;
            }
            _ => out.push((p, r)),
        }
    }
    out
}

/// How a run is named in a fleet comparison: `scenario @ machine`.
pub fn group_name(r: &RunResult) -> String {
    format!("{} @ {}", r.scenario.name, r.machine())
}

/// The candidate run for `b`: same scenario and machine; else same scenario and the
/// same hardware when exactly one such run is left (hosted runners change hostnames).
fn partner(b: &RunResult, cand: &[(PathBuf, RunResult)], taken: &[bool]) -> Option<usize> {
    let free = |i: &usize| !taken[*i] && cand[*i].1.scenario.name == b.scenario.name;
    let idx: Vec<usize> = (0..cand.len()).filter(free).collect();
    if let Some(i) = idx.iter().find(|i| cand[**i].1.machine_key() == b.machine_key()) {
        return Some(*i);
    }
    let same_hw: Vec<&usize> = idx.iter().filter(|i| cand[**i].1.hardware() == b.hardware()).collect();
    (same_hw.len() == 1).then(|| *same_hw[0])
}

/// Compares two sets of runs (each already [`newest_runs`]). With one run on each side
/// the result is exactly `compare_runs` of the two.
pub fn compare_fleets(base: &[(PathBuf, RunResult)], cand: &[(PathBuf, RunResult)], names: (&str, &str), opts: &Options) -> Comparison {
    // two runs named by the user are compared whatever their scenarios and machines
    // (with warnings saying how they differ), as before trees were compared
    if let ([(_, b)], [(_, c)]) = (base, cand) {
        return compare_runs(b, c, names.0, names.1, opts);
    }
    let mut taken = vec![false; cand.len()];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut out = Comparison {
        baseline: names.0.into(),
        candidate: names.1.into(),
        threshold: opts.threshold,
        alpha: opts.alpha,
        results: Vec::new(),
        unmatched: Vec::new(),
        warnings: Vec::new(),
    };
    for (bi, (_, b)) in base.iter().enumerate() {
        match partner(b, cand, &taken) {
            Some(ci) => {
                taken[ci] = true;
                pairs.push((bi, ci));
            }
            None => out.unmatched.push(format!("{} (baseline only: missing in the candidate)", group_name(b))),
        }
    }
    for (ci, (_, c)) in cand.iter().enumerate() {
        if !taken[ci] {
            out.unmatched.push(format!("{} (candidate only: new)", group_name(c)));
        }
    }
    for (bi, ci) in pairs {
        let ((bp, b), (cp, c)) = (&base[bi], &cand[ci]);
        let part = compare_runs(b, c, &bp.display().to_string(), &cp.display().to_string(), opts);
        let prefix = group_name(b);
        out.results.extend(part.results.into_iter().map(|mut r| {
            r.case = format!("{prefix}: {}", r.case);
            r
        }));
        out.unmatched.extend(part.unmatched.into_iter().map(|u| format!("{prefix}: {u}")));
        out.warnings.extend(part.warnings.into_iter().map(|w| format!("{prefix}: {w}")));
    }
    out
}
