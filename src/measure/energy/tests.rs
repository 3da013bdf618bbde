//! Scripted sources with known truth: a counter stepping at a known power, one that
//! stalls, RAPL from a fake powercap tree whose counter wraps, a throttle event in the
//! middle of a span, and the per-request figures computed from them.

use std::time::{Duration, Instant};

use super::*;
use crate::measure::sample::Sample;

/// `watts` as a counter that steps every `step`; stalls after `stall_after`; reports a
/// throttle reason within `hot` (offsets from its start).
struct Scripted {
    start: Instant,
    watts: f64,
    step: Duration,
    stall_after: Option<Duration>,
    hot: Option<(Duration, Duration)>,
}

impl Scripted {
    fn new(watts: f64, step_ms: u64) -> Self {
        Scripted { start: Instant::now(), watts, step: Duration::from_millis(step_ms), stall_after: None, hot: None }
    }
}

impl Source for Scripted {
    fn info(&self) -> SourceInfo {
        SourceInfo { name: "scripted".into(), covers: "test".into(), period_ms: self.step.as_secs_f64() * 1e3, estimate: false }
    }
    fn joules(&mut self) -> Option<f64> {
        let mut t = self.start.elapsed();
        if let Some(s) = self.stall_after {
            t = t.min(s);
        }
        let steps = (t.as_secs_f64() / self.step.as_secs_f64()).floor();
        Some(self.watts * steps * self.step.as_secs_f64())
    }
    fn throttle(&mut self) -> Vec<String> {
        let t = self.start.elapsed();
        match self.hot {
            Some((a, b)) if t >= a && t < b => vec!["scripted heat".into()],
            _ => Vec::new(),
        }
    }
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= want.abs() * tol
}

#[test]
fn a_stepping_counter_gives_energy_and_power_within_a_step() {
    let m = Meter::start(vec![Box::new(Scripted::new(40.0, 50))]).unwrap();
    assert!(m.measures_energy());
    assert_eq!(m.period(), Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(120));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(600));
    let t1 = Instant::now();
    m.settle(t1);
    let j = m.energy(t0, t1).unwrap();
    let truth = 40.0 * t1.duration_since(t0).as_secs_f64();
    // interpolated between change points: off by at most about one step (2 J)
    assert!((j - truth).abs() < 2.5, "{j} J vs {truth} J");
}

#[test]
fn a_stalled_counter_covers_nothing_after_it_stopped_and_settle_is_bounded() {
    let mut s = Scripted::new(40.0, 20);
    s.stall_after = Some(Duration::from_millis(100));
    let m = Meter::start(vec![Box::new(s)]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    m.settle(t);
    // three periods (60 ms) and two ticks, not forever
    assert!(t.elapsed() < Duration::from_millis(250), "{:?}", t.elapsed());
    assert_eq!(m.energy(t - Duration::from_millis(50), t), None);
}

#[test]
fn requests_get_joules_per_token_power_and_throttling_and_short_ones_are_flagged() {
    let mut s = Scripted::new(30.0, 20);
    s.hot = Some((Duration::from_millis(700), Duration::from_millis(800)));
    let m = Meter::start(vec![Box::new(s)]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // a request: sent, first token 100 ms later, 11 tokens until done 500 ms after sending
    let sent = Instant::now();
    let first = sent + Duration::from_millis(100);
    let done = sent + Duration::from_millis(500);
    std::thread::sleep(Duration::from_millis(520));
    m.settle(done);
    let mut r = Sample { ok: true, output_tokens: Some(11), span: Some((sent, Some(first), done)), ..Default::default() };
    fill(&m, &mut r, Some(10.0));
    assert!(close(r.energy_j.unwrap(), 15.0, 0.1), "{r:?}");
    assert!(close(r.power_w.unwrap(), 30.0, 0.1), "{r:?}");
    // 400 ms of decoding at 30 W over 10 decoded tokens: 1.2 J each, 0.8 J above 10 W idle
    assert!(close(r.j_per_token.unwrap(), 1.2, 0.1), "{r:?}");
    assert!(close(r.j_per_token_above_idle.unwrap(), 0.8, 0.15), "{r:?}");
    assert!(close(r.tokens_per_j.unwrap(), 1.0 / 1.2, 0.1), "{r:?}");
    assert!(r.throttled.is_empty() && r.energy_note.is_none(), "{r:?}");
    // one that overlaps the throttle window; and one shorter than three periods (60 ms)
    std::thread::sleep(Duration::from_millis(250));
    let (a, b) = (sent + Duration::from_millis(560), sent + Duration::from_millis(760));
    let mut hot = Sample { ok: true, output_tokens: Some(5), span: Some((a, Some(a), b)), ..Default::default() };
    fill(&m, &mut hot, None);
    assert_eq!(hot.throttled, ["scripted heat"]);
    let mut short =
        Sample { ok: true, output_tokens: Some(3), span: Some((b, Some(b), b + Duration::from_millis(40))), ..Default::default() };
    fill(&m, &mut short, None);
    assert!(short.energy_j.is_none() && short.energy_note.as_deref().is_some_and(|n| n.contains("below resolution")), "{short:?}");
}

/// A fake powercap tree: package 0 and its dram subzone; `uj` written by the test.
fn powercap(root: &std::path::Path, package_uj: u64, dram_uj: u64, max_uj: u64) {
    for (dir, name, uj) in [("intel-rapl:0", "package-0", package_uj), ("intel-rapl:0/intel-rapl:0:0", "dram", dram_uj)] {
        let d = root.join("class/powercap").join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), name).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), max_uj.to_string()).unwrap();
        std::fs::write(d.join("energy_uj"), uj.to_string()).unwrap();
    }
}

#[test]
fn rapl_reads_package_and_dram_and_counts_wraps() {
    let d = tempfile::tempdir().unwrap();
    powercap(d.path(), 999_000, 10, 1_000_000);
    let mut s = rapl::sources(d.path()).unwrap().pop().unwrap();
    assert_eq!(s.info().covers, "CPU package 0 + dram");
    assert_eq!(s.joules(), Some(0.0));
    // the package counter wrapped: 999,000 -> 1,000,000 (0) -> 4,000 is 5,000 µJ
    powercap(d.path(), 4_000, 1_010, 1_000_000);
    let j = s.joules().unwrap();
    assert!((j - 0.006).abs() < 1e-9, "{j}");
    // no tree, or no zones: the reason says which
    let empty = tempfile::tempdir().unwrap();
    assert!(rapl::sources(empty.path()).err().unwrap().reason.contains("does not exist"));
    std::fs::create_dir_all(empty.path().join("class/powercap")).unwrap();
    assert!(rapl::sources(empty.path()).err().unwrap().reason.contains("no intel-rapl zones"));
}

#[test]
fn linux_throttle_counters_that_grow_are_throttling() {
    let d = tempfile::tempdir().unwrap();
    let cpu = d.path().join("devices/system/cpu/cpu0");
    std::fs::create_dir_all(cpu.join("thermal_throttle")).unwrap();
    std::fs::create_dir_all(cpu.join("cpufreq")).unwrap();
    std::fs::write(cpu.join("thermal_throttle/core_throttle_count"), "7").unwrap();
    std::fs::write(cpu.join("cpufreq/scaling_cur_freq"), "2400000").unwrap();
    let mut s = rapl::throttle_source(d.path()).unwrap().pop().unwrap();
    assert!(s.throttle().is_empty(), "the first reading is the baseline");
    assert_eq!(s.clock_mhz(), Some(2400.0));
    std::fs::write(cpu.join("thermal_throttle/core_throttle_count"), "9").unwrap();
    assert_eq!(s.throttle(), ["CPU core thermal throttling"]);
    assert!(s.throttle().is_empty(), "no new events since");
    assert!(s.joules().is_none());
}

/// 80 W for 600 ms after start, then 20 W: the machine is "hot" and then cools.
struct Cooling(Instant, f64);

impl Source for Cooling {
    fn info(&self) -> SourceInfo {
        SourceInfo { name: "cooling".into(), covers: "test".into(), period_ms: 20.0, estimate: false }
    }
    fn joules(&mut self) -> Option<f64> {
        let t = self.0.elapsed().as_secs_f64();
        let hot = t.min(0.6);
        let j = 80.0 * hot + 20.0 * (t - hot);
        // a 20 ms counter step
        Some((j / self.1).floor() * self.1)
    }
}

#[test]
fn until_cool_waits_for_power_to_return_to_the_baseline_and_is_bounded() {
    // the baseline: measured once, over a quiet window
    let m = Meter::start(vec![Box::new(Scripted::new(20.0, 20))]).unwrap();
    let idle = m.baseline().0.unwrap();
    assert!(close(idle, 20.0, 0.1), "{idle}");
    assert_eq!(m.baseline().0, Some(idle), "kept, not measured again");
    drop(m);
    let m = Meter::start(vec![Box::new(Cooling(Instant::now(), 0.4))]).unwrap();
    m.baseline.set((Some(20.0), None)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // hot for the first 600 ms: a 200 ms bound runs out
    assert!(m.wait_until_cool(Duration::from_millis(200)).is_err());
    // cool once the last window (300 ms, ending a period before now) is past 600 ms
    let waited = m.wait_until_cool(Duration::from_secs(5)).unwrap();
    let t = waited.as_secs_f64() + 0.3;
    assert!(t > 0.6 && t < 2.0, "cooled after {t} s");
}
