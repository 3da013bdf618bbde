//! Pure summary statistics: location, spread, percentiles, a 95% confidence interval of
//! the mean, and outlier detection with the median-absolute-deviation rule.

use serde::{Deserialize, Serialize};

pub mod significance;

/// Summary of one metric over the successful samples of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 when n < 2.
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    pub p90: f64,
    pub p99: f64,
    /// 95% confidence interval of the mean (Student's t); equal to the mean when n < 2.
    pub ci95_low: f64,
    pub ci95_high: f64,
}

/// Summarises finite values; `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let stddev = if n > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
    let half = if n > 1 { t_critical_95(n - 1) * stddev / (n as f64).sqrt() } else { 0.0 };
    Some(Summary {
        n,
        mean,
        median: percentile_sorted(&v, 50.0),
        stddev,
        min: v[0],
        max: v[n - 1],
        p90: percentile_sorted(&v, 90.0),
        p99: percentile_sorted(&v, 99.0),
        ci95_low: mean - half,
        ci95_high: mean + half,
    })
}

/// Percentile with linear interpolation between closest ranks (numpy's default).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// Median of unsorted values (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    median_in_place(&mut v)
}

/// The median of `v`, reordering it instead of copying (the bootstrap's inner loop).
/// Same value as [`median`]: the mean of the two middle values for an even count.
pub fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    if n <= 32 {
        // small: an insertion sort beats selection's partitioning
        for i in 1..n {
            let mut j = i;
            while j > 0 && v[j - 1].total_cmp(&v[j]).is_gt() {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        return if n % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
    }
    let (lower, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        return m;
    }
    let below = lower.iter().copied().max_by(f64::total_cmp).unwrap_or(m);
    (below + m) / 2.0
}

/// `f` over `items` on the machine's cores, results in item order (the same as a plain
/// map); small inputs stay on this thread.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    if threads <= 1 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        // a worker can only fail by panicking, which scope re-raises here
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// Two-sided 95% critical value of Student's t with `df` degrees of freedom.
pub fn t_critical_95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
        2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // Cornish-Fisher style expansion around the normal quantile; < 0.001 off past 30.
        _ => {
            let z: f64 = 1.959964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Indices of outliers by the modified z-score (0.6745 * |x - median| / MAD > 3.5), the
/// rule of Iglewicz and Hoaglin that hyperfine also uses. Needs at least 5 values: with
/// fewer, the median absolute deviation is one of the values themselves and flags noise.
pub fn mad_outliers(values: &[f64]) -> Vec<usize> {
    if values.len() < 5 {
        return Vec::new();
    }
    let med = median(values);
    let deviations: Vec<f64> = values.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&deviations);
    if mad <= 0.0 || !mad.is_finite() {
        return Vec::new();
    }
    values.iter().enumerate().filter(|(_, x)| 0.6745 * (*x - med).abs() / mad > 3.5).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_in_place_matches_the_sorting_median() {
        let mut x: u64 = 7;
        for n in 0..40 {
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (x >> 40) as f64 % 17.0
                })
                .collect();
            let mut w = v.clone();
            let (a, b) = (median(&v), median_in_place(&mut w));
            assert!(a == b || (a.is_nan() && b.is_nan()), "n={n}: {a} vs {b}");
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn summary_of_known_values() {
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert!(close(s.mean, 5.0));
        assert!(close(s.median, 4.5));
        assert!(close(s.stddev, (32.0f64 / 7.0).sqrt()));
        assert!(close(s.min, 2.0) && close(s.max, 9.0));
        // numpy.percentile([2,4,4,4,5,5,7,9], 90) == 7.6
        assert!(close(s.p90, 7.6), "{}", s.p90);
        let half = 2.365 * s.stddev / 8f64.sqrt();
        assert!(close(s.ci95_low, 5.0 - half) && close(s.ci95_high, 5.0 + half));
    }

    #[test]
    fn empty_single_and_non_finite() {
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN, f64::INFINITY]).is_none());
        let s = summarize(&[3.0, f64::NAN]).unwrap();
        assert_eq!(s.n, 1);
        assert!(close(s.stddev, 0.0) && close(s.ci95_low, 3.0) && close(s.p99, 3.0));
    }

    #[test]
    fn t_values_match_tables() {
        assert!(close(t_critical_95(1), 12.706));
        assert!(close(t_critical_95(9), 2.262));
        assert!((t_critical_95(60) - 2.000).abs() < 0.002);
        assert!((t_critical_95(120) - 1.980).abs() < 0.002);
        assert!((t_critical_95(100_000) - 1.960).abs() < 0.001);
    }

    #[test]
    fn mad_rule_flags_the_straggler_only() {
        let v = [100.0, 101.0, 99.0, 100.5, 98.8, 250.0, 100.2];
        assert_eq!(mad_outliers(&v), vec![5]);
        assert!(mad_outliers(&[1.0, 1.0, 1.0, 1.0]).is_empty());
        assert!(mad_outliers(&[1.0, 100.0]).is_empty());
    }
}
