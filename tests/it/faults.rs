//! Protocol quirks and faults: every quirk of real servers is tolerated, and every fault
//! becomes a failed sample or case with a clear one-line reason while the run goes on,
//! the result file is written, and the exit code says something failed.

use crate::common;

use common::{FakeServer, Script, mlxbench, read_result, write_scenario};
use serde_json::Value;

fn target(name: &str, backend: &str, url: &str, model: &str) -> String {
    let url_line = match backend {
        "ollama" => format!("host = \"{url}\""),
        _ => format!("base_url = \"{url}/v1\""),
    };
    format!("[[targets]]\nname = \"{name}\"\nbackend = \"{backend}\"\nmodel = \"{model}\"\n{url_line}\n")
}

fn scenario(targets: &str, extra_defaults: &str) -> String {
    format!(
        "name = \"faults\"\n[defaults]\nwarmup = 0\niterations = 2\nmax_tokens = 30\ntimeout_s = 10\n{extra_defaults}\n{targets}\n[[workloads]]\nname = \"w\"\nmessages = [{{ role = \"user\", content = \"hi\" }}]\n"
    )
}

fn case<'a>(r: &'a Value, target: &str) -> &'a Value {
    r["cases"].as_array().unwrap().iter().find(|c| c["target"] == target).unwrap_or_else(|| panic!("no case {target}"))
}

fn first_error(c: &Value) -> String {
    if let Some(e) = c["error"].as_str() {
        return e.to_string();
    }
    c["samples"].as_array().unwrap().iter().find_map(|s| s["error"].as_str()).unwrap_or("").to_string()
}

#[test]
fn every_openai_quirk_at_once_is_measured_right() {
    let script = Script {
        ttft_ms: 150,
        role_first: true,
        keepalives: true,
        role_every_delta: true,
        timings: true,
        crlf: true,
        split_frames: true,
        ..Script::default()
    };
    let server = FakeServer::openai(script);
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "q", &scenario(&target("q", "openai", &server.url(), "fake-model"), ""));
    let out = dir.path().join("r");
    common::run_quietly(&out, &f);
    let r = read_result(&out);
    for s in r["cases"][0]["samples"].as_array().unwrap() {
        assert_eq!(s["ok"], true, "{s}");
        // the role-only chunk and keepalives arrive at once but are not the first token
        assert!(s["first_byte_ms"].as_f64().unwrap() < 50.0, "{s}");
        let ttft = s["ttft_ms"].as_f64().unwrap();
        assert!((ttft - 150.0).abs() < 10.0, "ttft {ttft}");
        assert_eq!(s["output_tokens"], 30);
        assert_eq!(s["arrival_ms"].as_array().unwrap().len(), 30);
        assert_eq!(s["prompt_tokens"], 12);
        assert_eq!(s["token_source"], "backend");
        assert_eq!(s["finish_reason"], "length");
    }
}

#[test]
fn missing_usage_falls_back_to_labelled_estimate_and_missing_done_is_tolerated() {
    let server = FakeServer::openai(Script { usage_chunk: false, done_marker: false, ttft_ms: 20, itl_ms: 5, ..Script::default() });
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "q", &scenario(&target("q", "openai", &server.url(), "fake-model"), ""));
    let out = dir.path().join("r");
    common::run_quietly(&out, &f);
    let r = read_result(&out);
    let s = &r["cases"][0]["samples"][0];
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["token_source"], "estimate");
    assert_eq!(s["output_tokens"], 30);
    assert!(s.get("prompt_tokens").is_none());
}

#[test]
fn faults_fail_their_samples_with_reasons_and_the_run_goes_on() {
    let ok = FakeServer::openai(Script { ttft_ms: 10, itl_ms: 2, ..Script::default() });
    let http500 = FakeServer::openai(Script { http_status: Some(500), ..Script::default() });
    let malformed = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 2, malformed_after: Some(3), ..Script::default() });
    let truncated = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 2, truncate_after: Some(4), ..Script::default() });
    let aborted = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 2, abort_after: Some(5), ..Script::default() });
    let stalled = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 2, stall_after: Some(3), ..Script::default() });
    let dies = FakeServer::ollama(Script { ttft_ms: 5, itl_ms: 2, die_after_requests: Some(1), ..Script::default() });
    let ollama = FakeServer::ollama(Script::default());
    // a port that nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();

    let targets = [
        target("unreachable", "openai", &format!("http://{closed}"), "m"),
        target("http500", "openai", &http500.url(), "fake-model"),
        target("malformed", "openai", &malformed.url(), "fake-model"),
        target("truncated", "openai", &truncated.url(), "fake-model"),
        target("aborted", "openai", &aborted.url(), "fake-model"),
        target("stalled", "openai", &stalled.url(), "fake-model"),
        target("no-such-model", "ollama", &ollama.url(), "nope"),
        target("dies", "ollama", &dies.url(), "fake-model"),
        target("fine", "openai", &ok.url(), "fake-model"),
    ]
    .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "f", &scenario(&targets, "").replace("timeout_s = 10", "timeout_s = 1"));
    let out = dir.path().join("r");
    let assert = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).assert().code(3);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let r = read_result(&out);
    assert_eq!(r["cases"].as_array().unwrap().len(), 9, "every case is in the result file");
    assert_eq!(r["complete"], true);

    let expect = [
        ("unreachable", "cannot reach"),
        ("http500", "HTTP 500"),
        ("malformed", "malformed JSON"),
        ("truncated", "truncated"),
        ("aborted", "connection broke after 5 tokens"),
        ("stalled", "timed out after 1 s: stream stalled after 3 tokens"),
        ("no-such-model", "model \"nope\" not found"),
    ];
    for (name, needle) in expect {
        let e = first_error(case(&r, name));
        assert!(e.contains(needle), "{name}: {e:?} should contain {needle:?}");
        assert!(!e.contains('\n'), "{name}: reason must be one line: {e:?}");
        assert!(stdout.contains(name) && stdout.contains(needle), "table output should name {name}: {needle}\n{stdout}");
    }
    assert!(first_error(case(&r, "http500")).contains("scripted failure"));
    // the server died during its 2nd request: that one broke, later ones cannot connect
    let dies = case(&r, "dies");
    let errs: Vec<&str> = dies["samples"].as_array().unwrap().iter().map(|s| s["error"].as_str().unwrap_or("ok")).collect();
    assert_eq!(errs[0], "ok", "{errs:?}");
    assert!(errs[1].contains("connection broke after 2 tokens"), "{errs:?}");
    // partial timings of failed samples are kept
    assert!(dies["samples"][1]["ttft_ms"].as_f64().is_some());
    let fine = case(&r, "fine");
    assert_eq!(fine["samples"].as_array().unwrap().iter().filter(|s| s["ok"] == true).count(), 2);
    assert!(fine["summary"]["decode_tps"]["median"].as_f64().unwrap() > 0.0);
    assert!(stdout.contains("FAILED"));
}

#[test]
fn dead_server_for_later_requests_is_a_connect_failure() {
    let dies = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 2, die_after_requests: Some(0), ..Script::default() });
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(
        dir.path(),
        "d",
        &scenario(&target("dies", "openai", &dies.url(), "fake-model"), "").replace("iterations = 2", "iterations = 3"),
    );
    let out = dir.path().join("r");
    mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).assert().code(3);
    let r = read_result(&out);
    let errs: Vec<String> =
        r["cases"][0]["samples"].as_array().unwrap().iter().map(|s| s["error"].as_str().unwrap_or("").to_string()).collect();
    assert!(errs[0].contains("connection broke"), "{errs:?}");
    assert!(errs[2].contains("cannot connect"), "{errs:?}");
}

#[test]
fn ollama_load_memory_and_details() {
    let server = FakeServer::ollama(Script { ttft_ms: 10, itl_ms: 2, ..Script::default() });
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "o", &scenario(&target("o", "ollama", &server.url(), "fake-model"), ""));
    let out = dir.path().join("r");
    common::run_quietly(&out, &f);
    let r = read_result(&out);
    let c = &r["cases"][0];
    assert_eq!(c["backend_version"], "ollama 0.0.0-fake");
    assert_eq!(c["model_info"]["family"], "llama");
    let load = &c["load"];
    let cold = load["cold_ms"].as_f64().unwrap();
    assert!((50.0..200.0).contains(&cold), "cold load {cold}");
    assert!(load["warm_ms"].as_f64().unwrap() < cold);
    assert!((load["server_cold_ms"].as_f64().unwrap() - 50.0).abs() < 0.1);
    assert_eq!(c["memory"]["server_reported"]["size"], 123456789);
    let s = &c["samples"][0];
    assert_eq!(s["server"]["eval_count"], 30);
    // N-over-N-1: 29 intervals of 2 ms in eval_duration
    assert!((s["decode_tps_server"].as_f64().unwrap() - 500.0).abs() < 1e-6);
}

#[test]
fn api_key_is_sent_but_never_written() {
    let secret = "sk-test-0123456789-very-secret";
    let server = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 1, require_key: Some(secret.into()), ..Script::default() });
    let dir = tempfile::tempdir().unwrap();
    let t = target("k", "openai", &server.url(), "fake-model") + "api_key_env = \"MLXBENCH_TEST_KEY\"\n";
    let f = write_scenario(dir.path(), "k", &scenario(&t, ""));
    let out = dir.path().join("r");
    let md = dir.path().join("r.md");
    let json = dir.path().join("r.json");
    let a = mlxbench()
        .env("MLXBENCH_TEST_KEY", secret)
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg("--export-markdown")
        .arg(&md)
        .arg("--export-json")
        .arg(&json)
        .arg(&f)
        .assert()
        .success();
    let o = a.get_output();
    let mut everything = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    for p in [&md, &json] {
        everything.push_str(&std::fs::read_to_string(p).unwrap());
    }
    everything.push_str(&read_result(&out).to_string());
    assert!(everything.contains("MLXBENCH_TEST_KEY"), "the variable's name is recorded");
    assert!(!everything.contains(secret), "the key leaked");

    // unset variable: a clear error for the case, not a crash
    let out2 = dir.path().join("r2");
    mlxbench().env_remove("MLXBENCH_TEST_KEY").args(["run", "-q", "--out"]).arg(&out2).arg(&f).assert().code(3);
    assert!(first_error(&read_result(&out2)["cases"][0]).contains("MLXBENCH_TEST_KEY"));
}

#[test]
fn launch_failures_are_reported_and_processes_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let marker = format!("{}.{}", port, std::process::id());
    let t1 = format!(
        "[[targets]]\nname = \"crashes\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nlaunch = [\"sh\", \"-c\", \"echo cannot load model >&2; exit 4\"]\n"
    );
    let t2 = format!(
        "[[targets]]\nname = \"hangs\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nready_timeout_s = 1.0\nlaunch = [\"sh\", \"-c\", \"sleep {marker}1 & sleep {marker}2\"]\n"
    );
    let f = write_scenario(dir.path(), "l", &scenario(&format!("{t1}\n{t2}"), ""));
    let out = dir.path().join("r");
    mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).assert().code(3);
    let r = read_result(&out);
    let e1 = first_error(case(&r, "crashes"));
    assert!(e1.contains("exited") && e1.contains("cannot load model"), "{e1}");
    let e2 = first_error(case(&r, "hangs"));
    assert!(e2.contains("did not answer") && e2.contains("within 1 s"), "{e2}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker) && !c.contains("mlxbench"))
        .collect();
    assert!(leftovers.is_empty(), "launched processes survived: {leftovers:?}");
}
