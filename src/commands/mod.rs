//! The subcommands: turn CLI data into plans, drive the runner, render and export.

pub mod models;
pub mod report;
pub mod run;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::backend::{self, ollama, openai};
use crate::cli::InfoArgs;
use crate::fmt::bytes;
use crate::measure::host;
use crate::scenario;

/// Expands file arguments: globs are matched (sorted), plain paths are kept as given.
pub fn expand_files(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.contains(['*', '?', '[']) {
            let mut matched: Vec<PathBuf> =
                glob::glob(a).with_context(|| format!("bad glob pattern {a}"))?.filter_map(Result::ok).collect();
            if matched.is_empty() {
                bail!("no files match {a}");
            }
            matched.sort();
            out.extend(matched);
        } else {
            out.push(PathBuf::from(a));
        }
    }
    Ok(out)
}

pub fn validate(files: &[String]) -> Result<ExitCode> {
    let paths = expand_files(files)?;
    let mut stdout = std::io::stdout().lock();
    let mut bad = 0;
    for p in &paths {
        match scenario::load_file(p) {
            Ok(plan) => writeln!(
                stdout,
                "ok {}: {} targets, {} workloads, {} cases, {} requests",
                p.display(),
                plan.targets.len(),
                plan.spec.workloads.len(),
                plan.cases.len(),
                crate::runner::request_count(&plan)
            )?,
            Err(e) => {
                bad += 1;
                eprintln!("{e}");
            }
        }
    }
    Ok(ExitCode::from(if bad == 0 { crate::exit::OK } else { crate::exit::ERROR }))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub fn info(args: InfoArgs) -> Result<ExitCode> {
    let host = host::detect();
    let rt = runtime()?;
    let client = backend::http_client();
    let probe = |url: String| {
        let client = client.clone();
        async move {
            let r = tokio::time::timeout(Duration::from_secs(2), client.get(&url).send()).await;
            match r {
                Ok(Ok(resp)) if resp.status().is_success() => Ok(resp.json::<serde_json::Value>().await.unwrap_or_default()),
                Ok(Ok(resp)) => Err(format!("HTTP {}", resp.status())),
                Ok(Err(e)) => Err(backend::one_line(&e)),
                Err(_) => Err("no answer within 2 s".into()),
            }
        }
    };
    let mut endpoints: Vec<(String, String, String)> = vec![
        ("ollama".into(), ollama::resolve_host(None), "/api/version".into()),
        ("openai".into(), openai::DEFAULT_BASE_URL.into(), "/models".into()),
    ];
    for p in expand_files(&args.files)? {
        let plan = scenario::load_file(&p)?;
        for t in &plan.targets {
            match t.backend {
                scenario::BackendKind::Ollama => endpoints.push((
                    t.name.clone(),
                    ollama::resolve_host(t.spec.host.as_ref().map(|h| h.get_ref().as_str())),
                    "/api/version".into(),
                )),
                scenario::BackendKind::Openai => endpoints.push((
                    t.name.clone(),
                    openai::resolve_base_url(t.spec.base_url.as_ref().map(|u| u.get_ref().as_str())),
                    "/models".into(),
                )),
                scenario::BackendKind::Mlx => {}
            }
        }
    }
    let mut backends = Vec::new();
    for (name, base, path) in endpoints {
        let res = rt.block_on(probe(format!("{base}{path}")));
        let detail = match &res {
            Ok(v) => v.get("version").and_then(|x| x.as_str()).map(|v| format!("version {v}")).unwrap_or_else(|| "reachable".into()),
            Err(e) => e.clone(),
        };
        backends.push(json!({"name": name, "url": base, "reachable": res.is_ok(), "detail": detail}));
    }
    #[cfg(feature = "mlx")]
    backends.push(match mlxbench_engine::self_check() {
        Ok(()) => json!({"name": "mlx", "url": "in-process", "reachable": true, "detail": backend::mlx::engine_description()}),
        Err(e) => json!({"name": "mlx", "url": "in-process", "reachable": false, "detail": e.to_string()}),
    });
    #[cfg(not(feature = "mlx"))]
    backends.push(
        json!({"name": "mlx", "url": "in-process", "reachable": false, "detail": "not built in (build with the `mlx` cargo feature)"}),
    );

    print_info(&host, &backends, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `info`'s answer as text or JSON.
fn print_info(host: &host::HostInfo, backends: &[serde_json::Value], as_json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        serde_json::to_writer_pretty(&mut out, &json!({"host": host, "backends": backends}))?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "mlxbench {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "host      {}", host.hostname)?;
    writeln!(out, "os        {} {} ({})", host.os, host.os_version, host.arch)?;
    writeln!(out, "cpu       {}", host.cpu)?;
    let mut cores = format!("{} logical", host.cores);
    if let Some(p) = host.physical_cores {
        cores.push_str(&format!(", {p} physical"));
    }
    if let (Some(p), Some(e)) = (host.performance_cores, host.efficiency_cores) {
        cores.push_str(&format!(" ({p} performance + {e} efficiency)"));
    }
    writeln!(out, "cores     {cores}")?;
    writeln!(out, "memory    {}", bytes(host.memory_bytes))?;
    if let Some(chip) = &host.chip {
        writeln!(out, "chip      {chip}, {} GPU cores", host.gpu_cores.map_or("?".into(), |g| g.to_string()))?;
    }
    if let Some(bw) = host.memory_bandwidth_gbps {
        writeln!(out, "bandwidth {bw} GB/s")?;
    }
    writeln!(out, "memory is measured as {}", crate::measure::memory::SOURCE)?;
    writeln!(out, "\nbackends:")?;
    for b in backends {
        let mark = if b["reachable"].as_bool() == Some(true) { "up  " } else { "down" };
        writeln!(
            out,
            "  {mark} {:<16} {:<32} {}",
            b["name"].as_str().unwrap_or(""),
            b["url"].as_str().unwrap_or(""),
            b["detail"].as_str().unwrap_or("")
        )?;
    }
    Ok(())
}
