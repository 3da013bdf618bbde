//! The report as GitHub-flavoured Markdown: fits a CI job summary or a PR comment.

use std::io::Write;

use super::figures::{BAR_METRICS, trend_points};
use super::hardware::{ASSUMPTIONS, roofline};
use super::{Report, case_label, median_with_ci};
use crate::compare::Verdict;
use crate::output::markdown::escape;
use crate::output::{bytes, num};
use crate::results::{CaseResult, RunResult};

/// `median (lo–hi)` of a metric, or `-`.
pub fn cell(c: &CaseResult, metric: &str) -> String {
    match median_with_ci(c, metric) {
        Some((m, lo, hi)) => format!("{} ({}–{})", num(m), num(lo), num(hi)),
        None => "-".into(),
    }
}

pub fn host_line(r: &RunResult) -> String {
    let h = &r.host;
    let mut s = format!(
        "**{}** ({} {}, {}, {} cores, {:.1} GiB",
        r.machine(),
        h.os,
        h.os_version,
        h.arch,
        h.cores,
        h.memory_bytes as f64 / (1u64 << 30) as f64
    );
    if let Some(g) = h.gpu_cores {
        s.push_str(&format!(", {g} GPU cores"));
    }
    if let Some(bw) = h.memory_bandwidth_gbps {
        s.push_str(&format!(", {bw} GB/s"));
    }
    s.push(')');
    s
}

/// Sentences like "llama.cpp is 1.42x ollama on decode (115.2 vs 81.1 tokens/s)".
pub fn ratios(run: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    for g in crate::output::grouped(&run.cases) {
        if g.len() < 2 {
            continue;
        }
        let label = case_label(g[0]);
        let mut decode: Vec<(&str, f64)> = g.iter().filter_map(|c| Some((c.target.as_str(), median_with_ci(c, "decode_tps")?.0))).collect();
        decode.sort_by(|a, b| b.1.total_cmp(&a.1));
        for other in decode.iter().skip(1) {
            if other.1 > 0.0 {
                out.push(format!(
                    "{label}: {} is {:.2}x {} on decode ({} vs {} tokens/s)",
                    decode[0].0,
                    decode[0].1 / other.1,
                    other.0,
                    num(decode[0].1),
                    num(other.1)
                ));
            }
        }
        let mut ttft: Vec<(&str, f64)> = g.iter().filter_map(|c| Some((c.target.as_str(), median_with_ci(c, "ttft_ms")?.0))).collect();
        ttft.sort_by(|a, b| a.1.total_cmp(&b.1));
        for other in ttft.iter().skip(1) {
            if ttft[0].1 > 0.0 {
                out.push(format!(
                    "{label}: {} reaches the first token {:.2}x sooner than {} ({} vs {} ms)",
                    ttft[0].0,
                    other.1 / ttft[0].1,
                    other.0,
                    num(ttft[0].1),
                    num(other.1)
                ));
            }
        }
    }
    out
}

pub fn render<W: Write>(w: &mut W, r: &Report) -> std::io::Result<()> {
    let run = &r.latest;
    writeln!(w, "# {}: mlxbench report\n", escape(&r.scenario))?;
    writeln!(
        w,
        "Newest run {} on {}; mlxbench {}; `{}`.\n",
        run.started_at.format("%Y-%m-%d %H:%M UTC"),
        escape(&host_line(run)),
        escape(&run.mlxbench_version),
        escape(&r.latest_path.display().to_string())
    )?;
    writeln!(w, "## Cases\n")?;
    writeln!(w, "Median (95% interval of the median) over successful requests.\n")?;
    writeln!(w, "| Target | Case | OK | TTFT ms | Decode tok/s | Prefill tok/s | Load ms (cold) | Peak memory |")?;
    writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for c in &run.cases {
        let ok = if c.error.is_some() { "error".into() } else { format!("{}/{}", c.ok_count(), c.samples.len()) };
        let load = c.load.as_ref().and_then(|l| l.cold_ms).map(num).unwrap_or_else(|| "-".into());
        let mem = c.memory.as_ref().and_then(|m| m.peak_bytes.or(m.after_load_bytes)).map(bytes).unwrap_or_else(|| "-".into());
        let cells = [c.target.clone(), case_label(c), ok, cell(c, "ttft_ms"), cell(c, "decode_tps"), cell(c, "prefill_tps"), load, mem];
        writeln!(w, "| {} |", cells.iter().map(|s| escape(s)).collect::<Vec<_>>().join(" | "))?;
    }
    let rs = ratios(run);
    if !rs.is_empty() {
        writeln!(w, "\n### Side by side\n")?;
        for s in rs {
            writeln!(w, "- {}", escape(&s))?;
        }
    }
    let failures: Vec<String> = run
        .cases
        .iter()
        .filter_map(|c| {
            crate::output::failure_note(c).map(|n| format!("- {} / {}: {}", escape(&c.target), escape(&case_label(c)), escape(&n)))
        })
        .collect();
    if !failures.is_empty() {
        writeln!(w, "\n### Failures\n")?;
        for f in failures {
            writeln!(w, "{f}")?;
        }
    }
    if r.machines.len() > 1 {
        hardware(w, r)?;
    }
    if r.history.len() > 1 {
        trend(w, r)?;
    }
    if !r.notes.is_empty() {
        writeln!(w, "\n## Notes\n")?;
        for n in &r.notes {
            writeln!(w, "- {}", escape(n))?;
        }
    }
    Ok(())
}

fn hardware<W: Write>(w: &mut W, r: &Report) -> std::io::Result<()> {
    writeln!(w, "\n## Hardware comparison\n")?;
    for m in &r.machines {
        writeln!(w, "- {} — run {}", escape(&host_line(m)), m.started_at.format("%Y-%m-%d %H:%M UTC"))?;
    }
    let keys = super::machine_cases(&r.machines);
    for (metric, title, unit) in &BAR_METRICS[..2] {
        writeln!(w, "\n### {title} ({unit})\n")?;
        let names: Vec<String> = r.machines.iter().map(|m| escape(&m.machine())).collect();
        writeln!(w, "| Case | {} |", names.join(" | "))?;
        writeln!(w, "|---|{}", "---:|".repeat(names.len()))?;
        for (k, label) in &keys {
            let cells: Vec<String> = r
                .machines
                .iter()
                .map(|m| m.cases.iter().find(|c| &c.key() == k).map(|c| cell(c, metric)).unwrap_or_else(|| "-".into()))
                .collect();
            writeln!(w, "| {} | {} |", escape(label), cells.join(" | "))?;
        }
    }
    writeln!(w, "\n### Roofline efficiency (decode)\n")?;
    writeln!(w, "| Machine | Case | Bandwidth GB/s | Weights | Ceiling tok/s | Decode tok/s | Efficiency |")?;
    writeln!(w, "|---|---|---:|---:|---:|---:|---:|")?;
    for row in roofline(&r.machines) {
        let o = |v: Option<f64>| v.map(num).unwrap_or_else(|| "-".into());
        let weights =
            row.weights_bytes.map(|b| format!("{} ({})", bytes(b), row.weights_source.unwrap_or(""))).unwrap_or_else(|| "unknown".into());
        let eff = row.efficiency.map(|e| format!("{:.0}%", e * 100.0)).unwrap_or_else(|| "-".into());
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} |",
            escape(&row.machine),
            escape(&row.case),
            o(row.bandwidth_gbps),
            weights,
            o(row.ceiling_tps),
            o(row.decode_tps),
            eff
        )?;
    }
    writeln!(w, "\n{ASSUMPTIONS}")?;
    Ok(())
}

fn trend<W: Write>(w: &mut W, r: &Report) -> std::io::Result<()> {
    writeln!(w, "\n## Trend on {}\n", escape(&r.latest.machine()))?;
    writeln!(w, "Medians per run, oldest first; ⚠ marks a run that `mlxbench compare` flags as regressed against the one before.")?;
    let dates: Vec<String> = r.history.iter().map(|(_, run)| run.started_at.format("%m-%d %H:%M").to_string()).collect();
    for (metric, title, unit) in &BAR_METRICS[..2] {
        writeln!(w, "\n### {title} ({unit})\n")?;
        writeln!(w, "| Case | {} |", dates.join(" | "))?;
        writeln!(w, "|---|{}", "---:|".repeat(dates.len()))?;
        for (label, pts) in trend_points(r, metric) {
            let cells: Vec<String> = (0..dates.len())
                .map(|i| match pts.iter().find(|p| p.0 == i) {
                    Some((_, v, Verdict::Regressed)) => format!("⚠ {}", num(*v)),
                    Some((_, v, _)) => num(*v),
                    None => "-".into(),
                })
                .collect();
            writeln!(w, "| {} | {} |", escape(&label), cells.join(" | "))?;
        }
    }
    Ok(())
}
