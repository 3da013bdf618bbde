//! Energy and heat: one [`Source`] per platform (NVIDIA through NVML, Linux RAPL through
//! powercap, Apple Silicon's IOReport energy model, Linux thermal-throttle counters) and
//! a [`Meter`] that polls them on its own thread, off the stream path. A request's energy
//! is computed afterwards from its own timestamps: the cumulative counter, interpolated
//! between the moments it was seen to change, at `sent`, the first token and `done`.
//! Counters step (NVML's about every 100 ms): a span shorter than [`MIN_PERIODS`] of the
//! coarsest source's period is flagged below resolution instead of reported as noise.

#[cfg(target_os = "macos")]
mod apple;
mod nvidia;
mod rapl;
mod sample;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use sample::{CaseEnergy, fill, idle_power};

/// A span must cover this many counter periods to be reported.
pub const MIN_PERIODS: f64 = 3.0;
/// How often the meter polls its sources.
const TICK: Duration = Duration::from_millis(10);
/// Change points kept (at one per tick, over an hour).
const KEEP: usize = 400_000;

/// What a source measures, as result files and `info` name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// e.g. "NVML energy counter", "RAPL".
    pub name: String,
    /// What the joules cover: "GPU 0 (NVIDIA H200)", "CPU package 0", "SoC (CPU+GPU+ANE+DRAM)".
    pub covers: String,
    /// How often its reading changes, ms.
    pub period_ms: f64,
    /// True when the figures are a model's estimate rather than a measurement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimate: bool,
}

/// One platform's energy counter and heat signals.
pub trait Source: Send {
    fn info(&self) -> SourceInfo;
    /// Cumulative joules from an arbitrary origin (counter wraps handled by the source);
    /// `None` when this source measures no energy (heat only) or cannot read now.
    fn joules(&mut self) -> Option<f64>;
    /// Why clocks are held back now (empty when they are not).
    fn throttle(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// A clock that shows the machine slowing (GPU SM clock, CPU frequency), MHz.
    fn clock_mhz(&mut self) -> Option<f64> {
        None
    }
}

/// A source that could not be used, and why (for `info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unavailable {
    pub name: String,
    pub reason: String,
}

/// Every source this machine has, and the reasons for those it lacks.
pub fn detect() -> (Vec<Box<dyn Source>>, Vec<Unavailable>) {
    let mut found: Vec<Box<dyn Source>> = Vec::new();
    let mut missing = Vec::new();
    let mut take = |r: Result<Vec<Box<dyn Source>>, Unavailable>| match r {
        Ok(s) => found.extend(s),
        Err(u) => missing.push(u),
    };
    take(nvidia::sources());
    take(rapl::sources(&sysfs_root()));
    take(rapl::throttle_source(&sysfs_root()));
    #[cfg(target_os = "macos")]
    take(apple::sources());
    (found, missing)
}

/// `/sys`, or `MLXBENCH_SYSFS_ROOT` (tests point it at a fake tree).
pub fn sysfs_root() -> std::path::PathBuf {
    std::env::var_os("MLXBENCH_SYSFS_ROOT").map(Into::into).unwrap_or_else(|| "/sys".into())
}

#[derive(Default)]
struct State {
    /// (time, cumulative joules of all sources) where the sum was seen to change.
    points: VecDeque<(Instant, f64)>,
    /// When the counter was last polled, whether or not it changed.
    polled: Option<Instant>,
    /// (time, reasons) where the throttle reasons changed.
    throttle: VecDeque<(Instant, Vec<String>)>,
    /// (time, MHz) per poll, for the clock during a span.
    clocks: VecDeque<(Instant, f64)>,
}

/// Polls sources on its own thread until dropped.
pub struct Meter {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    infos: Vec<SourceInfo>,
    energy: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Idle power (W) and clock (MHz), measured once, for `cooldown = "until-cool"`.
    baseline: OnceLock<(Option<f64>, Option<f64>)>,
}

fn push_capped<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() >= KEEP {
        q.pop_front();
    }
    q.push_back(v);
}

impl Meter {
    /// Starts polling `sources`; `None` when there are none.
    pub fn start(mut sources: Vec<Box<dyn Source>>) -> Option<Meter> {
        if sources.is_empty() {
            return None;
        }
        let infos: Vec<SourceInfo> = sources.iter().map(|s| s.info()).collect();
        // the sources with an energy counter (the others give heat only)
        let counts: Vec<bool> = sources.iter_mut().map(|s| s.joules().is_some()).collect();
        let energy = counts.iter().any(|c| *c);
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (state.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("mlxbench-energy".into()).spawn(move || poll(sources, &counts, &st, &halt)).ok()?;
        Some(Meter { state, stop, infos, energy, thread: Some(thread), baseline: OnceLock::new() })
    }

    pub fn sources(&self) -> &[SourceInfo] {
        &self.infos
    }

    /// Whether any source measures energy (not only heat).
    pub fn measures_energy(&self) -> bool {
        self.energy
    }

    /// The coarsest energy source's period.
    pub fn period(&self) -> Duration {
        let ms = self.infos.iter().filter(|i| i.period_ms > 0.0).map(|i| i.period_ms).fold(0.0, f64::max);
        Duration::from_secs_f64(ms.max(TICK.as_secs_f64() * 1e3) / 1e3)
    }

    /// Waits (at most three periods) until the counter has been seen to change after `t`,
    /// so that spans ending at `t` can be computed.
    pub fn settle(&self, t: Instant) {
        let until = Instant::now() + self.period() * 3 + TICK * 2;
        while Instant::now() < until {
            if self.lock().points.back().is_some_and(|p| p.0 > t) {
                return;
            }
            std::thread::sleep(TICK);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joules between `t0` and `t1`, `None` when the counter does not cover the span.
    pub fn energy(&self, t0: Instant, t1: Instant) -> Option<f64> {
        let s = self.lock();
        Some(cumulative(&s.points, t1)? - cumulative(&s.points, t0)?).filter(|j| *j >= 0.0)
    }

    /// Every throttle reason in force at some moment of `[t0, t1]`.
    pub fn throttled(&self, t0: Instant, t1: Instant) -> Vec<String> {
        let s = self.lock();
        let mut out: Vec<String> = Vec::new();
        let at_start = s.throttle.iter().rev().find(|(t, _)| *t <= t0).map(|(_, r)| r.clone()).unwrap_or_default();
        for r in at_start.into_iter().chain(s.throttle.iter().filter(|(t, _)| *t > t0 && *t <= t1).flat_map(|(_, r)| r.clone())) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// The machine's idle power and clock, measured on the first call over a quiet
    /// window ([`idle_power`]'s) and kept.
    pub fn baseline(&self) -> (Option<f64>, Option<f64>) {
        *self.baseline.get_or_init(|| {
            let t0 = Instant::now();
            let watts = idle_power(self);
            (watts, self.clock(t0, Instant::now()))
        })
    }

    /// Waits until the power over the last window is back near the baseline (at most
    /// 110% of it + 1 W) and the clock near its own (at least 95%), checking every 100
    /// ms, for at most `max`: `Ok(waited)` once cool, `Err(waited)` when `max` ran out.
    pub fn wait_until_cool(&self, max: Duration) -> Result<Duration, Duration> {
        let (idle_w, idle_clock) = self.baseline();
        let window = self.period().mul_f64(MIN_PERIODS).max(Duration::from_millis(300));
        let start = Instant::now();
        loop {
            let now = Instant::now();
            // the last window that the counter has passed
            let end = now.checked_sub(self.period() + TICK).unwrap_or(now);
            let from = end.checked_sub(window).unwrap_or(end);
            let power = self.energy(from, end).map(|j| j / window.as_secs_f64());
            // no power yet for the window (a meter just started): not known to be cool
            let power_ok = match (power, idle_w) {
                (Some(p), Some(i)) => p <= i * 1.1 + 1.0,
                (None, Some(_)) => false,
                (_, None) => true,
            };
            let clock_ok = match (self.clock(from, end), idle_clock) {
                (Some(c), Some(i)) => c >= i * 0.95,
                _ => true,
            };
            if power_ok && clock_ok {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= max {
                return Err(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The mean clock over `[t0, t1]`, MHz.
    pub fn clock(&self, t0: Instant, t1: Instant) -> Option<f64> {
        let s = self.lock();
        // polls are in time order: find the span's first one instead of scanning an hour
        let from = s.clocks.partition_point(|(t, _)| *t < t0);
        let v: Vec<f64> = s.clocks.range(from..).take_while(|(t, _)| *t <= t1).map(|(_, c)| *c).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The meter's loop: every tick, the sum of the sources' counters (recorded where it
/// changed), their throttle reasons (where they changed) and the clock.
fn poll(mut sources: Vec<Box<dyn Source>>, counts: &[bool], state: &Mutex<State>, stop: &AtomicBool) {
    let mut last_sum: Option<f64> = None;
    let mut last_reasons: Option<Vec<String>> = None;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        // a sum only when every counter read: one missing would look like a drop
        let readings: Vec<Option<f64>> = sources.iter_mut().zip(counts).filter(|(_, c)| **c).map(|(s, _)| s.joules()).collect();
        let sum = (!readings.is_empty() && readings.iter().all(Option::is_some)).then(|| readings.iter().flatten().sum::<f64>());
        let reasons: Vec<String> = sources.iter_mut().flat_map(|s| s.throttle()).collect();
        let clock = sources.iter_mut().find_map(|s| s.clock_mhz());
        {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(sum) = sum.filter(|v| last_sum != Some(*v)) {
                push_capped(&mut s.points, (now, sum));
                last_sum = Some(sum);
            }
            s.polled = Some(now);
            if last_reasons.as_ref() != Some(&reasons) {
                push_capped(&mut s.throttle, (now, reasons.clone()));
                last_reasons = Some(reasons);
            }
            if let Some(c) = clock {
                push_capped(&mut s.clocks, (now, c));
            }
        }
        std::thread::sleep(TICK.saturating_sub(now.elapsed()));
    }
}

/// The cumulative counter at `t`, linear between the change points around it.
fn cumulative(points: &VecDeque<(Instant, f64)>, t: Instant) -> Option<f64> {
    let i = points.partition_point(|p| p.0 <= t);
    let (a, b) = (points.get(i.checked_sub(1)?)?, points.get(i)?);
    let span = b.0.duration_since(a.0).as_secs_f64();
    let f = if span > 0.0 { t.duration_since(a.0).as_secs_f64() / span } else { 1.0 };
    Some(a.1 + (b.1 - a.1) * f)
}

/// The process's meter, started on first use: `None` when this machine has no source
/// (or `MLXBENCH_NO_ENERGY=1`).
pub fn meter() -> Option<&'static Meter> {
    static METER: OnceLock<Option<Meter>> = OnceLock::new();
    METER
        .get_or_init(|| {
            if std::env::var("MLXBENCH_NO_ENERGY").is_ok_and(|v| v == "1") {
                return None;
            }
            Meter::start(detect().0)
        })
        .as_ref()
}

#[cfg(test)]
mod tests;
