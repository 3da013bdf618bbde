//! `mlxbench serve`: the in-process engine behind Ollama's and OpenAI's APIs (serve/).

use std::process::ExitCode;

use anyhow::Result;

#[cfg(feature = "mlx")]
use super::models::model_dirs;

/// `serve`: runs until interrupted.
#[cfg(feature = "mlx")]
pub fn serve(a: crate::cli::ServeArgs) -> Result<ExitCode> {
    let keep_alive = crate::serve::parse_keep_alive(&serde_json::Value::String(a.keep_alive.clone())).map_err(anyhow::Error::msg)?;
    crate::serve::run(crate::serve::Options {
        host: a.host,
        port: a.port,
        models: model_dirs(a.models),
        hub: true,
        queue: a.queue as usize,
        max_loaded: a.max_loaded as usize,
        keep_alive,
        num_predict: a.num_predict,
        allow_origins: allowed_origins(&a.allow_origin),
        max_connections: a.max_connections as usize,
        header_timeout: std::time::Duration::from_secs(a.header_timeout_s.into()),
        body_timeout: std::time::Duration::from_secs(a.body_timeout_s.into()),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `--allow-origin` values, then `MLXBENCH_ORIGINS` (comma-separated, as OLLAMA_ORIGINS).
#[cfg(feature = "mlx")]
fn allowed_origins(flags: &[String]) -> Vec<String> {
    let env = std::env::var("MLXBENCH_ORIGINS").unwrap_or_default();
    flags.iter().map(String::as_str).chain(env.split(',')).map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect()
}

#[cfg(not(feature = "mlx"))]
pub fn serve(_a: crate::cli::ServeArgs) -> Result<ExitCode> {
    anyhow::bail!(
        "`serve` runs the in-process MLX engine: this mlxbench was built without the `mlx` feature (scripts/setup.sh builds it with it)"
    )
}
