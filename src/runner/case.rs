//! One case: warmup runs, counted runs with cooldowns, memory peak sampling, and the
//! case's summary and warnings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::energy;
use crate::backend::{Backend, GenRequest, LoadOutcome, TargetInfo};
use crate::measure::claims;
use crate::measure::memory::PeakSampler;
use crate::measure::ms;
use crate::measure::sample::{self, Sample};
use crate::metric::Metric;
use crate::results::{CaseResult, RunAggregate, WarningKind};
use crate::scenario::{Case, Plan};
use crate::stats;

use super::{Event, Observer};

/// How often memory is polled during generation.
const MEMORY_INTERVAL: Duration = Duration::from_millis(20);

pub(super) fn empty_result(plan: &Plan, case: &Case, info: &TargetInfo) -> CaseResult {
    let t = &plan.targets[case.target];
    CaseResult {
        target: t.name.clone(),
        backend: t.backend(),
        model: t.model.clone(),
        backend_version: info.backend_version.clone(),
        device: info.device.clone(),
        model_info: info.model_info.clone(),
        workload: case.workload.name.clone(),
        params: case.params.clone(),
        load: None,
        memory: None,
        samples: Vec::new(),
        runs: Vec::new(),
        summary: BTreeMap::new(),
        warnings: info.warnings.clone(),
        error: None,
        interrupted: false,
        energy: None,
    }
}

/// One case, for running whole ([`run_case`]) or round by round interleaved with other
/// cases (runner/mod.rs): [`CaseRun::start`] runs the warmup and takes the idle power,
/// [`CaseRun::round`] one counted run, [`CaseRun::finish`] memory, energy and summary.
pub(super) struct CaseRun {
    result: CaseResult,
    backend: Arc<dyn Backend>,
    req: GenRequest,
    load_memory: Option<crate::results::MemoryResult>,
    meter: Option<&'static crate::measure::energy::Meter>,
    idle_w: Option<f64>,
    pids: Vec<u32>,
    sampler: PeakSampler,
    not_cool: u32,
}

impl CaseRun {
    pub(super) async fn start(
        plan: &Plan,
        case: &Case,
        backend: &Arc<dyn Backend>,
        info: &TargetInfo,
        load: &LoadOutcome,
        observer: &mut dyn Observer,
    ) -> CaseRun {
        let mut result = empty_result(plan, case, info);
        result.load = load.load.clone();
        let p = &case.params;
        let req = GenRequest { prompt: case.workload.prompt.clone(), params: p.clone() };
        let mut warmup_failures = Vec::new();
        for _ in 0..p.warmup {
            let (samples, _) = run_round(backend, &req, p.concurrency, 0).await;
            for s in samples {
                observer.event(Event::RequestFinished { warmup: true, ok: s.ok });
                warmup_failures.extend(s.error);
            }
            tokio::time::sleep(Duration::from_secs_f64(p.cooldown_s)).await;
        }
        if let Some(first) = warmup_failures.first() {
            result.warnings.push(WarningKind::WarmupFailed, format!("{} warmup request(s) failed, first: {first}", warmup_failures.len()));
        }
        // idle power just before the measured requests (and after warmup): the baseline
        // of the above-idle figures
        let meter = crate::measure::energy::meter();
        let idle_w = energy::idle_before(meter).await;
        let pids = backend.memory_pids();
        let _ = backend.allocator_memory(true).await; // new peak for this case
        let sampler = PeakSampler::start(pids.clone(), MEMORY_INTERVAL);
        let load_memory = load.memory.clone();
        CaseRun { result, backend: backend.clone(), req, load_memory, meter, idle_w, pids, sampler, not_cool: 0 }
    }

    /// Counted run `it`: after the cooldown (and, with `until-cool`, once cool).
    pub(super) async fn round(&mut self, it: u32, observer: &mut dyn Observer) {
        let p = &self.req.params;
        if it > 0 {
            tokio::time::sleep(Duration::from_secs_f64(p.cooldown_s)).await;
        }
        self.not_cool += u32::from(!energy::cooled(p, self.meter).await);
        let (samples, agg) = run_round(&self.backend, &self.req, p.concurrency, it).await;
        for s in &samples {
            observer.event(Event::RequestFinished { warmup: false, ok: s.ok });
        }
        self.result.samples.extend(samples);
        self.result.runs.push(agg);
        observer.event(Event::RoundFinished { partial: &self.result });
    }

    pub(super) async fn finish(self) -> CaseResult {
        let CaseRun { mut result, backend, req, load_memory, meter, idle_w, pids, sampler, not_cool } = self;
        if let Some(w) = energy::cool_warning(&req.params, meter.is_some(), not_cool) {
            result.warnings.push(WarningKind::NotCool, w);
        }
        let peak = sampler.finish();
        if let Some(m) = meter {
            // waits (at most three counter periods) for the counter to pass the last request
            energy::attach(m, &mut result, idle_w);
        }
        let allocator = backend.allocator_memory(false).await;
        if load_memory.is_some() || !pids.is_empty() {
            let mut memory = load_memory.unwrap_or_default();
            memory.source = crate::measure::memory::SOURCE.into();
            if !pids.is_empty() {
                memory.pids = pids;
                memory.peak_bytes = peak.host;
                memory.gpu_peak_bytes = peak.gpu;
                memory.peak_delta_bytes = peak.host.zip(memory.after_load_bytes).map(|(p, a)| p as i64 - a as i64);
            }
            memory.allocator = allocator.or(memory.allocator);
            result.memory = Some(memory);
        }
        summarize_case(&mut result);
        result
    }
}

pub(super) async fn run_case(
    plan: &Plan,
    case: &Case,
    backend: &Arc<dyn Backend>,
    info: &TargetInfo,
    load: &LoadOutcome,
    observer: &mut dyn Observer,
) -> CaseResult {
    let mut run = CaseRun::start(plan, case, backend, info, load, observer).await;
    for it in 0..case.params.iterations {
        run.round(it, observer).await;
    }
    run.finish().await
}

/// What a request asked for, for checking the server's claims about it.
fn asked(r: &GenRequest) -> claims::Asked {
    use crate::scenario::Prompt;
    let (prompt_bytes, messages) = match &r.prompt {
        Prompt::Text(t) => (t.len(), 1),
        Prompt::Chat(m) => (m.iter().map(|m| m.content.len()).sum(), m.len()),
    };
    claims::Asked { max_tokens: u64::from(r.params.max_tokens), prompt_bytes: prompt_bytes as u64, messages: messages as u64 }
}

/// Sends `concurrency` identical requests at once; returns their samples and the run's
/// aggregate throughput.
async fn run_round(backend: &Arc<dyn Backend>, req: &GenRequest, concurrency: u32, iteration: u32) -> (Vec<Sample>, RunAggregate) {
    // each stream's prompt is made before the clock starts
    let reqs: Vec<Arc<GenRequest>> = (0..concurrency)
        .map(|_| {
            Arc::new(GenRequest { prompt: super::prompt::for_request(&req.prompt, req.params.prompt_cache), params: req.params.clone() })
        })
        .collect();
    let asked: Vec<claims::Asked> = reqs.iter().map(|r| asked(r)).collect();
    let run_start = Instant::now();
    let handles: Vec<_> = reqs
        .into_iter()
        .map(|r| {
            let b = backend.clone();
            tokio::spawn(async move { b.generate(&r).await })
        })
        .collect();
    let mut samples = Vec::with_capacity(handles.len());
    let mut last_done = run_start;
    for (stream, h) in handles.into_iter().enumerate() {
        let mut s = match h.await {
            Ok(Ok(mut rec)) => {
                last_done = last_done.max(rec.done.unwrap_or(run_start));
                let set_aside = claims::check(&mut rec, &asked[stream]);
                let mut s = sample::compute(&rec, run_start);
                s.claims_set_aside = set_aside.into_iter().map(|c| crate::secrets::redact(&c).into_owned()).collect();
                s
            }
            Ok(Err(f)) => {
                let mut s = f.partial.map(|rec| sample::compute(&rec, run_start)).unwrap_or_default();
                s.ok = false;
                s.error = Some(f.error.to_string());
                s.error_kind = Some(f.error.kind());
                s
            }
            Err(e) => Sample::failed(format!("internal error in request task: {e}"), crate::measure::sample::ErrorKind::Internal),
        };
        s.iteration = iteration;
        s.stream = stream as u32;
        samples.push(s);
    }
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let output_tokens: u64 = ok.iter().filter_map(|s| s.output_tokens).fold(0, u64::saturating_add);
    let wall_ms = ms(last_done.saturating_duration_since(run_start));
    let agg = RunAggregate {
        iteration,
        wall_ms,
        ok: ok.len() as u32,
        failed: (samples.len() - ok.len()) as u32,
        output_tokens,
        output_tps: if wall_ms > 0.0 { output_tokens as f64 / (wall_ms / 1e3) } else { 0.0 },
    };
    (samples, agg)
}

/// Fills `summary` and adds warnings from the samples: outliers, prompt-cache hits and
/// `ignore_eos` not honoured. (Failed samples carry their own reasons.)
pub fn summarize_case(r: &mut CaseResult) {
    for metric in Metric::ALL {
        let values = r.values(metric);
        if let Some(sum) = stats::summarize(&values) {
            r.summary.insert(metric.name().into(), sum);
        }
    }
    // With concurrent streams, queueing makes per-request times multi-modal by design;
    // the MAD rule would flag the queue, not noise.
    if r.params.concurrency == 1 {
        for metric in Metric::OUTLIER_CHECKED {
            let values = r.values(metric);
            let out = stats::mad_outliers(&values);
            if !out.is_empty() {
                r.warnings.push(
                    WarningKind::Outliers,
                    format!(
                        "{} of {} {metric} values are outliers (modified z-score > 3.5); consider more warmup or a quieter machine",
                        out.len(),
                        values.len()
                    ),
                );
            }
        }
    }
    let ok: Vec<&Sample> = r.samples.iter().filter(|s| s.ok).collect();
    if r.params.ignore_eos {
        let mt = u64::from(r.params.max_tokens);
        let short = ok.iter().filter(|s| s.output_tokens.is_some_and(|n| n < mt)).count();
        if short > 0 {
            r.warnings.push(
                WarningKind::IgnoreEosNotHonoured,
                format!("{short} of {} requests stopped before max_tokens={mt}: the backend did not honour ignore_eos", ok.len()),
            );
        }
    }
    if r.params.prompt_cache == Some(crate::scenario::PromptCache::Warm) {
        r.warnings.push(
            WarningKind::PromptCacheWarm,
            "prompt_cache = \"warm\": identical prompts on purpose; servers may answer from their prompt cache, so TTFT and prefill may be warm".into(),
        );
    }
    let disputed: Vec<&&Sample> = ok.iter().filter(|s| !s.claims_set_aside.is_empty()).collect();
    if let Some(first) = disputed.first() {
        r.warnings.push(
            WarningKind::ClaimsSetAside,
            format!(
            "{} of {} requests: the server claimed what cannot be true, and the client's figures were kept; first: the server claimed {}",
            disputed.len(),
            ok.len(),
            first.claims_set_aside.join("; ")
        ));
    }
    let cached = ok.iter().filter(|s| s.cached_prompt_tokens.is_some()).count();
    if cached > 0 {
        r.warnings.push(
            WarningKind::PromptCacheHit,
            format!(
            "{cached} of {} requests hit the server's prompt cache: TTFT and prefill are not cold (llama.cpp: extra_body = {{ cache_prompt = false }})",
            ok.len()
        ));
    }
}
