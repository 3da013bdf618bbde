//! `mlxbench report` and `mlxbench compare`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{CompareArgs, ReportArgs};
use crate::compare::{self, Options};
use crate::report;
use crate::results::{RunResult, load_result, result_paths, write_json_atomic};

pub fn report(args: ReportArgs) -> Result<ExitCode> {
    let r = report::build(&args.inputs, args.timeline.as_deref())?;
    for n in &r.notes {
        eprintln!("warning: {n}");
    }
    let written = report::write(&r, &args.out, &args.format)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "report of \"{}\": {} case(s) from {}{}{}",
        r.scenario,
        r.latest.cases.len(),
        r.latest_path.display(),
        if r.machines.len() > 1 { format!(", {} machines", r.machines.len()) } else { String::new() },
        if r.history.len() > 1 { format!(", {} runs over time", r.history.len()) } else { String::new() }
    )?;
    for p in written {
        writeln!(out, "  wrote {}", p.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A result file, or the newest complete result file of a folder (an interrupted run
/// only when there is nothing else, with a warning).
fn resolve(p: &Path) -> Result<(PathBuf, RunResult)> {
    if p.is_dir() {
        let mut runs: Vec<(PathBuf, RunResult)> = Vec::new();
        for f in result_paths(&[p.to_path_buf()])? {
            match load_result(&f) {
                Ok(r) => runs.push((f, r)),
                Err(e) => eprintln!("warning: skipped {e}"),
            }
        }
        runs.sort_by_key(|(_, r)| (r.complete, r.started_at));
        return runs.pop().with_context(|| format!("no usable result file in {}", p.display()));
    }
    Ok((p.to_path_buf(), load_result(p)?))
}

/// How compare names a run: its path, marked when it was interrupted.
fn run_name(p: &Path, r: &RunResult) -> String {
    format!("{}{}", p.display(), report::interrupted_mark(r))
}

pub fn compare(args: CompareArgs) -> Result<ExitCode> {
    let (bp, base) = resolve(&args.baseline)?;
    let (cp, cand) = resolve(&args.candidate)?;
    let mut opts = Options { threshold: args.threshold, alpha: args.alpha, ..Default::default() };
    if !args.metrics.is_empty() {
        opts.metrics = args.metrics.clone();
    }
    if bp.canonicalize().ok() == cp.canonicalize().ok() {
        eprintln!("warning: baseline and candidate are the same file: {}", bp.display());
    }
    let c = compare::compare_runs(&base, &cand, &run_name(&bp, &base), &run_name(&cp, &cand), &opts);
    if c.results.is_empty() {
        anyhow::bail!("no case of {} matches a case of {} (same target, workload and parameters)", bp.display(), cp.display());
    }
    compare::render_text(&mut std::io::stdout().lock(), &c)?;
    if let Some(p) = &args.markdown {
        let mut buf = Vec::new();
        compare::render_markdown(&mut buf, &c)?;
        std::fs::write(p, buf).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &args.json {
        write_json_atomic(p, &c)?;
    }
    Ok(ExitCode::from(if c.regressed() { crate::exit::REGRESSION } else { crate::exit::OK }))
}
