//! Ollama's native API: streaming NDJSON from `/api/generate` and `/api/chat`, model
//! checks through `/api/version`, `/api/tags`, `/api/show`, load measurement through
//! `keep_alive: 0` unloads, and server memory through `/api/ps`.
//!
//! Server timings are kept raw (nanoseconds). Ollama's `eval_count` includes the first
//! sampled token while `eval_duration` starts at it, so the server-side decode rate is
//! `(eval_count - 1) / eval_duration`, the same N-over-N-1 definition as our client rate.

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::error::{BackendError, RequestError};
use super::launch::{Launcher, Readiness};
use super::streaming::{self, NdjsonWire};
use super::{Backend, GenRequest, GenResult, LoadOutcome, Probe, TargetInfo, http};
use crate::measure::memory;
use crate::measure::sample::{ServerRates, StreamRecord, Usage};
use crate::results::{LoadResult, MemoryResult, WarningKind};
use crate::routes::ollama as routes;
use crate::scenario::{OllamaConfig, Prompt};

/// Keeps the model resident through a run with cooldowns (Ollama's default is 5 minutes).
const KEEP_ALIVE: &str = "30m";

pub struct Ollama {
    client: reqwest::Client,
    model: String,
    target_name: String,
    cfg: OllamaConfig,
    launcher: Launcher,
}

/// The model names of an `/api/tags` answer.
fn tag_names(tags: &Value) -> Vec<String> {
    tags.get("models")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m.get("name").or_else(|| m.get("model")).and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Does the tag list name this model? `llama3` matches `llama3:latest`.
pub fn model_listed(model: &str, names: &[String]) -> bool {
    names.iter().any(|n| n == model || (!model.contains(':') && *n == format!("{model}:latest")))
}

/// The port of a host on this machine (`127.0.0.1`, `localhost`, `[::1]`).
fn local_port(host: &str) -> Option<u16> {
    let rest = host.split_once("://").map_or(host, |(_, r)| r);
    let (name, port) = rest.rsplit_once(':')?;
    ["127.0.0.1", "localhost", "[::1]", "0.0.0.0"].contains(&name).then(|| port.parse().ok()).flatten()
}

fn ns_to_ms(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).map(|ns| ns / 1e6)
}

/// `GET /api/version` within `timeout`, for `mlxbench info`.
pub async fn probe(cfg: &OllamaConfig, timeout: Duration) -> Probe {
    let url = format!("{}/api/version", cfg.host);
    let res = http::get_json(http::client().get(&url), timeout).await;
    let detail = match &res {
        Ok(v) => v.get("version").and_then(Value::as_str).map_or_else(|| "reachable".into(), |v| format!("ollama {v}")),
        Err(e) => e.to_string(),
    };
    Probe { url: cfg.host.clone(), reachable: res.is_ok(), detail }
}

impl Ollama {
    pub fn new(target_name: &str, model: &str, cfg: &OllamaConfig) -> Self {
        Ollama {
            client: http::client(),
            model: model.to_string(),
            target_name: target_name.into(),
            cfg: cfg.clone(),
            launcher: Launcher::default(),
        }
    }

    /// Ready when `/api/tags` lists the model (a launch script may still be importing it).
    async fn model_ready(&self, timeout: Duration) -> Readiness {
        let url = format!("{}/api/tags", self.cfg.host);
        let tags = http::get_json(self.client.get(&url), timeout).await.map_err(|e| e.to_string())?;
        Ok(model_listed(&self.model, &tag_names(&tags)))
    }

    async fn get_json(&self, path: &str) -> Result<Value, BackendError> {
        self.call(self.client.get(format!("{}{path}", self.cfg.host)), path, Duration::from_secs(5)).await
    }

    async fn post_json(&self, path: &str, body: Value, timeout: Duration) -> Result<Value, BackendError> {
        self.call(self.client.post(format!("{}{path}", self.cfg.host)).json(&body), path, timeout).await
    }

    /// One JSON call: answer and body within `timeout`, body within the size cap.
    async fn call(&self, b: reqwest::RequestBuilder, path: &str, timeout: Duration) -> Result<Value, BackendError> {
        let url = format!("{}{path}", self.cfg.host);
        http::get_json(b, timeout).await.map_err(|e| match e {
            http::JsonError::NoAnswer(reason) => BackendError::Unreachable { url, reason },
            http::JsonError::Status { not_found, error } => {
                let msg = error.to_string();
                if not_found && path != routes::VERSION && msg.contains("not found") && msg.contains("model") {
                    BackendError::ModelNotFound { model: self.model.clone(), url: self.cfg.host.clone(), available: vec![] }
                } else {
                    BackendError::Request(format!("{url}: {msg}"))
                }
            }
            http::JsonError::Body(reason) => BackendError::Request(format!("{url}: {reason}")),
        })
    }

    async fn tag_names(&self) -> Result<Vec<String>, BackendError> {
        Ok(tag_names(&self.get_json(routes::TAGS).await?))
    }

    /// The `/api/ps` entry of our model, if loaded.
    async fn ps_entry(&self) -> Option<Value> {
        let ps = self.get_json(routes::PS).await.ok()?;
        ps.get("models")?
            .as_array()?
            .iter()
            .find(|m| {
                let name = m.get("name").or_else(|| m.get("model")).and_then(Value::as_str).unwrap_or("");
                model_listed(&self.model, &[name.to_string()])
            })
            .cloned()
    }

    /// A load through a one-token generation: `(wall ms, server load_duration ms)`. An
    /// empty request would load too, but Ollama answers it without `load_duration`.
    async fn timed_load(&self) -> Result<(f64, Option<f64>), BackendError> {
        let body = json!({"model": self.model, "prompt": ".", "raw": true, "keep_alive": KEEP_ALIVE, "stream": false,
            "options": {"num_predict": 1, "temperature": 0}});
        let t0 = Instant::now();
        let v = self.post_json(routes::GENERATE, body, self.cfg.load_timeout).await?;
        Ok((crate::measure::ms(t0.elapsed()), ns_to_ms(v.get("load_duration"))))
    }

    fn options(&self, req: &GenRequest) -> Value {
        let p = &req.params;
        let mut o = Map::new();
        o.insert("num_predict".into(), json!(p.max_tokens));
        o.insert("temperature".into(), json!(p.temperature));
        o.insert("seed".into(), json!(p.seed));
        if let Some(tp) = p.top_p {
            o.insert("top_p".into(), json!(tp));
        }
        o.extend(self.cfg.options.clone());
        Value::Object(o)
    }

    async fn run_request(&self, req: &GenRequest) -> GenResult {
        let (path, body) = match &req.prompt {
            Prompt::Text(t) => (
                routes::GENERATE,
                json!({"model": self.model, "prompt": t, "stream": true,
                "keep_alive": KEEP_ALIVE, "options": self.options(req)}),
            ),
            Prompt::Chat(m) => (
                routes::CHAT,
                json!({"model": self.model, "messages": m, "stream": true,
                "keep_alive": KEEP_ALIVE, "options": self.options(req)}),
            ),
        };
        let url = format!("{}{path}", self.cfg.host);
        let p = &req.params;
        streaming::stream(self.client.post(&url).json(&body), &url, p.timeout_s, p.max_tokens, &mut NdjsonWire::new(handle_line)).await
    }
}

/// Interprets one NDJSON line; `Ok(true)` on the final `done: true` object.
pub fn handle_line(line: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, RequestError> {
    let v: Value = crate::stream::json::parse(line).map_err(|e| RequestError::malformed(e, line))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err.as_str().map(str::to_string).unwrap_or_else(|| err.to_string());
        return Err(RequestError::Server(msg));
    }
    let mut text = String::new();
    for holder in [Some(&v), v.get("message")].into_iter().flatten() {
        for field in ["thinking", "response", "content"] {
            if let Some(s) = holder.get(field).and_then(Value::as_str) {
                text.push_str(s);
            }
        }
    }
    rec.push_text(at, &text, 1);
    if v.get("done").and_then(Value::as_bool) != Some(true) {
        return Ok(false);
    }
    rec.done = Some(at);
    let eval_count = v.get("eval_count").and_then(Value::as_u64);
    let prompt_eval_count = v.get("prompt_eval_count").and_then(Value::as_u64);
    rec.usage = Usage { prompt_tokens: prompt_eval_count, output_tokens: eval_count };
    let eval_ms = ns_to_ms(v.get("eval_duration"));
    rec.server_rates = ServerRates {
        prefill_tokens: prompt_eval_count,
        prefill_ms: ns_to_ms(v.get("prompt_eval_duration")),
        decode_tps: match (eval_count, eval_ms) {
            (Some(n), Some(ms)) if n >= 2 && ms > 0.0 => Some((n - 1) as f64 / (ms / 1e3)),
            _ => None,
        },
    };
    rec.finish_reason = v.get("done_reason").and_then(Value::as_str).map(str::to_string);
    let mut server = Map::new();
    for k in ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration", "done_reason"]
    {
        if let Some(x) = v.get(k) {
            server.insert(k.into(), x.clone());
        }
    }
    rec.server = Some(Value::Object(server));
    Ok(true)
}

impl Backend for Ollama {
    fn start(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        async move {
            match &self.cfg.launch {
                Some(launch) => self.launcher.start(launch, &self.target_name, &self.cfg.host, |t| self.model_ready(t)).await,
                None => self.get_json(routes::VERSION).await.map(|_| ()),
            }
        }
        .boxed()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>> {
        async move {
            let version = self.get_json(routes::VERSION).await?;
            let names = self.tag_names().await?;
            if !model_listed(&self.model, &names) {
                return Err(BackendError::ModelNotFound { model: self.model.clone(), url: self.cfg.host.clone(), available: names });
            }
            let mut info = TargetInfo {
                backend_version: version.get("version").and_then(Value::as_str).map(|v| format!("ollama {v}")),
                ..Default::default()
            };
            match self.post_json(routes::SHOW, json!({"model": self.model}), Duration::from_secs(10)).await {
                Ok(show) => info.model_info = show.get("details").cloned(),
                Err(e) => info.warnings.push(WarningKind::BackendQuery, format!("/api/show failed: {e}")),
            }
            Ok(info)
        }
        .boxed()
    }

    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>> {
        async move {
            let mut out = LoadOutcome::default();
            // Unload, and wait until /api/ps agrees, so the next request loads from cold.
            self.post_json(routes::GENERATE, json!({"model": self.model, "keep_alive": 0}), Duration::from_secs(60)).await?;
            let t0 = Instant::now();
            while self.ps_entry().await.is_some() && t0.elapsed() < Duration::from_secs(15) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if self.ps_entry().await.is_some() {
                out.warnings.push(WarningKind::ModelState, "model still listed by /api/ps after unload: cold load may be warm".into());
            }
            let base_pids = self.memory_pids();
            let baseline = memory::total_bytes(&base_pids);
            let (cold_ms, server_cold_ms) = self.timed_load().await?;
            let pids = self.memory_pids();
            let after = memory::total_bytes(&pids);
            let (warm_ms, server_warm_ms) = self.timed_load().await?;
            out.load = Some(LoadResult {
                method: "ollama: unload with keep_alive 0, then wall time of a one-token /api/generate (cold: load + 1 prompt token + 1 generated token) and of a second one (warm); server_* are Ollama's load_duration of each".into(),
                cold_ms: Some(cold_ms),
                warm_ms: Some(warm_ms),
                server_cold_ms,
                server_warm_ms,
            });
            let ps = self.ps_entry().await;
            if pids.is_empty() {
                out.warnings.push(WarningKind::MemoryNotMeasured, "no ollama processes found for memory (remote server?); set `pids` or `process_names`".into());
            }
            out.memory = Some(MemoryResult {
                source: memory::SOURCE.into(),
                pids,
                baseline_bytes: baseline,
                after_load_bytes: after,
                load_delta_bytes: baseline.zip(after).map(|(b, a)| a as i64 - b as i64),
                server_reported: ps.map(|p| json!({"size": p.get("size"), "size_vram": p.get("size_vram")})),
                ..Default::default()
            });
            Ok(out)
        }
        .boxed()
    }

    fn generate<'a>(&'a self, req: &'a GenRequest) -> BoxFuture<'a, GenResult> {
        self.run_request(req).boxed()
    }

    /// `pids` when given; else the launched server's process tree; else, for a local
    /// host, the tree of the process listening on its port (`ollama serve` and its
    /// `ollama runner` children); else processes found by name.
    fn memory_pids(&self) -> Vec<u32> {
        if let Some(p) = &self.cfg.pids {
            return p.clone();
        }
        if let Some(pid) = self.launcher.pid().or_else(|| local_port(&self.cfg.host).and_then(memory::pid_listening_on)) {
            return memory::process_tree(pid);
        }
        memory::find_by_name(&self.cfg.process_names)
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        self.launcher.stop().boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_latest() {
        let names = vec!["llama3:latest".to_string(), "smollm2:135m".to_string()];
        assert!(model_listed("llama3", &names));
        assert!(model_listed("smollm2:135m", &names));
        assert!(!model_listed("smollm2", &names));
    }

    #[test]
    fn final_line_gives_counts_and_n_minus_one_rate() {
        let t = Instant::now();
        let mut r = StreamRecord::new(t);
        assert_eq!(handle_line(br#"{"response":"Hi","done":false}"#, t, &mut r), Ok(false));
        assert_eq!(handle_line(br#"{"message":{"role":"assistant","content":""},"done":false}"#, t, &mut r), Ok(false));
        assert_eq!(r.arrivals.len(), 1);
        let fin = br#"{"response":"","done":true,"done_reason":"length","total_duration":5000000000,"load_duration":1000,"prompt_eval_count":10,"prompt_eval_duration":20000000,"eval_count":11,"eval_duration":200000000,"context":[1,2,3]}"#;
        assert_eq!(handle_line(fin, t, &mut r), Ok(true));
        assert_eq!(r.usage.output_tokens, Some(11));
        assert!((r.server_rates.decode_tps.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(r.server_rates.prefill_ms, Some(20.0));
        assert!(r.server.as_ref().unwrap().get("context").is_none());
        assert!(handle_line(br#"{"error":"model 'x' not found"}"#, t, &mut r).unwrap_err().to_string().contains("not found"));
        assert_eq!(handle_line(b"{oops", t, &mut r).unwrap_err().kind(), crate::measure::sample::ErrorKind::Malformed);
    }
}
