//! `mlxbench models ...`: direct access to the in-process MLX engine.

#[cfg(feature = "mlx")]
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ModelsCommand;

#[cfg(feature = "mlx")]
pub fn run(cmd: ModelsCommand) -> Result<ExitCode> {
    use std::io::Write;
    use std::time::Instant;

    use mlxbench_engine::{self as engine, gguf};

    match cmd {
        ModelsCommand::List { models, json } => list(&model_dirs(models), json),
        ModelsCommand::Generate(a) => generate(&a),
        ModelsCommand::Convert { gguf, out } => {
            let t0 = Instant::now();
            let g = gguf::Gguf::open(&gguf).map_err(anyhow::Error::msg)?;
            let c = gguf::convert_gguf(&g).map_err(anyhow::Error::msg)?;
            gguf::write_dir(&c, &out).map_err(anyhow::Error::msg)?;
            writeln!(
                std::io::stdout().lock(),
                "wrote {} ({} tensors) in {:.1} s",
                out.display(),
                c.weights.len(),
                t0.elapsed().as_secs_f64()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Tokenize { model, texts } => {
            let path = engine::resolve_model(&model, std::path::Path::new(".")).map_err(anyhow::Error::msg)?;
            let tok = if path.is_file() {
                let g = gguf::Gguf::open(&path).map_err(anyhow::Error::msg)?;
                let (inner, cfg) = gguf::tokenizer_parts(&g).map_err(anyhow::Error::msg)?;
                engine::Tokenizer::from_parts(inner, &cfg, None, &[])
            } else {
                engine::Tokenizer::load(&path, &[]).map_err(anyhow::Error::msg)?
            };
            let mut out = std::io::stdout().lock();
            for t in &texts {
                let ids = tok.encode(t, false).map_err(anyhow::Error::msg)?;
                writeln!(out, "{}", serde_json::json!(ids))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `models generate`: one generation (after `--warmup` ones) as JSON: ids, text, rates
/// and where each decode step's host time went.
#[cfg(feature = "mlx")]
fn generate(a: &crate::cli::GenerateArgs) -> Result<ExitCode> {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use mlxbench_engine::{self as engine, Sampling};

    use crate::backend::mlx;
    use crate::measure::sample::StreamRecord;
    let dir = engine::resolve_model(&a.model, std::path::Path::new(".")).map_err(anyhow::Error::msg)?;
    let t_load = Instant::now();
    let loaded = engine::load(&dir)?;
    let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
    let ids = match &a.prompt {
        Some(p) => loaded.encode_text(p)?,
        None => a.ids.clone(),
    };
    let s = Sampling { max_tokens: a.max_tokens, temperature: a.temperature, top_p: a.top_p, seed: a.seed, ignore_eos: !a.stop_at_eos };
    for _ in 0..a.warmup {
        loaded.generate(&ids, &s, Instant::now() + Duration::from_secs(3600), &mut |_, _, _| {})?;
    }
    let t0 = Instant::now();
    let mut rec = StreamRecord::new(t0);
    let out = loaded.generate(&ids, &s, t0 + Duration::from_secs(3600), &mut mlx::record_into(&mut rec))?;
    // host time per decode step, µs: graph built, dispatched, token waited for
    let phases = [&out.steps.build_ns, &out.steps.dispatch_ns, &out.steps.wait_ns]
        .map(|ns| crate::stats::summarize(&ns.iter().map(|n| *n as f64 / 1e3).collect::<Vec<_>>()));
    let per_phase = |f: fn(&crate::stats::Summary) -> f64| phases.each_ref().map(|s| s.as_ref().map_or(0.0, f));
    let [build, dispatch, wait] = per_phase(|s| s.median);
    let v = serde_json::json!({
        "prompt_ids": ids,
        // config + weights read and materialised + tokenizer (the engine's load)
        "load_ms": load_ms,
        "token_ids": out.token_ids,
        "text": rec.text,
        "prefill_ms": out.prefill_ms,
        "prefill_tps": if out.prefill_ms > 0.0 { out.prompt_tokens as f64 / (out.prefill_ms / 1e3) } else { 0.0 },
        // from when each token was read (as mlx-lm's reference times it), not from
        // when its text completed
        "decode_tps": engine::token_rate(&out.token_times).unwrap_or(0.0),
        // medians per decode step
        "step_build_us": build,
        "step_dispatch_us": dispatch,
        "step_wait_us": wait,
        // means and maxima of the same three: a few slow steps hide from medians
        "step_mean_us": per_phase(|s| s.mean),
        "step_max_us": per_phase(|s| s.max),
        // the prefill's host time to build and dispatch its graph, and its wait, µs
        "prefill_build_us": out.steps.prefill_ns[0] as f64 / 1e3,
        "prefill_dispatch_us": out.steps.prefill_ns[1] as f64 / 1e3,
        "prefill_wait_us": out.steps.prefill_ns[2] as f64 / 1e3,
        // fused kernels compiled, projections stacked (MLXBENCH_NO_COMPILE=1: neither)
        "compiled": loaded.model.compiled(),
        "stacked": loaded.model.stacked(),
    });
    writeln!(std::io::stdout().lock(), "{v}")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "mlx")]
/// The model folders: those given, else `$MLXBENCH_MODELS` (colon-separated), else
/// `./models` when it exists.
pub fn model_dirs(given: Vec<PathBuf>) -> Vec<PathBuf> {
    let dirs = if !given.is_empty() {
        given
    } else if let Some(v) = std::env::var_os("MLXBENCH_MODELS") {
        std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect()
    } else if std::path::Path::new("models").is_dir() {
        vec![PathBuf::from("models")]
    } else {
        Vec::new()
    };
    // absolute, so that listed paths mean the same from anywhere
    dirs.into_iter().map(|d| std::fs::canonicalize(&d).unwrap_or(d)).collect()
}

/// `models list`: a table (or JSON) of every model found, runnable or not.
#[cfg(feature = "mlx")]
fn list(dirs: &[PathBuf], as_json: bool) -> Result<ExitCode> {
    use std::io::Write;

    use crate::fmt::{Grid, bytes};
    let entries = mlxbench_engine::catalog::scan(dirs, true);
    let mut out = std::io::stdout().lock();
    if as_json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut g = Grid::new(["name", "format", "architecture", "parameters", "quantization", "size", "runs", "path"], 8);
    for e in &entries {
        g.push(vec![
            e.name.clone(),
            e.format.into(),
            e.architecture.clone().unwrap_or_else(|| "?".into()),
            e.parameter_size().unwrap_or_else(|| "?".into()),
            e.quantization.clone().unwrap_or_else(|| "?".into()),
            bytes(e.size_bytes),
            if e.supported { "yes".into() } else { "no (below)".into() },
            e.path.display().to_string(),
        ]);
    }
    if !entries.is_empty() {
        writeln!(out, "{}", g.terminal(None))?;
    }
    for e in entries.iter().filter(|e| !e.supported) {
        let why = e.reason.as_deref().unwrap_or("unsupported");
        writeln!(out, "{} does not run here: {}", crate::fmt::one_line(&e.name), crate::fmt::one_line(why))?;
    }
    let hubs: Vec<String> = mlxbench_engine::hub_dirs().iter().map(|p| p.display().to_string()).collect();
    let folders: Vec<String> = dirs.iter().map(|p| p.display().to_string()).collect();
    writeln!(
        out,
        "{} models ({} runnable) in {} and the Hugging Face cache ({})",
        entries.len(),
        entries.iter().filter(|e| e.supported).count(),
        if folders.is_empty() { "no model folders".into() } else { folders.join(", ") },
        hubs.join(", ")
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "mlx"))]
pub fn run(_cmd: ModelsCommand) -> Result<ExitCode> {
    anyhow::bail!("this mlxbench was built without the `mlx` feature (scripts/setup.sh builds it with it)")
}
