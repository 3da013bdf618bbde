//! A case's energy and heat, from the process's meter (measure/energy): every request's
//! figures, the case's record, and a warning for throttled requests.

use crate::measure::energy::{CaseEnergy, Meter, fill};
use crate::results::CaseResult;

/// Fills the samples' energy, throttle and clock figures and the case's `energy`; warns
/// when requests ran throttled (and, with `exclude_throttled`, that they were left out).
pub(super) fn attach(m: &Meter, r: &mut CaseResult, idle_w: Option<f64>) {
    if let Some(last) = r.samples.iter().filter_map(|s| s.span.map(|sp| sp.2)).max() {
        m.settle(last);
    }
    for s in r.samples.iter_mut().filter(|s| s.ok) {
        fill(m, s, idle_w);
    }
    let ok: Vec<_> = r.samples.iter().filter(|s| s.ok).collect();
    let below = ok.iter().filter(|s| s.energy_note.is_some()).count();
    let throttled: Vec<_> = ok.iter().filter(|s| !s.throttled.is_empty()).collect();
    if let Some(first) = throttled.first() {
        let left_out = if r.params.exclude_throttled { "; left out of the statistics (exclude_throttled)" } else { "" };
        r.warnings.push(format!(
            "{} of {} requests ran throttled ({}){left_out}",
            throttled.len(),
            ok.len(),
            first.throttled.join(", ")
        ));
    }
    if below > 0 {
        r.warnings.push(format!(
            "{below} of {} requests were too short for the energy counters' resolution: no energy figures for them",
            ok.len()
        ));
    }
    r.energy = Some(CaseEnergy {
        sources: m.sources().to_vec(),
        idle_power_w: idle_w,
        below_resolution: below as u32,
        throttled: throttled.len() as u32,
    });
}
