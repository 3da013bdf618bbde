//! OpenAI-compatible servers (llama.cpp, mlx_lm.server, LM Studio, vLLM): streaming
//! `/chat/completions` and `/completions` over SSE with `stream_options.include_usage`.
//!
//! Quirks handled: a role-only first chunk sent before prefill (not a token), `: keepalive`
//! comments during prefill, the role repeated in every delta, `content: null`, a final
//! usage-only chunk with empty `choices`, llama.cpp's `timings`, `[DONE]`, and error
//! objects inside the stream.

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::error::{BackendError, RequestError};
use super::launch::Launcher;
use super::streaming::{self, SseWire};
use super::{Backend, GenFailure, GenRequest, GenResult, LoadOutcome, Probe, TargetInfo, http};
use crate::measure::memory;
use crate::measure::sample::{ServerRates, StreamRecord, Usage};
use crate::results::{LoadResult, MemoryResult, WarningKind};
use crate::routes::openai as routes;
use crate::scenario::{OpenAiConfig, Prompt};

pub struct OpenAi {
    client: reqwest::Client,
    model: String,
    target_name: String,
    cfg: OpenAiConfig,
    /// The key, or why there is none although the target names one.
    api_key: Result<Option<String>, String>,
    launcher: Launcher,
    /// Seconds an already-running server was still loading its model before it answered.
    loading_waited: std::sync::Mutex<Option<f64>>,
}

/// Whether a failed `GET /models` is a server still loading its model (llama.cpp's 503).
fn is_loading(reason: &str) -> bool {
    reason.contains("503") && reason.to_ascii_lowercase().contains("loading")
}

/// `GET /models` (and the server's version) within `timeout`, for `mlxbench info`.
pub async fn probe(cfg: &OpenAiConfig, timeout: Duration) -> Probe {
    let b = OpenAi::new("info", "", cfg);
    let (reachable, detail) = match b.models(timeout).await {
        Ok(ids) => (true, b.version().await.unwrap_or_else(|| format!("reachable; models: {}", ids.join(", ")))),
        Err(e) => (false, e),
    };
    Probe { url: cfg.base_url.clone(), reachable, detail }
}

impl OpenAi {
    pub fn new(target_name: &str, model: &str, cfg: &OpenAiConfig) -> Self {
        let api_key = match &cfg.api_key_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => {
                    crate::secrets::register(&k);
                    Ok(Some(k))
                }
                _ => Err(format!("environment variable {var} (named by api_key_env) is not set")),
            },
        };
        OpenAi {
            client: http::client(),
            model: model.to_string(),
            target_name: target_name.to_string(),
            cfg: cfg.clone(),
            api_key,
            launcher: Launcher::default(),
            loading_waited: std::sync::Mutex::new(None),
        }
    }

    fn authed(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Ok(Some(k)) => b.bearer_auth(k),
            _ => b,
        }
    }

    /// `GET /models`: `Ok(ids)` when the server answers 2xx with a JSON body, all within
    /// `timeout`.
    async fn models(&self, timeout: Duration) -> Result<Vec<String>, String> {
        let url = format!("{}{}", self.cfg.base_url, routes::MODELS);
        let v = http::get_json(self.authed(self.client.get(&url)), timeout).await.map_err(|e| e.to_string())?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    /// `GET /models` of an already-running server; while it answers 503 "Loading model"
    /// (llama.cpp loading), asks again every 250 ms, up to `loading_timeout`.
    async fn wait_while_loading(&self) -> Result<(), BackendError> {
        let started = std::time::Instant::now();
        let url = format!("{}{}", self.cfg.base_url, routes::MODELS);
        loop {
            match self.models(Duration::from_secs(5)).await {
                Ok(_) => {
                    if started.elapsed() > Duration::from_millis(200) {
                        *self.loading_waited.lock().unwrap_or_else(|e| e.into_inner()) = Some(started.elapsed().as_secs_f64());
                    }
                    return Ok(());
                }
                Err(reason) if is_loading(&reason) && started.elapsed() < self.cfg.loading_timeout => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(reason) if is_loading(&reason) => {
                    let limit = self.cfg.loading_timeout.as_secs_f64();
                    let reason = format!("{reason}: still loading its model after {limit} s (ready_timeout_s)");
                    return Err(BackendError::Unreachable { url, reason });
                }
                Err(reason) => return Err(BackendError::Unreachable { url, reason }),
            }
        }
    }

    async fn version(&self) -> Option<String> {
        let root = self.cfg.base_url.trim_end_matches("/v1");
        for (path, field) in [("/version", "version"), ("/props", "build_info")] {
            let url = format!("{root}{path}");
            if let Ok(v) = http::get_json(self.authed(self.client.get(&url)), Duration::from_secs(2)).await
                && let Some(s) = v.get(field).and_then(Value::as_str)
            {
                return Some(if path == "/props" { format!("llama.cpp {s}") } else { s.to_string() });
            }
        }
        None
    }

    fn body(&self, req: &GenRequest) -> Value {
        let p = &req.params;
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        match &req.prompt {
            Prompt::Text(t) => body.insert("prompt".into(), json!(t)),
            Prompt::Chat(m) => body.insert("messages".into(), json!(m)),
        };
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
        body.insert("max_tokens".into(), json!(p.max_tokens));
        body.insert("temperature".into(), json!(p.temperature));
        body.insert("seed".into(), json!(p.seed));
        if let Some(tp) = p.top_p {
            body.insert("top_p".into(), json!(tp));
        }
        if p.ignore_eos {
            body.insert("ignore_eos".into(), json!(true));
        }
        body.extend(self.cfg.extra_body.clone());
        Value::Object(body)
    }

    async fn run_request(&self, req: &GenRequest) -> GenResult {
        if let Err(e) = &self.api_key {
            return Err(GenFailure::new(RequestError::Config(e.clone())));
        }
        let path = if matches!(req.prompt, Prompt::Chat(_)) { routes::CHAT } else { routes::COMPLETIONS };
        let url = format!("{}{path}", self.cfg.base_url);
        let builder = self.authed(self.client.post(&url)).json(&self.body(req));
        let mut wire = SseWire::new(handle_event);
        // Servers that end the body without `[DONE]` but after a finish_reason are
        // complete: the OpenAI spec makes `[DONE]` customary, not mandatory.
        wire.finish_reason_completes = true;
        streaming::stream(builder, &url, req.params.timeout_s, req.params.max_tokens, &mut wire).await
    }
}

/// Interprets one SSE event; `Ok(true)` at `[DONE]`.
pub fn handle_event(data: &str, event: Option<&str>, at: Instant, rec: &mut StreamRecord) -> Result<bool, RequestError> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(true);
    }
    if data.is_empty() {
        return Ok(false);
    }
    let v: Value = crate::stream::json::parse(data.as_bytes()).map_err(|e| RequestError::malformed(e, data.as_bytes()))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| err.to_string());
        return Err(RequestError::Server(msg));
    }
    if event == Some("error") {
        return Err(RequestError::Server(crate::secrets::cut(data, 300)));
    }
    if let Some(choices) = v.get("choices").and_then(Value::as_array) {
        for c in choices {
            let delta = c.get("delta");
            let mut text = String::new();
            for field in ["reasoning_content", "reasoning", "content"] {
                if let Some(s) = delta.and_then(|d| d.get(field)).and_then(Value::as_str) {
                    text.push_str(s);
                }
            }
            if let Some(s) = c.get("text").and_then(Value::as_str) {
                text.push_str(s);
            }
            rec.push_text(at, &text, 1);
            if let Some(fr) = c.get("finish_reason").and_then(Value::as_str) {
                rec.finish_reason = Some(fr.to_string());
            }
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        rec.usage = Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64),
            output_tokens: u.get("completion_tokens").and_then(Value::as_u64),
        };
    }
    if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
        rec.server = Some(json!({ "timings": t }));
        rec.server_rates = ServerRates {
            prefill_tokens: t.get("prompt_n").and_then(Value::as_u64),
            prefill_ms: t.get("prompt_ms").and_then(Value::as_f64),
            decode_tps: t.get("predicted_per_second").and_then(Value::as_f64),
        };
    }
    Ok(false)
}

impl Backend for OpenAi {
    fn start(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        async move {
            if let Err(e) = &self.api_key {
                return Err(BackendError::Config(e.clone()));
            }
            match &self.cfg.launch {
                Some(launch) => {
                    let probe = |t| async move { self.models(t).await.map(|_| true) };
                    self.launcher.start(launch, &self.target_name, &self.cfg.base_url, probe).await
                }
                None => self.wait_while_loading().await,
            }
        }
        .boxed()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>> {
        async move {
            let mut info = TargetInfo { backend_version: self.version().await, ..Default::default() };
            match self.models(Duration::from_secs(5)).await {
                Ok(ids) if !ids.is_empty() && !ids.contains(&self.model) => info.warnings.push(
                    WarningKind::ModelState,
                    format!("server lists models [{}], not \"{}\"; it may serve another model under that name", ids.join(", "), self.model),
                ),
                Ok(_) => {}
                Err(e) => info.warnings.push(WarningKind::BackendQuery, format!("cannot list models: {e}")),
            }
            Ok(info)
        }
        .boxed()
    }

    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>> {
        async move {
            let mut out = LoadOutcome::default();
            let pids = self.memory_pids();
            if let Some(ms) = self.launcher.ready_ms() {
                out.load = Some(LoadResult {
                    method: "managed server: spawn -> first successful GET /models (cold start, includes process start-up)".into(),
                    cold_ms: Some(ms),
                    ..Default::default()
                });
            } else {
                out.warnings.push(
                    WarningKind::LoadNotMeasured,
                    "load time not measured: the server was already running (add `launch` to measure it)".into(),
                );
            }
            if let Some(s) = *self.loading_waited.lock().unwrap_or_else(|e| e.into_inner()) {
                out.warnings.push(
                    WarningKind::ModelState,
                    format!("the server was still loading its model (503 Loading model): waited {s:.1} s before the first request"),
                );
            }
            if pids.is_empty() {
                out.warnings.push(
                    WarningKind::MemoryNotMeasured,
                    "memory not measured: server not launched by mlxbench; set `pids` or `process_names`".into(),
                );
            } else {
                out.memory = Some(MemoryResult {
                    source: memory::SOURCE.into(),
                    after_load_bytes: memory::total_bytes(&pids),
                    pids,
                    ..Default::default()
                });
            }
            Ok(out)
        }
        .boxed()
    }

    fn generate<'a>(&'a self, req: &'a GenRequest) -> BoxFuture<'a, GenResult> {
        self.run_request(req).boxed()
    }

    fn memory_pids(&self) -> Vec<u32> {
        if let Some(p) = &self.cfg.pids {
            return p.clone();
        }
        if let Some(pid) = self.launcher.pid() {
            return memory::process_tree(pid);
        }
        self.cfg.process_names.as_ref().map(|n| memory::find_by_name(n)).unwrap_or_default()
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        self.launcher.stop().boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_only_and_null_content_are_not_tokens() {
        let t = Instant::now();
        let mut r = StreamRecord::new(t);
        let role = r#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#;
        assert_eq!(handle_event(role, None, t, &mut r), Ok(false));
        assert!(r.arrivals.is_empty());
        let tok = r#"{"choices":[{"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#;
        handle_event(tok, None, t, &mut r).unwrap();
        assert_eq!(r.arrivals.len(), 1);
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":31,"completion_tokens":5},"timings":{"prompt_n":31,"prompt_ms":46.0,"predicted_per_second":66.9}}"#;
        handle_event(usage, None, t, &mut r).unwrap();
        assert_eq!(r.usage, Usage { prompt_tokens: Some(31), output_tokens: Some(5) });
        assert_eq!(r.server_rates.prefill_ms, Some(46.0));
        assert_eq!(handle_event("[DONE]", None, t, &mut r), Ok(true));
    }

    #[test]
    fn errors_and_garbage_are_reasons_not_panics() {
        let t = Instant::now();
        let mut r = StreamRecord::new(t);
        let e = handle_event(r#"{"error":{"message":"model not loaded"}}"#, None, t, &mut r).unwrap_err();
        assert_eq!(e, RequestError::Server("model not loaded".into()));
        assert!(handle_event("{not json", None, t, &mut r).unwrap_err().to_string().contains("malformed JSON"));
        assert_eq!(handle_event(r#"{"choices":"weird"}"#, None, t, &mut r), Ok(false));
        assert_eq!(handle_event(r#"[1,2]"#, None, t, &mut r), Ok(false));
    }

    #[test]
    fn completions_text_counts() {
        let t = Instant::now();
        let mut r = StreamRecord::new(t);
        handle_event(r#"{"choices":[{"text":" the","finish_reason":"length"}]}"#, None, t, &mut r).unwrap();
        assert_eq!(r.text, " the");
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
    }
}
