//! Host fingerprint: OS, CPU, cores, memory, and on Apple Silicon the chip name, GPU
//! core count and the chip's memory bandwidth (from Apple's published specifications),
//! and the GPUs (`gpu`).

use serde::{Deserialize, Serialize};
use sysinfo::System;

/// The machine a result was measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub cpu: String,
    /// Logical CPUs.
    pub cores: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_cores: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_cores: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efficiency_cores: Option<usize>,
    pub memory_bytes: u64,
    /// e.g. "Apple M3 Max".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_cores: Option<u32>,
    /// Unified memory bandwidth of the chip, GB/s, from the chip table (apple.rs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_gbps: Option<f64>,
    /// Why an Apple chip's bandwidth is not given: "unknown: ..." (a chip or GPU core
    /// count the table does not have), rather than a guessed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_note: Option<String>,
    pub hostname: String,
    /// The machine's GPUs (NVIDIA through NVML, Apple from the chip table); absent in
    /// files written before mlxbench recorded them and on machines without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<super::gpu::GpuInfo>,
}

impl HostInfo {
    /// The GPUs that are not the chip itself (an Apple GPU is part of `chip`).
    pub fn discrete_gpus(&self) -> impl Iterator<Item = &super::gpu::GpuInfo> {
        self.gpus.iter().filter(|g| g.vendor != super::gpu::GpuVendor::Apple)
    }
}

/// Reads the fingerprint of this machine. Never fails: unknown fields stay empty.
pub fn detect() -> HostInfo {
    let mut sys = System::new();
    sys.refresh_memory();
    sys.refresh_cpu_all();
    let cpu = sys.cpus().first().map(|c| c.brand().trim().to_string()).unwrap_or_default();
    let mut info = HostInfo {
        os: std::env::consts::OS.to_string(),
        os_version: System::long_os_version().or_else(System::os_version).unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
        cpu,
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(sys.cpus().len()),
        physical_cores: System::physical_core_count(),
        memory_bytes: sys.total_memory(),
        hostname: System::host_name().unwrap_or_default(),
        ..Default::default()
    };
    probe::fill(&mut info);
    info.gpus = super::gpu::detect(info.chip.as_deref(), info.gpu_cores, info.memory_bytes, info.memory_bandwidth_gbps);
    info
}

/// Fills the Apple fields from what macOS's commands said (apple.rs parses them).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn fill_apple(info: &mut HostInfo, facts: super::apple::AppleFacts) {
    info.performance_cores = facts.performance_cores;
    info.efficiency_cores = facts.efficiency_cores;
    if let Some(mem) = facts.memory_bytes {
        info.memory_bytes = mem;
    }
    let Some(brand) = facts.brand else { return };
    if brand.starts_with("Apple") {
        info.gpu_cores = facts.gpu_cores;
        match super::apple::bandwidth(&brand, facts.gpu_cores) {
            Ok(bw) => info.memory_bandwidth_gbps = Some(bw),
            Err(why) => info.memory_bandwidth_note = Some(why),
        }
        info.chip = Some(brand.clone());
    }
    info.cpu = brand;
}

#[cfg(target_os = "macos")]
mod probe {
    use super::HostInfo;
    use std::process::Command;

    /// A command's standard output, whatever its exit status (`sysctl` exits 1 when one
    /// of several keys is unknown, and still prints the others).
    fn output(program: &str, args: &[&str]) -> String {
        Command::new(program).args(args).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    pub fn fill(info: &mut HostInfo) {
        let sysctl = output("sysctl", crate::measure::apple::SYSCTL_KEYS);
        let ioreg = output("ioreg", &["-rc", "AGXAccelerator", "-d", "1"]);
        let mut facts = crate::measure::apple::parse(&sysctl, &ioreg, "");
        if facts.brand.as_deref().is_some_and(|b| b.starts_with("Apple")) && facts.gpu_cores.is_none() {
            // slower (about a second), so only where ioreg had no core count
            let profiler = output("system_profiler", &["SPDisplaysDataType"]);
            facts = crate::measure::apple::parse(&sysctl, &ioreg, &profiler);
        }
        super::fill_apple(info, facts);
    }
}

#[cfg(not(target_os = "macos"))]
mod probe {
    pub fn fill(_: &mut super::HostInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tests/fixtures/apple/: what real Macs printed, through the parser and the table
    #[test]
    fn recorded_macs_are_described_right() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apple");
        let mut chips = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "txt") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut sections: std::collections::HashMap<&str, String> = Default::default();
            let mut current = "";
            for line in text.lines() {
                if let Some(name) = line.strip_prefix("## ") {
                    current = name.trim();
                } else if !line.starts_with('#') {
                    sections.entry(current).or_default().push_str(&format!("{line}\n"));
                }
            }
            let section = |name: &str| sections.get(name).cloned().unwrap_or_default();
            let facts = crate::measure::apple::parse(&section("sysctl"), &section("ioreg"), &section("system_profiler"));
            let mut host = HostInfo::default();
            fill_apple(&mut host, facts);
            let expect = text.lines().find_map(|l| l.strip_prefix("# expect: ")).expect("an # expect: line");
            let got = format!(
                "chip={} p={} e={} gpu={} mem={} bandwidth={}",
                host.chip.clone().unwrap_or_default(),
                host.performance_cores.map_or("-".into(), |v| v.to_string()),
                host.efficiency_cores.map_or("-".into(), |v| v.to_string()),
                host.gpu_cores.map_or("-".into(), |v| v.to_string()),
                if host.memory_bytes == 0 { "-".into() } else { host.memory_bytes.to_string() },
                host.memory_bandwidth_gbps.map_or("unknown".into(), |v| v.to_string()),
            );
            assert_eq!(got, expect, "{}", path.display());
            assert_eq!(host.memory_bandwidth_gbps.is_none(), host.memory_bandwidth_note.is_some(), "{}", path.display());
            chips.insert(host.chip.unwrap());
        }
        assert!(chips.len() >= 5, "recorded outputs of at least five chips: {chips:?}");
    }

    #[test]
    fn detect_fills_basics() {
        let h = detect();
        assert!(h.cores >= 1);
        assert!(h.memory_bytes > 0);
        assert_eq!(h.arch, std::env::consts::ARCH);
    }
}
