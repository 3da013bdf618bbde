//! mlxbench: declarative benchmarks of local LLM inference backends.
//!
//! Flow: scenario files -> [`scenario::Plan`] -> [`runner`] -> samples -> [`stats`] ->
//! [`results::RunResult`] files; [`output`] observes and renders.

pub mod backend;
pub mod cli;
mod commands;
pub mod compare;
pub mod fmt;
pub mod measure;
pub mod metric;
pub mod output;
pub mod report;
pub mod results;
pub mod routes;
pub mod runner;
pub mod scenario;
pub mod secrets;
#[cfg(feature = "mlx")]
pub mod serve;
pub mod stats;
pub mod stream;

use std::process::ExitCode;

pub use cli::Cli;

/// Exit codes: each means one thing (README "Exit codes").
pub mod exit {
    /// Everything asked for was done and nothing failed.
    pub const OK: u8 = 0;
    /// An error before or outside measuring: invalid scenario, unreadable or unusable
    /// input files, nothing to run, an output that could not be written.
    pub const ERROR: u8 = 1;
    /// Bad command-line usage (unknown flag, invalid `--format`/`--metric` value): clap's.
    pub const USAGE: u8 = 2;
    /// `run` finished, but some requests or whole cases failed (results are kept).
    pub const SOME_FAILED: u8 = 3;
    /// `compare` found a metric that regressed.
    pub const REGRESSION: u8 = 4;
    /// Interrupted by Ctrl-C or SIGTERM (results of finished cases are kept).
    pub const INTERRUPTED: u8 = 130;
}

/// Runs one command; the binary's only job is to print the error this returns.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Validate { files } => commands::validate(&files),
        cli::Command::Run(args) => commands::run::run(args),
        cli::Command::Info(args) => commands::info(args),
        cli::Command::Report(args) => commands::report::report(args),
        cli::Command::Compare(args) => commands::compare::compare(args),
        cli::Command::Models(cmd) => commands::models::run(cmd),
        cli::Command::Serve(args) => commands::serve::serve(args),
    }
}
