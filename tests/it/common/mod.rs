//! Shared test helpers: the scripted fake servers ([`fake`]), the binary under test,
//! result files, and the Python and real-server set-up the end-to-end tests need.

#![allow(dead_code)]

mod fake;
pub mod raw;
mod script;
pub mod serve;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[allow(unused_imports)]
pub use fake::*;
#[allow(unused_imports)]
pub use script::Script;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The project's Python (scripts/setup.sh's virtual environment), else `python3`.
pub fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

/// The real Ollama: ../shared/tools/ollama beside the checkout (a Linux build), else
/// `ollama` on PATH (Homebrew's on a Mac), else Ollama.app's (scripts/lib.sh's order).
pub fn ollama_binary() -> Option<PathBuf> {
    let shared = root().join("../shared/tools/ollama/bin/ollama");
    if cfg!(target_os = "linux") && shared.exists() {
        return Some(shared);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("ollama"))
        .chain([PathBuf::from("/Applications/Ollama.app/Contents/Resources/ollama")])
        .find(|p| p.is_file())
}

/// Whether a real-server test may skip when its set-up is missing: yes on a plain
/// `cargo test`, no under scripts/test.sh (which sets MLXBENCH_REQUIRE_REAL=1 after
/// installing everything), so CI cannot pass by skipping.
pub fn skip_unless_set_up(what: &str, ready: bool) -> bool {
    if ready {
        return false;
    }
    if std::env::var("MLXBENCH_REQUIRE_REAL").is_ok_and(|v| v == "1") {
        panic!("{what} is not set up, and MLXBENCH_REQUIRE_REAL=1: run scripts/setup.sh");
    }
    eprintln!("SKIPPED: {what} is not set up (run scripts/setup.sh, or scripts/test.sh which requires it)");
    true
}

/// Writes a scenario into `dir` and returns its path.
pub fn write_scenario(dir: &Path, name: &str, toml: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, toml).unwrap();
    p
}

/// The single result file in `dir`, parsed.
pub fn read_result(dir: &Path) -> Value {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1, "expected one result file in {}: {files:?}", dir.display());
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

pub fn mlxbench() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("mlxbench").unwrap()
}

/// Runs mlxbench's command line in this process, through the library's `mlxbench::run`
/// as `main` calls it: for tests that check what a command writes, where the process
/// boundary is not under test (no binary started, a failure's backtrace points into the
/// code). Returns the exit code `main` would give (an error is exit 1 there).
pub fn in_process<I, A>(args: I) -> u8
where
    I: IntoIterator<Item = A>,
    A: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    let argv = std::iter::once(std::ffi::OsString::from("mlxbench")).chain(args.into_iter().map(Into::into));
    let cli = mlxbench::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("arguments: {e}"));
    let code = match mlxbench::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::from(mlxbench::exit::ERROR)
        }
    };
    (0..=255u8).find(|n| std::process::ExitCode::from(*n) == code).unwrap_or(255)
}

/// `mlxbench run -q --out OUT SCENARIO` in this process; panics unless it exits 0.
pub fn run_quietly(out: &Path, scenario: &Path) {
    let code = in_process([OsStr::new("run"), OsStr::new("-q"), OsStr::new("--out"), out.as_os_str(), scenario.as_os_str()]);
    assert_eq!(code, 0, "mlxbench run -q --out {} {}", out.display(), scenario.display());
}

pub fn summary(case: &Value, metric: &str, stat: &str) -> f64 {
    case["summary"][metric][stat].as_f64().unwrap_or_else(|| panic!("no summary.{metric}.{stat} in {}", case["summary"]))
}

/// The processes under `root` (its children, theirs, ...), read from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some(ppid) = stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok()) {
            parent_of.push((pid, ppid));
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Runs `cmd` to its end, polling every 10 ms the peak resident size (VmHWM) of it and
/// of every process it started; returns its output and the sum of those peaks, KiB (an
/// upper bound of the whole tree's peak).
pub fn run_watching_memory(mut cmd: std::process::Command) -> (std::process::Output, u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let root = child.id();
    let total = std::sync::Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let watcher = std::thread::spawn(move || {
        let mut peaks = std::collections::HashMap::<u32, u64>::new();
        while std::fs::metadata(format!("/proc/{root}/status")).is_ok() {
            for pid in descendants(root) {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
                let kb = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok());
                if let Some(kb) = kb {
                    let p = peaks.entry(pid).or_default();
                    *p = (*p).max(kb);
                }
            }
            t.store(peaks.values().sum(), Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = watcher.join();
    (out, total.load(Ordering::Relaxed))
}
