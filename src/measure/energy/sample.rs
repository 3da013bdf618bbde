//! A request's energy figures, from the meter and the request's own timestamps, and a
//! case's energy record.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{MIN_PERIODS, Meter, SourceInfo};
use crate::measure::sample::Sample;

/// What a case's energy figures are and how they were taken (`cases[].energy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseEnergy {
    /// Every source summed into the figures (and heat-only ones), with what each covers.
    pub sources: Vec<SourceInfo>,
    /// Power with nothing running, measured just before the case, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_power_w: Option<f64>,
    /// Requests too short for the counters' resolution (no energy figures).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub below_resolution: u32,
    /// Requests during which some throttle reason was in force.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Average power over a quiet window just before a case (at least [`MIN_PERIODS`]
/// counter periods and 300 ms), W.
pub fn idle_power(m: &Meter) -> Option<f64> {
    if !m.measures_energy() {
        return None;
    }
    let window = (m.period().mul_f64(MIN_PERIODS)).max(Duration::from_millis(300));
    // a meter started just now has no reading yet to start the window from
    m.settle(Instant::now());
    let t0 = Instant::now();
    std::thread::sleep(window);
    let t1 = Instant::now();
    m.settle(t1);
    Some(m.energy(t0, t1)? / t1.duration_since(t0).as_secs_f64())
}

/// Fills a finished request's energy, power, J/token, throttle and clock figures.
/// Energy is left out (with `energy_note`) when the request is shorter than
/// [`MIN_PERIODS`] counter periods; the decode figures likewise for its decode phase.
pub fn fill(m: &Meter, s: &mut Sample, idle_w: Option<f64>) {
    let Some((sent, first, done)) = s.span else { return };
    s.throttled = m.throttled(sent, done);
    s.clock_mhz = m.clock(sent, done);
    if !m.measures_energy() {
        return;
    }
    let min = m.period().mul_f64(MIN_PERIODS);
    let e2e = done.saturating_duration_since(sent);
    if e2e < min {
        s.energy_note = Some(format!(
            "below resolution: {:.0} ms is under {MIN_PERIODS} periods of the energy counter ({:.0} ms)",
            e2e.as_secs_f64() * 1e3,
            m.period().as_secs_f64() * 1e3
        ));
        return;
    }
    s.energy_j = m.energy(sent, done);
    s.power_w = s.energy_j.map(|j| j / e2e.as_secs_f64());
    let decoded = s.output_tokens.unwrap_or(0).saturating_sub(1);
    let Some(first) = first.filter(|_| decoded > 0) else { return };
    let decode = done.saturating_duration_since(first);
    if decode < min {
        s.energy_note = Some(format!("decode below resolution: {:.0} ms of decoding", decode.as_secs_f64() * 1e3));
        return;
    }
    s.decode_energy_j = m.energy(first, done);
    let per = |j: f64| j / decoded as f64;
    s.j_per_token = s.decode_energy_j.map(per);
    s.tokens_per_j = s.j_per_token.filter(|j| *j > 0.0).map(|j| 1.0 / j);
    s.j_per_token_above_idle = s.decode_energy_j.zip(idle_w).map(|(j, w)| per(j - w * decode.as_secs_f64()));
}
