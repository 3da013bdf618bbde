//! GPUs in the host fingerprint (`host.gpus[]`): NVIDIA GPUs through NVML, loaded at run
//! time (no NVML library or no driver: no NVIDIA GPUs, never an error), Apple GPUs from
//! the chip table. Peak memory bandwidth comes from a table of datasheet figures with the
//! source named; a GPU the table does not know has none, and says so.

use serde::{Deserialize, Serialize};

/// Who made a GPU (`"NVIDIA"`, `"Apple"`; another version's name reads as `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GpuVendor {
    #[serde(rename = "NVIDIA")]
    Nvidia,
    Apple,
    #[serde(other, rename = "other")]
    Other,
}

/// One GPU as result files record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub vendor: GpuVendor,
    /// As the driver names it, e.g. "NVIDIA H200".
    pub name: String,
    /// The GPU's own memory (Apple: the unified memory it shares with the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// Peak memory bandwidth, GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_gbps: Option<f64>,
    /// Where the bandwidth comes from, or why there is none.
    pub bandwidth_source: String,
    /// GPU cores (Apple).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_cores: Option<u32>,
}

/// Datasheet peak memory bandwidth (GB/s) of NVIDIA parts. A row matches when the name
/// holds every one of its words (case-insensitive); the first match wins, so variants
/// come before their family.
const NVIDIA: &[(&[&str], f64)] = &[
    (&["H200"], 4800.0),
    (&["H100", "NVL"], 3900.0),
    (&["H100", "PCIE"], 2000.0),
    (&["H100"], 3350.0), // SXM5 80GB HBM3
    (&["GH200"], 4000.0),
    (&["A100", "80GB", "PCIE"], 1935.0),
    (&["A100", "80GB"], 2039.0),
    (&["A100"], 1555.0),
    (&["L40S"], 864.0),
    (&["L40"], 864.0),
    (&["L4"], 300.0),
    (&["A10G"], 600.0),
    (&["A10"], 600.0),
    (&["T4"], 320.0),
    (&["V100"], 900.0),
    (&["RTX 6000 ADA"], 960.0),
    (&["RTX A6000"], 768.0),
    (&["RTX 5090"], 1792.0),
    (&["RTX 5080"], 960.0),
    (&["RTX 5070 TI"], 896.0),
    (&["RTX 5070"], 672.0),
    (&["RTX 4090"], 1008.0),
    (&["RTX 4080 SUPER"], 736.0),
    (&["RTX 4080"], 717.0),
    (&["RTX 4070 TI SUPER"], 672.0),
    (&["RTX 4070 TI"], 504.0),
    (&["RTX 4070"], 504.0),
    (&["RTX 4060 TI"], 288.0),
    (&["RTX 4060"], 272.0),
    (&["RTX 3090 TI"], 1008.0),
    (&["RTX 3090"], 936.0),
    (&["RTX 3080 TI"], 912.0),
    (&["RTX 3080"], 760.0),
    (&["RTX 3070"], 448.0),
    (&["RTX 3060"], 360.0),
];

pub const NVIDIA_SOURCE: &str = "NVIDIA datasheet peak (mlxbench's GPU table)";

/// Bandwidth of an NVIDIA GPU by its NVML name, and its source.
pub fn nvidia_bandwidth(name: &str) -> (Option<f64>, String) {
    let upper = name.to_uppercase();
    // whole words only: "L4" must not match "L40S"
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |needle: &str| {
        let parts: Vec<&str> = needle.split(' ').collect();
        words.windows(parts.len()).any(|w| w == parts.as_slice())
    };
    match NVIDIA.iter().find(|(needles, _)| needles.iter().all(|n| has(n))) {
        Some((_, gbps)) => (Some(*gbps), NVIDIA_SOURCE.into()),
        None => (None, format!("unknown to mlxbench's GPU table: no bandwidth for \"{name}\"")),
    }
}

/// Every GPU of this machine: NVIDIA ones through NVML, an Apple one from the chip.
pub fn detect(apple_chip: Option<&str>, gpu_cores: Option<u32>, unified_bytes: u64, chip_gbps: Option<f64>) -> Vec<GpuInfo> {
    let mut gpus = nvidia();
    if let Some(chip) = apple_chip {
        gpus.push(GpuInfo {
            vendor: GpuVendor::Apple,
            name: format!("{chip} GPU"),
            memory_bytes: Some(unified_bytes),
            driver_version: None,
            memory_bandwidth_gbps: chip_gbps,
            bandwidth_source: "Apple chip table (unified memory, shared with the CPU)".into(),
            gpu_cores,
        });
    }
    gpus
}

fn nvml() -> Option<nvml_wrapper::Nvml> {
    nvml_wrapper::Nvml::init().or_else(|_| nvml_wrapper::Nvml::builder().lib_path("libnvidia-ml.so.1".as_ref()).init()).ok()
}

/// GPU memory of given processes, through NVML (per-process use on every GPU).
pub struct GpuMemoryProbe {
    nvml: nvml_wrapper::Nvml,
}

impl GpuMemoryProbe {
    /// `None` without NVML (no NVIDIA driver): there is no GPU memory to read.
    pub fn new() -> Option<Self> {
        nvml().map(|nvml| GpuMemoryProbe { nvml })
    }

    /// Bytes of GPU memory the processes use now, summed over GPUs; `None` when none of
    /// them uses any.
    pub fn used_by(&self, pids: &[u32]) -> Option<u64> {
        let count = self.nvml.device_count().unwrap_or(0);
        let mut total = 0u64;
        let mut seen = false;
        for i in 0..count {
            let Ok(d) = self.nvml.device_by_index(i) else { continue };
            let procs =
                d.running_compute_processes().unwrap_or_default().into_iter().chain(d.running_graphics_processes().unwrap_or_default());
            for p in procs.filter(|p| pids.contains(&p.pid)) {
                if let nvml_wrapper::enums::device::UsedGpuMemory::Used(b) = p.used_gpu_memory {
                    total = total.saturating_add(b);
                    seen = true;
                }
            }
        }
        seen.then_some(total)
    }
}

/// NVIDIA GPUs through NVML; none when the library or the driver is missing.
pub fn nvidia() -> Vec<GpuInfo> {
    let Some(nvml) = nvml() else { return Vec::new() };
    let driver = nvml.sys_driver_version().ok();
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            let name = d.name().ok()?;
            let (bandwidth, source) = nvidia_bandwidth(&name);
            Some(GpuInfo {
                vendor: GpuVendor::Nvidia,
                memory_bytes: d.memory_info().ok().map(|m| m.total),
                driver_version: driver.clone(),
                memory_bandwidth_gbps: bandwidth,
                bandwidth_source: source,
                gpu_cores: None,
                name,
            })
        })
        .collect()
}

/// One line for `info` and report host lines: "NVIDIA H200, 139.8 GiB, 4800 GB/s".
pub fn describe(g: &GpuInfo) -> String {
    let mut s = g.name.clone();
    if let Some(m) = g.memory_bytes {
        s.push_str(&format!(", {}", crate::fmt::bytes(m)));
    }
    match g.memory_bandwidth_gbps {
        Some(b) => s.push_str(&format!(", {b} GB/s")),
        None => s.push_str(", bandwidth unknown"),
    }
    if let Some(d) = &g.driver_version {
        s.push_str(&format!(", driver {d}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_keep_their_names_in_files() {
        assert_eq!(serde_json::to_string(&GpuVendor::Nvidia).unwrap(), "\"NVIDIA\"");
        assert_eq!(serde_json::to_string(&GpuVendor::Apple).unwrap(), "\"Apple\"");
        assert_eq!(serde_json::from_str::<GpuVendor>("\"AMD\"").unwrap(), GpuVendor::Other);
    }

    #[test]
    fn nvidia_names_find_their_bandwidth() {
        for (name, gbps) in [
            ("NVIDIA H200", 4800.0),
            ("NVIDIA H100 80GB HBM3", 3350.0),
            ("NVIDIA H100 PCIe", 2000.0),
            ("NVIDIA H100 NVL", 3900.0),
            ("NVIDIA A100-SXM4-80GB", 2039.0),
            ("NVIDIA A100 80GB PCIe", 1935.0),
            ("NVIDIA A100-PCIE-40GB", 1555.0),
            ("NVIDIA L4", 300.0),
            ("NVIDIA L40S", 864.0),
            ("NVIDIA GeForce RTX 4090", 1008.0),
            ("NVIDIA GeForce RTX 4070 Ti SUPER", 672.0),
            ("NVIDIA GeForce RTX 3090", 936.0),
            ("NVIDIA GeForce RTX 5090", 1792.0),
        ] {
            assert_eq!(nvidia_bandwidth(name), (Some(gbps), NVIDIA_SOURCE.to_string()), "{name}");
        }
        let (bw, why) = nvidia_bandwidth("NVIDIA Quantum Q9000");
        assert!(bw.is_none() && why.contains("unknown") && why.contains("Q9000"), "{why}");
    }

    #[test]
    fn without_nvml_there_are_no_nvidia_gpus_and_no_error() {
        // this machine has no NVIDIA driver; on one that has, the list names real GPUs
        if !std::path::Path::new("/proc/driver/nvidia").exists() {
            assert!(nvidia().is_empty());
        }
        let apple = detect(Some("Apple M3 Max"), Some(40), 64 << 30, Some(400.0));
        let last = apple.last().unwrap();
        assert_eq!((last.vendor, last.gpu_cores, last.memory_bandwidth_gbps), (GpuVendor::Apple, Some(40), Some(400.0)));
        assert_eq!(describe(last), "Apple M3 Max GPU, 64.0 GiB, 400 GB/s");
    }
}
