//! Small-sample inference: a distribution-free confidence interval of the median, the
//! Mann-Whitney U test, and a seeded bootstrap of the ratio of two medians.

use super::{median_in_place, percentile_sorted};

/// 95% confidence interval of the median from order statistics (binomial, normal
/// approximation for the ranks); the sample range when n < 6.
pub fn median_ci95(values: &[f64]) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n < 6 {
        return Some((v[0], v[n - 1]));
    }
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor() as isize).clamp(1, n as isize) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as isize + 1).clamp(1, n as isize) as usize;
    Some((v[lo - 1], v[hi - 1]))
}

/// Two-sided p-value of the Mann-Whitney U test (normal approximation with tie and
/// continuity corrections). `None` when either side is empty.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, usize)> = a.iter().map(|x| (*x, 0)).chain(b.iter().map(|x| (*x, 1))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for rank in ranks.iter_mut().take(j + 1).skip(i) {
            *rank = r;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let r1: f64 = all.iter().zip(&ranks).filter(|((_, g), _)| *g == 0).map(|(_, r)| r).sum();
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let mu = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)).max(1.0));
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = ((u1 - mu).abs() - 0.5).max(0.0) / var.sqrt();
    Some((2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0))
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// xorshift64*: a tiny deterministic generator, so a comparison is reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// 95% percentile-bootstrap interval of median(candidate) / median(baseline).
pub fn bootstrap_median_ratio(base: &[f64], cand: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    if base.is_empty() || cand.is_empty() {
        return None;
    }
    let mut rng = Rng::new(seed);
    let mut ratios = Vec::with_capacity(resamples);
    let mut bs = vec![0.0; base.len()];
    let mut cs = vec![0.0; cand.len()];
    for _ in 0..resamples {
        for x in bs.iter_mut() {
            *x = base[rng.below(base.len())];
        }
        for x in cs.iter_mut() {
            *x = cand[rng.below(cand.len())];
        }
        let (mb, mc) = (median_in_place(&mut bs), median_in_place(&mut cs));
        if mb != 0.0 && (mc / mb).is_finite() {
            ratios.push(mc / mb);
        }
    }
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    Some((percentile_sorted(&ratios, 2.5), percentile_sorted(&ratios, 97.5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_reference_values() {
        // scipy.stats.mannwhitneyu([1,2,3,4,5],[6,7,8,9,10], method="asymptotic") -> p = 0.01193
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!((p - 0.01193).abs() < 0.0005, "{p}");
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!(p > 0.9, "{p}");
        assert_eq!(mann_whitney_p(&[5.0, 5.0], &[5.0, 5.0]), Some(1.0));
        assert!(mann_whitney_p(&[], &[1.0]).is_none());
    }

    #[test]
    fn normal_cdf_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158655).abs() < 1e-6);
    }

    #[test]
    fn median_ci_brackets_the_median() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let (lo, hi) = median_ci95(&v).unwrap();
        assert!(lo < 10.5 && hi > 10.5 && lo >= 5.0 && hi <= 16.0, "{lo} {hi}");
        assert_eq!(median_ci95(&[3.0, 1.0, 2.0]), Some((1.0, 3.0)));
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_true_ratio() {
        let base: Vec<f64> = (0..30).map(|i| 100.0 + f64::from(i % 7)).collect();
        let cand: Vec<f64> = base.iter().map(|x| x * 0.9).collect();
        let a = bootstrap_median_ratio(&base, &cand, 2000, 7).unwrap();
        assert_eq!(a, bootstrap_median_ratio(&base, &cand, 2000, 7).unwrap());
        assert!(a.0 <= 0.9 + 1e-9 && a.1 >= 0.9 - 1e-9, "{a:?}");
    }
}
