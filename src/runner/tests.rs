//! The runner against the scripted backend: known timings, failures and concurrency,
//! no process or server.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Event, run_plan_with};
use crate::backend::scripted::{FailAt, Reply, Scripted};
use crate::backend::{Backend, BackendError, RequestError};
use crate::metric::Metric;
use crate::results::{CaseResult, WarningKind};
use crate::scenario::{Plan, Target, parse_str};

fn plan(defaults: &str, targets: &[&str]) -> Plan {
    let mut src = format!("name = \"runner\"\n[defaults]\n{defaults}\n");
    for t in targets {
        src.push_str(&format!("[[targets]]\nname = \"{t}\"\nbackend = \"openai\"\nmodel = \"m\"\n"));
    }
    src.push_str("[[workloads]]\nname = \"w\"\nprompt = \"hi\"\n");
    parse_str(&src, Path::new("runner.toml")).expect("valid scenario")
}

/// Runs a plan with one scripted backend per target name; returns results and events.
fn run(plan: &Plan, backends: Vec<(&str, Scripted)>) -> (Vec<CaseResult>, Vec<String>) {
    let events = Mutex::new(Vec::new());
    let factory = |t: &Target| -> Result<Box<dyn Backend>, BackendError> {
        let b = backends.iter().find(|(n, _)| *n == t.name).map(|(_, b)| b.clone()).expect("a scripted backend per target");
        Ok(Box::new(b))
    };
    let mut observer = |e: Event<'_>| {
        let line = match e {
            Event::TargetFailed { target, error } => format!("failed {target}: {error}"),
            Event::CaseStarted { target, label, .. } => format!("case {target} {label}"),
            Event::RequestFinished { warmup, ok } => format!("request warmup={warmup} ok={ok}"),
            _ => return,
        };
        events.lock().unwrap().push(line);
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results = rt.block_on(run_plan_with(plan, &mut observer, &factory));
    (results, events.into_inner().unwrap())
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn warmup_failures_warn_and_are_not_counted() {
    let p = plan("warmup = 2\niterations = 3\nmax_tokens = 5", &["a"]);
    let b = Scripted::new(|n| {
        if n == 0 {
            Reply::Fail { after: MS, error: RequestError::Engine("cold start".into()) }
        } else {
            Reply::Stream { ttft: MS, gap: MS, tokens: 5 }
        }
    });
    let (r, events) = run(&p, vec![("a", b.clone())]);
    assert_eq!(b.requests(), 5);
    assert_eq!(r[0].samples.len(), 3, "warmup requests are not stored");
    assert!(r[0].samples.iter().all(|s| s.ok && s.output_tokens == Some(5)));
    assert!(
        r[0].warnings.iter().any(|w| w.kind == WarningKind::WarmupFailed && w.text == "1 warmup request(s) failed, first: cold start"),
        "{:?}",
        r[0].warnings
    );
    assert_eq!(events.iter().filter(|e| e.contains("warmup=true")).count(), 2);
}

#[test]
fn a_failed_target_skips_its_cases_and_the_run_goes_on() {
    let p = plan("warmup = 0\niterations = 2\nmax_tokens = 3", &["broken", "fine"]);
    let steady = Scripted::steady(MS, MS, 3);
    let broken = Scripted::steady(MS, MS, 3).failing_at(FailAt::Load);
    let (r, events) = run(&p, vec![("broken", broken.clone()), ("fine", steady.clone())]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].error.as_deref(), Some("load failed: scripted failure at Load"));
    assert!(r[0].samples.is_empty() && broken.requests() == 0);
    assert!(r[1].error.is_none() && r[1].ok_count() == 2);
    assert!(events.iter().any(|e| e.starts_with("failed broken: load failed")), "{events:?}");
}

#[test]
fn failed_requests_are_failed_samples_with_their_reason() {
    let p = plan("warmup = 0\niterations = 4\nmax_tokens = 3", &["a"]);
    let b = Scripted::new(|n| {
        if n % 2 == 1 {
            Reply::Fail { after: MS, error: RequestError::Server(format!("boom {n}")) }
        } else {
            Reply::Stream { ttft: MS, gap: MS, tokens: 3 }
        }
    });
    let (r, _) = run(&p, vec![("a", b)]);
    let c = &r[0];
    assert_eq!((c.ok_count(), c.failed_count()), (2, 2));
    assert_eq!(c.samples[1].error.as_deref(), Some("server error in stream: boom 1"));
    assert_eq!(c.samples[1].error_kind, Some(crate::measure::sample::ErrorKind::Server));
    assert_eq!(c.failure_note().as_deref(), Some("2/4 failed: server error in stream: boom 1"));
    assert_eq!(c.summary_of(Metric::OutputTokens).map(|s| s.n), Some(2), "failed samples stay out of the summary");
}

#[test]
fn concurrent_streams_overlap_and_aggregate() {
    let p = plan("warmup = 0\niterations = 2\nmax_tokens = 10\nconcurrency = 4", &["a"]);
    let b = Scripted::steady(Duration::from_millis(40), Duration::from_millis(10), 10);
    let (r, _) = run(&p, vec![("a", b.clone())]);
    let c = &r[0];
    assert_eq!(b.max_in_flight(), 4, "the four streams of a run are in flight together");
    assert_eq!(c.samples.len(), 8);
    assert_eq!(c.runs.len(), 2);
    for run in &c.runs {
        assert_eq!((run.ok, run.failed, run.output_tokens), (4, 0, 40));
        // 40 ms to the first token + 9 gaps of 10 ms: 130 ms, all streams together
        assert!(run.wall_ms >= 129.0 && run.wall_ms < 250.0, "{run:?}");
        assert!((run.output_tps - 40.0 / (run.wall_ms / 1e3)).abs() < 1e-6);
    }
    let ttft = c.median(Metric::TtftMs).unwrap();
    assert!((39.0..100.0).contains(&ttft), "ttft {ttft}");
    let decode = c.median(Metric::DecodeTps).unwrap();
    assert!(decode >= 60.0, "decode {decode} tok/s for a 10 ms gap");
    // tokens are due on an absolute schedule: a first token that woke late shortens the
    // span to the last one, so each stream's rate is at most 9 gaps over 90 ms less that
    // lateness (its TTFT past 40 ms), never more
    for s in &c.samples {
        let late_s = (s.ttft_ms.unwrap() - 40.0).max(0.0) / 1e3;
        let most = 9.0 / (0.090 - late_s.min(0.080));
        assert!(
            s.decode_tps.unwrap() <= most * 1.01,
            "decode {:?} tok/s, at most {most} after a first token {late_s} s late",
            s.decode_tps
        );
    }
    assert!(!c.warnings.has(WarningKind::Outliers), "no outlier rule on concurrent cases: {:?}", c.warnings);
}

#[test]
fn cooldown_separates_runs() {
    let p = plan("warmup = 1\niterations = 3\nmax_tokens = 2\ncooldown_s = 0.1", &["a"]);
    let t0 = Instant::now();
    let (r, _) = run(&p, vec![("a", Scripted::steady(MS, MS, 2))]);
    // a cooldown after the warmup run and between the three counted runs
    assert!(t0.elapsed() >= Duration::from_millis(300), "{:?}", t0.elapsed());
    assert_eq!(r[0].samples.len(), 3);
    assert!(r[0].params.cooldown_s == 0.1);
}

/// Seconds from the end of case `a`'s last request to the start of case `b`'s first.
fn gap_s(a: &CaseResult, b: &CaseResult) -> f64 {
    let end = a.samples.iter().filter_map(|s| s.span.map(|x| x.2)).max().unwrap();
    let start = b.samples.iter().filter_map(|s| s.span.map(|x| x.0)).min().unwrap();
    start.saturating_duration_since(end).as_secs_f64()
}

#[test]
fn case_cooldown_separates_cases_and_targets() {
    for (order, pause) in [("sequential", 0.0), ("sequential", 0.15), ("interleaved", 0.15)] {
        let d = format!("warmup = 0\niterations = 2\nmax_tokens = 2\ncase_cooldown_s = {pause}");
        let mut p = plan(&d, &["a", "b"]);
        p.spec.order = Some(if order == "sequential" { crate::scenario::Order::Sequential } else { crate::scenario::Order::Interleaved });
        let t0 = Instant::now();
        let (r, _) = run(&p, vec![("a", Scripted::steady(MS, MS, 2)), ("b", Scripted::steady(MS, MS, 2))]);
        assert_eq!(r[1].params.case_cooldown_s, pause);
        if order == "sequential" {
            // one pause, before target b is started; none between a case's own runs
            let gap = gap_s(&r[0], &r[1]);
            assert!(gap >= pause && gap < pause + 0.1, "{order} {pause}: {gap} s between the cases");
            let own = r[0].samples[1].span.unwrap().0.saturating_duration_since(r[0].samples[0].span.unwrap().2);
            assert!(own < Duration::from_millis(100), "{own:?} between runs of one case");
        } else {
            // before target b's load and before case b's warmup: both before any counted run
            let first = r[0].samples[0].span.unwrap().0;
            let waited = first.saturating_duration_since(t0).as_secs_f64();
            assert!(waited >= 2.0 * pause, "two pauses before the first counted run: {waited} s");
            let started = r.iter().flat_map(|c| &c.samples).filter_map(|s| s.span).map(|x| x.0).min().unwrap();
            assert_eq!(first, started, "a's first counted run goes first");
            let b_first = r[1].samples[0].span.unwrap().0.saturating_duration_since(r[0].samples[0].span.unwrap().2);
            assert!(b_first < Duration::from_millis(100), "the pauses come before the turns, not between them: {b_first:?}");
        }
    }
}

#[test]
fn until_cool_without_any_source_says_runs_were_not_delayed() {
    // no energy or clock source on a machine without RAPL, NVML or IOReport
    if crate::measure::energy::meter().is_some() {
        return;
    }
    let p = plan("warmup = 0\niterations = 2\nmax_tokens = 2\ncooldown = \"until-cool\"\ncooldown_max_s = 5", &["a"]);
    assert_eq!(p.cases[0].params.until_cool_max_s, Some(5.0));
    let (r, _) = run(&p, vec![("a", Scripted::steady(MS, MS, 2))]);
    assert!(
        r[0].warnings.iter().any(|w| w.kind == WarningKind::NotCool && w.text.contains("until-cool") && w.text.contains("not delayed")),
        "{:?}",
        r[0].warnings
    );
    assert!(r[0].energy.is_none());
}

#[test]
fn cache_hits_and_warm_prompts_are_warned_about() {
    let p = plan("warmup = 0\niterations = 2\nmax_tokens = 3\nprompt_cache = \"warm\"", &["a"]);
    let (mut r, _) = run(&p, vec![("a", Scripted::steady(MS, MS, 3))]);
    let c = &mut r[0];
    assert_eq!(c.params.prompt_cache, Some(crate::scenario::PromptCache::Warm));
    assert!(
        c.warnings.iter().any(|w| w.kind == WarningKind::PromptCacheWarm && w.text.contains("prompt_cache = \"warm\"")),
        "{:?}",
        c.warnings
    );
    c.samples[1].cached_prompt_tokens = Some(90);
    c.warnings.clear();
    super::case::summarize_case(c);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.kind == WarningKind::PromptCacheHit && w.text.starts_with("1 of 2 requests hit the server's prompt cache")),
        "{:?}",
        c.warnings
    );
}

/// `order = "interleaved"`: counted runs take turns across targets (a1 b1 a2 b2 a3 b3),
/// after every case's warmup; the default runs target by target.
#[test]
fn interleaved_order_takes_turns_across_targets() {
    for (order, expected) in [("interleaved", "a1 b1 a2 b2 a3 b3"), ("sequential", "a1 a2 a3 b1 b2 b3")] {
        let src = format!(
            "name = \"o\"\norder = \"{order}\"\n[defaults]\nwarmup = 1\niterations = 3\nmax_tokens = 2\n\
             [[targets]]\nname = \"a\"\nbackend = \"openai\"\nmodel = \"m\"\n[[targets]]\nname = \"b\"\nbackend = \"openai\"\nmodel = \"m\"\n\
             [[workloads]]\nname = \"w\"\nprompt = \"hi\"\n"
        );
        let p = parse_str(&src, Path::new("o.toml")).unwrap();
        let rounds = Mutex::new(Vec::new());
        let mut observer = |e: Event<'_>| {
            if let Event::RoundFinished { partial } = e {
                rounds.lock().unwrap().push(format!("{}{}", partial.target, partial.runs.len()));
            }
        };
        let factory = |_: &Target| -> Result<Box<dyn Backend>, BackendError> { Ok(Box::new(Scripted::steady(MS, MS, 2))) };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = rt.block_on(run_plan_with(&p, &mut observer, &factory));
        assert_eq!(rounds.into_inner().unwrap().join(" "), expected, "{order}");
        assert!(results.iter().all(|r| r.samples.len() == 3 && r.samples.iter().all(|s| s.ok)));
        let said = results.iter().all(|r| r.warnings.has(WarningKind::InterleavedOrder));
        assert_eq!(said, order == "interleaved");
    }
}
