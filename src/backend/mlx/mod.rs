//! The in-process `mlx` backend: the model runs inside this process through mlx-rs
//! (Metal on macOS, MLX's CPU backend on Linux), on one engine thread that owns every
//! MLX array; requests queue for it. Nothing sits between the engine and the clock.

mod config;
mod generate;
pub mod gguf;
mod model;
mod source;
mod tokenizer;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::json;

use super::{Backend, BackendError, GenFailure, GenRequest, GenResult, LoadOutcome, TargetInfo};
use crate::measure::memory;
use crate::measure::metrics::{ServerRates, StreamRecord, Usage};
use crate::results::{LoadResult, MemoryResult};
use crate::scenario::{Prompt, Target};

pub use config::ModelConfig;
pub use generate::Sampling;
pub use model::{Model, load_weights};
pub use source::resolve as resolve_model;
pub use tokenizer::Tokenizer;

/// The MLX release mlx-sys 0.7.0's mlx-c pins (and scripts/build_mlx.sh installs on Linux).
pub const MLX_VERSION: &str = "0.32.2";

/// Where MLX computes in this build.
pub const DEVICE: &str = if cfg!(target_os = "macos") { "gpu (Metal)" } else { "cpu" };

/// MLX's version and device, as results record it.
pub fn engine_description() -> String {
    format!("mlx {MLX_VERSION} ({DEVICE}, in-process via mlx-rs 0.33.0)")
}

/// Runs a tiny computation to show the linked MLX library works.
pub fn self_check() -> Result<(), String> {
    let a = mlx_rs::Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]);
    let sum = a.sum(None).map_err(|e| format!("MLX does not compute: {e}"))?;
    let sum = sum.try_item_cast::<f32>().map_err(|e| format!("MLX does not compute: {e}"))?;
    if sum == 6.0 { Ok(()) } else { Err(format!("MLX computed 1 + 2 + 3 = {sum}")) }
}

/// A loaded model and its tokenizer.
pub struct Loaded {
    pub model: Model,
    pub tokenizer: Option<Tokenizer>,
}

/// Reads config, weights and tokenizer from a model directory or a `.gguf` file and
/// forces MLX to materialise every weight (MLX is lazy: without this, load time would
/// leak into TTFT).
pub fn load_dir(dir: &std::path::Path) -> Result<Loaded, String> {
    let (config, weights, tokenizer) = if dir.is_file() && dir.extension().is_some_and(|e| e == "gguf") {
        let g = gguf::Gguf::open(dir)?;
        let c = gguf::convert_gguf(&g)?;
        let config = ModelConfig::parse(&c.config.to_string())?;
        let tok = Tokenizer::from_parts(c.tokenizer, &c.tokenizer_config, None, &config.eos_ids());
        (config, c.weights, Some(tok))
    } else {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
        let config = ModelConfig::parse(&text)?;
        let eos = config.eos_ids();
        let weights = load_weights(dir)?;
        let tok = if dir.join("tokenizer.json").exists() { Some(Tokenizer::load(dir, &eos)?) } else { None };
        (config, weights, tok)
    };
    let model = Model::from_weights(config, weights)?;
    mlx_rs::transforms::eval(model.arrays()).map_err(|e| format!("materialising weights: {e}"))?;
    if let Some(t) = &tokenizer {
        if t.vocab_size() > model.config.vocab_size as usize {
            return Err(format!(
                "tokenizer has {} tokens but the embedding only {} rows: tokenizer and weights do not match",
                t.vocab_size(),
                model.config.vocab_size
            ));
        }
    }
    Ok(Loaded { model, tokenizer })
}

/// Prompt token ids for a request.
pub fn prompt_ids(loaded: &Loaded, prompt: &Prompt) -> Result<Vec<u32>, String> {
    let tok = loaded.tokenizer.as_ref().ok_or("the model directory has no tokenizer.json")?;
    match prompt {
        Prompt::Text(t) => tok.encode(t, true),
        Prompt::Chat(m) => match tok.render_chat(m)? {
            Some(text) => tok.encode(&text, false),
            None => Err("the tokenizer has no chat template; use a completion prompt".into()),
        },
    }
}

enum Job {
    Load { dir: PathBuf, reply: tokio::sync::oneshot::Sender<Result<(f64, f64), String>> },
    Generate { req: GenRequest, sent: Instant, reply: tokio::sync::oneshot::Sender<GenResult> },
    Memory { reset: bool, reply: tokio::sync::oneshot::Sender<serde_json::Value> },
}

fn engine(rx: mpsc::Receiver<Job>) {
    let mut loaded: Option<Loaded> = None;
    while let Ok(job) = rx.recv() {
        match job {
            Job::Load { dir, reply } => {
                // first load in this process (files may be in the OS page cache), then again warm
                let t0 = Instant::now();
                let first = load_dir(&dir);
                let first_ms = crate::measure::ms(t0.elapsed());
                let res = match first {
                    Err(e) => Err(e),
                    Ok(l) => {
                        drop(l);
                        let t1 = Instant::now();
                        match load_dir(&dir) {
                            Ok(l) => {
                                loaded = Some(l);
                                Ok((first_ms, crate::measure::ms(t1.elapsed())))
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                let _ = reply.send(res);
            }
            Job::Generate { req, sent, reply } => {
                let res = match &loaded {
                    None => Err(GenFailure::new("model not loaded")),
                    Some(l) => run(l, &req, sent),
                };
                let _ = reply.send(res);
            }
            Job::Memory { reset, reply } => {
                let v = json!({
                    "active_bytes": mlx_rs::memory::active_memory().ok(),
                    "peak_bytes": mlx_rs::memory::peak_memory().ok(),
                    "cache_bytes": mlx_rs::memory::cache_memory().ok(),
                });
                if reset {
                    let _ = mlx_rs::memory::reset_peak_memory();
                }
                let _ = reply.send(v);
            }
        }
    }
}

/// Generates from token ids with a loaded model (no chat template, no queue).
pub fn generate_ids(l: &Loaded, ids: &[u32], s: &Sampling, deadline: Instant, rec: &mut StreamRecord) -> Result<generate::Outcome, String> {
    generate::generate(&l.model, l.tokenizer.as_ref(), ids, s, deadline, rec)
}

fn run(l: &Loaded, req: &GenRequest, sent: Instant) -> GenResult {
    let mut rec = StreamRecord::new(sent);
    let ids = prompt_ids(l, &req.prompt).map_err(GenFailure::new)?;
    let p = &req.params;
    let s = Sampling { max_tokens: p.max_tokens, temperature: p.temperature, top_p: p.top_p, seed: p.seed, ignore_eos: p.ignore_eos };
    let deadline = sent + Duration::from_secs_f64(p.timeout_s);
    match generate::generate(&l.model, l.tokenizer.as_ref(), &ids, &s, deadline, &mut rec) {
        Ok(out) => {
            rec.first_byte = rec.arrivals.first().map(|a| a.0);
            rec.usage = Usage { prompt_tokens: Some(out.prompt_tokens), output_tokens: Some(out.output_tokens) };
            rec.server_rates = ServerRates { prefill_tokens: Some(out.prompt_tokens), prefill_ms: Some(out.prefill_ms), decode_tps: None };
            rec.finish_reason = Some(out.finish_reason.into());
            rec.server = Some(json!({ "prefill_ms": out.prefill_ms, "prompt_tokens": out.prompt_tokens }));
            Ok(rec)
        }
        Err(e) => Err(GenFailure { reason: e, partial: Some(rec) }),
    }
}

pub struct MlxBackend {
    model: String,
    base: PathBuf,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
}

impl MlxBackend {
    pub fn new(t: &Target, base_dir: &std::path::Path) -> Self {
        MlxBackend { model: t.model.clone(), base: base_dir.to_path_buf(), tx: Mutex::new(None) }
    }

    fn send(&self, job: Job) -> Result<(), String> {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().ok_or("engine not started")?.send(job).map_err(|_| "the MLX engine thread has stopped".to_string())
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
            source::resolve(&self.model, &self.base).map_err(BackendError::Config)?;
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("mlx-engine".into())
                .spawn(move || engine(rx))
                .map_err(|e| BackendError::Config(format!("cannot start the MLX engine thread: {e}")))?;
            *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
            Ok(())
        }
        .boxed()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>> {
        async move {
            let dir = source::resolve(&self.model, &self.base).map_err(BackendError::Config)?;
            Ok(TargetInfo {
                backend_version: Some(engine_description()),
                model_info: Some(json!({ "path": dir.display().to_string(), "device": DEVICE })),
                warnings: Vec::new(),
            })
        }
        .boxed()
    }

    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>> {
        async move {
            let dir = source::resolve(&self.model, &self.base).map_err(BackendError::Config)?;
            let me = vec![std::process::id()];
            let baseline = memory::total_bytes(&me);
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.send(Job::Load { dir, reply }).map_err(BackendError::Config)?;
            let (first_ms, warm_ms) = rx
                .await
                .map_err(|_| BackendError::Config("the MLX engine thread stopped".into()))?
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
                warnings: Vec::new(),
            })
        }
        .boxed()
    }

    fn generate<'a>(&'a self, req: &'a GenRequest) -> BoxFuture<'a, GenResult> {
        async move {
            let sent = Instant::now();
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.send(Job::Generate { req: req.clone(), sent, reply }).map_err(GenFailure::new)?;
            rx.await.unwrap_or_else(|_| Err(GenFailure::new("the MLX engine thread stopped")))
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
            self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        .boxed()
    }
}

/// mlx-rs's random module calls this macOS function for time-based seeds; on other
/// systems we provide it (nanoseconds since the Unix epoch).
#[cfg(not(target_os = "macos"))]
#[unsafe(no_mangle)]
pub extern "C" fn mach_approximate_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
