//! The OpenAI-compatible API over the engine: `/v1/models`, `/v1/chat/completions` and
//! `/v1/completions`, streaming as SSE (`stream_options.include_usage` adds a usage
//! chunk with empty `choices`, then `data: [DONE]`) or one JSON object. The usage chunk
//! also carries llama.cpp-style `timings` (the server's prefill and decode times, ms).
//! Errors are `{"error": {"message", "type", "param", "code"}}`.

// Handlers and their helpers return an HTTP `Response` as their error (128 bytes), moved
// once per request on the way out: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State as Axum};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mlxbench_engine::Sampling;
use mlxbench_engine::catalog::Entry;
use serde_json::{Map, Value, json};

use super::fields;
use super::reply::error_response;
use super::request::OpenAi;
use super::worker::{Event, Failure, Input, Request, Stats};
use super::{Start, State, channel, collect, start};
use crate::routes::openai as routes;
use crate::scenario::ChatMessage;

type S = Axum<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(&format!("{}{}", routes::ROOT, routes::MODELS), get(models))
        .route(&format!("{}{}/{{*id}}", routes::ROOT, routes::MODELS), get(model_one))
        .route(&format!("{}{}", routes::ROOT, routes::CHAT), post(chat))
        .route(&format!("{}{}", routes::ROOT, routes::COMPLETIONS), post(completions))
}

/// OpenAI's error object with `status`.
fn error(status: StatusCode, kind: &str, code: Option<&str>, msg: impl Into<String>) -> Response {
    error_response(status, json!({"error": {"message": msg.into(), "type": kind, "param": null, "code": code}}))
}

fn bad(msg: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", None, msg)
}

fn created(e: &Entry) -> u64 {
    e.modified_unix_s.unwrap_or(0)
}

fn model_object(e: &Entry) -> Value {
    json!({"id": e.name, "object": "model", "created": created(e), "owned_by": "mlxbench"})
}

async fn models(Axum(state): S) -> Response {
    let data: Vec<Value> = state.rescan().iter().filter(|e| e.supported).map(model_object).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn model_one(Axum(state): S, Path(id): Path<String>) -> Response {
    match state.lookup(&id) {
        Some(e) if e.supported => axum::Json(model_object(&e)).into_response(),
        _ => not_found(&state, &id),
    }
}

fn not_found(state: &State, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("model_not_found"),
        format!("The model `{name}` does not exist (mlxbench serve never downloads models; local models: {})", state.names()),
    )
}

/// Which endpoint: their chunk and object shapes differ.
#[derive(Clone, Copy)]
enum Api {
    Chat,
    Completion,
}

async fn chat(Axum(state): S, bytes: Bytes) -> Response {
    let r = match read(&bytes) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut msgs = Vec::with_capacity(r.messages.0.len());
    for (i, m) in r.messages.0.iter().enumerate() {
        let Some(m) = &m.0 else { return bad(format!("messages[{i}] must be an object, not null")) };
        // content as a string or as a list of text parts
        let content = match &m.content.0 {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|p| (p.get("type").and_then(Value::as_str) == Some("text")).then(|| p.get("text").and_then(Value::as_str)).flatten())
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat()),
            _ => None,
        };
        let (Some(role), Some(content)) = (m.role.0.as_deref(), content) else {
            return bad(format!("messages[{i}] needs a role and text content (no images or tool calls)"));
        };
        msgs.push(ChatMessage { role: role.into(), content });
    }
    if msgs.is_empty() {
        return bad("messages must hold at least one message");
    }
    answer(&state, &r, Input::Chat(msgs), Api::Chat).await
}

async fn completions(Axum(state): S, bytes: Bytes) -> Response {
    let r = match read(&bytes) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let prompt = match &r.prompt.0 {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => a[0].as_str().unwrap_or_default().to_string(),
        _ => return bad("prompt must be one string"),
    };
    if prompt.is_empty() {
        return bad("prompt is empty");
    }
    answer(&state, &r, Input::Raw(prompt), Api::Completion).await
}

/// The body as OpenAI's request, or a 400 naming the field at fault.
fn read(bytes: &Bytes) -> Result<OpenAi, Response> {
    let map = super::json_object(bytes).map_err(bad)?;
    fields::parse(map).map_err(bad)
}

/// Sampling from the request (OpenAI's defaults: temperature 1, top_p 1; `max_tokens`
/// 16 for completions, for chat the server's `--num-predict` or else the rest of the
/// context), stop sequences, and whether
/// `max_tokens` was left open. `ignore_eos` is vLLM's and llama.cpp's extension.
fn sampling(r: &OpenAi, api: Api, default_max: Option<u32>) -> Result<(Sampling, bool, Vec<String>), String> {
    if let Some(f) = r.refused() {
        return Err(format!("\"{f}\" is not supported by mlxbench serve"));
    }
    if r.n.0.is_some_and(|n| n != 1.0) {
        return Err("n must be 1".into());
    }
    let temperature = r.temperature.ranged("temperature", 1.0, 0.0, 2.0, false)?;
    let top_p = r.top_p.ranged("top_p", 1.0, 0.0, 1.0, true)?;
    let max = r.max_completion_tokens.0.or(r.max_tokens.0);
    if max.is_some_and(|m| m < 1.0 || m.fract() != 0.0) {
        return Err("max_tokens must be a whole number of at least 1".into());
    }
    let (max_tokens, fill) = match (max, api) {
        (Some(m), _) => (m.min(1e6) as u32, false),
        (None, Api::Completion) => (16, false),
        (None, Api::Chat) => default_max.map_or((u32::MAX, true), |m| (m, false)),
    };
    let sampling = Sampling { max_tokens, temperature, top_p: Some(top_p), seed: r.seed.seed(), ignore_eos: r.ignore_eos.or(false) };
    Ok((sampling, fill, r.stop.0.clone()))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What every chunk and object of one answer repeats.
#[derive(Clone)]
struct Meta {
    api: Api,
    id: String,
    created: u64,
    model: String,
}

impl Meta {
    fn new(api: Api, model: &str) -> Self {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let prefix = match api {
            Api::Chat => "chatcmpl",
            Api::Completion => "cmpl",
        };
        let created = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Meta { api, id: format!("{prefix}-mlxbench-{n}"), created, model: model.into() }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.api, chunk) {
            (Api::Chat, true) => "chat.completion.chunk",
            (Api::Chat, false) => "chat.completion",
            (Api::Completion, _) => "text_completion",
        }
    }

    fn wrap(&self, chunk: bool, choices: Value) -> Value {
        json!({"id": self.id, "object": self.object(chunk), "created": self.created, "model": self.model, "choices": choices})
    }

    /// A streamed choice: text (or the role, first) and the finish reason at the end.
    fn chunk(&self, text: Option<&str>, role: bool, finish: Option<&str>) -> Value {
        let choice = match self.api {
            Api::Chat => {
                let mut delta = Map::new();
                if role {
                    delta.insert("role".into(), json!("assistant"));
                }
                if let Some(t) = text {
                    delta.insert("content".into(), json!(t));
                }
                json!({"index": 0, "delta": delta, "finish_reason": finish})
            }
            Api::Completion => json!({"index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish}),
        };
        self.wrap(true, json!([choice]))
    }

    fn whole(&self, text: &str, s: &Stats) -> Value {
        let finish = finish(s);
        let choice = match self.api {
            Api::Chat => json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}),
            Api::Completion => json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish}),
        };
        let mut v = self.wrap(false, json!([choice]));
        v["usage"] = usage(s);
        v["timings"] = timings(s);
        v
    }
}

fn finish(s: &Stats) -> &'static str {
    if s.done_reason == "length" { "length" } else { "stop" }
}

fn usage(s: &Stats) -> Value {
    json!({"prompt_tokens": s.prompt_eval_count, "completion_tokens": s.eval_count,
           "total_tokens": s.prompt_eval_count + s.eval_count})
}

/// The server's own times, ms, in llama.cpp's field names (plus `load_ms`, `queue_ms` and
/// `total_ms`, request arrival to done); the decode rate is `(n - 1) / (last token - first
/// token)`, mlxbench's definition.
fn timings(s: &Stats) -> Value {
    let eval_ms = s.eval_ns as f64 / 1e6;
    let rate = (s.eval_count >= 2 && eval_ms > 0.0).then(|| (s.eval_count - 1) as f64 / (eval_ms / 1e3));
    json!({"prompt_n": s.prompt_eval_count, "prompt_ms": s.prompt_eval_ns as f64 / 1e6, "predicted_n": s.eval_count,
           "predicted_ms": eval_ms, "predicted_per_second": rate, "load_ms": s.load_ns as f64 / 1e6, "queue_ms": s.queue_ns as f64 / 1e6,
           "total_ms": s.total_ns as f64 / 1e6})
}

fn failure(f: &Failure) -> Response {
    let kind = if f.status() == StatusCode::BAD_REQUEST { "invalid_request_error" } else { "server_error" };
    error(f.status(), kind, None, f.message())
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// Where a streamed answer is.
enum Phase {
    Role,
    Tokens,
    Usage(Stats),
    Done,
}

async fn answer(state: &State, r: &OpenAi, input: Input, api: Api) -> Response {
    let received = Instant::now();
    let Some(name) = r.model.said() else {
        return bad("model is required");
    };
    let entry = match state.lookup(name) {
        Some(e) if e.supported => e,
        Some(e) => return bad(format!("model `{}` cannot run on this engine: {}", e.name, e.reason.unwrap_or_default())),
        None => return not_found(state, name),
    };
    let (sampling, fill_context, stop) = match sampling(r, api, state.default_num_predict()) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let streaming = r.stream.or(false);
    let include_usage = r.stream_options.0.as_ref().is_some_and(|o| o.include_usage.or(false));
    let meta = Meta::new(api, &entry.name);
    let (tx, rx) = channel();
    let keep_alive = state.default_keep_alive();
    let req = Request { entry, input, sampling, fill_context, stop, keep_alive, received, events: tx };
    let rx = match start(state, req, rx).await {
        Start::Busy => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("overloaded"),
                "server busy: the request queue is full, retry later",
            );
        }
        Start::Failed(f) => return failure(&f),
        Start::Done(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", None, "nothing was generated"),
        Start::Streaming { rx, .. } => rx,
    };
    if !streaming {
        return match collect(rx).await {
            (text, Ok(s)) => axum::Json(meta.whole(&text, &s)).into_response(),
            (_, Err(f)) => failure(&f),
        };
    }
    let stream = futures_util::stream::unfold((rx, Phase::Role), move |(mut rx, phase)| {
        let meta = meta.clone();
        async move {
            let (out, next) = match phase {
                Phase::Done => return None,
                Phase::Role if matches!(meta.api, Api::Chat) => (sse(&meta.chunk(Some(""), true, None)), Phase::Tokens),
                Phase::Role | Phase::Tokens => match rx.recv().await {
                    Some(Event::Text(t)) => (sse(&meta.chunk(Some(&t), false, None)), Phase::Tokens),
                    Some(Event::Done(s)) => {
                        let mut end = sse(&meta.chunk(None, false, Some(finish(&s)))).to_vec();
                        if !include_usage {
                            end.extend_from_slice(b"data: [DONE]\n\n");
                            (Bytes::from(end), Phase::Done)
                        } else {
                            (Bytes::from(end), Phase::Usage(s))
                        }
                    }
                    Some(Event::Failed(f)) => (sse(&json!({"error": {"message": f.message(), "type": "server_error"}})), Phase::Done),
                    Some(Event::Accepted { .. }) => (Bytes::new(), Phase::Tokens),
                    None => (sse(&json!({"error": {"message": "the engine thread stopped", "type": "server_error"}})), Phase::Done),
                },
                Phase::Usage(s) => {
                    let mut v = meta.wrap(true, json!([]));
                    v["usage"] = usage(&s);
                    v["timings"] = timings(&s);
                    let mut b = sse(&v).to_vec();
                    b.extend_from_slice(b"data: [DONE]\n\n");
                    (Bytes::from(b), Phase::Done)
                }
            };
            Some((Ok::<_, Infallible>(out), (rx, next)))
        }
    });
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(stream)).into_response()
}
