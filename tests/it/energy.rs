//! Energy and heat end to end, with known truth: a fake powercap tree whose RAPL counter
//! a thread advances at 30 W (wrapping every 0.5 s) and a CPU thermal-throttle counter
//! it bumps once mid-case, behind `MLXBENCH_SYSFS_ROOT`; a scripted server streams the
//! tokens. The result's watts, J/token, idle power, throttle warning and exclusion are
//! checked against the script.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{FakeServer, Script, read_result, write_scenario};

const WATTS: f64 = 30.0;
const RANGE_UJ: u64 = 15_000_000; // 15 J: the counter wraps every 0.5 s at 30 W

fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The fake tree, and a thread that advances the counter until `stop`; `bump` raises
/// the throttle counter once.
fn fake_sysfs(root: &Path, stop: Arc<AtomicBool>, bump: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let pkg = root.join("class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&pkg).unwrap();
    put(&pkg.join("name"), "package-0");
    put(&pkg.join("max_energy_range_uj"), &RANGE_UJ.to_string());
    put(&pkg.join("energy_uj"), "0");
    let throttle = root.join("devices/system/cpu/cpu0/thermal_throttle");
    std::fs::create_dir_all(&throttle).unwrap();
    put(&throttle.join("package_throttle_count"), "0");
    let start = Instant::now();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let uj = (WATTS * start.elapsed().as_secs_f64() * 1e6) as u64 % RANGE_UJ;
            put(&pkg.join("energy_uj"), &uj.to_string());
            if bump.swap(false, Ordering::Relaxed) {
                put(&throttle.join("package_throttle_count"), "1");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

#[test]
fn joules_per_token_watts_idle_and_throttling_from_a_scripted_rapl_counter() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, bump) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let writer = fake_sysfs(dir.path(), stop.clone(), bump.clone());
    // 40 ms to the first token, then 15 more 20 ms apart: 300 ms of decoding
    let server = FakeServer::openai(Script { ttft_ms: 40, itl_ms: 20, tokens: 16, ..Script::default() });
    let toml = format!(
        "name = \"energy\"\n[defaults]\nwarmup = 1\niterations = 6\nmax_tokens = 16\nexclude_throttled = true\n\
         [[targets]]\nname = \"f\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\n\
         [[workloads]]\nname = \"w\"\nprompt = \"a\"\n",
        server.url()
    );
    let f = write_scenario(dir.path(), "e", &toml);
    let out = dir.path().join("r");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mlxbench"))
        .env("MLXBENCH_SYSFS_ROOT", dir.path())
        .args(["run", "--out"])
        .arg(&out)
        .arg(&f)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // heat during the fourth measured request (the warmup is the first one sent)
    let t0 = Instant::now();
    while server.requests.load(Ordering::SeqCst) < 5 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(150));
    bump.store(true, Ordering::Relaxed);
    let output = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let r = read_result(&out);
    let case = &r["cases"][0];
    let energy = &case["energy"];
    assert_eq!(energy["sources"][0]["covers"], "CPU package 0", "{energy}");
    let idle = energy["idle_power_w"].as_f64().unwrap();
    assert!((idle - WATTS).abs() < WATTS * 0.1, "idle {idle} W");
    let samples = case["samples"].as_array().unwrap();
    for s in samples {
        let w = s["power_w"].as_f64().unwrap();
        let jpt = s["j_per_token"].as_f64().unwrap();
        assert!((w - WATTS).abs() < WATTS * 0.1, "{w} W: {s}");
        // 30 W over 300 ms of decoding, 15 decoded tokens: 0.6 J each; all of it idle power
        assert!((jpt - 0.6).abs() < 0.06, "{jpt} J/token: {s}");
        assert!(s["j_per_token_above_idle"].as_f64().unwrap().abs() < 0.06, "{s}");
    }
    // the bump fell in one request (or two, when it came between them)
    let hot = samples.iter().filter(|s| s["throttled"][0] == "CPU package thermal throttling").count();
    assert!((1..=2).contains(&hot), "{hot} throttled: {samples:?}");
    assert_eq!(energy["throttled"].as_u64(), Some(hot as u64));
    let warnings = case["warnings"].to_string();
    assert!(
        warnings.contains(&format!("{hot} of 6 requests ran throttled")) && warnings.contains("left out of the statistics"),
        "{warnings}"
    );
    assert_eq!(case["summary"]["j_per_token"]["n"].as_u64(), Some(6 - hot as u64));
    assert!(stdout.contains("J/token") && stdout.contains("Tokens/J"), "{stdout}");
    check_reports(dir.path(), &out, hot);
}

/// The report's energy table (what was measured, idle power, J/token, throttling), the
/// CSV's energy columns and Bencher's energy measures, for a run with `hot` throttled
/// requests of 6.
fn check_reports(dir: &Path, out: &Path, hot: usize) {
    let rep = dir.join("rep");
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("mlxbench"))
        .args(["report", "--format", "md,csv,bmf", "-o"])
        .arg(&rep)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    let md: String = std::fs::read_dir(&rep)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(md.contains("## Energy") && md.contains("CPU package 0") && md.contains(&format!("{hot} of 6")), "{md}");
    // CSV: the energy columns after the fixed ones; Bencher's format: the energy measures
    let read = |ext: &str| -> String {
        std::fs::read_dir(&rep)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == ext))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect()
    };
    let csv = read("csv");
    let (head, row) = csv.split_once('\n').unwrap();
    // counted from the end: the machine's name may hold a quoted comma
    let heads: Vec<&str> = head.split(',').collect();
    let cells: Vec<&str> = row.trim_end().split(',').collect();
    let from_end = heads.len() - heads.iter().position(|h| *h == "j_per_token_median").unwrap_or_else(|| panic!("{head}"));
    assert!(heads.iter().position(|h| *h == "error").unwrap() < heads.len() - from_end, "{head}");
    let jpt: f64 = cells[cells.len() - from_end].parse().unwrap();
    assert!((jpt - 0.6).abs() < 0.06, "{csv}");
    assert!(read("json").contains("tokens_per_j"), "bmf.json has no energy measure");
}

/// `order = "interleaved"` as the server sees it: two targets on one already-running
/// server take turns request by request (each case's warmup first, in plan order); the
/// default order sends every request of the first target before the second's.
#[test]
fn interleaved_order_as_a_server_records_it() {
    let models = vec!["ma".to_string(), "mb".to_string()];
    for (order, expected) in [("interleaved", "ma mb ma mb ma mb ma mb"), ("sequential", "ma ma ma ma mb mb mb mb")] {
        let server = FakeServer::openai(Script { ttft_ms: 5, itl_ms: 2, tokens: 3, models: models.clone(), ..Script::default() });
        let mut toml = format!("name = \"order\"\norder = \"{order}\"\n[defaults]\nwarmup = 1\niterations = 3\nmax_tokens = 3\n");
        for m in &models {
            toml.push_str(&format!(
                "[[targets]]\nname = \"{m}\"\nbackend = \"openai\"\nmodel = \"{m}\"\nbase_url = \"{}/v1\"\n",
                server.url()
            ));
        }
        toml.push_str("[[workloads]]\nname = \"w\"\nprompt = \"a\"\n");
        let dir = tempfile::tempdir().unwrap();
        let f = write_scenario(dir.path(), "o", &toml);
        let out = dir.path().join("r");
        common::run_quietly(&out, &f);
        assert_eq!(server.log.lock().unwrap().join(" "), expected, "{order}: the order requests reached the server");
        let result = read_result(&out);
        let cases = result["cases"].as_array().unwrap();
        assert!(cases.iter().all(|c| c["samples"].as_array().unwrap().len() == 3));
        let said = cases.iter().all(|c| c["warnings"].to_string().contains("interleaved"));
        assert_eq!(said, order == "interleaved", "{:?}", cases[0]["warnings"]);
    }
}
