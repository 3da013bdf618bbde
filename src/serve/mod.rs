//! `mlxbench serve`: the in-process MLX engine behind Ollama's native API (`/api/*`)
//! and the OpenAI-compatible API (`/v1/*`), in one process. Requests queue for the one
//! engine thread ([`worker`]); each API module turns its JSON into a [`worker::Request`]
//! and the worker's events back into its own stream or object and its own error shape.

pub mod fields;
pub mod guard;
pub mod listen;
pub mod ollama_api;
pub mod ollama_models;
pub mod openai_api;
pub mod reply;
pub mod request;
pub mod stop;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use mlxbench_engine::catalog::{self, Entry};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedReceiver;

use worker::{Event, Failure, Handle, KeepAlive, Request, Stats};

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Folders of models (or model directories / `.gguf` files themselves).
    pub models: Vec<PathBuf>,
    /// Also offer repo ids of the local Hugging Face cache.
    pub hub: bool,
    /// Requests that may wait for the engine; more get 503.
    pub queue: usize,
    /// Models kept in memory at once.
    pub max_loaded: usize,
    /// Keep-alive when a request names none.
    pub keep_alive: KeepAlive,
    /// Token limit of a request that sets none (else: until the context is full).
    pub num_predict: Option<u32>,
    /// Web origins allowed besides the loopback ones (guard.rs).
    pub allow_origins: Vec<String>,
    /// Connections open at once; more are answered 503 (listen.rs).
    pub max_connections: usize,
    /// Time a client has to send a request's head, keep-alive waits included.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: Duration,
}

/// What every handler shares.
pub struct State {
    pub handle: Handle,
    opts: Options,
    /// The models found, and when the folders were last read.
    catalog: RwLock<(Instant, Arc<Vec<Entry>>)>,
}

/// Folders are read again at most this often: a scan reads each GGUF header (tens of
/// ms), and clients poll `/api/tags` while the engine may be generating.
const RESCAN_EVERY: Duration = Duration::from_secs(2);

impl State {
    /// The models found at start (or at the last rescan).
    pub fn catalog(&self) -> Arc<Vec<Entry>> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    /// The models now: the folders read again (models may have been added since),
    /// unless they were read within [`RESCAN_EVERY`].
    pub fn rescan(&self) -> Arc<Vec<Entry>> {
        let mut c = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        if c.0.elapsed() >= RESCAN_EVERY {
            *c = (Instant::now(), Arc::new(catalog::scan(&self.opts.models, self.opts.hub)));
        }
        c.1.clone()
    }

    /// The entry a request's model name means, rescanning once if it is not known yet.
    pub fn lookup(&self, name: &str) -> Option<Entry> {
        let known = self.catalog();
        if let Some(e) = catalog::find(&known, name) {
            return Some(e.clone());
        }
        catalog::find(&self.rescan(), name).cloned()
    }

    /// Names of the models offered, for "not found" messages.
    pub fn names(&self) -> String {
        let c = self.catalog();
        let v: Vec<&str> = c.iter().filter(|e| e.supported).map(|e| e.name.as_str()).collect();
        if v.is_empty() { "none".into() } else { v.join(", ") }
    }

    pub fn default_keep_alive(&self) -> KeepAlive {
        self.opts.keep_alive
    }

    pub fn default_num_predict(&self) -> Option<u32> {
        self.opts.num_predict
    }
}

/// A stable identifier of a model's files (path, size, modification time), as `sha256:...`.
pub fn digest(e: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(e.path.display().to_string().as_bytes());
    h.update(e.size_bytes.to_le_bytes());
    h.update(e.modified_unix_s.unwrap_or(0).to_le_bytes());
    let d = h.finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3339 UTC with microseconds, as Ollama writes times.
pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A request body as a JSON object, or why it is not one (both APIs answer 400). A
/// `messages` array longer than [`worker::MAX_MESSAGES`] is refused by a counting pass
/// over the bytes before any value is built (400,000 tiny messages as JSON values take
/// hundreds of MB).
pub fn json_object(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if let Ok(MessageCount(Some(n))) = serde_json::from_slice::<MessageCount>(bytes)
        && n > worker::MAX_MESSAGES
    {
        return Err(format!("{n} messages: at most {} are accepted", worker::MAX_MESSAGES));
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(e) => Err(format!("invalid JSON body: {e}")),
    }
}

/// The length of a body's top-level `messages` array, counted without keeping anything.
struct MessageCount(Option<usize>);

impl<'de> serde::Deserialize<'de> for MessageCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Some(n))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(None)
            }
        }
        struct Top;
        impl<'de> Visitor<'de> for Top {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "messages" {
                        found = map.next_value_seed(CountSeed)?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(found)
            }
        }
        struct CountSeed;
        impl<'de> serde::de::DeserializeSeed<'de> for CountSeed {
            type Value = Option<usize>;
            fn deserialize<D2: serde::Deserializer<'de>>(self, d: D2) -> std::result::Result<Self::Value, D2::Error> {
                d.deserialize_any(Count)
            }
        }
        d.deserialize_map(Top).map(MessageCount)
    }
}

/// How a submitted request began.
pub enum Start {
    /// Generation runs; events follow on the receiver.
    Streaming {
        rx: UnboundedReceiver<Event>,
        prompt_tokens: u64,
    },
    /// A load or unload finished.
    Done(Stats),
    Failed(Failure),
    /// The queue is full.
    Busy,
}

/// Queues `req` (built with [`channel`]'s sender) and waits until it is accepted, done or
/// failed, so that the status code is known before any byte of the answer is sent.
pub async fn start(state: &State, req: Request, mut rx: UnboundedReceiver<Event>) -> Start {
    if state.handle.submit(req).is_err() {
        return Start::Busy;
    }
    match rx.recv().await {
        Some(Event::Accepted { prompt_tokens }) => Start::Streaming { rx, prompt_tokens },
        Some(Event::Done(s)) => Start::Done(s),
        Some(Event::Failed(f)) => Start::Failed(f),
        Some(Event::Text(_)) | None => Start::Failed(Failure::Engine("the engine thread stopped".into())),
    }
}

/// Everything after `Accepted`: the whole text and how it ended (non-streaming answers).
pub async fn collect(mut rx: UnboundedReceiver<Event>) -> (String, Result<Stats, Failure>) {
    let mut text = String::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Text(t) => text.push_str(&t),
            Event::Done(s) => return (text, Ok(s)),
            Event::Failed(f) => return (text, Err(f)),
            Event::Accepted { .. } => {}
        }
    }
    (text, Err(Failure::Engine("the engine thread stopped".into())))
}

/// Parses a keep-alive as Ollama does: seconds as a number, or a duration string
/// (`"5m"`, `"30s"`, `"1h30m"`, `"0"`); negative means forever.
pub fn parse_keep_alive(v: &serde_json::Value) -> Result<KeepAlive, String> {
    let bad = || format!("keep_alive {v} is not a duration (e.g. 300, \"5m\", \"0\", \"-1\")");
    let secs = match v {
        serde_json::Value::Number(n) => n.as_f64().ok_or_else(bad)?,
        serde_json::Value::String(s) => parse_duration(s.trim()).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if !secs.is_finite() {
        return Err(bad());
    }
    Ok(if secs < 0.0 { None } else { Some(Duration::from_secs_f64(secs.min(1e9))) })
}

/// `"1h30m"`, `"45s"`, `"500ms"`, `"-1"`, `"10"` (seconds) -> seconds.
fn parse_duration(s: &str) -> Option<f64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(if neg { -total } else { total })
}

/// Builds the router over a started engine, behind the Host, Origin and body guards.
pub fn router(state: Arc<State>, policy: Arc<guard::Policy>, body_timeout: Duration) -> Router {
    ollama_api::routes()
        .merge(openai_api::routes())
        .fallback(ollama_api::not_found)
        .layer(DefaultBodyLimit::max(guard::BODY_LIMIT))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(body_timeout, guard::read_body))
        .layer(axum::middleware::from_fn_with_state(policy, guard::check))
}

/// Runs the server until Ctrl-C or SIGTERM. Prints one line with the address once it
/// listens (port 0 picks a free one; tests read the line).
pub fn run(opts: Options) -> Result<()> {
    let handle = worker::start(opts.queue, opts.max_loaded).context("cannot start the MLX engine thread")?;
    let found = Arc::new(catalog::scan(&opts.models, opts.hub));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let addr = format!("{}:{}", opts.host, opts.port);
        let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local: SocketAddr = listener.local_addr()?;
        let policy = Arc::new(guard::Policy::new(local.ip(), &opts.allow_origins));
        let supported = found.iter().filter(|e| e.supported).count();
        println!(
            "mlxbench serve: listening on http://{local} ({} on {}; {supported} of {} models runnable; queue {})",
            mlxbench_engine::describe(),
            mlxbench_engine::device::current().kind,
            found.len(),
            opts.queue
        );
        for e in found.iter() {
            let why = e.reason.as_deref().map(|r| format!(" (unsupported: {r})")).unwrap_or_default();
            println!("  {} {}{why}", e.name, e.path.display());
        }
        if !opts.allow_origins.is_empty() {
            println!("  web pages allowed besides loopback ones: {}", opts.allow_origins.join(", "));
        }
        let limits = listen::Limits { max_connections: opts.max_connections, header_timeout: opts.header_timeout, grace: SHUTDOWN_GRACE };
        let body_timeout = opts.body_timeout;
        let state = Arc::new(State { handle, opts, catalog: RwLock::new((Instant::now(), found)) });
        // on Ctrl-C / SIGTERM: stop accepting, let running answers finish for a grace
        // period, then exit (a client streaming a long generation must not hold the server)
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown().await;
            let _ = stop_tx.send(true);
        });
        if listen::serve(listener, router(state, policy, body_timeout), limits, stop_rx).await {
            eprintln!("mlxbench serve: stopped after {} s with answers still running", SHUTDOWN_GRACE.as_secs());
        }
        Ok(())
    })
}

/// How long running answers may go on after Ctrl-C or SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// A request's event channel.
pub fn channel() -> (tokio::sync::mpsc::UnboundedSender<Event>, UnboundedReceiver<Event>) {
    tokio::sync::mpsc::unbounded_channel()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_alive_reads_like_ollama() {
        let s = |v| parse_keep_alive(&v).unwrap();
        assert_eq!(s(json!(0)), Some(Duration::ZERO));
        assert_eq!(s(json!("0")), Some(Duration::ZERO));
        assert_eq!(s(json!(300)), Some(Duration::from_secs(300)));
        assert_eq!(s(json!("5m")), Some(Duration::from_secs(300)));
        assert_eq!(s(json!("1h30m")), Some(Duration::from_secs(5400)));
        assert_eq!(s(json!("500ms")), Some(Duration::from_millis(500)));
        assert_eq!(s(json!(-1)), None);
        assert_eq!(s(json!("-1m")), None);
        for bad in [json!("soon"), json!("5x"), json!(true), json!(""), json!("m")] {
            assert!(parse_keep_alive(&bad).is_err(), "{bad}");
        }
    }
}
