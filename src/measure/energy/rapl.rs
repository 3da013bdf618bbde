//! Linux: RAPL energy counters through powercap (`/sys/class/powercap/intel-rapl:N`, the
//! CPU package, and its `dram` subzone where there is one; AMD's are listed there too),
//! and the kernel's thermal-throttle counters per CPU. Read where readable (RAPL's
//! counters are root-only since Linux 5.10); otherwise the reason says why.

use std::path::{Path, PathBuf};

use super::{Source, SourceInfo, Unavailable};

/// One RAPL zone's counter, wraps counted.
struct Zone {
    covers: String,
    energy: PathBuf,
    /// The counter's range: it wraps to 0 after this many µJ.
    max_uj: u64,
    last_uj: Option<u64>,
    total_uj: f64,
}

impl Zone {
    fn read(&mut self) -> Option<f64> {
        let raw: u64 = std::fs::read_to_string(&self.energy).ok()?.trim().parse().ok()?;
        if let Some(last) = self.last_uj {
            let delta = if raw >= last { raw - last } else { raw + self.max_uj.saturating_sub(last) };
            self.total_uj += delta as f64;
        }
        self.last_uj = Some(raw);
        Some(self.total_uj / 1e6)
    }
}

/// The package zones and their DRAM subzones, summed as one source.
struct Rapl {
    zones: Vec<Zone>,
}

impl Source for Rapl {
    fn info(&self) -> SourceInfo {
        let covers: Vec<&str> = self.zones.iter().map(|z| z.covers.as_str()).collect();
        SourceInfo { name: "RAPL (powercap)".into(), covers: covers.join(" + "), period_ms: 10.0, estimate: false }
    }
    fn joules(&mut self) -> Option<f64> {
        let mut sum = 0.0;
        for z in &mut self.zones {
            sum += z.read()?;
        }
        Some(sum)
    }
}

fn text(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

fn zone(dir: &Path) -> Option<Zone> {
    let name = text(&dir.join("name"))?;
    let covers = match name.strip_prefix("package-") {
        Some(n) => format!("CPU package {n}"),
        None => name,
    };
    let max_uj = text(&dir.join("max_energy_range_uj")).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
    Some(Zone { covers, energy: dir.join("energy_uj"), max_uj, last_uj: None, total_uj: 0.0 })
}

/// RAPL under `root` (normally `/sys`): package zones and `dram` subzones.
pub fn sources(root: &Path) -> Result<Vec<Box<dyn Source>>, Unavailable> {
    let base = root.join("class/powercap");
    let unavailable = |reason: String| Unavailable { name: "RAPL (powercap)".into(), reason };
    let entries = std::fs::read_dir(&base)
        .map_err(|_| unavailable(format!("{} does not exist (no RAPL here: a VM, or not Linux)", base.display())))?;
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    let is_zone = |p: &PathBuf, depth: usize| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("intel-rapl:") && n.matches(':').count() == depth)
    };
    let mut zones = Vec::new();
    for pkg in dirs.iter().filter(|p| is_zone(p, 1)) {
        zones.extend(zone(pkg));
        let mut subs: Vec<PathBuf> = std::fs::read_dir(pkg).into_iter().flatten().flatten().map(|e| e.path()).collect();
        subs.sort();
        zones.extend(subs.iter().filter(|p| is_zone(p, 2)).filter_map(|p| zone(p)).filter(|z| z.covers == "dram"));
    }
    if zones.is_empty() {
        return Err(unavailable(format!("{} has no intel-rapl zones (a VM, or a CPU without RAPL)", base.display())));
    }
    let mut rapl = Rapl { zones };
    if rapl.joules().is_none() {
        let first = rapl.zones[0].energy.display().to_string();
        return Err(unavailable(format!("{first} is not readable (root only since Linux 5.10: run as root, or make it readable)")));
    }
    Ok(vec![Box::new(rapl)])
}

/// The kernel's thermal-throttle event counters of every CPU (x86): a request during
/// which one grew ran throttled.
struct Throttle {
    counters: Vec<(String, PathBuf)>,
    last: Vec<Option<u64>>,
    freqs: Vec<PathBuf>,
}

impl Source for Throttle {
    fn info(&self) -> SourceInfo {
        SourceInfo { name: "Linux thermal_throttle counters".into(), covers: "CPU (heat only)".into(), period_ms: 0.0, estimate: false }
    }
    fn joules(&mut self) -> Option<f64> {
        None
    }
    fn throttle(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for ((what, path), last) in self.counters.iter().zip(self.last.iter_mut()) {
            let Some(now) = text(path).and_then(|v| v.parse::<u64>().ok()) else { continue };
            if last.is_some_and(|l| now > l) && !out.contains(what) {
                out.push(what.clone());
            }
            *last = Some(now);
        }
        out
    }
    fn clock_mhz(&mut self) -> Option<f64> {
        let khz: Vec<f64> = self.freqs.iter().filter_map(|p| text(p)?.parse::<f64>().ok()).collect();
        (!khz.is_empty()).then(|| khz.iter().sum::<f64>() / khz.len() as f64 / 1e3)
    }
}

/// Throttle counters and current frequencies of the CPUs under `root`.
pub fn throttle_source(root: &Path) -> Result<Vec<Box<dyn Source>>, Unavailable> {
    let base = root.join("devices/system/cpu");
    let mut cpus: Vec<PathBuf> = std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.strip_prefix("cpu").is_some_and(|d| d.parse::<u32>().is_ok())))
        .collect();
    cpus.sort();
    let mut counters = Vec::new();
    for c in &cpus {
        for (file, what) in
            [("core_throttle_count", "CPU core thermal throttling"), ("package_throttle_count", "CPU package thermal throttling")]
        {
            let p = c.join("thermal_throttle").join(file);
            if p.exists() {
                counters.push((what.to_string(), p));
            }
        }
    }
    let freqs: Vec<PathBuf> = cpus.iter().map(|c| c.join("cpufreq/scaling_cur_freq")).filter(|p| p.exists()).collect();
    if counters.is_empty() && freqs.is_empty() {
        let reason = format!("{} has neither thermal_throttle counters nor cpufreq (a VM?)", base.display());
        return Err(Unavailable { name: "Linux thermal_throttle counters".into(), reason });
    }
    let last = vec![None; counters.len()];
    Ok(vec![Box::new(Throttle { counters, last, freqs })])
}
