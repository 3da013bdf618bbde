//! The one engine thread behind `mlxbench serve`: a bounded FIFO queue of requests, the
//! resident models with their keep-alive deadlines, and each generation's events sent
//! back to the HTTP handler that asked. The thread owns every MLX array; handlers never
//! touch the engine.
//!
//! Per request the durations follow Ollama's meanings: `load` is the time to make the
//! model ready (its load, or microseconds when it is resident), `prompt_eval` the prefill up to the first token's read,
//! `eval` from the first token's read to the last one's (so `(eval_count - 1) / eval`
//! is the decode rate), and `total` from when the request arrived to the end, queue
//! wait included.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mlxbench_engine::catalog::Entry;
use mlxbench_engine::{self as engine, Loaded, Sampling};
use tokio::sync::mpsc::UnboundedSender;

use super::stop::StopMatcher;
use crate::backend::engine_host::{self as host, EngineHost, guarded, load_ready};
use crate::scenario::ChatMessage;

/// What to generate from.
#[derive(Debug, Clone)]
pub enum Input {
    /// Completion text, encoded as it is.
    Raw(String),
    /// Messages rendered through the model's chat template.
    Chat(Vec<ChatMessage>),
    /// A prompt (and system message) through the chat template as a user turn, or as it
    /// is when the model has no template (Ollama's `/api/generate` without `raw`).
    Prompt { system: Option<String>, prompt: String },
    /// Nothing: only load (or, with a keep-alive of zero, unload) the model.
    Nothing,
}

/// Most messages one request may hold (both APIs refuse more with 400 before anything
/// is built from them): a conversation is far shorter, and rendering hundreds of
/// thousands of tiny messages through a chat template costs gigabytes.
pub const MAX_MESSAGES: usize = 8192;

/// Bytes of prompt text per token of context that are tokenized at most: text beyond
/// `context x 64` bytes cannot fit the context in any tokenizer, so it is refused before
/// the tokenizer spends memory and time on it.
const MAX_BYTES_PER_TOKEN: u64 = 64;

impl Input {
    /// Bytes of text the tokenizer would read.
    fn text_bytes(&self) -> u64 {
        let n = match self {
            Input::Raw(t) => t.len(),
            Input::Chat(m) => m.iter().map(|m| m.content.len() + m.role.len()).sum(),
            Input::Prompt { system, prompt } => prompt.len() + system.as_ref().map_or(0, String::len),
            Input::Nothing => 0,
        };
        n as u64
    }
}

/// How long a model stays loaded after a request: `None` = until the server stops.
pub type KeepAlive = Option<Duration>;

/// One request for the engine.
pub struct Request {
    pub entry: Entry,
    pub input: Input,
    pub sampling: Sampling,
    /// `max_tokens` was not given: generate until the context is full.
    pub fill_context: bool,
    pub stop: Vec<String>,
    pub keep_alive: KeepAlive,
    pub received: Instant,
    pub events: UnboundedSender<Event>,
}

/// Why a request failed, in terms each API maps to its own status codes.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The request cannot run (prompt over the context, no chat template, empty prompt).
    BadRequest(String),
    /// The model failed to load.
    Load(String),
    /// The engine failed mid-request.
    Engine(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::BadRequest(m) | Failure::Load(m) | Failure::Engine(m) => m,
        }
    }
}

/// Durations in nanoseconds (Ollama's unit) and counts of one finished request.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// `stop`, `length`, `load` or `unload`.
    pub done_reason: &'static str,
    pub total_ns: u64,
    pub load_ns: u64,
    pub queue_ns: u64,
    pub prompt_eval_count: u64,
    pub prompt_eval_ns: u64,
    pub eval_count: u64,
    pub eval_ns: u64,
}

/// What a handler hears about its request, in this order: `Accepted` (prompt checked,
/// generation starting) or `Failed`; then `Text`s; then `Done` or `Failed`.
#[derive(Debug)]
pub enum Event {
    Accepted { prompt_tokens: u64 },
    Text(String),
    Done(Stats),
    Failed(Failure),
}

/// A model in memory, as `/api/ps` shows it.
#[derive(Debug, Clone)]
pub struct Resident {
    pub entry: Entry,
    /// MLX's active memory grown by loading it, bytes.
    pub size_bytes: u64,
    /// `None`: kept until the server stops.
    pub expires_at: Option<SystemTime>,
    /// MLX computes on a GPU.
    pub on_gpu: bool,
}

/// The handlers' side of the engine thread.
#[derive(Clone)]
pub struct Handle {
    host: Arc<EngineHost<Request>>,
    residents: Arc<Mutex<Vec<Resident>>>,
}

/// The queue is full: the request was not taken.
#[derive(Debug)]
pub struct Busy;

impl Handle {
    /// Queues a request, or refuses it at once when the queue's capacity are waiting.
    pub fn submit(&self, req: Request) -> Result<(), Busy> {
        // full, or (never while the server runs) the engine thread gone: not taken
        self.host.submit(req).map_err(|_| Busy)
    }

    /// The models in memory now.
    pub fn residents(&self) -> Vec<Resident> {
        self.residents.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Starts the engine thread. `max_loaded` models stay resident at most (the least
/// recently used leaves first).
pub fn start(queue_capacity: usize, max_loaded: usize) -> std::io::Result<Handle> {
    let residents = Arc::new(Mutex::new(Vec::new()));
    let shared = residents.clone();
    let host = EngineHost::start("mlx-serve", queue_capacity, move || Worker { models: HashMap::new(), shared, max_loaded })?;
    Ok(Handle { host: Arc::new(host), residents })
}

struct Model {
    loaded: Loaded,
    resident: Resident,
    expires: Option<Instant>,
    last_used: Instant,
}

struct Worker {
    models: HashMap<String, Model>,
    shared: Arc<Mutex<Vec<Resident>>>,
    max_loaded: usize,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl host::Worker<Request> for Worker {
    fn handle(&mut self, req: Request) {
        self.serve(req);
    }

    /// The first resident model's keep-alive end.
    fn deadline(&self) -> Option<Instant> {
        self.models.values().filter_map(|m| m.expires).min()
    }

    /// Models whose keep-alive ended leave.
    fn tick(&mut self) {
        let now = Instant::now();
        let before = self.models.len();
        self.models.retain(|_, m| m.expires.is_none_or(|t| t > now));
        if self.models.len() != before {
            self.publish();
        }
    }
}

impl Worker {
    fn publish(&self) {
        let mut v: Vec<Resident> = self.models.values().map(|m| m.resident.clone()).collect();
        v.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    fn serve(&mut self, req: Request) {
        // the client left while its request waited: nothing to do for it
        if req.events.is_closed() {
            return;
        }
        let picked = Instant::now();
        let name = req.entry.name.clone();
        if matches!(req.input, Input::Nothing) && req.keep_alive == Some(Duration::ZERO) {
            let was = self.models.remove(&name).is_some();
            if was {
                self.publish();
            }
            let stats = Stats { done_reason: "unload", total_ns: ns(req.received.elapsed()), ..Default::default() };
            let _ = req.events.send(Event::Done(stats));
            return;
        }
        let load_ns = match self.ensure_loaded(&req.entry) {
            Ok(ns) => ns,
            Err(e) => {
                let _ = req.events.send(Event::Failed(Failure::Load(e)));
                return;
            }
        };
        let queue_ns = ns(picked.duration_since(req.received));
        let result = match &req.input {
            Input::Nothing => Ok(Stats { done_reason: "load", load_ns, queue_ns, ..Default::default() }),
            _ => {
                let Some(m) = self.models.get(&name) else { return };
                guarded(|| Ok(generate(&m.loaded, &req, load_ns, queue_ns))).unwrap_or_else(|e| Err(Failure::Engine(e)))
            }
        };
        if let Some(m) = self.models.get_mut(&name) {
            m.last_used = Instant::now();
            m.expires = req.keep_alive.map(|k| m.last_used + k);
            m.resident.expires_at = req.keep_alive.map(|k| SystemTime::now() + k);
        }
        match result {
            Ok(mut stats) => {
                stats.total_ns = ns(req.received.elapsed());
                let _ = req.events.send(Event::Done(stats));
            }
            Err(f) => {
                let _ = req.events.send(Event::Failed(f));
            }
        }
        if req.keep_alive == Some(Duration::ZERO) {
            self.models.remove(&name);
        }
        self.publish();
    }

    /// Loads the model unless resident; how long making it ready took, in ns (as
    /// Ollama's `load_duration`: a load, or the moment it takes to find it resident).
    fn ensure_loaded(&mut self, entry: &Entry) -> Result<u64, String> {
        let t0 = Instant::now();
        if self.models.contains_key(&entry.name) {
            return Ok(ns(t0.elapsed()).max(1));
        }
        if !entry.supported {
            return Err(format!("{} cannot run here: {}", entry.name, entry.reason.as_deref().unwrap_or("unsupported")));
        }
        while self.models.len() >= self.max_loaded.max(1) {
            let Some(oldest) = self.models.iter().min_by_key(|(_, m)| m.last_used).map(|(k, _)| k.clone()) else { break };
            self.models.remove(&oldest);
        }
        let before = engine::memory(false).active_bytes.unwrap_or(0);
        // the template made ready outside the load time (engine_host.rs): a chat server
        // ends the answer where the template ends the assistant's turn
        let evicting = t0.elapsed();
        let (loaded, took) = load_ready(&entry.path).map_err(|e| format!("cannot load {} ({}): {e}", entry.name, entry.path.display()))?;
        let load_ns = ns(evicting + took);
        let after = engine::memory(false).active_bytes.unwrap_or(0);
        let resident = Resident {
            entry: entry.clone(),
            size_bytes: after.saturating_sub(before).max(1),
            expires_at: None,
            on_gpu: engine::device::current().kind == engine::device::DeviceKind::Gpu,
        };
        let now = Instant::now();
        self.models.insert(entry.name.clone(), Model { loaded, resident, expires: None, last_used: now });
        self.publish();
        Ok(load_ns)
    }
}

/// A prompt as a user turn of the chat template, or as plain text without a template.
fn templated(l: &Loaded, system: Option<&str>, prompt: &str) -> Result<Vec<u32>, engine::EngineError> {
    let mut msgs: Vec<ChatMessage> = system.map(|s| ChatMessage { role: "system".into(), content: s.into() }).into_iter().collect();
    msgs.push(ChatMessage { role: "user".into(), content: prompt.into() });
    let rendered = match &l.tokenizer {
        Some(t) => t.render_chat(&msgs)?,
        None => None,
    };
    match (rendered, &l.tokenizer) {
        (Some(text), Some(t)) => Ok(t.encode(&text, false)?),
        _ => l.encode_text(prompt),
    }
}

/// Tokenizes, checks, then generates, sending `Accepted`, each text piece and nothing
/// else (the caller sends `Done`/`Failed`).
fn generate(l: &Loaded, req: &Request, load_ns: u64, queue_ns: u64) -> Result<Stats, Failure> {
    let ctx = l.model.config.max_position_embeddings.map_or(4096, |c| c.max(0) as u64);
    let bytes = req.input.text_bytes();
    if bytes > ctx.saturating_mul(MAX_BYTES_PER_TOKEN) {
        return Err(Failure::BadRequest(format!(
            "the prompt's {bytes} bytes cannot fit the model's context of {ctx} tokens (at most {} bytes are tokenized)",
            ctx * MAX_BYTES_PER_TOKEN
        )));
    }
    let ids = match &req.input {
        Input::Raw(t) => l.encode_text(t),
        Input::Chat(m) => l.encode_chat(m),
        Input::Prompt { system, prompt } => templated(l, system.as_deref(), prompt),
        Input::Nothing => Ok(Vec::new()),
    }
    .map_err(|e| Failure::BadRequest(e.to_string()))?;
    let mut s = req.sampling.clone();
    if req.fill_context {
        s.max_tokens = u32::try_from(ctx.saturating_sub(ids.len() as u64)).unwrap_or(u32::MAX).min(s.max_tokens);
    }
    l.check(&ids, s.max_tokens).map_err(|e| Failure::BadRequest(e.to_string()))?;
    if req.events.send(Event::Accepted { prompt_tokens: ids.len() as u64 }).is_err() {
        return Err(Failure::Engine("the client went away".into()));
    }
    let mut stop = StopMatcher::new(&req.stop);
    let stopped = AtomicBool::new(false);
    let events = &req.events;
    let mut sink = |_at: Instant, text: &str, _tokens: u32| {
        let (out, hit) = stop.push(text);
        if !out.is_empty() {
            let _ = events.send(Event::Text(out));
        }
        if hit {
            stopped.store(true, Ordering::Relaxed);
        }
    };
    let cancel = || stopped.load(Ordering::Relaxed) || events.is_closed();
    let deadline = Instant::now() + Duration::from_secs(24 * 3600);
    let out = l
        .generate_cancellable(engine::Generation { prompt: &ids, sampling: &s, deadline, sink: &mut sink, cancel: &cancel })
        .map_err(|e| Failure::Engine(e.to_string()))?;
    let rest = stop.finish();
    if !rest.is_empty() {
        let _ = events.send(Event::Text(rest));
    }
    let done_reason = match out.finish_reason {
        "length" => "length",
        _ => "stop",
    };
    let eval_ns = match (out.token_times.first(), out.token_times.last()) {
        (Some(a), Some(b)) => ns(b.duration_since(*a)),
        _ => 0,
    };
    Ok(Stats {
        done_reason,
        total_ns: 0,
        load_ns,
        queue_ns,
        prompt_eval_count: out.prompt_tokens,
        prompt_eval_ns: (out.prefill_ms * 1e6) as u64,
        eval_count: out.output_tokens,
        eval_ns,
    })
}
