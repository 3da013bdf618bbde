//! The `ollama` backend against the real Ollama server (`../shared/tools/ollama`, built
//! from upstream for these machines; else an `ollama` on PATH): each test starts its own
//! `ollama serve` on a free port with its own HOME and models folder and
//! `OLLAMA_NO_CLOUD=1`, imports the SmolLM2 GGUF with `ollama create`, and runs
//! scenarios through the backend. Without an Ollama or the model the tests say SKIPPED
//! (and fail under scripts/test.sh, which requires them).

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{mlxbench, read_result, root, write_scenario};
use serde_json::Value;

/// A private `ollama serve` with the SmolLM2 GGUF imported as `smollm2`.
struct RealOllama {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

impl RealOllama {
    fn start() -> Option<RealOllama> {
        let gguf = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        let bin = common::ollama_binary();
        let what = "a real Ollama (../shared/tools/ollama or `ollama` on PATH) and the SmolLM2 GGUF";
        if common::skip_unless_set_up(what, bin.is_some() && gguf.exists()) {
            return None;
        }
        let bin = bin?;
        let home = tempfile::tempdir().unwrap();
        let home_path = home.path().to_path_buf();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let env = |c: &mut Command| {
            c.env("HOME", &home_path).env("OLLAMA_MODELS", home_path.join("models")).env("OLLAMA_HOST", &host).env("OLLAMA_NO_CLOUD", "1");
        };
        let mut serve = Command::new(&bin);
        env(&mut serve);
        let log = std::fs::File::create(home_path.join("serve.log")).unwrap();
        let child = serve.arg("serve").stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let server = RealOllama { child, port, _home: home };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "ollama serve did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let modelfile = home_path.join("Modelfile");
        std::fs::write(&modelfile, format!("FROM {}\n", gguf.display())).unwrap();
        let mut create = Command::new(&bin);
        env(&mut create);
        let out = create.args(["create", "smollm2", "-f"]).arg(&modelfile).output().unwrap();
        assert!(out.status.success(), "ollama create: {}", String::from_utf8_lossy(&out.stderr));
        Some(server)
    }

    /// Loads the model now (as another client would have), so the backend's cold load
    /// must really unload it first.
    fn preload(&self) {
        use std::io::{Read, Write};
        let body = r#"{"model":"smollm2","keep_alive":"30m","stream":false}"#;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", self.port, body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.contains("\"done_reason\":\"load\""), "{out}");
    }

    fn target(&self, name: &str, model: &str) -> String {
        format!("[[targets]]\nname = \"{name}\"\nbackend = \"ollama\"\nmodel = \"{model}\"\nhost = \"127.0.0.1:{}\"\n", self.port)
    }
}

impl Drop for RealOllama {
    /// SIGTERM first: `ollama serve` then stops its runners (after SIGKILL they would be
    /// left spinning a core).
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal to our own child
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(dir: &Path, name: &str, toml: &str) -> (Value, String) {
    let f = write_scenario(dir, name, toml);
    let out = dir.join(format!("results-{name}"));
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).timeout(Duration::from_secs(600)).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (read_result(&out), text)
}

const WORKLOADS: &str = "[[workloads]]\nname = \"gen\"\nprompt = \"The capital of France is\"\n\n[[workloads]]\nname = \"chat\"\nmessages = [{ role = \"user\", content = \"Say hello.\" }]\n";

#[test]
fn generate_and_chat_stream_with_ollamas_own_counts_load_and_memory() {
    let Some(server) = RealOllama::start() else { return };
    server.preload();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"real-ollama\"\n[defaults]\nwarmup = 0\niterations = 2\nmax_tokens = 8\ntimeout_s = 300\n{}\n{WORKLOADS}",
        server.target("ollama", "smollm2")
    );
    let (r, text) = run(dir.path(), "ok", &toml);
    assert_eq!(r["complete"], true, "{text}");
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert!(cases[0]["backend_version"].as_str().unwrap().starts_with("ollama 0."), "{}", cases[0]["backend_version"]);
    for c in cases {
        for s in c["samples"].as_array().unwrap() {
            assert_eq!(s["ok"], true, "{s}");
            // exactly Ollama's own counts, and one token per streamed line
            assert_eq!(s["output_tokens"], s["server"]["eval_count"], "{s}");
            let n = s["output_tokens"].as_u64().unwrap();
            assert!((1..=8).contains(&n), "{s}");
            assert_eq!(s["prompt_tokens"], s["server"]["prompt_eval_count"], "{s}");
            assert_eq!(s["token_source"], "backend");
            // one streamed line per token; an end-of-sequence token is counted, not sent
            let eos = u64::from(s["finish_reason"] == "stop");
            assert_eq!(s["arrival_ms"].as_array().unwrap().len() as u64, n - eos, "{s}");
            assert!(s["decode_tps_server"].as_f64().unwrap() > 0.0 && s["ttft_ms"].as_f64().unwrap() > 0.0, "{s}");
            assert_eq!(s["prefill_source"], "server");
        }
        // cold load after keep_alive 0, then warm, each with Ollama's load_duration
        let load = &c["load"];
        let (cold, warm) = (load["cold_ms"].as_f64().unwrap(), load["warm_ms"].as_f64().unwrap());
        let (server_cold, server_warm) = (load["server_cold_ms"].as_f64().unwrap(), load["server_warm_ms"].as_f64().unwrap());
        // a cold load starts a runner process (hundreds of ms); a warm one finds it
        assert!(server_cold > 100.0 && server_cold <= cold && server_warm < server_cold / 5.0 && warm < cold, "{load}");
        // /api/ps size, and the memory of `ollama serve` plus its runner child
        let mem = &c["memory"];
        assert!(mem["server_reported"]["size"].as_u64().unwrap() > 50_000_000, "{mem}");
        assert!(mem["pids"].as_array().unwrap().len() >= 2, "serve and runner: {mem}");
        assert!(mem["peak_bytes"].as_u64().unwrap() > mem["server_reported"]["size"].as_u64().unwrap() / 2, "{mem}");
    }
}

#[test]
fn an_unknown_model_is_a_clear_error() {
    let Some(server) = RealOllama::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let toml =
        format!("name = \"unknown\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 4\n{}\n{WORKLOADS}", server.target("x", "nope"));
    let (r, text) = run(dir.path(), "unknown", &toml);
    let err = r["cases"][0]["error"].as_str().unwrap_or_default();
    assert!(err.contains("model \"nope\" not found") && err.contains("smollm2:latest"), "{err}\n{text}");
}

/// Median TTFT of the counted iterations after the first, over the first's.
fn later_over_first(c: &Value) -> f64 {
    let ttft: Vec<f64> = c["samples"].as_array().unwrap().iter().map(|s| s["ttft_ms"].as_f64().unwrap()).collect();
    let mut later = ttft[1..].to_vec();
    later.sort_by(f64::total_cmp);
    later[later.len() / 2] / ttft[0]
}

#[test]
fn prompt_caching_is_defeated_by_default_and_shown_when_asked_for() {
    let Some(server) = RealOllama::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let workloads = "[[workloads]]\nname = \"cold\"\nprompt_tokens = 160\n\n[[workloads]]\nname = \"warm\"\nprompt_tokens = 160\nprompt_cache = \"warm\"\n";
    let toml = format!(
        "name = \"cache\"\n[defaults]\nwarmup = 0\niterations = 3\nmax_tokens = 2\ntimeout_s = 300\n{}\n{workloads}",
        server.target("ollama", "smollm2")
    );
    let (r, text) = run(dir.path(), "cache", &toml);
    let cases = r["cases"].as_array().unwrap();
    let (cold, warm) = (&cases[0], &cases[1]);
    assert_eq!((cold["params"]["prompt_cache"].as_str(), warm["params"]["prompt_cache"].as_str()), (Some("cold"), Some("warm")));
    // identical-prompt iterations without caching: every prefill is a real one
    let cold_ratio = later_over_first(cold);
    assert!(cold_ratio > 0.4, "cold iterations should take alike: {cold_ratio:.2}\n{text}");
    // the same prompt repeated: Ollama answers from its KV cache
    let warm_ratio = later_over_first(warm);
    assert!(warm_ratio < 0.35, "warm iterations should be much faster than the first: {warm_ratio:.2}\n{text}");
    assert!(warm["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("prompt_cache = \"warm\"")));
    // the unique prefix is counted in the prompt tokens Ollama reports
    let cold_tokens = cold["samples"][0]["prompt_tokens"].as_u64().unwrap();
    let warm_tokens = warm["samples"][0]["prompt_tokens"].as_u64().unwrap();
    assert!(cold_tokens > warm_tokens, "{cold_tokens} vs {warm_tokens}");
}

#[test]
fn a_launched_ollama_is_started_measured_and_stopped() {
    let gguf = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if common::skip_unless_set_up("a real Ollama and the SmolLM2 GGUF", common::ollama_binary().is_some() && gguf.exists()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let state = dir.path().join("state");
    let launch = format!(
        "launch = [\"bash\", \"{}\", \"--model\", \"{}\", \"--name\", \"smollm2\", \"--port\", \"{port}\", \"--state\", \"{}\"]\nready_timeout_s = 120",
        root().join("scripts/serve_ollama.sh").display(),
        gguf.display(),
        state.display()
    );
    let toml = format!(
        "name = \"launched\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 4\n[[targets]]\nname = \"ollama\"\nbackend = \"ollama\"\nmodel = \"smollm2\"\nhost = \"127.0.0.1:{port}\"\n{launch}\n[[workloads]]\nname = \"gen\"\nprompt = \"Hi\"\n"
    );
    let (r, text) = run(dir.path(), "launched", &toml);
    let c = &r["cases"][0];
    assert_eq!(c["samples"][0]["ok"], true, "{text}");
    assert!(c["memory"]["pids"].as_array().unwrap().len() >= 2, "{}", c["memory"]);
    // stopped at the end: nothing listens on the port any more
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the launched Ollama is still up");
}
