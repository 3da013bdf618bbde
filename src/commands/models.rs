//! `mlxbench models ...`: direct access to the in-process MLX engine.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ModelsCommand;

#[cfg(feature = "mlx")]
pub fn run(cmd: ModelsCommand) -> Result<ExitCode> {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use mlxbench_engine::{self as engine, Sampling, gguf};

    use crate::backend::mlx;
    use crate::measure::metrics::StreamRecord;
    match cmd {
        ModelsCommand::Generate(a) => {
            let dir = engine::resolve_model(&a.model, std::path::Path::new(".")).map_err(anyhow::Error::msg)?;
            let loaded = engine::load(&dir)?;
            let ids = match &a.prompt {
                Some(p) => loaded.encode_text(p)?,
                None => a.ids.clone(),
            };
            let s =
                Sampling { max_tokens: a.max_tokens, temperature: a.temperature, top_p: a.top_p, seed: a.seed, ignore_eos: !a.stop_at_eos };
            let t0 = Instant::now();
            let mut rec = StreamRecord::new(t0);
            let out = loaded.generate(&ids, &s, t0 + Duration::from_secs(3600), &mut mlx::record_into(&mut rec))?;
            let v = serde_json::json!({
                "prompt_ids": ids,
                "token_ids": out.token_ids,
                "text": rec.text,
                "prefill_ms": out.prefill_ms,
                "prefill_tps": if out.prefill_ms > 0.0 { out.prompt_tokens as f64 / (out.prefill_ms / 1e3) } else { 0.0 },
                // from when each token was read (as mlx-lm's reference times it), not from
                // when its text completed
                "decode_tps": engine::token_rate(&out.token_times).unwrap_or(0.0),
            });
            writeln!(std::io::stdout().lock(), "{v}")?;
            Ok(ExitCode::SUCCESS)
        }
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

#[cfg(not(feature = "mlx"))]
pub fn run(_cmd: ModelsCommand) -> Result<ExitCode> {
    anyhow::bail!("this mlxbench was built without the `mlx` feature")
}
