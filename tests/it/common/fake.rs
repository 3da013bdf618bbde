//! Scripted fake inference servers for tests: in-process axum servers on port 0 that
//! stream Ollama NDJSON or OpenAI SSE with known delays, so measured TTFT and decode
//! rates can be checked against the truth. Each server runs on its own thread and
//! runtime, apart from whatever it is measured by.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::script::Script;

#[derive(Clone)]
struct AppState {
    script: Arc<Script>,
    requests: Arc<AtomicU32>,
    loaded: Arc<AtomicU32>,
    die: Arc<tokio::sync::Notify>,
    /// How late the server's timer actually sent each first token, ms.
    late_ms: Arc<std::sync::Mutex<Vec<f64>>>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU32>,
    late_ms: Arc<std::sync::Mutex<Vec<f64>>>,
    /// The model of each streamed generation request, in the order they arrived.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    pub fn ollama(script: Script) -> Self {
        Self::start(script, true)
    }

    pub fn openai(script: Script) -> Self {
        Self::start(script, false)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn start(script: Script, ollama: bool) -> Self {
        let state = AppState {
            script: Arc::new(script),
            requests: Arc::new(AtomicU32::new(0)),
            loaded: Arc::new(AtomicU32::new(0)),
            die: Arc::new(tokio::sync::Notify::new()),
            late_ms: Arc::new(std::sync::Mutex::new(Vec::new())),
            log: Arc::new(std::sync::Mutex::new(Vec::new())),
        };
        let late_ms = state.late_ms.clone();
        let log = state.log.clone();
        let die = state.die.clone();
        let requests = state.requests.clone();
        let app = if ollama {
            Router::new()
                .route("/api/version", get(|| async { axum::Json(json!({"version": "0.0.0-fake"})) }))
                .route("/api/tags", get(ollama_tags))
                .route("/api/show", post(|| async { axum::Json(json!({"details": {"family": "llama", "parameter_size": "135M"}})) }))
                .route("/api/ps", get(ollama_ps))
                .route("/api/generate", post(ollama_generate))
                .route("/api/chat", post(ollama_generate))
                .with_state(state)
        } else {
            Router::new()
                .route("/v1/models", get(openai_models))
                .route("/v1/chat/completions", post(openai_stream))
                .route("/v1/completions", post(openai_stream))
                .with_state(state)
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                // Like real servers: every write goes out at once, no Nagle batching.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        tokio::select! {
                            _ = stop_rx => {}
                            _ = die.notified() => {}
                        }
                    })
                    .await
                    .unwrap();
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx.recv().unwrap();
        FakeServer { addr, requests, late_ms, log, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// The most the server's first token was complete later than scripted (tokio timers
    /// have 1 ms ticks, a split frame's second half waits another, and a loaded 2-core
    /// machine adds more): the script's truth shifted by this much is what actually went
    /// on the wire.
    pub fn max_first_token_lateness_ms(&self) -> f64 {
        self.late_ms.lock().unwrap().iter().copied().fold(0.0, f64::max)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Tx = mpsc::Sender<Result<Bytes, std::io::Error>>;

fn streaming(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>, content_type: &str) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    Response::builder().header("content-type", content_type).body(Body::from_stream(stream)).unwrap()
}

async fn send_frame(tx: &Tx, frame: String, split: bool) -> bool {
    if split && frame.len() > 2 {
        let mid = frame.len() / 2;
        let (a, b) = frame.as_bytes().split_at(mid);
        if tx.send(Ok(Bytes::copy_from_slice(a))).await.is_err() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        return tx.send(Ok(Bytes::copy_from_slice(b))).await.is_ok();
    }
    tx.send(Ok(Bytes::from(frame))).await.is_ok()
}

/// `Err(response)` to answer at once; `Ok(true)` when this request is the one the server
/// dies during.
#[allow(clippy::result_large_err)] // a Response, moved once per request
fn gate(st: &AppState, headers: &axum::http::HeaderMap) -> Result<bool, Response> {
    if let Some(key) = &st.script.require_key {
        let want = format!("Bearer {key}");
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
            return Err((StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"message": "bad api key"}}))).into_response());
        }
    }
    let n = st.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(code) = st.script.http_status {
        let code = StatusCode::from_u16(code).unwrap();
        return Err((code, axum::Json(json!({"error": {"message": "scripted failure"}}))).into_response());
    }
    Ok(st.script.die_after_requests == Some(n))
}

/// The request the server dies during: two tokens, then the connection breaks and the
/// listener closes.
fn dying(st: &AppState, ndjson: bool) -> Response {
    let (tx, rx) = mpsc::channel(8);
    let die = st.die.clone();
    tokio::spawn(async move {
        for k in 0..2 {
            let frame = if ndjson {
                format!("{}\n", json!({"response": format!("t{k}"), "done": false}))
            } else {
                format!("data: {}\n\n", json!({"choices": [{"delta": {"content": format!("t{k}")}}]}))
            };
            let _ = tx.send(Ok(Bytes::from(frame))).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        die.notify_one();
        let _ = tx.send(Err(std::io::Error::other("server died"))).await;
    });
    streaming(rx, "text/event-stream")
}

/// Plays the token schedule: token k is sent at start + ttft + k * itl (no drift).
async fn play(
    script: &Script,
    tx: &Tx,
    start: Instant,
    mut frame: impl FnMut(u32) -> String,
    split: bool,
    late: Option<&std::sync::Mutex<Vec<f64>>>,
) -> bool {
    for k in 0..script.tokens {
        if script.truncate_after == Some(k) {
            return false;
        }
        if script.stall_after == Some(k) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if script.malformed_after == Some(k) {
            let _ = send_frame(tx, "data: {\"choices\": [tru\n\n{\"respo\n".into(), false).await;
        }
        let due = start + Duration::from_millis(script.ttft_ms + u64::from(k) * script.itl_ms);
        tokio::time::sleep_until(due).await;
        if script.abort_after == Some(k) {
            let _ = tx.send(Err(std::io::Error::other("scripted abort"))).await;
            return false;
        }
        if !send_frame(tx, frame(k), split).await {
            return false;
        }
        // the first frame is complete only once its last part is sent (a split frame's
        // second half goes out after a 1 ms sleep that may oversleep too)
        if k == 0
            && let Some(late) = late
        {
            late.lock().unwrap().push(Instant::now().duration_since(due).as_secs_f64() * 1e3);
        }
    }
    true
}

async fn ollama_tags(State(st): State<AppState>) -> impl IntoResponse {
    let models: Vec<Value> = st.script.models.iter().map(|m| json!({"name": m, "model": m})).collect();
    axum::Json(json!({ "models": models }))
}

async fn ollama_ps(State(st): State<AppState>) -> impl IntoResponse {
    if st.loaded.load(Ordering::SeqCst) == 0 {
        return axum::Json(json!({"models": []}));
    }
    axum::Json(json!({"models": [{"name": st.script.models[0], "size": 123456789, "size_vram": 0}]}))
}

async fn ollama_generate(State(st): State<AppState>, headers: axum::http::HeaderMap, body: axum::Json<Value>) -> Response {
    let start = Instant::now();
    let model = body.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    if !st.script.models.iter().any(|m| *m == model || *m == format!("{model}:latest")) {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": format!("model '{model}' not found")}))).into_response();
    }
    let has_input = body.get("prompt").is_some() || body.get("messages").is_some();
    // load / unload requests, and the non-streamed one-token generation that loads
    if !has_input || body.get("stream") == Some(&json!(false)) {
        if body.get("keep_alive").and_then(Value::as_i64) == Some(0) {
            st.loaded.store(0, Ordering::SeqCst);
            return axum::Json(json!({"model": model, "done": true, "done_reason": "unload"})).into_response();
        }
        let was = st.loaded.swap(1, Ordering::SeqCst);
        let load_ms = if was == 0 { 50 } else { 0 };
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        return axum::Json(
            json!({"model": model, "response": ".", "done": true, "eval_count": 1, "load_duration": load_ms * 1_000_000 + 1000}),
        )
        .into_response();
    }
    match gate(&st, &headers) {
        Err(r) => return r,
        Ok(true) => return dying(&st, true),
        Ok(false) => {}
    }
    st.loaded.store(1, Ordering::SeqCst);
    st.log.lock().unwrap().push(model);
    let chat = body.get("messages").is_some();
    let script = st.script.clone();
    let late = st.late_ms.clone();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let frame = |k: u32| {
            let tok = format!("t{k} ");
            if chat {
                format!("{}\n", json!({"model": "m", "message": {"role": "assistant", "content": tok}, "done": false}))
            } else {
                format!("{}\n", json!({"model": "m", "response": tok, "done": false}))
            }
        };
        if !play(&script, &tx, start, frame, script.split_frames, Some(&late)).await || !script.done_marker {
            return;
        }
        let itl_ns = script.itl_ms * 1_000_000;
        let fin = json!({
            "model": "m", "response": "", "done": true, "done_reason": "length",
            "total_duration": (script.ttft_ms + u64::from(script.tokens) * script.itl_ms) * 1_000_000,
            "load_duration": 1234, "prompt_eval_count": script.prompt_tokens,
            "prompt_eval_duration": script.ttft_ms * 1_000_000,
            "eval_count": script.tokens, "eval_duration": u64::from(script.tokens.saturating_sub(1)) * itl_ns,
        });
        let _ = send_frame(&tx, format!("{fin}\n"), script.split_frames).await;
    });
    streaming(rx, "application/x-ndjson")
}

async fn openai_models(State(st): State<AppState>) -> impl IntoResponse {
    let data: Vec<Value> = st.script.models.iter().map(|m| json!({"id": m, "object": "model"})).collect();
    axum::Json(json!({"object": "list", "data": data}))
}

async fn openai_stream(
    State(st): State<AppState>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let start = Instant::now();
    match gate(&st, &headers) {
        Err(r) => return r,
        Ok(true) => return dying(&st, false),
        Ok(false) => {}
    }
    if body.get("stream_options").and_then(|o| o.get("include_usage")) != Some(&json!(true)) {
        return (StatusCode::BAD_REQUEST, "include_usage missing").into_response();
    }
    st.log.lock().unwrap().push(body.get("model").and_then(Value::as_str).unwrap_or("").to_string());
    let chat = uri.path().ends_with("chat/completions");
    let script = st.script.clone();
    let late = st.late_ms.clone();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let nl = if script.crlf { "\r\n" } else { "\n" };
        let ev = |v: Value| format!("data: {v}{nl}{nl}");
        if script.role_first && chat {
            let _ = send_frame(&tx, ev(json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}]})), false).await;
        }
        if script.keepalives {
            let tx2 = tx.clone();
            let until = start + Duration::from_millis(script.ttft_ms.saturating_sub(5));
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() + Duration::from_millis(10) < until {
                    i += 1;
                    if tx2.send(Ok(Bytes::from(format!(": keepalive {i}/99{nl}{nl}")))).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        let role_every = script.role_every_delta;
        let frame = |k: u32| {
            let tok = format!("t{k} ");
            let c = if chat {
                if role_every {
                    json!({"index": 0, "delta": {"role": "assistant", "content": tok}, "finish_reason": null})
                } else {
                    json!({"index": 0, "delta": {"content": tok}, "finish_reason": null})
                }
            } else {
                json!({"index": 0, "text": tok, "finish_reason": null})
            };
            ev(json!({"object": "chunk", "choices": [c]}))
        };
        if !play(&script, &tx, start, frame, script.split_frames, Some(&late)).await {
            return;
        }
        let fin = if chat {
            json!({"index": 0, "delta": {}, "finish_reason": "length"})
        } else {
            json!({"index": 0, "text": "", "finish_reason": "length"})
        };
        let _ = send_frame(&tx, ev(json!({"choices": [fin]})), false).await;
        if script.usage_chunk {
            let mut u = json!({"choices": [], "usage": {"prompt_tokens": script.prompt_tokens, "completion_tokens": script.tokens}});
            if script.timings {
                u["timings"] = json!({"prompt_n": script.prompt_tokens, "prompt_ms": script.ttft_ms as f64,
                    "predicted_n": script.tokens, "predicted_per_second": script.true_decode_tps(), "cache_n": 0});
            }
            let _ = send_frame(&tx, ev(u), script.split_frames).await;
        }
        if script.done_marker {
            let _ = send_frame(&tx, format!("data: [DONE]{nl}{nl}"), script.split_frames).await;
        }
    });
    streaming(rx, "text/event-stream")
}
