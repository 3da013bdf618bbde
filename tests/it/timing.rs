//! Measurement accuracy against scripted fake servers with known truth: TTFT within 5 ms
//! and decode tok/s within 3% of the script, at 1 and at 8 concurrent streams, for both
//! HTTP backends. The 5 ms TTFT budget holds for the median sample and for all samples
//! of a case but one; that one (a scheduler hiccup on a shared 2-core machine, seen once
//! in CI at +8.9 ms among 32 samples) must still be within 25 ms. A harness that timed the
//! wrong moment would miss the median budget on every run.

use crate::common;

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
    let ttfts: Vec<f64> = samples.iter().map(|s| s["ttft_ms"].as_f64().unwrap_or(f64::NAN)).collect();
    check_ttft_budget(&ttfts, 120.0, late, &format!("{backend} c={concurrency}"));
    for s in samples {
        assert_eq!(s["ok"], Value::Bool(true), "{s}");
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

/// TTFTs never before the truth; the median and all but one within 5 ms (+ the server's
/// own timer lateness) of it; the one left within 25 ms.
fn check_ttft_budget(ttfts: &[f64], truth: f64, late: f64, what: &str) {
    let over: Vec<f64> = ttfts.iter().map(|t| t - truth).collect();
    assert!(over.iter().all(|e| *e >= 0.0), "{what}: a TTFT before the truth {truth} ms: {ttfts:?}");
    let mut sorted = over.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let outside = over.iter().filter(|e| **e > 5.0 + late).count();
    let worst = sorted.last().copied().unwrap_or(f64::NAN);
    assert!(
        median <= 5.0 + late && outside <= 1 && worst <= 25.0 + late,
        "{what}: TTFT over the truth {truth} ms: median {median:.2}, worst {worst:.2}, {outside} samples over 5 ms \
         (server timer {late:.2} ms late): {ttfts:?}"
    );
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
    // (which for a frame split in two writes about 1 ms apart is when its second half went
    // out: the frame counts when it is complete), with the same budget
    let late = server.max_first_token_lateness_ms();
    let samples = r["cases"][0]["samples"].as_array().unwrap();
    let ttfts: Vec<f64> = samples.iter().map(|s| s["ttft_ms"].as_f64().unwrap_or(f64::NAN)).collect();
    check_ttft_budget(&ttfts, 80.0, late, "openai split frames");
    for s in samples {
        let tps = s["decode_tps"].as_f64().unwrap();
        assert!((tps - 40.0).abs() / 40.0 <= 0.03, "decode {tps}");
        assert_eq!(s["prefill_source"], "server");
        assert_eq!(s["server"]["timings"]["prompt_n"], 12);
    }
}

#[test]
fn the_ttft_budget_allows_one_hiccup_but_no_offset() {
    let mut ok = vec![121.0; 31];
    ok.push(131.0);
    check_ttft_budget(&ok, 120.0, 0.0, "one hiccup");
    let offset = vec![126.0; 32];
    assert!(std::panic::catch_unwind(|| check_ttft_budget(&offset, 120.0, 0.0, "offset")).is_err());
    let mut two = ok.clone();
    two[0] = 131.0;
    assert!(std::panic::catch_unwind(|| check_ttft_budget(&two, 120.0, 0.0, "two")).is_err());
    let mut far = vec![121.0; 31];
    far.push(150.0);
    assert!(std::panic::catch_unwind(|| check_ttft_budget(&far, 120.0, 0.0, "far")).is_err());
    let early = vec![119.0; 32];
    assert!(std::panic::catch_unwind(|| check_ttft_budget(&early, 120.0, 0.0, "early")).is_err());
}
