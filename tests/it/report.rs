//! `report` and `compare` on fixed result files (tests/fixtures/results, written by
//! tests/fixtures/make_results.py): snapshots of Markdown and CSV, the structure of the
//! SVG charts, PNGs, the HTML page in a real headless Chromium, damaged inputs, escaping,
//! and compare's verdicts and exit codes.

use crate::common;

use std::path::{Path, PathBuf};

use common::{mlxbench, root};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// Runs `report` over the fixtures into a fresh folder; returns (folder, stdout, stderr).
fn report(formats: &str) -> (tempfile::TempDir, String, String) {
    let out = tempfile::tempdir().unwrap();
    let a = mlxbench()
        .current_dir(root())
        .args(["report", "tests/fixtures/results", "--format", formats, "--out"])
        .arg(out.path())
        .assert()
        .success();
    let o = a.get_output();
    (out, String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn markdown_and_csv_snapshots_with_damaged_files_named() {
    let (out, stdout, stderr) = report("md,csv");
    for bad in ["truncated.json", "schema99.json"] {
        assert!(stderr.contains(bad), "stderr should name {bad}: {stderr}");
    }
    assert!(stderr.contains("unsupported schema_version 99"));
    assert!(stdout.contains("2 machines") && stdout.contains("3 runs over time"), "{stdout}");
    let md = read(out.path(), "fixture-scenario.md");
    assert!(md.contains("## Notes") && md.contains("truncated.json"));
    assert!(!md.contains("<script>"), "raw HTML from a result file in Markdown");
    assert!(md.contains("llama.cpp is 1.22x ollama on decode"), "{md}");
    assert!(md.contains("⚠"), "the 12% slower run is flagged in the trend");
    insta::assert_snapshot!("report_markdown", md);
    insta::assert_snapshot!("report_csv", read(out.path(), "fixture-scenario.csv"));
}

/// Two scenarios in: one site, each scenario on its own page, the same page as when it
/// is reported alone.
#[test]
fn several_scenarios_make_a_site_with_a_page_each() {
    let out = tempfile::tempdir().unwrap();
    let a = mlxbench()
        .current_dir(root())
        .args(["report", "tests/fixtures/results", "tests/fixtures/other-scenario", "--format", "md,html", "--out"])
        .arg(out.path())
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains("report of 2 scenarios"));
    let index = read(out.path(), "index.html");
    for link in ["fixture-scenario/fixture-scenario.html", "something-else/something-else.html"] {
        assert!(index.contains(&format!("href=\"{link}\"")), "{link} not linked");
        assert!(out.path().join(link).is_file(), "{link} missing");
    }
    assert!(!index.contains("<script>alert"), "names are escaped in the index too");
    let (alone, _, _) = report("md");
    assert_eq!(read(&out.path().join("fixture-scenario"), "fixture-scenario.md"), read(alone.path(), "fixture-scenario.md"));
}

/// The text content of every `<text>` element of an SVG.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text").skip(1).filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim().to_string())).collect()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn svg_charts_have_axes_labels_bars_and_whiskers() {
    let (out, _, _) = report("svg,png");
    let dir = out.path().join("fixture-scenario-charts");
    let svg = read(&dir, "bars-decode_tps.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let texts = svg_texts(&svg);
    for label in
        ["Decode speed (median, 95% interval)", "Decode speed (tokens/s)", "chat mt=32", "chat mt=32 c=4", "llama.cpp", "ollama", "case"]
    {
        assert!(texts.iter().any(|t| t == label), "missing text {label}: {texts:?}");
    }
    // 4 cases: 2 targets x 2 case groups; each series has its bars plus one legend swatch
    let blue = mlxbench::report::charts::hex(mlxbench::report::charts::PALETTE[0]);
    let orange = mlxbench::report::charts::hex(mlxbench::report::charts::PALETTE[1]);
    assert_eq!(count(&svg, &format!("fill=\"{blue}\"")), 2 + 1, "llama.cpp bars");
    assert_eq!(count(&svg, &format!("fill=\"{orange}\"")), 2 + 1, "ollama bars");
    // a whisker is three strokes (stem and two caps) per bar
    let whisker = mlxbench::report::charts::hex(mlxbench::report::charts::WHISKER);
    assert_eq!(count(&svg, &format!("stroke=\"{whisker}\"")), 4 * 3, "whiskers");
    // axes: tick numbers on the y axis
    assert!(texts.iter().any(|t| t == "0") && texts.iter().any(|t| t == "100"), "{texts:?}");
    for id in [
        "bars-ttft_ms",
        "bars-load_ms",
        "bars-memory",
        "sweep-concurrency-decode_tps",
        "timeline",
        "hardware-decode_tps",
        "trend-decode_tps",
    ] {
        let s = read(&dir, &format!("{id}.svg"));
        assert!(s.contains("<svg"), "{id}");
        let png = std::fs::read(dir.join(format!("{id}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{id}.png is a PNG");
        assert!(png.len() > 10_000, "{id}.png has content");
    }
    let trend = read(&dir, "trend-decode_tps.svg");
    assert!(svg_texts(&trend).iter().any(|t| t == "flagged by compare (regressed)"));
    let timeline = svg_texts(&read(&dir, "timeline.svg"));
    assert!(timeline.iter().any(|t| t == "time since request sent (ms)") && timeline.iter().any(|t| t == "tokens received"));
}

#[test]
fn html_is_self_contained_and_escaped() {
    let (out, _, _) = report("html");
    let html = read(out.path(), "fixture-scenario.html");
    assert!(!html.contains("<script>alert"), "model name must render as text");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<link") && !html.contains("src="), "no external files");
    assert_eq!(count(&html, "<figure class=\"chart\""), count(&html, "<svg"));
    assert!(count(&html, "<svg") >= 10);
    assert!(html.contains("class=\"sortable\"") && html.contains("Roofline assumptions"));
}

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        "/Applications/Chromium.app/Contents/MacOS/Chromium",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn html_renders_in_headless_chromium_without_errors() {
    let browser = chromium();
    if common::skip_unless_set_up("headless chromium (scripts/test.sh installs Debian's, or Google Chrome on a Mac)", browser.is_some()) {
        return;
    }
    let Some(browser) = browser else { return };
    let (out, _, _) = report("html");
    let page = out.path().join("fixture-scenario.html");
    let profile = tempfile::tempdir().unwrap();
    let shot = out.path().join("screenshot.png");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let url = format!("file://{}", page.display());
    let dom = std::process::Command::new(&browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=3000", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&dom.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console output from the page: {console:?}");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let svgs = count(&dom, "<svg");
    assert!(svgs >= 10, "charts in the rendered DOM: {svgs}");
    assert!(dom.contains(&format!("data-charts=\"{svgs}\"")), "the page's own check saw every chart");
    let status = std::process::Command::new(&browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--window-size=1280,4000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.len() > 50_000, "screenshot looks empty ({} bytes)", png.len());
    if let Ok(keep) = std::env::var("MLXBENCH_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn compare_flags_the_slower_run_and_gates_ci() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("cmp.md");
    let json = dir.path().join("cmp.json");
    mlxbench()
        .current_dir(root())
        .args(["compare", "tests/fixtures/results/m3-2.json", "tests/fixtures/results/m3-3.json", "--markdown"])
        .arg(&md)
        .arg("--json")
        .arg(&json)
        .assert()
        .code(4)
        .stdout(contains("regressed"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let decode: Vec<&serde_json::Value> = v["results"].as_array().unwrap().iter().filter(|r| r["metric"] == "decode_tps").collect();
    assert_eq!(decode.len(), 4);
    assert!(decode.iter().all(|r| r["verdict"] == "regressed"), "{decode:?}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("❌ regression"));
    // same machine, same speed: no regression, exit 0
    mlxbench()
        .current_dir(root())
        .args([
            "compare",
            "tests/fixtures/results/m3-1.json",
            "tests/fixtures/results/m3-2.json",
            "--threshold",
            "5%",
            "--metric",
            "decode_tps",
        ])
        .assert()
        .success()
        .stdout(contains("0 regressed"));
    // damaged input: one clear line naming the file
    mlxbench()
        .current_dir(root())
        .args(["compare", "tests/fixtures/results/truncated.json", "tests/fixtures/results/m3-2.json"])
        .assert()
        .code(1)
        .stderr(contains("truncated.json: not a valid result file"));
    mlxbench()
        .current_dir(root())
        .args(["compare", "tests/fixtures/results/m3-1.json", "tests/fixtures/results/m3-2.json", "--metric", "speed"])
        .assert()
        .code(2)
        .stderr(contains("invalid value 'speed' for '--metric").and(contains("decode_tps")));
}

#[test]
fn report_without_usable_files_fails_clearly() {
    let out = tempfile::tempdir().unwrap();
    mlxbench()
        .current_dir(root())
        .args(["report", "tests/fixtures/results/truncated.json", "--out"])
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(contains("no usable result files").and(contains("truncated.json")));
    mlxbench()
        .current_dir(root())
        .args(["report", "tests/fixtures/results", "--format", "pdf", "--out"])
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(contains("invalid value 'pdf' for '--format").and(contains("html")));
}

/// `--format gab,bmf`: the fields github-action-benchmark's custom formats and Bencher's
/// Metric Format document, from the fixtures' two machines.
#[test]
fn dashboard_formats_hold_the_documented_fields() {
    let (out, stdout, _) = report("gab,bmf");
    assert!(stdout.contains("gab-bigger.json") && stdout.contains("bmf.json"), "{stdout}");
    let json = |name: &str| -> serde_json::Value { serde_json::from_str(&read(out.path(), name)).unwrap() };
    let mut names = std::collections::HashSet::new();
    for (file, units) in [("gab-bigger.json", ["tokens/s"]), ("gab-smaller.json", ["ms"])] {
        let entries = json(file);
        let entries = entries.as_array().unwrap_or_else(|| panic!("{file} is not an array"));
        assert!(!entries.is_empty(), "{file} is empty");
        for e in entries {
            let name = e["name"].as_str().unwrap();
            assert!(names.insert(name.to_string()), "{name} twice");
            // scenario/target/case/metric @ machine (two machines in the fixtures)
            let (path, machine) = name.split_once(" @ ").unwrap_or_else(|| panic!("{name} names no machine"));
            assert!(path.starts_with("fixture-scenario/") && path.split('/').count() >= 4, "{name}");
            assert!(units.contains(&e["unit"].as_str().unwrap()), "{file}: {e}");
            let value = e["value"].as_f64().unwrap();
            let half: f64 = e["range"].as_str().unwrap().strip_prefix("± ").unwrap().parse().unwrap();
            assert!(value > 0.0 && half >= 0.0 && half < value * 10.0, "{e}");
            let extra = e["extra"].as_str().unwrap();
            assert!(extra.contains(&format!("machine: {machine}")) && extra.contains("n = "), "{e}");
        }
    }
    assert!(names.iter().any(|n| n.contains("/decode_tps @")) && names.iter().any(|n| n.contains("/ttft_ms @")));
    let bmf = json("bmf.json");
    let benches = bmf.as_object().unwrap();
    assert!(benches.len() >= 2);
    for (bench, measures) in benches {
        for (measure, m) in measures.as_object().unwrap() {
            let (v, lo, hi) = (m["value"].as_f64().unwrap(), m["lower_value"].as_f64().unwrap(), m["upper_value"].as_f64().unwrap());
            assert!(lo <= v && v <= hi, "{bench} {measure}: {m}");
            assert!(names.contains(&bench.replacen(" @ ", &format!("/{measure} @ "), 1)), "{bench}/{measure} not in gab");
        }
    }
    // the same input gives the same files
    let (again, _, _) = report("gab,bmf");
    for f in ["gab-bigger.json", "gab-smaller.json", "bmf.json"] {
        assert_eq!(read(out.path(), f), read(again.path(), f), "{f} differs between two runs");
    }
}

/// Warnings with kinds (one written by an older version, without a kind) are counted by
/// kind and listed with their case in both Markdown and HTML.
#[test]
fn reports_count_warnings_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("tests/fixtures/results/m3-3.json")).unwrap();
    let mut run: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = run["cases"].as_array_mut().unwrap();
    cases[0]["warnings"] = serde_json::json!(["3 of 9 ttft_ms values are outliers", "1 of 9 requests ran throttled (thermal)"]);
    cases[0]["warning_kinds"] = serde_json::json!(["outliers", "throttled"]);
    cases[1]["warnings"] = serde_json::json!(["2 of 9 e2e_ms values are outliers", "a note from an older mlxbench"]);
    cases[1]["warning_kinds"] = serde_json::json!(["outliers"]);
    std::fs::write(dir.path().join("run.json"), serde_json::to_string(&run).unwrap()).unwrap();
    let out = dir.path().join("out");
    mlxbench().args(["report"]).arg(dir.path().join("run.json")).args(["--format", "md,html", "--out"]).arg(&out).assert().success();
    let md = read(&out, "fixture-scenario.md");
    assert!(md.contains("### Warnings") && md.contains("By kind: outliers 2, throttled 1, other 1."), "{md}");
    assert!(md.contains("(throttled): 1 of 9 requests ran throttled (thermal)"), "{md}");
    assert!(md.contains("(other): a note from an older mlxbench"), "{md}");
    let html = read(&out, "fixture-scenario.html");
    assert!(
        html.contains("<h3>Warnings</h3>") && html.contains("By kind: outliers 2, throttled 1, other 1."),
        "warnings missing from the HTML"
    );
}
