//! mlxbench: declarative benchmarks of local LLM inference backends.
//!
//! Flow: scenario files -> [`scenario::Plan`] -> [`runner`] -> samples -> [`stats`] ->
//! [`results::RunResult`] files; [`output`] observes and renders.

pub mod backend;
pub mod cli;
mod commands;
pub mod compare;
pub mod measure;
pub mod output;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod stream;

use std::process::ExitCode;

pub use cli::Cli;

/// Exit code when the run completed but some requests or cases failed.
pub const EXIT_SOME_FAILED: u8 = 3;
/// Exit code after Ctrl-C (results of finished cases are kept).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs one command; the binary's only job is to print the error this returns.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Validate { files } => commands::validate(&files),
        cli::Command::Run(args) => commands::run::run(args),
        cli::Command::Info(args) => commands::info(args),
        cli::Command::Report(args) => commands::report::report(args),
        cli::Command::Compare(args) => commands::report::compare(args),
        cli::Command::Models(cmd) => commands::models::run(cmd),
    }
}
