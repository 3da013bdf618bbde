//! The in-process `mlx` backend: the model runs inside this process on the engine crate
//! (`mlxbench-engine`, MLX through mlx-rs), on one engine thread that owns every MLX
//! array; requests queue for it. Nothing sits between the engine and the clock.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use mlxbench_engine::{self as engine, Loaded, Sampling};
use serde_json::json;

use super::engine_host::{EngineHost, Refused, Worker, guarded, load_ready};
use super::error::{BackendError, RequestError};
use super::{Backend, GenFailure, GenRequest, GenResult, LoadOutcome, Probe, TargetInfo};
use crate::measure::memory;
use crate::measure::sample::{ServerRates, StreamRecord, Usage};
use crate::results::{LoadResult, MemoryResult};
use crate::scenario::{MlxConfig, Prompt};

/// MLX's version and device, as results record it.
pub fn engine_description() -> String {
    engine::describe()
}

/// Whether MLX works in this process, for `mlxbench info`.
pub fn probe() -> Probe {
    match engine::self_check() {
        Ok(()) => {
            let gpu = engine::device::available(true);
            let api = engine::device::gpu_api();
            let devices = format!("; devices: cpu{}", if gpu { format!(", gpu ({api})") } else { format!(" (no {api} gpu)") });
            Probe { url: "in-process".into(), reachable: true, detail: engine_description() + &devices }
        }
        Err(e) => Probe { url: "in-process".into(), reachable: false, detail: e.to_string() },
    }
}

/// The engine's device as result files record it.
/// Prompt token ids for a request.
pub fn prompt_ids(loaded: &Loaded, prompt: &Prompt) -> Result<Vec<u32>, engine::EngineError> {
    match prompt {
        Prompt::Text(t) => loaded.encode_text(t),
        Prompt::Chat(m) => loaded.encode_chat(m),
    }
}

/// Records streamed text into a [`StreamRecord`]: text-less flushes still count tokens.
pub fn record_into(rec: &mut StreamRecord) -> impl FnMut(Instant, &str, u32) + '_ {
    |at, text, tokens| {
        if text.is_empty() {
            rec.arrivals.push((at, tokens.max(1)));
        } else {
            rec.push_text(at, text, tokens);
        }
    }
}

/// Requests the engine thread may have waiting: a run's concurrent streams, and more.
const QUEUE: usize = 4096;

enum Job {
    Load { dir: PathBuf, reply: tokio::sync::oneshot::Sender<Result<(f64, f64), String>> },
    Generate { req: GenRequest, sent: Instant, reply: tokio::sync::oneshot::Sender<GenResult> },
    Memory { reset: bool, reply: tokio::sync::oneshot::Sender<serde_json::Value> },
}

/// The backend's side of the engine thread: one model, loaded twice (cold, warm).
#[derive(Default)]
struct EngineWorker {
    loaded: Option<Loaded>,
}

impl Worker<Job> for EngineWorker {
    fn handle(&mut self, job: Job) {
        match job {
            Job::Load { dir, reply } => {
                let res = load_twice(&dir).map(|(l, first_ms, warm_ms)| {
                    self.loaded = Some(l);
                    (first_ms, warm_ms)
                });
                let _ = reply.send(res);
            }
            Job::Generate { req, sent, reply } => {
                let res = match &self.loaded {
                    None => Err(GenFailure::new(RequestError::Engine("model not loaded".into()))),
                    Some(l) => guarded(|| Ok(run(l, &req, sent))).unwrap_or_else(|e| Err(GenFailure::new(RequestError::Engine(e)))),
                };
                let _ = reply.send(res);
            }
            Job::Memory { reset, reply } => {
                let c = engine::memory(reset);
                let v = json!({ "active_bytes": c.active_bytes, "peak_bytes": c.peak_bytes, "cache_bytes": c.cache_bytes });
                let _ = reply.send(v);
            }
        }
    }
}

/// First load in this process (files may be in the OS page cache), then again warm:
/// the model and both times, ms; the chat template is made ready after the warm load's
/// time (engine_host.rs).
fn load_twice(dir: &std::path::Path) -> Result<(Loaded, f64, f64), String> {
    let t0 = Instant::now();
    let first = guarded(|| engine::load(dir).map_err(|e| e.to_string()))?;
    let first_ms = crate::measure::ms(t0.elapsed());
    drop(first);
    let (l, warm) = load_ready(dir)?;
    Ok((l, first_ms, crate::measure::ms(warm)))
}

fn run(l: &Loaded, req: &GenRequest, sent: Instant) -> GenResult {
    let mut rec = StreamRecord::new(sent);
    let ids = prompt_ids(l, &req.prompt).map_err(|e| GenFailure::new(RequestError::Engine(e.to_string())))?;
    let p = &req.params;
    let s = Sampling { max_tokens: p.max_tokens, temperature: p.temperature, top_p: p.top_p, seed: p.seed, ignore_eos: p.ignore_eos };
    let deadline = sent + Duration::from_secs_f64(p.timeout_s);
    let out = l.generate(&ids, &s, deadline, &mut record_into(&mut rec));
    match out {
        Ok(out) => {
            rec.done = Some(out.done_at);
            rec.first_byte = rec.arrivals.first().map(|a| a.0);
            rec.usage = Usage { prompt_tokens: Some(out.prompt_tokens), output_tokens: Some(out.output_tokens) };
            // the engine's own rate, from when each token was read (text may complete later)
            rec.server_rates = ServerRates {
                prefill_tokens: Some(out.prompt_tokens),
                prefill_ms: Some(out.prefill_ms),
                decode_tps: engine::token_rate(&out.token_times),
            };
            rec.finish_reason = Some(out.finish_reason.into());
            rec.server = Some(json!({ "prefill_ms": out.prefill_ms, "prompt_tokens": out.prompt_tokens }));
            Ok(rec)
        }
        Err(e) => Err(GenFailure { error: RequestError::Engine(e.to_string()), partial: Some(Box::new(rec)) }),
    }
}

pub struct MlxBackend {
    model: String,
    base: PathBuf,
    load_timeout: Duration,
    gpu: Option<bool>,
    host: OnceLock<EngineHost<Job>>,
}

impl MlxBackend {
    pub fn new(model: &str, cfg: &MlxConfig) -> Self {
        MlxBackend {
            model: model.to_string(),
            base: cfg.base_dir.clone(),
            load_timeout: cfg.load_timeout,
            gpu: cfg.gpu,
            host: OnceLock::new(),
        }
    }

    /// The model's folder or GGUF file (engine/source.rs); not found is a config error.
    fn model_path(&self) -> Result<std::path::PathBuf, BackendError> {
        engine::resolve_model(&self.model, &self.base).map_err(|e| BackendError::Config(e.to_string()))
    }

    fn send(&self, job: Job) -> Result<(), String> {
        let host = self.host.get().ok_or("engine not started")?;
        host.submit(job).map_err(|e| match e {
            Refused::Full => format!("the engine queue is full ({} requests waiting)", host.capacity),
            Refused::Stopped(why) => why,
        })
    }

    /// Why an answer is missing (the engine thread ended, or a panic dropped the request).
    fn stopped(&self) -> String {
        self.host.get().map_or_else(|| "engine not started".into(), EngineHost::why)
    }

    async fn memory(&self, reset: bool) -> Option<serde_json::Value> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Memory { reset, reply }).ok()?;
        rx.await.ok()
    }
}

impl Backend for MlxBackend {
    fn start(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        async move {
            self.model_path()?;
            // MLX's default device is process-wide: set before the engine computes
            if let Some(gpu) = self.gpu {
                engine::device::pin(gpu).map_err(|e| BackendError::Config(e.to_string()))?;
            }
            let host = EngineHost::start("mlx-engine", QUEUE, EngineWorker::default)
                .map_err(|e| BackendError::Config(format!("cannot start the MLX engine thread: {e}")))?;
            if self.host.set(host).is_err() {
                return Err(BackendError::Config("the MLX engine was started twice".into()));
            }
            Ok(())
        }
        .boxed()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>> {
        async move {
            let dir = self.model_path()?;
            Ok(TargetInfo {
                device: Some(engine::device::current()),
                backend_version: Some(engine_description()),
                model_info: Some(json!({ "path": dir.display().to_string(), "device": engine::device::current().kind })),
                warnings: Default::default(),
            })
        }
        .boxed()
    }

    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>> {
        async move {
            let dir = self.model_path()?;
            let me = vec![std::process::id()];
            let baseline = memory::total_bytes(&me);
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.send(Job::Load { dir: dir.clone(), reply }).map_err(BackendError::Config)?;
            let secs = self.load_timeout.as_secs_f64();
            let (first_ms, warm_ms) = tokio::time::timeout(self.load_timeout, rx)
                .await
                .map_err(|_| BackendError::Config(format!("loading {} did not finish within {secs} s (load_timeout_s)", dir.display())))?
                .map_err(|_| BackendError::Config(self.stopped()))?
                .map_err(|e| BackendError::Config(format!("cannot load model: {e}")))?;
            let after = memory::total_bytes(&me);
            Ok(LoadOutcome {
                load: Some(LoadResult {
                    method: "mlx in-process: config + weights read (safetensors, or a GGUF through MLX's own loader) + every weight evaluated (MLX is lazy) + tokenizer; cold = first load in this process (files may be in the OS page cache), warm = second load".into(),
                    cold_ms: Some(first_ms),
                    warm_ms: Some(warm_ms),
                    ..Default::default()
                }),
                memory: Some(MemoryResult {
                    source: memory::SOURCE.into(),
                    pids: me,
                    baseline_bytes: baseline,
                    after_load_bytes: after,
                    load_delta_bytes: baseline.zip(after).map(|(b, a)| a as i64 - b as i64),
                    allocator: self.memory(true).await,
                    ..Default::default()
                }),
                warnings: Default::default(),
            })
        }
        .boxed()
    }

    fn generate<'a>(&'a self, req: &'a GenRequest) -> BoxFuture<'a, GenResult> {
        async move {
            let sent = Instant::now();
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.send(Job::Generate { req: req.clone(), sent, reply }).map_err(|e| GenFailure::new(RequestError::Engine(e)))?;
            rx.await.unwrap_or_else(|_| Err(GenFailure::new(RequestError::Engine(self.stopped()))))
        }
        .boxed()
    }

    fn memory_pids(&self) -> Vec<u32> {
        vec![std::process::id()]
    }

    fn allocator_memory(&self, reset_peak: bool) -> BoxFuture<'_, Option<serde_json::Value>> {
        self.memory(reset_peak).boxed()
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        async move {
            if let Some(h) = self.host.get() {
                h.stop();
            }
        }
        .boxed()
    }
}
