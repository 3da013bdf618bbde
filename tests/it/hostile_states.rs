//! Correct paths and states, and honest reports: a bare scenario file name, a results
//! folder that vanishes or turns into a file mid-run, stale temp files, a killed
//! mlxbench's launched server, interrupted and duplicated result files, out-of-range
//! numbers, huge values and injection through names.

use crate::common;
use std::ffi::OsStr;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::raw::{RawServer, Request, models_ok, start_stream};
use common::{mlxbench, read_result, root, write_scenario};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn one_target(url: &str, extra: &str) -> String {
    format!(
        "name = \"s\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 4\n[[targets]]\nname = \"t\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"{url}/v1\"\n{extra}\n[[workloads]]\nname = \"w\"\nprompt = \"hi\"\n"
    )
}

/// A server answering every completion with 4 tokens, after running `on_request`.
fn server(on_request: impl Fn() + Send + Sync + 'static) -> RawServer {
    RawServer::start(move |req: &Request, s| {
        if req.path == "/v1/models" {
            return models_ok(s);
        }
        on_request();
        start_stream(s, "text/event-stream", "");
        for _ in 0..4 {
            let _ = write!(s, "data: {{\"choices\":[{{\"text\":\" a\"}}]}}\n\n");
        }
        let _ = write!(s, "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":4}}}}\n\ndata: [DONE]\n\n");
    })
}

#[test]
fn a_bare_scenario_file_name_launches_in_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("tests/fixtures/tiny_openai_server.py"), dir.path().join("srv.py")).unwrap();
    let port = free_port();
    let py = common::python();
    let launch = format!("launch = [\"{}\", \"srv.py\", \"{port}\"]\nready_timeout_s = 30", py.display());
    std::fs::write(dir.path().join("demo.toml"), one_target(&format!("http://127.0.0.1:{port}"), &launch)).unwrap();
    let o = mlxbench().current_dir(dir.path()).args(["run", "-q", "demo.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_result(&dir.path().join("results"))["cases"][0]["samples"][0]["ok"], true);
}

#[test]
fn a_results_folder_that_vanishes_or_becomes_a_file_costs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    // removed mid-run: made again, nothing lost
    let o2 = out.clone();
    let srv = server(move || {
        let _ = std::fs::remove_dir_all(&o2);
    });
    let f = write_scenario(dir.path(), "v", &one_target(&srv.url(), ""));
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_result(&out)["complete"], true);
    // replaced by a file mid-run: the table and the exports still come, and it says so
    let blocked = dir.path().join("blocked");
    let b2 = blocked.clone();
    let srv = server(move || {
        let _ = std::fs::remove_dir_all(&b2);
        let _ = std::fs::write(&b2, "not a folder");
    });
    let f = write_scenario(dir.path(), "b", &one_target(&srv.url(), ""));
    let md = dir.path().join("export.md");
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&blocked).arg("--export-markdown").arg(&md).arg(&f).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("│ t ") && stdout.contains("1/1"), "the table is printed: {stdout}");
    assert!(stderr.contains("the result file was not written"), "{stderr}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("| t |"));
}

fn dead_pid() -> u32 {
    (4_000_000..4_100_000).find(|p| !Path::new(&format!("/proc/{p}")).exists()).unwrap()
}

#[test]
fn stale_temp_files_of_killed_runs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    std::fs::create_dir_all(&out).unwrap();
    let stale = out.join(format!(".old.json.{}.tmp", dead_pid()));
    let live = out.join(format!(".other.json.{}.tmp", std::process::id()));
    std::fs::write(&stale, "{\"half").unwrap();
    std::fs::write(&live, "{\"half").unwrap();
    let srv = server(|| {});
    let f = write_scenario(dir.path(), "t", &one_target(&srv.url(), ""));
    mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).assert().success();
    assert!(!stale.exists(), "a dead run's temp file is removed");
    assert!(live.exists(), "a running process's temp file is left alone");
    let rep = dir.path().join("rep");
    assert_eq!(common::in_process([OsStr::new("report"), OsStr::new("-o"), rep.as_os_str(), out.as_os_str()]), 0);
}

/// Children of `parent` whose command line is exactly `argv`.
fn child_with_cmdline(parent: u32, argv: &[&str]) -> Option<u32> {
    let want = argv.join("\0") + "\0";
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid: u32 = stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?;
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
        (ppid == parent && cmd == want).then_some(pid)
    })
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z"),
    }
}

/// Started through a wrapper shell (`; true` keeps `sh` from exec'ing it): the server is
/// the shell's child, which the kernel's parent-death signal never reaches.
#[test]
fn a_killed_mlxbench_leaves_no_launched_server_behind() {
    let dir = tempfile::tempdir().unwrap();
    let launch = "launch = [\"sh\", \"-c\", \"sleep 301.25; true\"]\nready_timeout_s = 120";
    let f = write_scenario(dir.path(), "k", &one_target(&format!("http://127.0.0.1:{}", free_port()), launch));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mlxbench"))
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("r"))
        .arg(&f)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let (wrapper, server) = loop {
        if let Some(w) = child_with_cmdline(child.id(), &["sh", "-c", "sleep 301.25; true"])
            && let Some(p) = child_with_cmdline(w, &["sleep", "301.25"])
        {
            break (w, p);
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the server was never launched");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL: no drop guard runs
    child.wait().unwrap();
    let t0 = Instant::now();
    while !gone(server) || !gone(wrapper) {
        assert!(t0.elapsed() < Duration::from_secs(10), "launched server {server} (wrapper {wrapper}) outlived mlxbench");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/results").join(name)).unwrap()).unwrap()
}

fn save(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string(v).unwrap()).unwrap();
    p
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn interrupted_and_repeated_runs_are_reported_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let m33 = save(&runs, "m3-3.json", &fixture("m3-3.json"));
    save(&runs, "m3-2.json", &fixture("m3-2.json"));
    let mut cut = fixture("m3-3.json");
    cut["started_at"] = "2026-11-05T10:00:00Z".into();
    cut["complete"] = false.into();
    cut["cases"].as_array_mut().unwrap().truncate(1);
    let cut_path = save(&runs, "z-interrupted.json", &cut);
    let rep = dir.path().join("rep");
    let o = mlxbench().args(["report", "--format", "md", "-o"]).arg(&rep).arg(&runs).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(rep.join("fixture-scenario.md")).unwrap();
    assert!(md.contains("Newest run 2026-11-04 10:00 UTC on"), "the complete run is the newest: {md}");
    assert!(md.contains("newer interrupted run(s) not shown as the newest run") && md.contains("z-interrupted.json"), "{md}");
    assert!(md.contains("(interrupted)"), "the trend marks the interrupted run: {md}");
    // compare: a folder gives its newest complete run; an interrupted file says so
    let o = mlxbench().arg("compare").arg(&m33).arg(&runs).output().unwrap();
    assert!(text(&o).contains("candidate: ") && text(&o).contains("m3-3.json"), "{}", text(&o));
    let o = mlxbench().arg("compare").arg(&m33).arg(&cut_path).output().unwrap();
    assert!(text(&o).contains("the candidate is an interrupted run") && text(&o).contains("ollama"), "{}", text(&o));
    // the same file twice is one run: no trend
    let o = mlxbench().args(["report", "--format", "md", "-o"]).arg(dir.path().join("twice")).arg(&m33).arg(&m33).output().unwrap();
    assert!(o.status.success());
    let md = std::fs::read_to_string(dir.path().join("twice/fixture-scenario.md")).unwrap();
    assert!(!md.contains("## Trend"), "{md}");
}

#[test]
fn numbers_from_the_command_line_are_range_checked() {
    let m33 = root().join("tests/fixtures/results/m3-3.json");
    for args in [
        vec!["compare", "--alpha", "NaN"],
        vec!["compare", "--alpha", "1.5"],
        vec!["compare", "--threshold", "inf"],
        vec!["compare", "--threshold", "250%"],
    ] {
        let o = mlxbench().args(&args).arg(&m33).arg(&m33).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
    for flag in [["--temperature", "NaN"], ["--temperature", "-1"], ["--top-p", "0"], ["--top-p", "inf"], ["--max-tokens", "0"]] {
        let o = mlxbench().args(["models", "generate", "m", "--ids", "1"]).args(flag).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {}", text(&o));
    }
    let o = mlxbench().args(["run", "-n", "0", "x.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn huge_values_and_hostile_names_cannot_hang_or_inject() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = fixture("m3-3.json");
    for c in r["cases"].as_array_mut().unwrap() {
        c["target"] = "=HYPERLINK(\"http://e.vil\") ![x](http://e.vil/t.png) \u{1b}[2J".into();
        for s in c["samples"].as_array_mut().unwrap() {
            s["decode_tps"] = 1e308.into();
            s["ttft_ms"] = 1.7e308.into();
        }
        c["warnings"] = serde_json::json!(["\u{1b}]0;owned\u{7} [link](http://e.vil)"]);
    }
    let p = save(dir.path(), "huge.json", &r);
    let t0 = Instant::now();
    let rep = dir.path().join("rep");
    let o = mlxbench().args(["report", "-o"]).arg(&rep).arg(&p).timeout(Duration::from_secs(60)).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(t0.elapsed() < Duration::from_secs(30), "report took {:?}", t0.elapsed());
    let md = std::fs::read_to_string(rep.join("fixture-scenario.md")).unwrap();
    let csv = std::fs::read_to_string(rep.join("fixture-scenario.csv")).unwrap();
    // every bracket escaped: no link or image, and no escape sequence
    assert_eq!(md.matches("](http").count(), md.matches("\\](http").count(), "{md}");
    assert!(md.contains("\\](http") && !md.contains('\u{1b}') && !md.contains(&"9".repeat(40)), "{md}");
    assert!(csv.contains("\"'=HYPERLINK") && !csv.contains(",=HYPERLINK"), "{csv}");
    let o = mlxbench().arg("compare").arg(&p).arg(&p).output().unwrap();
    assert!(!text(&o).contains('\u{1b}') && !text(&o).contains('\u{7}'), "{}", text(&o));
    assert!(text(&o).contains("HYPERLINK"), "the name is still shown: {}", text(&o));
}

/// An already-running llama.cpp-style server answers `503 Loading model` for its first
/// second: the run waits for it (bounded by `ready_timeout_s`) and says it was loading;
/// one that keeps loading past the bound fails naming the setting.
#[test]
fn a_server_still_loading_is_waited_for() {
    let first = std::sync::Mutex::new(None::<Instant>);
    let loading = move |req: &Request, s: &mut std::net::TcpStream| {
        let since = first.lock().unwrap().get_or_insert_with(Instant::now).elapsed();
        if since < Duration::from_millis(1000) || req.path.contains("never") {
            let body = r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
            return common::raw::respond(s, "503 Service Unavailable", "application/json", body);
        }
        if req.path == "/v1/models" {
            return models_ok(s);
        }
        start_stream(s, "text/event-stream", "");
        let _ = write!(s, "data: {{\"choices\":[{{\"text\":\" a\"}}]}}\n\ndata: [DONE]\n\n");
    };
    let srv = RawServer::start(loading);
    let dir = tempfile::tempdir().unwrap();
    let f = write_scenario(dir.path(), "loading", &one_target(&srv.url(), "ready_timeout_s = 10"));
    let out = dir.path().join("r1");
    let run = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let r = read_result(&out);
    let w = r["cases"][0]["warnings"].to_string();
    assert!(w.contains("still loading its model (503 Loading model): waited"), "{w}");
    assert_eq!(r["cases"][0]["samples"][0]["ok"], true);
    // a server that never finishes loading: the bound, named
    let f = write_scenario(dir.path(), "never", &one_target(&format!("{}/never", srv.url()), "ready_timeout_s = 1"));
    let t0 = Instant::now();
    let run = mlxbench().args(["run", "-q", "--out"]).arg(dir.path().join("r2")).arg(&f).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(
        text.contains("still loading its model after 1 s (ready_timeout_s)")
            || read_result_text(&dir.path().join("r2")).contains("still loading its model after 1 s"),
        "{text}"
    );
}

fn read_result_text(dir: &Path) -> String {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect()
}

/// Scenario files and fields that would block, flood or break later: a FIFO and
/// `/dev/zero` as the scenario, 10^9 cases from a few lines, a 300-character name, an
/// empty process name. Each is refused by `validate` at once, naming the reason.
#[test]
fn scenario_files_and_fields_that_would_block_or_flood_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let huge: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
    let sweep = format!("[sweep]\nmax_tokens = [{0}]\nprompt_tokens = [{0}]\nconcurrency = [{0}]\n", huge.join(","));
    let cases = [
        (fifo.clone(), "not a regular file"),
        (std::path::PathBuf::from("/dev/zero"), "not a regular file"),
        (write_scenario(dir.path(), "sweep", &format!("{}{sweep}", one_target("http://127.0.0.1:1", ""))), "1000000000 cases"),
        (
            write_scenario(
                dir.path(),
                "long",
                &one_target("http://127.0.0.1:1", "").replacen("name = \"s\"", &format!("name = \"{}\"", "n".repeat(300)), 1),
            ),
            "at most 100 characters",
        ),
        (
            write_scenario(dir.path(), "procs", &one_target("http://127.0.0.1:1", "process_names = [\"\"]")),
            "empty process name would match every process",
        ),
    ];
    for (file, reason) in cases {
        let t0 = Instant::now();
        let o = mlxbench().arg("validate").arg(&file).timeout(Duration::from_secs(20)).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(t0.elapsed() < Duration::from_secs(5), "{}: {:?}", file.display(), t0.elapsed());
        assert!(!o.status.success() && text.contains(reason), "{}: {text}", file.display());
    }
}

/// A launched server that never answers and ignores SIGTERM is given up on after
/// `ready_timeout_s` and killed after `stop_grace_s` (not a fixed 10 s), and the error
/// says so.
#[test]
fn a_launched_server_ignoring_sigterm_is_killed_after_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let launch = "launch = [\"sh\", \"-c\", \"trap '' TERM; sleep 60\"]\nready_timeout_s = 1\nstop_grace_s = 1";
    let f = write_scenario(dir.path(), "deaf", &one_target(&url, launch));
    let t0 = Instant::now();
    let o = mlxbench().args(["run", "-q", "--out"]).arg(dir.path().join("r")).arg(&f).timeout(Duration::from_secs(30)).output().unwrap();
    let took = t0.elapsed();
    let text =
        format!("{}{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr), read_result_text(&dir.path().join("r")));
    assert!(took < Duration::from_secs(6), "took {took:?}: {text}");
    assert!(text.contains("SIGKILL after 1 s (stop_grace_s)"), "{text}");
}
