//! Measurement accuracy against scripted fake servers with known truth: TTFT within 5 ms
//! and decode tok/s within 3% of the script, at 1 and at 8 concurrent streams, for both
//! HTTP backends.

mod common;

use common::{FakeServer, Script, mlxbench, read_result, write_scenario};
use serde_json::Value;

fn scenario(backend: &str, url: &str, concurrency: u32, chat: bool) -> String {
    let (url_key, url) = if backend == "ollama" { ("host", url.to_string()) } else { ("base_url", format!("{url}/v1")) };
    let prompt = if chat { r#"messages = [{ role = "user", content = "hi" }]"# } else { r#"prompt = "hello""# };
    format!(
        r#"
name = "timing-{backend}"
[defaults]
warmup = 1
iterations = 4
max_tokens = 30
timeout_s = 20
[[targets]]
name = "fake"
backend = "{backend}"
model = "fake-model"
{url_key} = "{url}"
[[workloads]]
name = "w"
{prompt}
[sweep]
concurrency = [{concurrency}]
"#
    )
}

fn check_accuracy(backend: &str, concurrency: u32, chat: bool) {
    let script = Script { ttft_ms: 120, itl_ms: 20, tokens: 30, keepalives: true, ..Script::default() };
    let truth_tps = script.true_decode_tps();
    let server = if backend == "ollama" { FakeServer::ollama(script.clone()) } else { FakeServer::openai(script.clone()) };
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(dir.path(), "s", &scenario(backend, &server.url(), concurrency, chat));
    let out = dir.path().join("results");
    mlxbench().args(["run", "--quiet", "--out"]).arg(&out).arg(&file).assert().success();
    let r = read_result(&out);
    // The truth is the script shifted by what the server's timer actually did (under a
    // millisecond when the machine is quiet); the 5 ms budget is all the harness's.
    let late = server.max_first_token_lateness_ms();
    let case = &r["cases"][0];
    let samples = case["samples"].as_array().unwrap();
    assert_eq!(samples.len(), (4 * concurrency) as usize);
    for s in samples {
        assert_eq!(s["ok"], Value::Bool(true), "{s}");
        let ttft = s["ttft_ms"].as_f64().unwrap();
        assert!(
            ttft >= 120.0 && ttft - 120.0 <= 5.0 + late,
            "{backend} c={concurrency}: ttft {ttft} ms vs truth 120 ms (server timer {late:.2} ms late)"
        );
        let tps = s["decode_tps"].as_f64().unwrap();
        let err = (tps - truth_tps).abs() / truth_tps;
        assert!(err <= 0.03, "{backend} c={concurrency}: decode {tps} tok/s vs truth {truth_tps} ({:.1}% off)", err * 100.0);
        assert_eq!(s["output_tokens"], 30);
        assert_eq!(s["token_source"], "backend");
        // every token is one arrival: 29 gaps of about 20 ms
        let itl = s["itl_ms"].as_array().unwrap();
        assert_eq!(itl.len(), 29);
    }
    // aggregate throughput of a run: concurrency x 30 tokens over about 700 ms
    let agg = case["summary"]["aggregate_output_tps"]["median"].as_f64().unwrap();
    let truth_agg = f64::from(concurrency * 30) / 0.700;
    assert!((agg - truth_agg).abs() / truth_agg < 0.05, "aggregate {agg} vs {truth_agg}");
}

#[test]
fn timing_openai_single_stream() {
    check_accuracy("openai", 1, true);
}

#[test]
fn timing_openai_eight_streams() {
    check_accuracy("openai", 8, true);
}

#[test]
fn timing_ollama_single_stream() {
    check_accuracy("ollama", 1, false);
}

#[test]
fn timing_ollama_eight_streams_chat() {
    check_accuracy("ollama", 8, true);
}

#[test]
fn timing_openai_completions_split_frames() {
    let script = Script { ttft_ms: 80, itl_ms: 25, tokens: 20, split_frames: true, timings: true, ..Script::default() };
    let server = FakeServer::openai(script.clone());
    let dir = tempfile::tempdir().unwrap();
    let toml = scenario("openai", &server.url(), 1, false).replace("max_tokens = 30", "max_tokens = 20");
    let file = write_scenario(dir.path(), "s", &toml);
    let out = dir.path().join("r");
    mlxbench().args(["run", "-q", "-n", "3", "--out"]).arg(&out).arg(&file).assert().success();
    let r = read_result(&out);
    // as in check_accuracy: the truth is shifted by how late the server's own timer was
    let late = server.max_first_token_lateness_ms();
    for s in r["cases"][0]["samples"].as_array().unwrap() {
        // a frame split in two writes about 1 ms apart counts when it is complete
        let ttft = s["ttft_ms"].as_f64().unwrap();
        assert!(ttft >= 75.0 && ttft - 80.0 <= 5.0 + late, "ttft {ttft} (server timer {late:.2} ms late)");
        let tps = s["decode_tps"].as_f64().unwrap();
        assert!((tps - 40.0).abs() / 40.0 <= 0.03, "decode {tps}");
        assert_eq!(s["prefill_source"], "server");
        assert_eq!(s["server"]["timings"]["prompt_n"], 12);
    }
}
