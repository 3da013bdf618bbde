//! The command line as a user meets it: validate, run with overrides, filters and
//! exports, managed servers, Ctrl-C, info, and every shipped scenario.

use crate::common;
use std::ffi::OsStr;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{FakeServer, Script, mlxbench, read_result, write_scenario};
use predicates::str::contains;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

#[test]
fn every_shipped_scenario_validates() {
    let mut n = 0;
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            mlxbench().arg("validate").arg(&p).assert().success().stdout(contains("ok "));
            n += 1;
        }
    }
    assert!(n >= 2, "expected shipped scenarios, found {n}");
}

#[test]
fn validate_reports_position_and_key_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(
        dir.path(),
        "bad",
        "name = \"x\"\n[defaults]\niterations = 0\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt = \"p\"\n",
    );
    mlxbench().arg("validate").arg(&f).assert().code(1).stderr(contains("bad.toml:3:14: `defaults.iterations`: must be at least 1"));
    // run refuses before starting anything
    mlxbench().arg("run").arg(&f).assert().code(1).stderr(contains("Error: invalid scenario"));
    mlxbench().args(["validate", "does/not/exist.toml"]).assert().code(1).stderr(contains("cannot read scenario"));
    mlxbench().args(["run", "nothing/*.toml"]).assert().code(1).stderr(contains("no files match"));
}

fn simple(url: &str) -> String {
    format!(
        "name = \"cli\"\n[defaults]\nwarmup = 3\niterations = 9\nmax_tokens = 30\n[[targets]]\nname = \"a\"\nbackend = \"openai\"\nmodel = \"fake-model\"\nbase_url = \"{url}/v1\"\n[[targets]]\nname = \"b\"\nbackend = \"openai\"\nmodel = \"fake-model\"\nbase_url = \"{url}/v1\"\n[[workloads]]\nname = \"w1\"\nprompt = \"x\"\n[[workloads]]\nname = \"w2\"\nprompt = \"y\"\n"
    )
}

#[test]
fn overrides_filters_and_exports() {
    let server = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 1, ..Script::default() });
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "s", &simple(&server.url()));
    let out = dir.path().join("res");
    let md = dir.path().join("x/summary.md");
    let json = dir.path().join("x/all.json");
    let a = mlxbench()
        .args(["run", "-w", "0", "-n", "2", "--filter", "b", "--filter", "w2", "--out"])
        .arg(&out)
        .arg("--export-markdown")
        .arg(&md)
        .arg("--export-json")
        .arg(&json)
        .arg("--export-csv")
        .arg(dir.path().join("x/cases.csv"))
        .arg("--export-bmf")
        .arg(dir.path().join("x/bmf.json"))
        .arg(&f)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    // filter keeps target b (both workloads) and workload w2 (both targets): 3 cases
    let r = read_result(&out);
    let cases = r["cases"].as_array().unwrap();
    let names: Vec<String> =
        cases.iter().map(|c| format!("{}/{}", c["target"].as_str().unwrap(), c["workload"].as_str().unwrap())).collect();
    assert_eq!(names, vec!["a/w2", "b/w1", "b/w2"]);
    assert!(cases.iter().all(|c| c["samples"].as_array().unwrap().len() == 2));
    assert_eq!(requests(&server), 6, "no warmup requests with -w 0");
    assert!(stdout.contains("Decode tok/s") && stdout.contains("results: "));
    let mdtext = std::fs::read_to_string(&md).unwrap();
    assert!(mdtext.contains("| Target | Workload |") && mdtext.contains("| b | w1 |"), "{mdtext}");
    let exported: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(exported["cases"], r["cases"]);
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["scenario"]["name"], "cli");
    assert_eq!(r["scenario"]["spec"]["defaults"]["iterations"], 9);
    // the one-file formats of `report`, written by the same exporters
    let csv = std::fs::read_to_string(dir.path().join("x/cases.csv")).unwrap();
    assert!(csv.starts_with("scenario,machine,") && csv.contains("decode_tps_median_ci95_low") && csv.lines().count() == 4, "{csv}");
    let bmf: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("x/bmf.json")).unwrap()).unwrap();
    assert!(bmf["cli/b/w1 mt=30"]["decode_tps"]["value"].as_f64().is_some_and(|v| v > 0.0), "{bmf}");

    mlxbench()
        .args(["run", "--filter", "zzz", "--out"])
        .arg(&out)
        .arg(&f)
        .assert()
        .code(1)
        .stderr(contains("matched no target or workload"));
    // a second run never overwrites the first file
    let code = common::in_process([
        OsStr::new("run"),
        OsStr::new("-q"),
        OsStr::new("-w"),
        OsStr::new("0"),
        OsStr::new("-n"),
        OsStr::new("1"),
        OsStr::new("-f"),
        OsStr::new("a"),
        OsStr::new("--out"),
        out.as_os_str(),
        f.as_os_str(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
}

fn requests(s: &FakeServer) -> u32 {
    s.requests.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn managed_server_load_time_and_memory() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"managed\"\n[defaults]\nwarmup = 0\niterations = 2\nmax_tokens = 20\n[[targets]]\nname = \"tiny\"\nbackend = \"openai\"\nmodel = \"tiny\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nlaunch = [\"python3\", \"{}\", \"{port}\", \"0.6\", \"0.01\"]\n[[workloads]]\nname = \"w\"\nmessages = [{{ role = \"user\", content = \"hi\" }}]\n",
        fixture("tiny_openai_server.py")
    );
    let f = write_scenario(dir.path(), "m", &toml);
    let out = dir.path().join("r");
    common::run_quietly(&out, &f);
    let r = read_result(&out);
    let c = &r["cases"][0];
    let load = c["load"]["cold_ms"].as_f64().unwrap();
    assert!((600.0..5000.0).contains(&load), "spawn->ready {load} ms includes the 0.6 s start-up");
    let mem = &c["memory"];
    assert!(mem["after_load_bytes"].as_u64().unwrap() > 1 << 20, "{mem}");
    assert!(mem["peak_bytes"].as_u64().unwrap() >= mem["after_load_bytes"].as_u64().unwrap() / 2);
    let pid = mem["pids"][0].as_u64().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "server {pid} still running after the run");
    // the port is free again
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

/// `mlxbench run -q --out OUT FILE` in the background, to be interrupted.
fn spawn_run(out: &Path, file: &Path) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("mlxbench"))
        .args(["run", "-q", "--out"])
        .arg(out)
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn ctrl_c_keeps_finished_cases_and_stops_the_server() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"interrupt\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 20\n[[targets]]\nname = \"slow\"\nbackend = \"openai\"\nmodel = \"tiny\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nlaunch = [\"python3\", \"{}\", \"{port}\", \"0\", \"0.05\"]\n[[workloads]]\nname = \"first\"\nprompt = \"a\"\n[[workloads]]\nname = \"second\"\nprompt = \"b\"\n[[workloads]]\nname = \"third\"\nprompt = \"c\"\n",
        fixture("tiny_openai_server.py")
    );
    let f = write_scenario(dir.path(), "i", &toml);
    let out = dir.path().join("r");
    let mut child = spawn_run(&out, &f);
    // wait until the first case is in the result file
    let t0 = Instant::now();
    let server_pid;
    loop {
        assert!(t0.elapsed() < Duration::from_secs(30), "first case never finished");
        if let Some(Ok(e)) = std::fs::read_dir(&out).ok().and_then(|mut d| d.next())
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(e.path()).unwrap_or_default())
            && let Some(p) = v["cases"][0]["memory"]["pids"][0].as_u64()
        {
            server_pid = p;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = read_result(&out);
    assert_eq!(r["complete"], false);
    let n = r["cases"].as_array().unwrap().len();
    assert!((1..3).contains(&n), "{n} cases kept");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!Path::new(&format!("/proc/{server_pid}")).exists(), "launched server survived Ctrl-C");
}

/// Ctrl-C in the middle of a 20-iteration case: the requests that finished before are
/// kept, summarized, marked `interrupted` and counted in a warning.
#[test]
fn ctrl_c_mid_case_keeps_the_requests_that_finished() {
    let server = FakeServer::openai(Script { ttft_ms: 40, itl_ms: 10, tokens: 8, ..Script::default() });
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"cut\"\n[defaults]\nwarmup = 0\niterations = 20\nmax_tokens = 8\n[[targets]]\nname = \"f\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\n[[workloads]]\nname = \"w\"\nprompt = \"a\"\n",
        server.url()
    );
    let f = write_scenario(dir.path(), "c", &toml);
    let out = dir.path().join("r");
    let mut child = spawn_run(&out, &f);
    let t0 = Instant::now();
    while server.requests.load(std::sync::atomic::Ordering::SeqCst) < 6 {
        assert!(t0.elapsed() < Duration::from_secs(30), "the requests never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: a signal to the child we spawned
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let r = read_result(&out);
    assert_eq!(r["complete"], false);
    let case = &r["cases"][0];
    let n = case["samples"].as_array().unwrap().len();
    // at least the five before the sixth started; not all twenty
    assert!((5..20).contains(&n), "{n} requests kept");
    assert_eq!(case["interrupted"], true, "{case}");
    assert!(case["samples"].as_array().unwrap().iter().all(|s| s["ok"] == true));
    assert!(case["summary"]["ttft_ms"]["n"].as_u64() == Some(n as u64), "{}", case["summary"]);
    let warnings = case["warnings"].to_string();
    assert!(warnings.contains(&format!("interrupted: {n} of 20 requests finished")), "{warnings}");
}

#[test]
fn info_prints_host_and_backends() {
    mlxbench()
        .arg("info")
        .assert()
        .success()
        .stdout(contains("cpu "))
        .stdout(contains("ollama"))
        .stdout(contains("memory is measured as rss"));
    let a = mlxbench().args(["info", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert!(v["host"]["cores"].as_u64().unwrap() >= 1);
    let mlx = v["backends"].as_array().unwrap().iter().find(|b| b["name"] == "mlx").unwrap().clone();
    // built with the feature, the in-process engine computes and names MLX's version
    assert_eq!(mlx["reachable"], cfg!(feature = "mlx"), "{mlx}");
    let detail = mlx["detail"].as_str().unwrap();
    assert!(if cfg!(feature = "mlx") { detail.starts_with("mlx 0.32.2 (") } else { detail.contains("not built in") }, "{detail}");
}

/// Without the `mlx` feature (a plain `cargo test` on a fresh clone) the MLX engine tests
/// are not compiled; this says so in the test list and checks the binary says so too.
#[cfg(not(feature = "mlx"))]
#[test]
fn mlx_engine_tests_skipped_built_without_the_mlx_feature() {
    eprintln!("SKIPPED: tests/it/mlx_engine.rs and tests/it/mlx_gguf.rs need `--features mlx` (scripts/test.sh builds with it)");
    let a = mlxbench().args(["info", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let mlx = v["backends"].as_array().unwrap().iter().find(|b| b["name"] == "mlx").unwrap().clone();
    assert_eq!(mlx["reachable"], false, "{mlx}");
}

/// `compare --help`, README's exit-code table and the code say the same regression code.
#[test]
fn the_regression_exit_code_is_the_same_in_help_readme_and_code() {
    let code = mlxbench::exit::REGRESSION;
    mlxbench().args(["--help"]).assert().success().stdout(contains(format!("exit {code} on regression")));
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains(&format!("| `{code}` | `compare` found a regression |")), "README's exit-code table disagrees");
}
