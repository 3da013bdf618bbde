//! Ollama's model endpoints over the model folders: `/api/tags`, `/api/ps`, `/api/show`,
//! `/api/pull` (never downloads: success when the model is local), and 501 with what to
//! do instead for what Ollama's model store does and a folder of model files does not
//! (`/api/delete`, `copy`, `create`, `blobs`, `push`, `embed`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as Axum;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use mlxbench_engine::catalog::Entry;
use serde_json::{Map, Value, json};

use super::ollama_api::{error, model, ndjson, read};
use super::request::ModelRequest;
use super::worker::Resident;
use super::{State, digest, rfc3339};
use crate::routes::ollama as routes;

type S = Axum<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(routes::TAGS, get(tags))
        .route(routes::PS, get(ps))
        .route(routes::SHOW, post(show))
        .route(routes::PULL, post(pull))
        .route("/api/delete", delete(|| refusal("delete models: remove the model's file or directory to remove it")))
        .route("/api/copy", post(|| refusal("copy models: copy or link the model's file under the new name")))
        .route("/api/create", post(|| refusal(CREATE)))
        // `ollama create` with `FROM ./file` uploads the file first: refused, but only once
        // the upload is read (to nowhere), since a client still writing would see a broken
        // pipe instead of the reason
        .route("/api/blobs/{digest}", post(drain_then_refuse).head(|| async { StatusCode::NOT_FOUND }))
        .route("/api/push", post(|| refusal("push models to a registry")))
        .route("/api/embed", post(|| refusal("compute embeddings")))
        .route("/api/embeddings", post(|| refusal("compute embeddings")))
}

const CREATE: &str =
    "create models: put a model directory or .gguf file into a model folder (--models) and it is served under its file's name";

/// How long an upload is drained before it is refused all the same.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads an upload to its end (at most [`DRAIN_LIMIT`]), keeping nothing, then refuses it
/// as `/api/create` would.
async fn drain_then_refuse(body: Body) -> Response {
    use futures_util::StreamExt;
    let mut frames = body.into_data_stream();
    let _ = tokio::time::timeout(DRAIN_LIMIT, async { while let Some(Ok(_)) = frames.next().await {} }).await;
    refusal(CREATE).await
}

/// 501 for what Ollama's model store does and a folder of model files does not.
async fn refusal(what: &'static str) -> Response {
    error(StatusCode::NOT_IMPLEMENTED, format!("mlxbench serve does not {what} (it serves the model files in its folders as they are)"))
}

fn details(e: &Entry) -> Value {
    json!({
        "parent_model": "",
        "format": e.format,
        "family": e.architecture.clone().unwrap_or_default(),
        "families": e.architecture.iter().collect::<Vec<_>>(),
        "parameter_size": e.parameter_size().unwrap_or_default(),
        "quantization_level": e.quantization.clone().unwrap_or_default(),
    })
}

fn modified(e: &Entry) -> String {
    rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(e.modified_unix_s.unwrap_or(0)))
}

async fn tags(Axum(state): S) -> Response {
    let models: Vec<Value> = state
        .rescan()
        .iter()
        .filter(|e| e.supported)
        .map(|e| {
            json!({"name": e.name, "model": e.name, "modified_at": modified(e), "size": e.size_bytes,
                   "digest": digest(e), "details": details(e)})
        })
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

fn ps_entry(r: &Resident) -> Value {
    // "forever" as a date clients can parse
    let expires = r.expires_at.unwrap_or_else(|| SystemTime::now() + Duration::from_secs(100 * 365 * 86_400));
    json!({"name": r.entry.name, "model": r.entry.name, "size": r.size_bytes, "digest": digest(&r.entry),
           "details": details(&r.entry), "expires_at": rfc3339(expires), "size_vram": if r.on_gpu { r.size_bytes } else { 0 },
           "context_length": r.entry.context_length})
}

async fn ps(Axum(state): S) -> Response {
    let models: Vec<Value> = state.handle.residents().iter().map(ps_entry).collect();
    axum::Json(json!({ "models": models })).into_response()
}

async fn show(Axum(state): S, bytes: Bytes) -> Response {
    let b: ModelRequest = match read(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let e = match model(&state, &b.model, &b.name) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let arch = e.architecture.clone().unwrap_or_default();
    let mut info = Map::new();
    info.insert("general.architecture".into(), json!(arch));
    info.insert("general.parameter_count".into(), json!(e.parameters));
    info.insert("general.file_path".into(), json!(e.path.display().to_string()));
    if let Some(c) = e.context_length {
        info.insert(format!("{arch}.context_length"), json!(c));
    }
    axum::Json(json!({
        "modelfile": format!("# served by mlxbench from {}\nFROM {}\n", e.path.display(), e.path.display()),
        "parameters": "",
        "template": "",
        "details": details(&e),
        "model_info": info,
        "capabilities": ["completion"],
        "modified_at": modified(&e),
    }))
    .into_response()
}

async fn pull(Axum(state): S, bytes: Bytes) -> Response {
    let b: ModelRequest = match read(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let streaming = b.stream.or(true);
    match model(&state, &b.model, &b.name) {
        Err(r) => r,
        Ok(_) if !streaming => axum::Json(json!({"status": "success"})).into_response(),
        Ok(_) => ndjson(Body::from("{\"status\":\"success\"}\n")),
    }
}
