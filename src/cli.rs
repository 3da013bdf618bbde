//! Command-line interface (clap derive). Data only: [`crate::run`] turns it into plans.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::metric::Metric;
use crate::report::Format;

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
    /// Turn result files into Markdown, HTML, CSV and SVG/PNG charts.
    Report(ReportArgs),
    /// Compare a candidate run with a baseline: verdict per metric, exit 4 on regression.
    Compare(CompareArgs),
    /// Work with models of the in-process mlx backend.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Serve the in-process MLX engine over Ollama's API (/api/*) and the OpenAI API (/v1/*).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 11434)]
    pub port: u16,
    /// Folders of models, model directories or .gguf files (repeatable); default
    /// $MLXBENCH_MODELS (colon-separated), else ./models. The Hugging Face cache is always searched.
    #[arg(long = "models", value_name = "DIR")]
    pub models: Vec<PathBuf>,
    /// Requests that may wait for the engine; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub queue: u32,
    /// Models kept in memory at once (the least recently used is unloaded first).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_loaded: u32,
    /// How long a model stays loaded after a request that names no keep_alive
    /// (Ollama's syntax: 300, 5m, 1h; negative = forever; 0 = unload at once).
    #[arg(long, default_value = "5m")]
    pub keep_alive: String,
    /// Tokens a request may generate when it sets no limit (Ollama's `num_predict`,
    /// OpenAI chat's `max_tokens`), as `PARAMETER num_predict` in an Ollama Modelfile;
    /// default: until the end of turn or the context is full, as Ollama does.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub num_predict: Option<u32>,
    /// A web origin whose pages may call the server (repeatable; `*` wildcards, e.g.
    /// "https://*.example.com"), besides loopback ones; also $MLXBENCH_ORIGINS,
    /// comma-separated, as OLLAMA_ORIGINS. Requests without an Origin are not affected.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's head (line and headers), waits between
    /// keep-alive requests included: slow and idle connections are closed after it.
    #[arg(long = "header-timeout", value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub header_timeout_s: u32,
    /// Seconds a client has to send a request's body; a slower one gets 408.
    #[arg(long = "body-timeout", value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub body_timeout_s: u32,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models `serve` and the mlx backend can be asked for: model directories and
    /// .gguf files under the model folders, and repo ids in the local Hugging Face cache.
    List {
        /// Folders of models (repeatable); default $MLXBENCH_MODELS, else ./models.
        #[arg(long = "models", value_name = "DIR")]
        models: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generate with the in-process MLX engine and print the token ids and text as JSON.
    Generate(GenerateArgs),
    /// Convert a GGUF file (llama family; F32/F16/BF16, Q4_0, Q4_1, Q8_0 tensors) into a
    /// Hugging Face / MLX model directory (quantized blocks kept as MLX affine quantization).
    Convert {
        /// The .gguf file.
        gguf: PathBuf,
        /// Output directory.
        out: PathBuf,
    },
    /// Tokenize texts with a model's tokenizer and print one JSON list of ids per text.
    Tokenize {
        /// Model directory or .gguf file.
        model: String,
        /// Texts to tokenize (no special tokens added).
        #[arg(required = true)]
        texts: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model directory (Hugging Face / MLX layout) or a repo id in the local HF cache.
    pub model: String,
    /// Prompt token ids, comma-separated (bypasses the tokenizer).
    #[arg(long, value_delimiter = ',', conflicts_with = "prompt")]
    pub ids: Vec<u32>,
    /// Completion prompt text.
    #[arg(long)]
    pub prompt: Option<String>,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_tokens: u32,
    /// 0 = greedy (0 to 10).
    #[arg(long, default_value_t = 0.0, value_parser = parse_temperature)]
    pub temperature: f64,
    /// Nucleus sampling: keep the most probable tokens whose mass reaches this (0 < p <= 1).
    #[arg(long, value_parser = parse_top_p)]
    pub top_p: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop at end-of-sequence tokens (default: generate exactly max_tokens).
    #[arg(long)]
    pub stop_at_eos: bool,
    /// Generations run (and discarded) first in the same process, so the one reported
    /// is warm (kernels compiled, memory pooled).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub warmup: u32,
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
    #[arg(long, short, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub warmup: Option<u32>,
    /// Counted runs per case (overrides the scenario).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=100_000))]
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
    /// Also write the cases as CSV here (the columns of `report --format csv`).
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Also write Bencher Metric Format here (as `report --format bmf`).
    #[arg(long, value_name = "FILE")]
    pub export_bmf: Option<PathBuf>,
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

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files or folder trees of them (several scenarios make a site: index.html, a page each, summary.md).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, short, default_value = "reports")]
    pub out: PathBuf,
    /// Comma-separated formats (gab: github-action-benchmark's gab-bigger.json and
    /// gab-smaller.json; bmf: Bencher's bmf.json).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "md,html,svg,png,csv")]
    pub format: Vec<Format>,
    /// Case whose requests the timeline chart shows (substring of "target / case"); default: the first with tokens.
    #[arg(long)]
    pub timeline: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline: a result file, or a folder tree (the newest run of each scenario and machine in it).
    pub baseline: PathBuf,
    /// Candidate: a result file, or a folder tree (runs paired with the baseline's by scenario and machine).
    pub candidate: PathBuf,
    /// Smallest relative change that counts, e.g. 5% or 0.05.
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    pub threshold: f64,
    /// Metrics to compare (repeatable); default decode_tps, ttft_ms, prefill_tps, e2e_ms.
    #[arg(long = "metric", value_enum)]
    pub metrics: Vec<Metric>,
    /// Significance level of the Mann-Whitney U test (0 < alpha < 1).
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,
    /// Also write the comparison as Markdown (for PR comments and job summaries).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the comparison as JSON (for dashboards).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// A finite number in `lo..=hi` (`lo` itself excluded when `open_lo`); NaN and
/// infinities never are.
fn finite_in(s: &str, what: &str, lo: f64, hi: f64, open_lo: bool) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{what} must be a number, got {s}"))?;
    let ok = v.is_finite() && v <= hi && (v > lo || (!open_lo && v == lo));
    let low = if open_lo { format!("greater than {lo}") } else { format!("at least {lo}") };
    if ok { Ok(v) } else { Err(format!("{what} must be {low} and at most {hi}, got {s}")) }
}

pub fn parse_temperature(s: &str) -> Result<f64, String> {
    finite_in(s, "temperature", 0.0, 10.0, false)
}

pub fn parse_top_p(s: &str) -> Result<f64, String> {
    finite_in(s, "top_p", 0.0, 1.0, true)
}

pub fn parse_alpha(s: &str) -> Result<f64, String> {
    finite_in(s, "alpha", 0.0, 0.5, true)
}

/// "5%" -> 0.05, "0.05" -> 0.05.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("not a percentage or fraction: {s}"))?;
    if (0.0..1.0).contains(&v) { Ok(v) } else { Err(format!("threshold must be between 0% and 100%, got {s}")) }
}
