//! Presentation: the terminal summary table, progress bars, Markdown export, and unit
//! formatting. Everything renders into a `W: Write` so tests can capture it.

pub mod markdown;
pub mod progress;
pub mod table;

use crate::results::{CaseResult, Summary};

/// `1.23 GiB`-style byte counts.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Decimals that suit a number's size: 1234, 123.4, 12.34, 0.123.
fn precision(v: f64) -> usize {
    let a = v.abs();
    if a >= 999.5 {
        0
    } else if a >= 99.95 {
        1
    } else if a >= 0.9995 {
        2
    } else {
        3
    }
}

/// A number with precision that suits its size.
pub fn num(v: f64) -> String {
    format!("{v:.*}", precision(v))
}

/// `median ± stddev` of a metric (the spread with the median's precision), or `-`.
pub fn median_spread(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.n > 1 => {
            let p = precision(s.median);
            format!("{:.*} ± {:.*}", p, s.median, p, s.stddev)
        }
        Some(s) => num(s.median),
        None => "-".into(),
    }
}

/// Label of a case's parameters, e.g. `mt=128 c=4`.
pub fn params_label(c: &CaseResult) -> String {
    let g = |k: &str| c.params.get(k).and_then(serde_json::Value::as_u64);
    let mut s = String::new();
    if let Some(mt) = g("max_tokens") {
        s.push_str(&format!("mt={mt}"));
    }
    if let Some(pt) = g("prompt_tokens") {
        s.push_str(&format!(" pt={pt}"));
    }
    if let Some(cc) = g("concurrency").filter(|c| *c > 1) {
        s.push_str(&format!(" c={cc}"));
    }
    s
}

/// Why a case has failures, in one line, if it has any.
pub fn failure_note(c: &CaseResult) -> Option<String> {
    if let Some(e) = &c.error {
        return Some(e.clone());
    }
    let failed: Vec<_> = c.samples.iter().filter(|s| !s.ok).collect();
    failed.first().map(|s| format!("{}/{} failed: {}", failed.len(), c.samples.len(), s.error.as_deref().unwrap_or("unknown")))
}

/// Cases grouped by workload and parameters, targets side by side, plan order kept.
pub fn grouped(cases: &[CaseResult]) -> Vec<Vec<&CaseResult>> {
    let mut groups: Vec<(String, Vec<&CaseResult>)> = Vec::new();
    for c in cases {
        let key = format!("{}\u{0}{}", c.workload, c.params);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    groups.into_iter().map(|(_, v)| v).collect()
}

/// For each group with several targets: who is fastest on decode and TTFT, and by how much.
pub fn comparisons(cases: &[CaseResult]) -> Vec<String> {
    let mut out = Vec::new();
    for g in grouped(cases) {
        if g.len() < 2 {
            continue;
        }
        let label = format!("{} {}", g[0].workload, params_label(g[0]));
        let best = |metric: &str, higher: bool| -> Option<String> {
            let mut v: Vec<(&str, f64)> = g.iter().filter_map(|c| Some((c.target.as_str(), c.median(metric)?))).collect();
            if v.len() < 2 {
                return None;
            }
            v.sort_by(|a, b| if higher { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
            let (first, second) = (v[0], v[1]);
            let ratio = if higher { first.1 / second.1 } else { second.1 / first.1 };
            ratio.is_finite().then(|| format!("{} {:.2}x {}", first.0, ratio, second.0))
        };
        let mut parts = Vec::new();
        if let Some(s) = best("decode_tps", true) {
            parts.push(format!("decode: {s}"));
        }
        if let Some(s) = best("ttft_ms", false) {
            parts.push(format!("TTFT: {s} (faster)"));
        }
        if !parts.is_empty() {
            out.push(format!("{label}: {}", parts.join("; ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(99.99999), "100.0");
        assert_eq!(num(999.7), "1000");
    }
}
