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
    /// Unified memory bandwidth of the chip, GB/s, from the table in this module.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_gbps: Option<f64>,
    pub hostname: String,
    /// The machine's GPUs (NVIDIA through NVML, Apple from the chip table); absent in
    /// files written before mlxbench recorded them and on machines without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<super::gpu::GpuInfo>,
}

/// Apple Silicon memory bandwidth in GB/s. Where one chip name ships in two bandwidth
/// bins, the GPU core count tells them apart (the entry with `Some(cores)` matches only
/// that many cores; `None` matches any).
const APPLE_BANDWIDTH: &[(&str, Option<u32>, f64)] = &[
    ("Apple M1", None, 68.25),
    ("Apple M1 Pro", None, 200.0),
    ("Apple M1 Max", None, 400.0),
    ("Apple M1 Ultra", None, 800.0),
    ("Apple M2", None, 100.0),
    ("Apple M2 Pro", None, 200.0),
    ("Apple M2 Max", None, 400.0),
    ("Apple M2 Ultra", None, 800.0),
    ("Apple M3", None, 100.0),
    ("Apple M3 Pro", None, 150.0),
    ("Apple M3 Max", Some(30), 300.0),
    ("Apple M3 Max", None, 400.0),
    ("Apple M3 Ultra", None, 819.0),
    ("Apple M4", None, 120.0),
    ("Apple M4 Pro", None, 273.0),
    ("Apple M4 Max", Some(32), 410.0),
    ("Apple M4 Max", None, 546.0),
    ("Apple M5", None, 153.0),
];

/// Memory bandwidth of an Apple chip in GB/s, if the chip is known.
pub fn apple_bandwidth_gbps(chip: &str, gpu_cores: Option<u32>) -> Option<f64> {
    let chip = chip.trim();
    APPLE_BANDWIDTH
        .iter()
        .filter(|(name, _, _)| *name == chip)
        .find(|(_, cores, _)| cores.is_none() || *cores == gpu_cores)
        .map(|(_, _, bw)| *bw)
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
    apple::fill(&mut info);
    info.gpus = super::gpu::detect(info.chip.as_deref(), info.gpu_cores, info.memory_bytes, info.memory_bandwidth_gbps);
    info
}

#[cfg(target_os = "macos")]
mod apple {
    use super::HostInfo;
    use std::process::Command;

    fn sysctl(key: &str) -> Option<String> {
        let out = Command::new("sysctl").args(["-n", key]).output().ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    }

    /// `"gpu-core-count" = 10` in the AGX accelerator's registry entry.
    fn gpu_cores() -> Option<u32> {
        let out = Command::new("ioreg").args(["-rc", "AGXAccelerator", "-d", "1"]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.contains("\"gpu-core-count\""))?;
        line.rsplit('=').next()?.trim().parse().ok()
    }

    pub fn fill(info: &mut HostInfo) {
        info.performance_cores = sysctl("hw.perflevel0.physicalcpu").and_then(|s| s.parse().ok());
        info.efficiency_cores = sysctl("hw.perflevel1.physicalcpu").and_then(|s| s.parse().ok());
        if let Some(brand) = sysctl("machdep.cpu.brand_string") {
            if brand.starts_with("Apple") {
                info.chip = Some(brand.clone());
                info.gpu_cores = gpu_cores();
                info.memory_bandwidth_gbps = super::apple_bandwidth_gbps(&brand, info.gpu_cores);
            }
            info.cpu = brand;
        }
        if let Some(mem) = sysctl("hw.memsize").and_then(|s| s.parse().ok()) {
            info.memory_bytes = mem;
        }
    }
}

#[cfg(not(target_os = "macos"))]
mod apple {
    pub fn fill(_: &mut super::HostInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_table_bins_by_gpu_cores() {
        assert_eq!(apple_bandwidth_gbps("Apple M1", Some(8)), Some(68.25));
        assert_eq!(apple_bandwidth_gbps("Apple M3 Max", Some(30)), Some(300.0));
        assert_eq!(apple_bandwidth_gbps("Apple M3 Max", Some(40)), Some(400.0));
        assert_eq!(apple_bandwidth_gbps("Apple M4 Max", Some(32)), Some(410.0));
        assert_eq!(apple_bandwidth_gbps("Apple M4 Max", Some(40)), Some(546.0));
        assert_eq!(apple_bandwidth_gbps("Apple M4 Pro", None), Some(273.0));
        assert_eq!(apple_bandwidth_gbps("Intel Core i9", None), None);
    }

    #[test]
    fn detect_fills_basics() {
        let h = detect();
        assert!(h.cores >= 1);
        assert!(h.memory_bytes > 0);
        assert_eq!(h.arch, std::env::consts::ARCH);
    }
}
