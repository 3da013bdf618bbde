//! `mlxbench compare`: two result files or trees, a verdict per case, exit 4 on a
//! regression.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::CompareArgs;
use crate::compare::{self, Options};
use crate::report;
use crate::results::{RunResult, load_result, result_paths, write_json_atomic};

/// One side of `compare`: a result file, or a folder tree's newest run of each
/// (scenario, machine) (an interrupted run only when its group has nothing else, with a
/// warning). Returns the runs and how to name the side.
fn side(p: &Path) -> Result<(Vec<(PathBuf, RunResult)>, String)> {
    if !p.is_dir() {
        let r = load_result(p)?;
        let name = run_name(p, &r);
        return Ok((vec![(p.to_path_buf(), r)], name));
    }
    let mut runs: Vec<(PathBuf, RunResult)> = Vec::new();
    for f in result_paths(&[p.to_path_buf()])? {
        match load_result(&f) {
            Ok(r) => runs.push((f, r)),
            Err(e) => eprintln!("warning: skipped {e}"),
        }
    }
    let total = runs.len();
    let newest = compare::newest_runs(runs);
    for (f, r) in newest.iter().filter(|(_, r)| !r.complete) {
        eprintln!("warning: {}: the newest run of {} is interrupted (complete: false)", f.display(), compare::group_name(r));
    }
    match newest.as_slice() {
        [] => anyhow::bail!("no usable result file in {}", p.display()),
        [(f, r)] => {
            let name = run_name(f, r);
            Ok((newest, name))
        }
        more => {
            let name = format!("{} ({} runs: the newest of {} scenario x machine pairs)", p.display(), total, more.len());
            Ok((newest, name))
        }
    }
}

/// How compare names a run: its path, marked when it was interrupted.
fn run_name(p: &Path, r: &RunResult) -> String {
    format!("{}{}", p.display(), report::interrupted_mark(r))
}

pub fn compare(args: CompareArgs) -> Result<ExitCode> {
    let (base, base_name) = side(&args.baseline)?;
    let (cand, cand_name) = side(&args.candidate)?;
    let mut opts = Options { threshold: args.threshold, alpha: args.alpha, ..Default::default() };
    if !args.metrics.is_empty() {
        opts.metrics = args.metrics.clone();
    }
    if args.baseline.canonicalize().ok() == args.candidate.canonicalize().ok() {
        eprintln!("warning: baseline and candidate are the same: {}", args.baseline.display());
    }
    let c = compare::compare_fleets(&base, &cand, (&base_name, &cand_name), &opts);
    if c.results.is_empty() {
        anyhow::bail!(
            "no case of {} matches a case of {} (same scenario, machine, target, workload and parameters){}",
            args.baseline.display(),
            args.candidate.display(),
            if c.unmatched.is_empty() { String::new() } else { format!(":\n  {}", c.unmatched.join("\n  ")) }
        );
    }
    compare::render_text(&mut std::io::stdout().lock(), &c)?;
    if let Some(p) = &args.markdown {
        let mut buf = Vec::new();
        compare::render_markdown(&mut buf, &c)?;
        crate::results::write::write_output(p, &buf)?;
    }
    if let Some(p) = &args.json {
        write_json_atomic(p, &c)?;
    }
    Ok(ExitCode::from(if c.regressed() { crate::exit::REGRESSION } else { crate::exit::OK }))
}
