//! Ollama's native API over the engine: `/api/generate` and `/api/chat` (NDJSON streams
//! by default, one object with `"stream": false`), `/api/version`, `GET`/`HEAD /`, and
//! the model endpoints of [`super::ollama_models`]. Errors are `{"error": "..."}` with
//! Ollama's status codes. Request fields are read as Ollama's Go structs read them:
//! `model` or its alias `name`, and absent, `null` and `""` alike.

// Handlers and their helpers return an HTTP `Response` as their error (128 bytes), moved
// once per request on the way out: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as Axum;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mlxbench_engine::Sampling;
use mlxbench_engine::catalog::Entry;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::fields::{self, Text};
use super::reply::error_response;
use super::request::{self, OllamaAsk, OllamaOptions};
use super::worker::{Event, Failure, Input, Request, Stats};
use super::{Start, State, channel, collect, parse_keep_alive, rfc3339, start};
use crate::routes::ollama as routes;
use crate::scenario::ChatMessage;

type S = Axum<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(root).head(root))
        .route(routes::VERSION, get(version))
        .route(routes::GENERATE, post(generate))
        .route(routes::CHAT, post(chat))
        .merge(super::ollama_models::routes())
}

/// `{"error": msg}` with `status`.
pub fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    error_response(status, json!({ "error": msg.into() }))
}

/// Any path this server does not implement.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    error(StatusCode::NOT_FOUND, format!("mlxbench serve does not implement {method} {}", uri.path()))
}

async fn root() -> &'static str {
    "mlxbench serve is running (Ollama and OpenAI APIs)"
}

async fn version() -> Response {
    axum::Json(json!({ "version": env!("CARGO_PKG_VERSION"), "server": "mlxbench serve" })).into_response()
}

/// The body read as `T`, or a 400 in Ollama's shape naming the field at fault.
pub(super) fn read<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    let map = super::json_object(bytes).map_err(bad)?;
    fields::parse(map).map_err(bad)
}

pub(super) fn bad(msg: String) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

/// The model a request names (`model`, else its older alias `name`, as Ollama's CLI
/// still sends it), or 400 (missing) / 404 (unknown).
pub(super) fn model(state: &State, model: &Text, alias: &Text) -> Result<Entry, Response> {
    let Some(name) = model.said().or(alias.said()) else { return Err(error(StatusCode::BAD_REQUEST, "model is required")) };
    let e = state.lookup(name).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("model \"{name}\" not found (mlxbench serve never downloads models; local models: {})", state.names()),
        )
    })?;
    if !e.supported {
        let why = e.reason.clone().unwrap_or_default();
        return Err(error(StatusCode::BAD_REQUEST, format!("model \"{}\" cannot run on this engine: {why}", e.name)));
    }
    Ok(e)
}

pub(super) fn ndjson(b: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], b).into_response()
}

/// Sampling from Ollama's `options` (its defaults: temperature 0.8, top_p 0.9, a random
/// seed, `num_predict` -1 = until the context is full, or `default_predict` when the
/// server was given one), plus stop sequences. `ignore_eos` is mlxbench's own option
/// (generate exactly `num_predict` tokens).
fn sampling(o: Option<&OllamaOptions>, default_predict: Option<u32>) -> Result<(Sampling, bool, Vec<String>), String> {
    let none = OllamaOptions::default();
    let o = o.unwrap_or(&none);
    let temperature = o.temperature.ranged("options.temperature", 0.8, 0.0, 100.0, false)?;
    let top_p = o.top_p.ranged("options.top_p", 0.9, 0.0, 1.0, true)?;
    let predict = o.num_predict.0.unwrap_or(default_predict.map_or(-1.0, f64::from));
    if predict < -2.0 || predict.fract() != 0.0 {
        return Err(format!("options.num_predict {predict} must be a whole number >= -2"));
    }
    let fill = predict < 0.0;
    let max_tokens = if fill { u32::MAX } else { predict.min(1e6) as u32 };
    let sampling = Sampling { max_tokens, temperature, top_p: Some(top_p), seed: o.seed.seed(), ignore_eos: o.ignore_eos.or(false) };
    Ok((sampling, fill, o.stop.0.clone()))
}

/// A 400 naming a field this server refuses rather than silently ignoring.
fn refuse(field: &str) -> Response {
    error(StatusCode::BAD_REQUEST, format!("\"{field}\" is not supported by mlxbench serve"))
}

#[derive(Clone, Copy)]
enum Api {
    Generate,
    Chat,
}

async fn generate(Axum(state): S, bytes: Bytes) -> Response {
    let g: request::Generate = match read(&bytes) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if let Some(f) = g.refused() {
        return refuse(f);
    }
    // a prompt of blanks is still a prompt; absent, null and "" only load the model
    let prompt = g.prompt.0.clone().unwrap_or_default();
    let input = if prompt.is_empty() {
        Input::Nothing
    } else if g.raw.or(false) {
        Input::Raw(prompt)
    } else {
        Input::Prompt { system: g.system.said().map(str::to_string), prompt }
    };
    answer(&state, g.ask(), input, Api::Generate).await
}

async fn chat(Axum(state): S, bytes: Bytes) -> Response {
    let c: request::Chat = match read(&bytes) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(f) = c.refused() {
        return refuse(f);
    }
    let msgs = match messages(&c) {
        Ok(m) => m,
        Err(e) => return bad(e),
    };
    let input = if msgs.is_empty() { Input::Nothing } else { Input::Chat(msgs) };
    answer(&state, c.ask(), input, Api::Chat).await
}

/// `messages` as Ollama reads them: each needs a role, and a message's `content`
/// absent or `null` is empty text.
fn messages(c: &request::Chat) -> Result<Vec<ChatMessage>, String> {
    let mut msgs = Vec::with_capacity(c.messages.0.len());
    for (i, m) in c.messages.0.iter().enumerate() {
        let Some(m) = &m.0 else { return Err(format!("messages[{i}] must be an object, not null")) };
        if m.images.is_set() {
            return Err("\"images\" is not supported by mlxbench serve".into());
        }
        let Some(role) = m.role.said() else { return Err(format!("messages[{i}] needs a role")) };
        msgs.push(ChatMessage { role: role.into(), content: m.content.0.clone().unwrap_or_default() });
    }
    Ok(msgs)
}

/// One piece of an answer in the API's shape (`done: false`).
fn piece(api: &Api, model: &str, text: &str) -> Value {
    match api {
        Api::Generate => json!({"model": model, "created_at": rfc3339(SystemTime::now()), "response": text, "done": false}),
        Api::Chat => json!({"model": model, "created_at": rfc3339(SystemTime::now()),
                            "message": {"role": "assistant", "content": text}, "done": false}),
    }
}

/// The final object: `text` (empty when streamed) and Ollama's durations.
fn last(api: &Api, model: &str, text: &str, s: &Stats) -> Value {
    let mut v = piece(api, model, text);
    v["done"] = json!(true);
    v["done_reason"] = json!(s.done_reason);
    if !matches!(s.done_reason, "load" | "unload") {
        for (k, x) in [
            ("total_duration", s.total_ns),
            ("load_duration", s.load_ns),
            ("prompt_eval_count", s.prompt_eval_count),
            ("prompt_eval_duration", s.prompt_eval_ns),
            ("eval_count", s.eval_count),
            ("eval_duration", s.eval_ns),
        ] {
            v[k] = json!(x);
        }
    }
    v
}

fn failure(f: &Failure) -> Response {
    error(f.status(), f.message())
}

async fn answer(state: &State, ask: OllamaAsk<'_>, input: Input, api: Api) -> Response {
    let received = Instant::now();
    let entry = match model(state, ask.model, ask.name) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let keep_alive = match &ask.keep_alive.0 {
        Some(v) => match parse_keep_alive(v) {
            Ok(k) => k,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        },
        None => state.default_keep_alive(),
    };
    let (sampling, fill_context, stop) = match sampling(ask.options, state.default_num_predict()) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let streaming = ask.stream.or(true);
    let name = entry.name.clone();
    let (tx, rx) = channel();
    let req = Request { entry, input, sampling, fill_context, stop, keep_alive, received, events: tx };
    let rx = match start(state, req, rx).await {
        Start::Busy => return error(StatusCode::SERVICE_UNAVAILABLE, "server busy: the request queue is full, retry later"),
        Start::Failed(f) => return failure(&f),
        Start::Done(s) => {
            let v = last(&api, &name, "", &s);
            return if streaming { ndjson(Body::from(format!("{v}\n"))) } else { axum::Json(v).into_response() };
        }
        Start::Streaming { rx, .. } => rx,
    };
    if !streaming {
        return match collect(rx).await {
            (text, Ok(s)) => axum::Json(last(&api, &name, &text, &s)).into_response(),
            (_, Err(f)) => failure(&f),
        };
    }
    // one NDJSON line per event; the stream ends after the final object or an error
    let stream = futures_util::stream::unfold(Some(rx), move |rx| {
        let name = name.clone();
        async move {
            let mut rx = rx?;
            let line = match rx.recv().await {
                Some(Event::Text(t)) => piece(&api, &name, &t),
                Some(Event::Done(s)) => {
                    let v = last(&api, &name, "", &s);
                    return Some((Ok::<_, Infallible>(Bytes::from(format!("{v}\n"))), None));
                }
                Some(Event::Failed(f)) => json!({"error": f.message()}),
                Some(Event::Accepted { .. }) => json!({"model": name, "response": "", "done": false}),
                None => json!({"error": "the engine thread stopped"}),
            };
            let end = line.get("error").is_some();
            Some((Ok(Bytes::from(format!("{line}\n"))), if end { None } else { Some(rx) }))
        }
    });
    ndjson(Body::from_stream(stream))
}

#[cfg(test)]
#[path = "ollama_tests.rs"]
mod tests;
