//! One self-contained HTML page: inline CSS, inline SVG charts, a few lines of inline
//! script for sortable tables; no network, no external files. Every string that comes
//! from a result file is escaped.

use anyhow::Result;

use super::figures::Figure;
use super::hardware::ASSUMPTIONS;
use super::{Report, tables};
use crate::fmt::{bytes, html_escape as esc};
use crate::output::{failures, host_line, side_by_side};
use crate::results::RunResult;

const STYLE: &str = r#"
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1.5rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .3rem; margin-top: 2.2rem; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .35rem .6rem; text-align: right; vertical-align: top; }
th { background: #f4f6f8; } td:first-child, th:first-child, td.l, th.l { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th:hover { background: #e6ebf0; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.chart { margin: 0; border: 1px solid #e3e3e3; border-radius: 6px; padding: .5rem; background: #fff; max-width: 100%; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: #555; padding: .3rem; }
.flag { color: #c00; font-weight: bold; } .note { color: #555; font-size: .9rem; } code { font-size: .85rem; }
"#;

/// Sorts a table by the clicked column (numbers numerically, the rest as text), and
/// reports a chart that failed to render.
const SCRIPT: &str = r#"
(function () {
  function key(td) {
    var t = td.textContent.trim();
    var n = parseFloat(t.replace(/[^0-9.eE+-]/g, ' ').trim().split(' ')[0]);
    return isNaN(n) ? t.toLowerCase() : n;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = !th.classList.contains('asc');
        table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
        th.classList.add(asc ? 'asc' : 'desc');
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === y) return 0;
          return ((typeof x === typeof y) ? (x < y) : (typeof x === 'number')) === asc ? -1 : 1;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var figures = document.querySelectorAll('figure.chart');
  figures.forEach(function (f) {
    if (!f.querySelector('svg')) { console.error('chart ' + f.dataset.id + ' did not render'); }
  });
  document.body.dataset.charts = String(document.querySelectorAll('figure.chart svg').length);
})();
"#;

fn figures_html(figs: &[Figure], section: &str) -> Result<String> {
    let mut s = String::from("<div class=\"charts\">");
    for f in figs.iter().filter(|f| f.section == section) {
        let svg = f.chart.to_svg().map_err(|e| anyhow::anyhow!("chart {}: {e}", f.id))?;
        let svg = svg.trim_start_matches(|c| c != '<');
        s.push_str(&format!(
            "<figure class=\"chart\" data-id=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
            esc(&f.id),
            esc(f.chart.title())
        ));
    }
    s.push_str("</div>");
    Ok(s)
}

fn host_table(r: &RunResult) -> String {
    let h = &r.host;
    let mut rows = vec![
        ("Machine", r.machine()),
        ("OS", format!("{} {} ({})", h.os, h.os_version, h.arch)),
        ("CPU", h.cpu.clone()),
        ("Cores", format!("{} logical{}", h.cores, h.physical_cores.map(|p| format!(", {p} physical")).unwrap_or_default())),
        ("Memory", bytes(h.memory_bytes)),
    ];
    if let (Some(p), Some(e)) = (h.performance_cores, h.efficiency_cores) {
        rows.push(("P/E cores", format!("{p} performance + {e} efficiency")));
    }
    if let Some(c) = &h.chip {
        rows.push(("Chip", format!("{c}{}", h.gpu_cores.map(|g| format!(", {g} GPU cores")).unwrap_or_default())));
    }
    if let Some(bw) = h.memory_bandwidth_gbps {
        rows.push(("Memory bandwidth", format!("{bw} GB/s")));
    }
    for g in &h.gpus {
        rows.push(("GPU", format!("{} ({})", crate::measure::gpu::describe(g), g.bandwidth_source)));
    }
    let devices = super::device_lines(r);
    if !devices.is_empty() {
        rows.push(("MLX devices", devices.join("; ")));
    }
    rows.push(("mlxbench", r.mlxbench_version.clone()));
    rows.push((
        "Run",
        format!("{} → {}", r.started_at.to_rfc3339(), r.finished_at.map(|f| f.to_rfc3339()).unwrap_or_else(|| "unfinished".into())),
    ));
    let mut s = String::from("<table class=\"kv\"><tbody>");
    for (k, v) in rows {
        s.push_str(&format!("<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>", esc(k), esc(&v)));
    }
    s.push_str("</tbody></table>");
    s
}

pub fn render(r: &Report, figs: &[Figure]) -> Result<String> {
    let run = &r.latest;
    let mut body = String::new();
    body.push_str(&format!("<h1>{}: mlxbench report</h1>", esc(&r.scenario)));
    body.push_str(&format!(
        "<p class=\"meta\">Newest run {}{} on {} · <code>{}</code></p>",
        esc(&run.started_at.format("%Y-%m-%d %H:%M UTC").to_string()),
        esc(&super::interrupted_mark(run)),
        esc(&host_line(run)),
        esc(&r.latest_path.display().to_string())
    ));
    body.push_str("<h2 id=\"host\">Host</h2>");
    body.push_str(&host_table(run));

    body.push_str("<h2 id=\"cases\">Cases</h2><p class=\"note\">Median (95% interval of the median) over successful requests. Click a column to sort.</p>");
    body.push_str(&tables::cases(run).html(true));
    if let Some(g) = tables::energy(run) {
        body.push_str("<h2 id=\"energy\">Energy</h2><p class=\"note\">Median (95% interval of the median) per request; J/token over the decode phase.</p>");
        body.push_str(&g.html(true));
    }
    body.push_str(&list(side_by_side(&run.cases)));
    let failed: Vec<String> = failures(&run.cases).into_iter().map(|(case, why)| format!("{case}: {why}")).collect();
    if !failed.is_empty() {
        body.push_str(&format!("<h3>Failures</h3>{}", list(failed)));
    }
    if let Some((counted, lines)) = super::warnings(run) {
        body.push_str(&format!("<h3>Warnings</h3><p class=\"note\">By kind: {}.</p>{}", esc(&counted), list(lines)));
    }
    body.push_str(&figures_html(figs, "cases")?);
    if figs.iter().any(|f| f.section == "sweeps") {
        body.push_str("<h2 id=\"sweeps\">Sweeps</h2>");
        body.push_str(&figures_html(figs, "sweeps")?);
    }
    if figs.iter().any(|f| f.section == "timeline") {
        body.push_str("<h2 id=\"timeline\">Request timeline</h2><p class=\"note\">Cumulative tokens received by each request of one case, against time since it was sent: the flat start is time to first token, the slope is decode speed.</p>");
        body.push_str(&figures_html(figs, "timeline")?);
    }
    if r.machines.len() > 1 {
        body.push_str(&hardware(r));
        body.push_str(&figures_html(figs, "hardware")?);
    }
    if r.history.len() > 1 {
        body.push_str(&trend(r));
        body.push_str(&figures_html(figs, "trend")?);
    }
    if !r.notes.is_empty() {
        body.push_str("<h2 id=\"notes\">Notes</h2><ul>");
        for n in &r.notes {
            body.push_str(&format!("<li>{}</li>", esc(n)));
        }
        body.push_str("</ul>");
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} – mlxbench</title><style>{STYLE}</style></head><body>{body}<script>{SCRIPT}</script></body></html>\n",
        esc(&r.scenario)
    ))
}

/// A bulleted list of escaped items; empty when there are none.
fn list(items: Vec<String>) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = String::from("<ul>");
    for i in items {
        s.push_str(&format!("<li>{}</li>", esc(&i)));
    }
    s.push_str("</ul>");
    s
}

fn hardware(r: &Report) -> String {
    let mut s = String::from("<h2 id=\"hardware\">Hardware comparison</h2>");
    for (metric, heading) in tables::machine_metrics(r) {
        s.push_str(&format!("<h3>{}</h3>", esc(&heading)));
        s.push_str(&tables::machines(r, metric).html(true));
    }
    s.push_str("<h3>Roofline efficiency (decode)</h3>");
    s.push_str(&tables::rooflines(r).html(true));
    s.push_str(&format!("<p class=\"note\">{}</p>", esc(ASSUMPTIONS)));
    s
}

fn trend(r: &Report) -> String {
    let mut s = format!(
        "<h2 id=\"trend\">Trend on {}</h2><p class=\"note\">Medians per run, oldest first; <span class=\"flag\">⚠</span> marks a run that <code>mlxbench compare</code> flags as regressed against the one before.</p>",
        esc(&r.latest.machine())
    );
    for (metric, heading) in tables::section_metrics() {
        s.push_str(&format!("<h3>{}</h3>", esc(&heading)));
        s.push_str(&tables::trend(r, metric).html(false));
    }
    s
}
