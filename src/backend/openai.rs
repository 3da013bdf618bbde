//! OpenAI-compatible servers (llama.cpp, mlx_lm.server, LM Studio, vLLM): streaming
//! `/chat/completions` and `/completions` over SSE with `stream_options.include_usage`.
//!
//! Quirks handled: a role-only first chunk sent before prefill (not a token), `: keepalive`
//! comments during prefill, the role repeated in every delta, `content: null`, a final
//! usage-only chunk with empty `choices`, llama.cpp's `timings`, `[DONE]`, and error
//! objects inside the stream.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::launch::ManagedServer;
use super::streaming::{self, SseWire};
use super::{Backend, BackendError, GenFailure, GenRequest, GenResult, LoadOutcome, TargetInfo, http_client, merge_toml, one_line};
use crate::measure::memory;
use crate::measure::metrics::{ServerRates, StreamRecord, Usage};
use crate::results::{LoadResult, MemoryResult};
use crate::scenario::{Prompt, Target};

pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v1";

/// The base URL a target's `base_url` means, normalised once for every command: the
/// default when absent, `http://` when no scheme is given, no trailing slash.
pub fn resolve_base_url(base_url: Option<&str>) -> String {
    let u = base_url.map(str::trim).filter(|u| !u.is_empty()).unwrap_or(DEFAULT_BASE_URL);
    let u = if u.contains("://") { u.to_string() } else { format!("http://{u}") };
    u.trim_end_matches('/').to_string()
}

pub struct OpenAi {
    client: reqwest::Client,
    base_url: String,
    model: String,
    target_name: String,
    api_key: Result<Option<String>, String>,
    extra_body: Option<toml::Table>,
    launch: Option<Vec<String>>,
    cwd: PathBuf,
    ready_timeout: Duration,
    pids: Option<Vec<u32>>,
    process_names: Option<Vec<String>>,
    server: Mutex<Option<ManagedServer>>,
    ready_ms: Mutex<Option<f64>>,
}

impl OpenAi {
    pub fn new(t: &Target, base_dir: &Path) -> Result<Self, BackendError> {
        let s = &t.spec;
        let base_url = resolve_base_url(s.base_url.as_ref().map(|u| u.get_ref().as_str()));
        let api_key = match &s.api_key_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => Ok(Some(k)),
                _ => Err(format!("environment variable {var} (named by api_key_env) is not set")),
            },
        };
        Ok(OpenAi {
            client: http_client(),
            base_url,
            model: t.model.clone(),
            target_name: t.name.clone(),
            api_key,
            extra_body: s.extra_body.clone(),
            launch: s.launch.as_ref().map(|l| l.get_ref().clone()),
            cwd: base_dir.to_path_buf(),
            ready_timeout: Duration::from_secs_f64(s.ready_timeout_s.as_ref().map_or(180.0, |v| *v.get_ref())),
            pids: s.pids.clone(),
            process_names: s.process_names.clone(),
            server: Mutex::new(None),
            ready_ms: Mutex::new(None),
        })
    }

    fn authed(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Ok(Some(k)) => b.bearer_auth(k),
            _ => b,
        }
    }

    /// `GET /models`: `Ok(ids)` when the server answers 2xx.
    async fn models(&self, timeout: Duration) -> Result<Vec<String>, String> {
        let url = format!("{}/models", self.base_url);
        let resp = tokio::time::timeout(timeout, self.authed(self.client.get(&url)).send())
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs_f64()))?
            .map_err(|e| one_line(&e))?;
        if !resp.status().is_success() {
            return Err(super::http_error(resp).await);
        }
        let v: Value = resp.json().await.map_err(|e| format!("bad /models answer: {}", one_line(&e)))?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    async fn launch_and_wait(&self, argv: &[String]) -> Result<(), BackendError> {
        if self.models(Duration::from_millis(500)).await.is_ok() {
            return Err(BackendError::Launch(format!(
                "something already answers at {}; refusing to launch a second server there (stop it, or remove `launch` to benchmark it as is)",
                self.base_url
            )));
        }
        let t0 = Instant::now();
        let server = ManagedServer::spawn(argv, &self.cwd, &self.target_name)?;
        *self.lock_server() = Some(server);
        loop {
            if let Some(why) = self.lock_server().as_mut().and_then(ManagedServer::exited) {
                return Err(BackendError::Launch(why));
            }
            if self.models(Duration::from_millis(1000)).await.is_ok() {
                *self.ready_ms.lock().unwrap_or_else(|e| e.into_inner()) = Some(crate::measure::ms(t0.elapsed()));
                return Ok(());
            }
            if t0.elapsed() > self.ready_timeout {
                let tail = self.lock_server().as_ref().map(|s| s.log_tail(5)).unwrap_or_default();
                return Err(BackendError::Launch(format!(
                    "server did not answer at {} within {} s; {tail}",
                    self.base_url,
                    self.ready_timeout.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn lock_server(&self) -> std::sync::MutexGuard<'_, Option<ManagedServer>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn version(&self) -> Option<String> {
        let root = self.base_url.trim_end_matches("/v1");
        for (path, field) in [("/version", "version"), ("/props", "build_info")] {
            let req = self.authed(self.client.get(format!("{root}{path}")));
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), req.send()).await {
                if r.status().is_success() {
                    if let Ok(v) = r.json::<Value>().await {
                        if let Some(s) = v.get(field).and_then(Value::as_str) {
                            return Some(if path == "/props" { format!("llama.cpp {s}") } else { s.to_string() });
                        }
                    }
                }
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
        merge_toml(&mut body, self.extra_body.as_ref());
        Value::Object(body)
    }

    async fn run_request(&self, req: &GenRequest) -> GenResult {
        if let Err(e) = &self.api_key {
            return Err(GenFailure::new(e.clone()));
        }
        let path = if matches!(req.prompt, Prompt::Chat(_)) { "chat/completions" } else { "completions" };
        let url = format!("{}/{path}", self.base_url);
        let builder = self.authed(self.client.post(&url)).json(&self.body(req));
        let mut wire = SseWire::new(handle_event);
        // Servers that end the body without `[DONE]` but after a finish_reason are
        // complete: the OpenAI spec makes `[DONE]` customary, not mandatory.
        wire.finish_reason_completes = true;
        streaming::stream(builder, &url, req.params.timeout_s, &mut wire).await
    }
}

/// Interprets one SSE event; `Ok(true)` at `[DONE]`.
pub fn handle_event(data: &str, event: Option<&str>, at: Instant, rec: &mut StreamRecord) -> Result<bool, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(true);
    }
    if data.is_empty() {
        return Ok(false);
    }
    let v: Value = serde_json::from_str(data).map_err(|e| {
        let shown: String = data.chars().take(80).collect();
        format!("malformed JSON in stream ({e}): {shown}")
    })?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| err.to_string());
        return Err(format!("server error in stream: {msg}"));
    }
    if event == Some("error") {
        return Err(format!("server error in stream: {data}"));
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
            match &self.launch {
                Some(argv) => self.launch_and_wait(argv).await,
                None => self
                    .models(Duration::from_secs(5))
                    .await
                    .map(|_| ())
                    .map_err(|reason| BackendError::Unreachable { url: format!("{}/models", self.base_url), reason }),
            }
        }
        .boxed()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>> {
        async move {
            let mut info = TargetInfo { backend_version: self.version().await, ..Default::default() };
            match self.models(Duration::from_secs(5)).await {
                Ok(ids) if !ids.is_empty() && !ids.contains(&self.model) => info.warnings.push(format!(
                    "server lists models [{}], not \"{}\"; it may serve another model under that name",
                    ids.join(", "),
                    self.model
                )),
                Ok(_) => {}
                Err(e) => info.warnings.push(format!("cannot list models: {e}")),
            }
            Ok(info)
        }
        .boxed()
    }

    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>> {
        async move {
            let mut out = LoadOutcome::default();
            let pids = self.memory_pids();
            if let Some(ms) = *self.ready_ms.lock().unwrap_or_else(|e| e.into_inner()) {
                out.load = Some(LoadResult {
                    method: "managed server: spawn -> first successful GET /models (cold start, includes process start-up)".into(),
                    cold_ms: Some(ms),
                    ..Default::default()
                });
            } else {
                out.warnings.push("load time not measured: the server was already running (add `launch` to measure it)".into());
            }
            if pids.is_empty() {
                out.warnings.push("memory not measured: server not launched by mlxbench; set `pids` or `process_names`".into());
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
        if let Some(p) = &self.pids {
            return p.clone();
        }
        if let Some(pid) = self.lock_server().as_ref().map(|s| s.pid) {
            return memory::process_tree(pid);
        }
        self.process_names.as_ref().map(|n| memory::find_by_name(n)).unwrap_or_default()
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        async move {
            let server = self.lock_server().take();
            if let Some(mut s) = server {
                let _ = tokio::task::spawn_blocking(move || s.stop(Duration::from_secs(10))).await;
            }
        }
        .boxed()
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
        assert!(e.contains("model not loaded"));
        assert!(handle_event("{not json", None, t, &mut r).unwrap_err().contains("malformed JSON"));
        assert_eq!(handle_event(r#"{"choices":"weird"}"#, None, t, &mut r), Ok(false));
        assert_eq!(handle_event(r#"[1,2]"#, None, t, &mut r), Ok(false));
    }

    #[test]
    fn base_urls_normalise_once() {
        assert_eq!(resolve_base_url(None), DEFAULT_BASE_URL);
        assert_eq!(resolve_base_url(Some("127.0.0.1:18081/v1")), "http://127.0.0.1:18081/v1");
        assert_eq!(resolve_base_url(Some("https://box/v1/")), "https://box/v1");
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
