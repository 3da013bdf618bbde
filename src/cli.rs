//! Command-line interface (clap derive). Data only: [`crate::run`] turns it into plans.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "mlxbench", version, about = "Benchmark local LLM inference: MLX in-process, Ollama and OpenAI-compatible servers")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files and write one result JSON per scenario.
    Run(RunArgs),
    /// Check scenario files without running anything (exit 0 when all are valid).
    Validate {
        /// Scenario files or globs.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the host fingerprint and which backends are reachable.
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or globs (e.g. 'scenarios/*.toml').
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Folder for result files.
    #[arg(long, short, default_value = "results")]
    pub out: PathBuf,
    /// Warmup runs per case (overrides the scenario).
    #[arg(long, short)]
    pub warmup: Option<u32>,
    /// Counted runs per case (overrides the scenario).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..))]
    pub iterations: Option<u32>,
    /// Run only cases whose target or workload has this name (repeatable).
    #[arg(long, short)]
    pub filter: Vec<String>,
    /// Also write the results as JSON here (an array when several scenarios run).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Also write a Markdown summary here.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Scenario files whose targets should be probed too.
    pub files: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
