//! A case's energy and heat, from the process's meter (measure/energy): every request's
//! figures, the case's record, and a warning for throttled requests.

use std::time::Duration;

use crate::measure::energy::{CaseEnergy, Meter, fill, idle_power};
use crate::results::{CaseResult, WarningKind};
use crate::scenario::Params;

/// The idle power just before a case's measured requests (off the async workers).
pub(super) async fn idle_before(meter: Option<&'static Meter>) -> Option<f64> {
    let m = meter?;
    tokio::task::spawn_blocking(move || idle_power(m)).await.ok().flatten()
}

/// With `cooldown = "until-cool"`, waits (bounded) until power and clocks are back near
/// idle; false when the bound ran out first.
pub(super) async fn cooled(p: &Params, meter: Option<&'static Meter>) -> bool {
    let (Some(max), Some(m)) = (p.until_cool_max_s, meter) else { return true };
    let max = Duration::from_secs_f64(max);
    tokio::task::spawn_blocking(move || m.wait_until_cool(max).is_ok()).await.unwrap_or(true)
}

/// What the case says about `until-cool`: nothing to measure it with, or runs that began
/// before the machine had cooled.
pub(super) fn cool_warning(p: &Params, metered: bool, not_cool: u32) -> Option<String> {
    let max = p.until_cool_max_s?;
    if !metered {
        return Some(
            "cooldown = \"until-cool\" needs an energy or clock source and this machine has none (mlxbench info): runs were not delayed"
                .into(),
        );
    }
    (not_cool > 0).then(|| {
        format!("{not_cool} of {} runs started before power and clocks were back near idle: cooldown_max_s = {max} ran out", p.iterations)
    })
}

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
        r.warnings.push(
            WarningKind::Throttled,
            format!("{} of {} requests ran throttled ({}){left_out}", throttled.len(), ok.len(), first.throttled.join(", ")),
        );
    }
    if below > 0 {
        r.warnings.push(
            WarningKind::EnergyBelowResolution,
            format!("{below} of {} requests were too short for the energy counters' resolution: no energy figures for them", ok.len()),
        );
    }
    r.energy = Some(CaseEnergy {
        sources: m.sources().to_vec(),
        idle_power_w: idle_w,
        below_resolution: below as u32,
        throttled: throttled.len() as u32,
    });
}
