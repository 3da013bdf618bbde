//! Output formats behind one interface (as hyperfine's exporters): `report --format`
//! writes each into the report folder, and `run --export-csv` / `--export-bmf` write the
//! one-file formats for the run just made. A new format is one [`Exporter`] here over a
//! renderer of its own file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Format, Report, csv, dashboard, html, markdown};

/// One output format.
pub trait Exporter: Sync {
    /// Writes the format for `reports` into `dir`, names from `stem` (the scenario's
    /// slug); returns the files written.
    fn write(&self, reports: &[&Report], stem: &str, dir: &Path) -> Result<Vec<PathBuf>>;

    /// The whole output as one file's bytes, for formats that are one file.
    fn one_file(&self, _reports: &[&Report]) -> Option<Result<Vec<u8>>> {
        None
    }
}

/// The exporter of a format.
pub fn exporter(f: Format) -> &'static dyn Exporter {
    match f {
        Format::Md => &Markdown,
        Format::Csv => &Csv,
        Format::Html => &Html,
        Format::Svg => &Charts { png: false },
        Format::Png => &Charts { png: true },
        Format::Gab => &Gab,
        Format::Bmf => &Bmf,
    }
}

fn put(path: PathBuf, bytes: &[u8]) -> Result<PathBuf> {
    crate::results::write::write_output(&path, bytes)?;
    Ok(path)
}

/// Writes a one-file format as `dir/name`.
fn write_one(e: &dyn Exporter, reports: &[&Report], path: PathBuf) -> Result<Vec<PathBuf>> {
    match e.one_file(reports) {
        Some(bytes) => Ok(vec![put(path, &bytes?)?]),
        None => Ok(Vec::new()),
    }
}

fn json(v: &serde_json::Value) -> Result<Vec<u8>> {
    Ok((serde_json::to_string_pretty(v).context("JSON")? + "\n").into_bytes())
}

struct Markdown;
impl Exporter for Markdown {
    fn write(&self, reports: &[&Report], stem: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        write_one(self, reports, dir.join(format!("{stem}.md")))
    }
    fn one_file(&self, reports: &[&Report]) -> Option<Result<Vec<u8>>> {
        let mut buf = Vec::new();
        Some(reports.iter().try_for_each(|r| markdown::render(&mut buf, r)).map(|_| buf).map_err(Into::into))
    }
}

struct Csv;
impl Exporter for Csv {
    fn write(&self, reports: &[&Report], stem: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        write_one(self, reports, dir.join(format!("{stem}.csv")))
    }
    /// Several reports: one header, then every report's rows.
    fn one_file(&self, reports: &[&Report]) -> Option<Result<Vec<u8>>> {
        let mut out = Vec::new();
        for (i, r) in reports.iter().enumerate() {
            let mut buf = Vec::new();
            if let Err(e) = csv::render(&mut buf, r) {
                return Some(Err(e.into()));
            }
            let skip = if i == 0 { 0 } else { buf.iter().position(|b| *b == b'\n').map_or(buf.len(), |p| p + 1) };
            out.extend_from_slice(&buf[skip..]);
        }
        Some(Ok(out))
    }
}

struct Html;
impl Exporter for Html {
    fn write(&self, reports: &[&Report], stem: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for r in reports {
            let page = html::render(r, r.figures())?;
            written.push(put(dir.join(format!("{stem}.html")), page.as_bytes())?);
        }
        Ok(written)
    }
}

/// Every chart as SVG or PNG in `dir/<stem>-charts/`.
struct Charts {
    png: bool,
}
impl Exporter for Charts {
    fn write(&self, reports: &[&Report], stem: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        let charts = dir.join(format!("{stem}-charts"));
        std::fs::create_dir_all(&charts).with_context(|| format!("cannot create {}", charts.display()))?;
        let mut written = Vec::new();
        for r in reports {
            for fig in r.figures() {
                let p = charts.join(format!("{}.{}", fig.id, if self.png { "png" } else { "svg" }));
                if self.png {
                    fig.chart.to_png(&p).map_err(|e| anyhow::anyhow!("chart {}: {e}", fig.id))?;
                    written.push(p);
                } else {
                    let svg = fig.chart.to_svg().map_err(|e| anyhow::anyhow!("chart {}: {e}", fig.id))?;
                    written.push(put(p, svg.as_bytes())?);
                }
            }
        }
        Ok(written)
    }
}

/// github-action-benchmark: two files, one per direction.
struct Gab;
impl Exporter for Gab {
    fn write(&self, reports: &[&Report], _stem: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        Ok(vec![
            put(dir.join("gab-bigger.json"), &json(&dashboard::gab(reports, true))?)?,
            put(dir.join("gab-smaller.json"), &json(&dashboard::gab(reports, false))?)?,
        ])
    }
}

struct Bmf;
impl Exporter for Bmf {
    fn write(&self, reports: &[&Report], _stem: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        write_one(self, reports, dir.join("bmf.json"))
    }
    fn one_file(&self, reports: &[&Report]) -> Option<Result<Vec<u8>>> {
        Some(json(&dashboard::bmf(reports)))
    }
}
