//! Nothing from outside can crash, hang, flood or leak: hostile servers (raw TCP, see
//! common/raw.rs) and hostile files, one test per class. Each asserts the clear reason,
//! the bound or the deadline, and for secrets that the value appears nowhere.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::raw::{RawServer, Request, models_ok, respond, start_stream};
use common::{mlxbench, read_result, run_watching_memory, write_scenario};
use serde_json::Value;

/// A scenario of one completion workload; `defaults` may set iterations and timeout_s
/// (1 and 20 otherwise).
fn scenario(name: &str, defaults: &str, targets: &str) -> String {
    let mut d = format!("warmup = 0\nmax_tokens = 8\n{defaults}\n");
    for (key, default) in [("iterations", "1"), ("timeout_s", "20")] {
        if !defaults.contains(key) {
            d.push_str(&format!("{key} = {default}\n"));
        }
    }
    format!("name = \"{name}\"\n[defaults]\n{d}{targets}\n[[workloads]]\nname = \"w\"\nprompt = \"hi\"\n")
}

fn openai_target(name: &str, base_url: &str, extra: &str) -> String {
    format!("[[targets]]\nname = \"{name}\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"{base_url}/v1\"\n{extra}\n")
}

fn sample_errors(r: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in r["cases"].as_array().unwrap() {
        if let Some(e) = c["error"].as_str() {
            out.push(e.to_string());
        }
        for s in c["samples"].as_array().unwrap() {
            if let Some(e) = s["error"].as_str() {
                out.push(e.to_string());
            }
        }
    }
    out
}

/// Every file mlxbench wrote under `dir` (not the scenarios the test wrote), as text.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&all_text(&p));
        } else if p.extension().is_some_and(|x| x != "toml")
            && let Ok(t) = std::fs::read(&p)
        {
            out.push_str(&format!("\n== {}\n", p.display()));
            out.push_str(&String::from_utf8_lossy(&t));
        }
    }
    out
}

const KEY: &str = "sk-hostile-7f3a9c1e5b";
const PASSWORD: &str = "hunter2-url-pw-4417";

/// The server echoes the request (Authorization header included) back in every way a
/// server can: a /models 401 for the wrong path, an HTTP error body, an in-stream error
/// event, a malformed-JSON excerpt; a launched server prints the key in its log.
#[test]
fn secrets_never_leave_the_process() {
    let server = RawServer::start(|req: &Request, s| {
        let echo = req.head.replace(['\r', '\n'], " ");
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v1/models") => models_ok(s),
            (_, "/v1/completions") if req.body.contains("\"seed\":1") => {
                respond(s, "401 Unauthorized", "application/json", &serde_json::json!({"error": {"message": echo}}).to_string())
            }
            (_, "/v1/completions") if req.body.contains("\"seed\":2") => {
                start_stream(s, "text/event-stream", "");
                let ev = serde_json::json!({"error": {"message": format!("bad auth: {echo}")}});
                let _ = write!(s, "data: {ev}\n\n");
            }
            (_, "/v1/completions") => {
                start_stream(s, "text/event-stream", "");
                let _ = write!(s, "data: {{not json {echo}\n\n");
            }
            _ => respond(s, "401 Unauthorized", "text/plain", &echo),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let with_pw = server.url().replace("http://", &format!("http://user:{PASSWORD}@"));
    let mut targets = String::new();
    for seed in 1..=3 {
        targets.push_str(&openai_target(
            &format!("t{seed}"),
            &server.url(),
            &format!("api_key_env = \"MLXB_HOSTILE_KEY\"\nextra_body = {{ seed = {seed} }}"),
        ));
    }
    targets.push_str(&openai_target("pw", &with_pw, ""));
    // a launched server that prints the key and the password, then dies
    let launch = format!("launch = [\"sh\", \"-c\", \"echo key=$MLXB_HOSTILE_KEY url={with_pw}; exit 3\"]\nready_timeout_s = 5");
    targets.push_str(&openai_target("launched", "http://127.0.0.1:1", &launch));
    let f = write_scenario(dir.path(), "secret", &scenario("secret", "", &targets));
    let out = dir.path().join("results");
    let md = dir.path().join("export.md");
    let json = dir.path().join("export.json");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = mlxbench()
        .env("MLXB_HOSTILE_KEY", KEY)
        .env("TMPDIR", &tmp)
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg("--export-markdown")
        .arg(&md)
        .arg("--export-json")
        .arg(&json)
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", String::from_utf8_lossy(&run.stderr));
    let result = read_result(&out);
    let errors = sample_errors(&result).join("\n");
    // the failures really carried the echoed secrets, masked
    assert!(errors.contains("[REDACTED]"), "{errors}");
    assert!(errors.contains("HTTP 401") && errors.contains("bad auth") && errors.contains("malformed JSON"), "{errors}");
    let reports = dir.path().join("reports");
    let report = mlxbench().args(["report", "-o"]).arg(&reports).arg(&out).output().unwrap();
    let info = mlxbench().env("MLXB_HOSTILE_KEY", KEY).args(["info"]).arg(&f).output().unwrap();
    let mut everything = String::new();
    for o in [&run, &report, &info] {
        everything.push_str(&String::from_utf8_lossy(&o.stdout));
        everything.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    everything.push_str(&all_text(dir.path()));
    assert!(everything.contains("key=[REDACTED]"), "the launched server's log tail is reported, masked");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "the launched server's log is removed");
    // every form: raw, a head long enough to guess from, HTTP Basic's base64 of user:password
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{PASSWORD}"));
    for secret in [KEY, PASSWORD, &KEY[..KEY.len() / 2 + 1], &basic[..basic.len() / 2 + 1]] {
        if let Some(i) = everything.find(secret) {
            let from = everything[..i].rfind("\n== ").unwrap_or(0);
            panic!("secret {secret} leaked: {}", &everything[from..(i + 40).min(everything.len())]);
        }
    }
}

/// An endless line without a newline, and a server that never stops sending tokens:
/// each is a failed sample naming the limit, with memory and the result file bounded.
#[test]
fn endless_streams_are_cut_off_with_bounded_memory() {
    let server = RawServer::start(|req: &Request, s| match req.path.as_str() {
        "/v1/models" => models_ok(s),
        _ if req.body.contains("endless-line") => {
            start_stream(s, "text/event-stream", "");
            let _ = s.write_all(b"data: {\"choices\":[{\"text\":\"");
            let block = vec![b'a'; 1 << 16];
            while s.write_all(&block).is_ok() {}
        }
        _ => {
            start_stream(s, "text/event-stream", "");
            let ev = b"data: {\"choices\":[{\"text\":\" tok\"}]}\n\n".repeat(64);
            while s.write_all(&ev).is_ok() {}
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let targets =
        openai_target("line", &server.url(), "extra_body = { tag = \"endless-line\" }") + &openai_target("tokens", &server.url(), "");
    let f = write_scenario(dir.path(), "endless", &scenario("endless", "", &targets));
    let out = dir.path().join("r");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mlxbench"));
    cmd.args(["run", "-q", "--out"]).arg(&out).arg(&f);
    let t0 = Instant::now();
    let (output, peak_kb) = run_watching_memory(cmd);
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert!(peak_kb > 0 && peak_kb < 300 * 1024, "peak RSS {peak_kb} kB");
    let r = read_result(&out);
    let errors = sample_errors(&r);
    assert!(errors[0].contains("frame grew past 4 MiB"), "{errors:?}");
    assert!(errors[1].contains("token chunks") && errors[1].contains("max_tokens"), "{errors:?}");
    let size = std::fs::metadata(std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path()).unwrap().len();
    assert!(size < 512 * 1024, "result file is {size} bytes");
}

/// Files from the scenario are read only when they are regular files of a sane size;
/// counts are range-checked before anything is summed.
#[test]
fn prompt_files_and_counts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    std::fs::File::create(&big).unwrap().set_len(64 << 20).unwrap(); // sparse: no disk used
    for (file, why) in [("/dev/zero", "not a regular file"), ("big.txt", "prompt files may be at most 16 MiB")] {
        let toml = format!(
            "name = \"p\"\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt_file = \"{file}\"\n"
        );
        let f = write_scenario(dir.path(), "p", &toml);
        let t0 = Instant::now();
        let o = mlxbench().arg("validate").arg(&f).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1));
        assert!(err.contains(why) && err.contains("prompt_file"), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
    let toml = "name = \"n\"\n[defaults]\nwarmup = 4294967295\niterations = 4294967295\n[sweep]\nprompt_tokens = [4000000000]\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt_tokens = 5\n";
    let f = write_scenario(dir.path(), "n", toml);
    let o = mlxbench().arg("validate").arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for key in ["defaults.warmup", "defaults.iterations", "sweep.prompt_tokens"] {
        assert!(err.contains(key) && err.contains("at most"), "{key}: {err}");
    }
    // a server reporting absurd counts: a failed sample naming the limit, no overflow
    let server = RawServer::start(|req: &Request, s| match req.path.as_str() {
        "/v1/models" => models_ok(s),
        _ => {
            start_stream(s, "text/event-stream", "");
            let _ = write!(
                s,
                "data: {{\"choices\":[{{\"text\":\"a\",\"finish_reason\":\"length\"}}]}}\n\ndata: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":18446744073709551615}}}}\n\ndata: [DONE]\n\n"
            );
        }
    });
    let f = write_scenario(dir.path(), "u", &scenario("u", "iterations = 2", &openai_target("u", &server.url(), "")));
    let out = dir.path().join("r");
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let errors = sample_errors(&read_result(&out));
    assert!(errors.len() == 2 && errors[0].contains("18446744073709551615") && errors[0].contains("accepts"), "{errors:?}");
}

/// Stalls everywhere: in a /models body, mid-line in a stream, while a launched server
/// should become ready, and under `info`. Each ends on time with what was waited for.
#[test]
fn every_wait_has_a_deadline() {
    let server = RawServer::start(|req: &Request, s| {
        let stall = || std::thread::sleep(Duration::from_secs(60));
        match req.path.as_str() {
            "/stall/v1/models" => {
                start_stream(s, "application/json", "");
                let _ = s.write_all(b"{\"data\": [");
                stall();
            }
            "/v1/models" => models_ok(s),
            _ if req.body.contains("midline") => {
                start_stream(s, "text/event-stream", "");
                let _ = s.write_all(b"data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choi");
                stall();
            }
            _ if req.body.contains("plain-json") => {
                respond(s, "200 OK", "application/json", r#"{"choices":[{"text":"whole answer"}]}"#);
            }
            _ => {
                start_stream(s, "text/event-stream", "Content-Encoding: gzip\r\n");
                let _ = s.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let stall_url = format!("{}/stall", server.url());
    let targets = [
        openai_target("body", &stall_url, ""),
        openai_target("midline", &server.url(), "extra_body = { tag = \"midline\" }"),
        openai_target("plain", &server.url(), "extra_body = { tag = \"plain-json\" }"),
        openai_target("gzip", &server.url(), ""),
        openai_target("launched", &stall_url, "launch = [\"sleep\", \"120\"]\nready_timeout_s = 3"),
    ]
    .concat();
    let f = write_scenario(dir.path(), "stall", &scenario("stall", "timeout_s = 3", &targets));
    let out = dir.path().join("r");
    let t0 = Instant::now();
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).timeout(Duration::from_secs(90)).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t0.elapsed() < Duration::from_secs(40), "took {:?}", t0.elapsed());
    let r = read_result(&out);
    let by_target = |t: &str| {
        let c = r["cases"].as_array().unwrap().iter().find(|c| c["target"] == t).unwrap();
        c["error"].as_str().map(str::to_string).unwrap_or_else(|| c["samples"][0]["error"].as_str().unwrap_or("").to_string())
    };
    let body = by_target("body");
    assert!(body.contains("/stall/v1/models") && body.contains("body not complete within 5 s"), "{body}");
    let mid = by_target("midline");
    assert!(mid.contains("stalled after 1 tokens (in the middle of a line)") && !mid.contains("malformed"), "{mid}");
    assert!(by_target("plain").contains("one JSON document"), "{}", by_target("plain"));
    assert!(by_target("gzip").contains("compressed (Content-Encoding: gzip)"), "{}", by_target("gzip"));
    let launched = by_target("launched");
    assert!(launched.contains("did not answer") && launched.contains("within 3 s"), "{launched}");
    let t0 = Instant::now();
    let info = mlxbench().arg("info").arg(&f).timeout(Duration::from_secs(30)).output().unwrap();
    assert!(info.status.success());
    assert!(t0.elapsed() < Duration::from_secs(10), "info took {:?}", t0.elapsed());
    assert!(String::from_utf8_lossy(&info.stdout).contains("body not complete within 2 s"));
}

/// A server that claims what cannot be true: 99,999,999 completion tokens (max_tokens 8) and 1000 prompt
/// tokens for a 5-token stream of a 2-byte prompt, a negative decode rate, a prefill time
/// longer than the client's whole wait. The samples keep the client's figures and the case
/// warns, naming each claim.
#[test]
fn impossible_server_claims_give_way_to_what_the_client_saw() {
    let server = RawServer::start(|req: &Request, s| match req.path.as_str() {
        "/v1/models" => models_ok(s),
        _ => {
            start_stream(s, "text/event-stream", "");
            for i in 0..5 {
                let _ = write!(s, "data: {}\n\n", serde_json::json!({"choices": [{"index": 0, "text": format!("t{i}")}]}));
                let _ = s.flush();
                std::thread::sleep(Duration::from_millis(20));
            }
            let usage = serde_json::json!({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 99_999_999},
                "timings": {"prompt_n": 1000, "prompt_ms": 60_000.0, "predicted_per_second": -4.0}});
            let _ = write!(s, "data: {usage}\n\ndata: [DONE]\n\n");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "claims", &scenario("claims", "", &openai_target("liar", &server.url(), "")));
    let out = dir.path().join("results");
    let run = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let r = read_result(&out);
    let case = &r["cases"][0];
    let s = &case["samples"][0];
    assert_eq!((s["output_tokens"].as_u64(), s["token_source"].as_str()), (Some(5), Some("estimate")), "{s}");
    assert!(s["prompt_tokens"].is_null() && s["decode_tps_server"].is_null(), "{s}");
    let decode = s["decode_tps"].as_f64().unwrap();
    assert!((20.0..=80.0).contains(&decode), "the client's decode rate (4 gaps of ~20 ms): {decode}");
    let set_aside = s["claims_set_aside"].to_string();
    for claim in ["99999999 output tokens for max_tokens=8", "1000 prompt tokens for", "prefill time of 60000 ms", "decode rate of -4"] {
        assert!(set_aside.contains(claim), "{claim} missing from {set_aside}");
    }
    let warnings = case["warnings"].to_string();
    assert!(warnings.contains("1 of 1 requests: the server claimed what cannot be true") && warnings.contains("99999999"), "{warnings}");
}

/// An emoji streamed as the two halves of its UTF-16 escape, one per event: each frame
/// alone is not valid JSON, the stream is; the request succeeds with both arrivals.
#[test]
fn an_emoji_split_across_two_events_is_a_valid_stream() {
    let server = RawServer::start(|req: &Request, s| match req.path.as_str() {
        "/v1/models" => models_ok(s),
        _ => {
            start_stream(s, "text/event-stream", "");
            for half in ["hi \\ud83d", "\\ude00", " there"] {
                let _ = write!(s, "data: {{\"choices\":[{{\"index\":0,\"text\":\"{half}\"}}]}}\n\n");
            }
            let _ = write!(s, "data: [DONE]\n\n");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "emoji", &scenario("emoji", "", &openai_target("split", &server.url(), "")));
    let out = dir.path().join("results");
    let run = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).output().unwrap();
    let r = read_result(&out);
    let s = &r["cases"][0]["samples"][0];
    assert_eq!(run.status.code(), Some(0), "{s}");
    assert_eq!((s["ok"].as_bool(), s["output_tokens"].as_u64()), (Some(true), Some(3)), "{s}");
}
