//! `mlxbench serve` end to end on tiny random-weight models the tests generate: the
//! official `ollama` and `openai` Python clients (tests/fixtures/serve_clients.py),
//! mlxbench's own `ollama` and `openai` backends through a scenario that launches the
//! server, and faults: malformed JSON, a client that leaves mid-stream, a full queue, a
//! model that fails to load, an oversize request, unknown models.
#![cfg(feature = "mlx")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::serve::Server;
use common::{mlxbench, python, read_result, root, write_scenario};
use serde_json::{Value, json};

fn tiny(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let script = root().join("tests/fixtures/make_tiny_model.py");
    let out = Command::new(python()).arg(script).arg(&p).output().expect("python");
    assert!(out.status.success(), "make_tiny_model.py: {}", String::from_utf8_lossy(&out.stderr));
    p
}

/// A folder with `tiny` (runs) and `broken` (config fine, weights garbage: fails to load).
fn models() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let t = tiny(d.path(), "tiny");
    let b = d.path().join("broken");
    std::fs::create_dir_all(&b).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(t.join(f), b.join(f)).unwrap();
    }
    std::fs::write(b.join("model.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{\"x\":garbage}   ").unwrap();
    d
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn ready() -> bool {
    let ok = Command::new(python()).args(["-c", "import ollama, openai, mlx_lm"]).output().is_ok_and(|o| o.status.success());
    !common::skip_unless_set_up("the ollama and openai Python packages (scripts/test.sh installs them)", ok)
}

/// The models and a server over them, or `None` (skipped) without the Python set-up.
fn served(extra: &[&str]) -> Option<(tempfile::TempDir, Server)> {
    if !ready() {
        return None;
    }
    let m = models();
    let s = Server::start(m.path(), extra);
    Some((m, s))
}

#[test]
fn official_clients_drive_every_endpoint() {
    let Some((_m, s)) = served(&[]) else { return };
    let out = Command::new(python()).arg(root().join("tests/fixtures/serve_clients.py")).args([&s.url, "tiny:latest"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "serve_clients.py failed:\n{text}");
    assert!(text.contains("ok: 2"), "{text}");
}

async fn post(c: &reqwest::Client, url: &str, body: Value) -> (u16, Value, Option<String>) {
    let r = c.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_string());
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v, retry)
}

#[test]
fn errors_come_in_each_apis_shape() {
    let Some((_m, s)) = served(&[]) else { return };
    rt().block_on(async {
        let c = reqwest::Client::new();
        for (path, bad) in [("/api/generate", "{\"model\": \"tiny\", "), ("/api/chat", "[1,2]")] {
            let r = c.post(format!("{}{path}", s.url)).body(bad).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 400, "{path}");
            let v: Value = r.json().await.unwrap();
            assert!(v["error"].as_str().is_some_and(|e| e.contains("JSON")), "{v}");
        }
        let r = c.post(format!("{}/v1/chat/completions", s.url)).body("{oops").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("JSON"), "{v}");

        let (st, v, _) = post(&c, &format!("{}/api/generate", s.url), json!({"model": "ghost", "prompt": "x"})).await;
        assert_eq!(st, 404);
        assert!(
            v["error"].as_str().unwrap().contains("\"ghost\" not found") && v["error"].as_str().unwrap().contains("tiny:latest"),
            "{v}"
        );
        let (st, v, _) = post(&c, &format!("{}/v1/completions", s.url), json!({"model": "ghost", "prompt": "x"})).await;
        assert_eq!((st, v["error"]["code"].as_str()), (404, Some("model_not_found")), "{v}");

        // over the context (2048): 400, before anything is generated
        let big = json!({"model": "tiny", "prompt": "x", "stream": false, "options": {"num_predict": 5000}});
        let (st, v, _) = post(&c, &format!("{}/api/generate", s.url), big).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains("exceeds the model's context of 2048"), "{v}");
        let big = json!({"model": "tiny", "prompt": "x", "max_tokens": 5000});
        let (st, v, _) = post(&c, &format!("{}/v1/completions", s.url), big).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("context"), "{v}");

        // a model that fails to load: 500 with the reason, and the server goes on
        let (st, v, _) =
            post(&c, &format!("{}/api/chat", s.url), json!({"model": "broken", "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(st, 500, "{v}");
        assert!(v["error"].as_str().unwrap().contains("cannot load broken:latest"), "{v}");
        let (st, v, _) = post(
            &c,
            &format!("{}/v1/chat/completions", s.url),
            json!({"model": "broken", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!((st, v["error"]["type"].as_str()), (500, Some("server_error")), "{v}");
        let ok = json!({"model": "tiny", "prompt": "x", "stream": false, "options": {"num_predict": 3, "ignore_eos": true}});
        let (st, v, _) = post(&c, &format!("{}/api/generate", s.url), ok).await;
        assert_eq!((st, v["eval_count"].as_u64()), (200, Some(3)), "{v}");

        // refused features say so
        let (st, v, _) = post(&c, &format!("{}/api/generate", s.url), json!({"model": "tiny", "prompt": "x", "format": "json"})).await;
        assert_eq!(st, 400);
        assert!(v["error"].as_str().unwrap().contains("\"format\" is not supported"), "{v}");
        let r = c.get(format!("{}/api/nothing-here", s.url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
        assert_eq!(c.head(format!("{}/", s.url)).send().await.unwrap().status().as_u16(), 200);
    });
}

#[test]
fn a_client_that_leaves_mid_stream_frees_the_engine_at_once() {
    let Some((_m, s)) = served(&[]) else { return };
    rt().block_on(async {
        let c = reqwest::Client::new();
        let body = |n: u32, stream: bool| json!({"model": "tiny", "prompt": "The", "raw": true, "stream": stream, "options": {"num_predict": n, "ignore_eos": true, "temperature": 0}});
        // how long the long generation takes when nobody leaves
        let t0 = Instant::now();
        let (st, full, _) = post(&c, &format!("{}/api/generate", s.url), body(2000, false)).await;
        let whole = t0.elapsed();
        assert_eq!((st, full["eval_count"].as_u64()), (200, Some(2000)), "{full}");
        // the same, streamed, left after a few lines
        let mut r = c.post(format!("{}/api/generate", s.url)).json(&body(2000, true)).send().await.unwrap();
        let mut got = 0;
        while got < 3 {
            let chunk = r.chunk().await.unwrap().expect("stream ended early");
            got += chunk.iter().filter(|b| **b == b'\n').count();
        }
        drop(r);
        let t1 = Instant::now();
        let (st, next, _) = post(&c, &format!("{}/api/generate", s.url), body(4, false)).await;
        let waited = t1.elapsed();
        assert_eq!(st, 200, "{next}");
        // had the abandoned generation run on, this request would have waited most of `whole`
        assert!(waited < whole / 4, "next request took {waited:?}; the whole generation takes {whole:?}");
        let queued_ms = (next["total_duration"].as_u64().unwrap() - next["prompt_eval_duration"].as_u64().unwrap()) as f64 / 1e6;
        assert!(queued_ms < whole.as_secs_f64() * 1e3 / 4.0, "{next}");
    });
}

#[test]
fn fifty_concurrent_requests_against_a_queue_of_eight_complete_or_get_503() {
    let Some((_m, s)) = served(&["--queue", "8"]) else { return };
    rt().block_on(async {
        let c = reqwest::Client::new();
        let url = format!("{}/api/generate", s.url);
        // loaded first, so every request below costs only its generation
        let (st, _, _) = post(&c, &url, json!({"model": "tiny", "keep_alive": "10m"})).await;
        assert_eq!(st, 200);
        let body =
            json!({"model": "tiny", "prompt": "The", "raw": true, "stream": false, "options": {"num_predict": 300, "ignore_eos": true}});
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (c, url, body) = (c.clone(), url.clone(), body.clone());
                tokio::spawn(async move { tokio::time::timeout(Duration::from_secs(300), post(&c, &url, body)).await })
            })
            .collect();
        let (mut done, mut busy) = (0, 0);
        for t in tasks {
            let (st, v, retry) = t.await.unwrap().expect("a request hung for 300 s");
            match st {
                200 => {
                    assert_eq!(v["eval_count"].as_u64(), Some(300), "{v}");
                    done += 1;
                }
                503 => {
                    assert_eq!(retry.as_deref(), Some("1"), "503 without Retry-After");
                    assert!(v["error"].as_str().unwrap().contains("queue is full"), "{v}");
                    busy += 1;
                }
                other => panic!("status {other}: {v}"),
            }
        }
        assert_eq!(done + busy, 50);
        // the eight queued complete; a ninth too when the engine took the first one off
        // the queue before the burst filled it (under load it may not have yet)
        assert!(done >= 8 && busy >= 1, "{done} completed, {busy} refused");
        let r = c.get(format!("{}/api/version", s.url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "the server is still up");
    });
}

/// mlxbench's own ollama and openai backends against a server the scenario launches:
/// token counts are the server's, and the server's timings agree with the client's.
#[test]
fn the_harness_benchmarks_its_own_server_through_both_apis() {
    if !ready() {
        return;
    }
    let m = models();
    let out = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bin = assert_cmd::cargo::cargo_bin("mlxbench");
    let launch = format!("[\"{}\", \"serve\", \"--port\", \"{port}\", \"--models\", \"{}\"]", bin.display(), m.path().display());
    let toml = format!(
        r#"
name = "serve-e2e"
[defaults]
# identical prompts, greedy: every request generates the same tokens, so whether each
# token completes text (random weights emit lone bytes) is the same in every run
prompt_cache = "warm"
iterations = 3
warmup = 1
max_tokens = 128
temperature = 0.0
ignore_eos = true
[[targets]]
name = "via-ollama"
backend = "ollama"
model = "tiny"
host = "127.0.0.1:{port}"
options = {{ ignore_eos = true }}
launch = {launch}
[[targets]]
name = "via-openai"
backend = "openai"
model = "tiny"
base_url = "http://127.0.0.1:{port}/v1"
launch = {launch}
[[workloads]]
name = "chat"
messages = [{{ role = "user", content = "Benchmarks measure time to first token." }}]
"#
    );
    let sc = write_scenario(out.path(), "serve", &toml);
    let res = out.path().join("results");
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&res).arg(&sc).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let r = read_result(&res);
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let samples = case["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 3);
        for s in samples {
            assert_eq!(s["ok"], true, "{s}");
            assert_eq!(s["output_tokens"].as_u64(), Some(128), "{s}");
            assert_eq!(s["token_source"], "backend", "{s}");
            let ttft = s["ttft_ms"].as_f64().unwrap();
            let server_prefill =
                s["server"]["prompt_eval_duration"].as_f64().map(|n| n / 1e6).or_else(|| s["server"]["timings"]["prompt_ms"].as_f64());
            let server_prefill = server_prefill.unwrap_or_else(|| panic!("no server prefill time in {s}"));
            // the client sees the first token after the server read it, and not much later
            assert!(ttft >= server_prefill && ttft - server_prefill < 50.0, "TTFT {ttft} vs server prefill {server_prefill}: {s}");
            let (client, server) = (s["decode_tps"].as_f64().unwrap(), s["decode_tps_server"].as_f64().unwrap());
            assert!((client / server - 1.0).abs() < 0.25, "decode {client} tok/s by the client vs {server} by the server: {s}");
        }
    }
    // the same chat template behind both APIs: the same prompt lengths
    let prompt_len = |c: &Value| c["samples"][0]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(prompt_len(&cases[0]), prompt_len(&cases[1]));
}

#[test]
fn models_list_names_every_model_and_why_one_does_not_run() {
    if !ready() {
        return;
    }
    let m = models();
    let odd = m.path().join("family/ssm");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("config.json"), r#"{"model_type": "mamba", "hidden_size": 64}"#).unwrap();
    let o = mlxbench().args(["models", "list", "--json", "--models"]).arg(m.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let by = |n: &str| v.as_array().unwrap().iter().find(|e| e["name"] == n).unwrap_or_else(|| panic!("no {n} in {v}")).clone();
    let t = by("tiny:latest");
    assert_eq!(
        (t["supported"].as_bool(), t["architecture"].as_str(), t["format"].as_str()),
        (Some(true), Some("llama"), Some("safetensors"))
    );
    assert!(t["parameters"].as_u64().unwrap() > 10_000 && t["size_bytes"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["context_length"].as_u64(), Some(2048));
    let ssm = by("ssm:latest");
    assert_eq!(ssm["supported"], false);
    assert!(ssm["reason"].as_str().unwrap().contains("unsupported architecture \"mamba\""), "{ssm}");
    let o = mlxbench().args(["models", "list", "--models"]).arg(m.path()).output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("tiny:latest") && table.contains("ssm:latest does not run here: unsupported architecture"), "{table}");
    // the mlx backend takes the same names through $MLXBENCH_MODELS
    let o = mlxbench()
        .env("MLXBENCH_MODELS", m.path())
        .args(["models", "generate", "tiny:latest", "--ids", "1,2,3", "--max-tokens", "4"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(g["token_ids"].as_array().unwrap().len(), 4, "{g}");
}

#[test]
fn sigterm_stops_the_server_even_while_a_client_streams() {
    let Some((_m, mut s)) = served(&[]) else { return };
    let url = format!("{}/api/generate", s.url);
    let body = json!({"model": "tiny", "prompt": "The", "raw": true, "options": {"num_predict": 2000, "ignore_eos": true}});
    let client = std::thread::spawn(move || {
        let rt = rt();
        rt.block_on(async move {
            let mut r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            while let Ok(Some(_)) = r.chunk().await {}
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    // SAFETY: kill(2) on our own child's pid
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "serve still running 15 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
    client.join().unwrap();
}
