//! `mlxbench run`: load and validate every scenario first, then run them one by one,
//! writing each result file after every case and rendering the table at the end.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::{expand_files, runtime};
use crate::cli::RunArgs;
use crate::exit;
use crate::measure::host::{self, HostInfo};
use crate::output::{markdown, progress::Progress, table};
use crate::results::{CaseResult, ResultStore, RunResult, SCHEMA_VERSION, ScenarioRecord, write_json_atomic};
use crate::runner::{self, Event, Observer};
use crate::scenario::{self, Plan};

/// Applies CLI overrides (`--warmup`, `--iterations`, `--filter`); a filter may leave a
/// plan empty (`run` fails when it leaves every plan empty).
pub fn apply_overrides(plan: &mut Plan, args: &RunArgs) {
    for c in &mut plan.cases {
        if let Some(w) = args.warmup {
            c.params.warmup = w;
        }
        if let Some(n) = args.iterations {
            c.params.iterations = n;
        }
    }
    if !args.filter.is_empty() {
        let targets = &plan.targets;
        plan.cases.retain(|c| args.filter.iter().any(|f| *f == targets[c.target].name || *f == c.workload.name));
    }
}

struct Writer {
    progress: Progress,
    result: RunResult,
    store: ResultStore,
    write_error: Option<anyhow::Error>,
    /// The case running now, as of its last finished round.
    partial: Option<CaseResult>,
}

impl Observer for Writer {
    fn event(&mut self, e: Event<'_>) {
        self.progress.event(&e);
        match e {
            Event::RoundFinished { partial } => self.partial = Some(partial.clone()),
            Event::CaseFinished { result, .. } => {
                self.partial = None;
                self.result.cases.push(result.clone());
                if let Err(err) = self.store.write(&self.result) {
                    self.write_error.get_or_insert(err);
                }
            }
            _ => {}
        }
    }
}

/// A case cut short by Ctrl-C or SIGTERM: summarized over the requests that finished,
/// marked `interrupted`, with a warning saying how many of how many.
fn keep_interrupted(c: &mut CaseResult) {
    c.interrupted = true;
    runner::summarize_case(c);
    let asked = u64::from(c.params.iterations) * u64::from(c.params.concurrency);
    c.warnings.push(
        crate::results::WarningKind::Interrupted,
        format!(
            "interrupted: {} of {asked} requests finished before the signal (requests in flight were dropped); the numbers are from those",
            c.samples.len()
        ),
    );
    c.redact_secrets();
}

fn new_result(plan: &Plan, host: &HostInfo) -> Result<RunResult> {
    // the scenario as parsed, recorded whole: a failure here is an error, never `"spec": null`
    let spec = serde_json::to_value(&plan.spec).with_context(|| format!("recording scenario {}", plan.path.display()))?;
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        mlxbench_version: env!("CARGO_PKG_VERSION").into(),
        started_at: chrono::Utc::now(),
        finished_at: None,
        complete: false,
        host: host.clone(),
        scenario: ScenarioRecord {
            name: plan.name.clone(),
            description: plan.description.clone(),
            path: plan.path.display().to_string(),
            source_sha256: plan.source_sha256.clone(),
            spec,
        },
        cases: Vec::new(),
    })
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let paths = expand_files(&args.files)?;
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for p in &paths {
        match scenario::load_file(p) {
            Ok(plan) => plans.push(plan),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    for plan in &mut plans {
        apply_overrides(plan, &args);
    }
    if plans.iter().all(|p| p.cases.is_empty()) {
        bail!("--filter {} matched no target or workload", args.filter.join(", "));
    }

    let host = host::detect();
    let rt = runtime()?;
    let visible = !args.quiet && std::io::stdout().is_terminal();
    let width = if std::io::stdout().is_terminal() { terminal_width() } else { None };
    let mut finished: Vec<RunResult> = Vec::new();
    let mut interrupted = false;
    let mut unwritten: Vec<String> = Vec::new();
    let mut stdout = std::io::stdout().lock();
    for plan in plans.iter().filter(|p| !p.cases.is_empty()) {
        let result = new_result(plan, &host)?;
        let store = ResultStore::create(&args.out, &result)?;
        let mut w = Writer { progress: Progress::new(visible), result, store, write_error: None, partial: None };
        // On Ctrl-C or SIGTERM the run future is dropped: launched servers are killed by
        // their guards, and the result file already holds every finished case.
        let completed = rt.block_on(async {
            tokio::select! {
                _ = runner::run_plan(plan, &mut w) => true,
                _ = interrupted_signal() => false,
            }
        });
        w.progress.finish();
        // the case the signal cut short keeps the rounds that finished, marked
        if let Some(mut partial) = w.partial.take().filter(|_| !completed) {
            keep_interrupted(&mut partial);
            w.result.cases.push(partial);
        }
        w.result.finished_at = Some(chrono::Utc::now());
        w.result.complete = completed;
        // a result file that cannot be written does not cost the table or the exports
        let written = w.store.write(&w.result).map_err(|e| w.write_error.take().unwrap_or(e));
        writeln!(stdout, "\n{}{}", plan.name, if completed { "" } else { " (interrupted)" })?;
        table::render(&mut stdout, &w.result.cases, width)?;
        match written {
            Ok(()) => writeln!(stdout, "results: {}", w.store.path().display())?,
            Err(e) => unwritten.push(format!("{:#}", e.context("the result file was not written"))),
        }
        finished.push(w.result);
        if !completed {
            interrupted = true;
            break;
        }
    }
    if let Err(e) = export(&args, &finished) {
        unwritten.push(format!("{e:#}"));
    }
    if !unwritten.is_empty() {
        bail!("{}", unwritten.join("\n"));
    }
    Ok(if interrupted {
        ExitCode::from(exit::INTERRUPTED)
    } else if finished.iter().any(RunResult::has_failures) {
        ExitCode::from(exit::SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn interrupted_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn export(args: &RunArgs, results: &[RunResult]) -> Result<()> {
    if let Some(p) = &args.export_json {
        ensure_parent(p)?;
        match results {
            [one] => write_json_atomic(p, one)?,
            many => write_json_atomic(p, &many)?,
        }
    }
    if let Some(p) = &args.export_markdown {
        ensure_parent(p)?;
        let mut buf = Vec::new();
        for r in results {
            markdown::render(&mut buf, r)?;
            buf.push(b'\n');
        }
        crate::results::write::write_output(p, &buf)?;
    }
    // the one-file formats of `report`, through the same exporters
    let wanted = [(&args.export_csv, crate::report::Format::Csv), (&args.export_bmf, crate::report::Format::Bmf)];
    if wanted.iter().any(|(p, _)| p.is_some()) {
        let reports = results
            .iter()
            .map(|r| crate::report::build_from(vec![(PathBuf::from("(this run)"), r.clone())], Vec::new(), None))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&crate::report::Report> = reports.iter().collect();
        for (path, format) in wanted {
            let (Some(p), Some(bytes)) = (path, crate::report::export::exporter(format).one_file(&refs)) else { continue };
            ensure_parent(p)?;
            crate::results::write::write_output(p, &bytes?)?;
        }
    }
    Ok(())
}

fn ensure_parent(p: &Path) -> Result<()> {
    if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    Ok(())
}

/// Terminal width for the table, from `$COLUMNS` or the terminal itself.
fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).or_else(|| {
        // SAFETY: TIOCGWINSZ fills a winsize struct and has no other effect.
        #[cfg(unix)]
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
                return Some(ws.ws_col);
            }
        }
        None
    })
}
