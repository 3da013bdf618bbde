//! `mlxbench report`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ReportArgs;
use crate::report;

pub fn report(args: ReportArgs) -> Result<ExitCode> {
    let (runs, notes) = report::load_runs(&args.inputs)?;
    let first = &runs[0].1.scenario.name;
    if runs.iter().any(|(_, r)| &r.scenario.name != first) {
        // several scenarios: one site over all of them
        for n in &notes {
            eprintln!("warning: {n}");
        }
        let files = runs.len();
        let (written, scenarios) = report::site::write_site(runs, notes, &args.out, &args.format)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "report of {scenarios} scenarios from {files} result files: {}", args.out.join("index.html").display())?;
        writeln!(out, "  wrote {} files under {} (summary.md for a job summary)", written.len(), args.out.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let r = report::build_from(runs, notes, args.timeline.as_deref())?;
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
