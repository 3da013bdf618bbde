//! The subcommands: turn CLI data into plans, drive the runner, render and export.

pub mod compare;
pub mod models;
pub mod report;
pub mod run;
pub mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::backend;
use crate::cli::InfoArgs;
use crate::fmt::{bytes, one_line};
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
    let mut targets: Vec<(String, scenario::BackendConfig)> = vec![
        ("ollama".into(), scenario::BackendConfig::Ollama(scenario::OllamaConfig::from_env())),
        ("openai".into(), scenario::BackendConfig::Openai(scenario::OpenAiConfig::local_default())),
        (
            "mlx".into(),
            scenario::BackendConfig::Mlx(scenario::MlxConfig {
                base_dir: PathBuf::from("."),
                load_timeout: Duration::from_secs(60),
                gpu: None,
            }),
        ),
    ];
    for p in expand_files(&args.files)? {
        let plan = scenario::load_file(&p)?;
        targets.extend(plan.targets.into_iter().filter(|t| t.backend() != scenario::BackendKind::Mlx).map(|t| (t.name, t.config)));
    }
    // every probe at once, each with its own deadline
    let probes = rt.block_on(futures_util::future::join_all(targets.iter().map(|(_, c)| backend::probe(c, Duration::from_secs(2)))));
    let backends: Vec<serde_json::Value> = targets
        .iter()
        .zip(probes)
        .map(|((name, _), p)| {
            let r = |s: &str| crate::secrets::redact(s).into_owned();
            json!({"name": name, "url": r(&p.url), "reachable": p.reachable, "detail": r(&p.detail)})
        })
        .collect();
    print_info(&host, &backends, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The energy and heat sources found, and why the others are missing.
type EnergySources = (Vec<crate::measure::energy::SourceInfo>, Vec<crate::measure::energy::Unavailable>);

fn print_energy(out: &mut impl Write, (found, missing): &EnergySources) -> Result<()> {
    if found.is_empty() {
        writeln!(out, "energy    none found")?;
    }
    for s in found {
        let estimate = if s.estimate { ", a model's estimate" } else { "" };
        let period = if s.period_ms > 0.0 { format!(", every {} ms", s.period_ms) } else { String::new() };
        writeln!(out, "energy    {}: {}{period}{estimate}", one_line(&s.name), one_line(&s.covers))?;
    }
    for u in missing {
        writeln!(out, "  no {}: {}", one_line(&u.name), one_line(&u.reason))?;
    }
    Ok(())
}

/// Writes `info`'s answer as text or JSON.
fn print_info(host: &host::HostInfo, backends: &[serde_json::Value], as_json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (sources, missing) = crate::measure::energy::detect();
    let energy: EnergySources = (sources.iter().map(|s| s.info()).collect(), missing);
    if as_json {
        let e = json!({"sources": energy.0, "unavailable": energy.1});
        serde_json::to_writer_pretty(&mut out, &json!({"host": host, "backends": backends, "energy": e}))?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "mlxbench {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "host      {}", one_line(&host.hostname))?;
    writeln!(out, "os        {}", one_line(&format!("{} {} ({})", host.os, host.os_version, host.arch)))?;
    writeln!(out, "cpu       {}", one_line(&host.cpu))?;
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
        writeln!(out, "chip      {}, {} GPU cores", one_line(chip), host.gpu_cores.map_or("?".into(), |g| g.to_string()))?;
    }
    if let Some(bw) = host.memory_bandwidth_gbps {
        writeln!(out, "bandwidth {bw} GB/s")?;
    } else if let Some(why) = &host.memory_bandwidth_note {
        writeln!(out, "bandwidth {why}")?;
    }
    for g in &host.gpus {
        writeln!(out, "gpu       {}", one_line(&crate::measure::gpu::describe(g)))?;
    }
    if host.gpus.is_empty() {
        writeln!(out, "gpu       none found (NVIDIA through NVML, Apple from the chip)")?;
    }
    writeln!(out, "memory is measured as {}", crate::measure::memory::SOURCE)?;
    print_energy(&mut out, &energy)?;
    writeln!(out, "\nbackends:")?;
    for b in backends {
        let mark = if b["reachable"].as_bool() == Some(true) { "up  " } else { "down" };
        writeln!(
            out,
            "  {mark} {:<16} {:<32} {}",
            one_line(b["name"].as_str().unwrap_or("")),
            one_line(b["url"].as_str().unwrap_or("")),
            one_line(b["detail"].as_str().unwrap_or(""))
        )?;
    }
    Ok(())
}
