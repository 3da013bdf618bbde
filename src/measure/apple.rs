//! Apple Silicon: the chip table (every M1..M5 variant Apple has published, with its GPU
//! core counts and unified memory bandwidth) and the parsing of what macOS says about the
//! machine (`sysctl` lines, `ioreg`'s AGX accelerator entry, `system_profiler`'s text).
//! The parsing is plain text on every platform, so tests feed it outputs recorded on
//! real Macs (`tests/fixtures/apple/`); only running the commands is macOS-only (host.rs).

/// One Apple chip as Apple specifies it: its name as `machdep.cpu.brand_string` gives it,
/// and each published configuration as (GPU cores, unified memory bandwidth in GB/s).
/// Where a chip ships in bins of different bandwidth (M3 Max, M4 Max), the GPU core count
/// tells them apart; a core count Apple never shipped for that chip matches nothing, and
/// the bandwidth is then reported unknown rather than guessed.
pub struct Chip {
    pub name: &'static str,
    pub configs: &'static [(u32, f64)],
}

/// Apple's published specifications (apple.com tech specs and newsroom): GPU cores per
/// configuration and the chip's unified memory bandwidth.
pub const CHIPS: &[Chip] = &[
    Chip { name: "Apple M1", configs: &[(7, 68.25), (8, 68.25)] },
    Chip { name: "Apple M1 Pro", configs: &[(14, 200.0), (16, 200.0)] },
    Chip { name: "Apple M1 Max", configs: &[(24, 400.0), (32, 400.0)] },
    Chip { name: "Apple M1 Ultra", configs: &[(48, 800.0), (64, 800.0)] },
    Chip { name: "Apple M2", configs: &[(8, 100.0), (10, 100.0)] },
    Chip { name: "Apple M2 Pro", configs: &[(16, 200.0), (19, 200.0)] },
    Chip { name: "Apple M2 Max", configs: &[(30, 400.0), (38, 400.0)] },
    Chip { name: "Apple M2 Ultra", configs: &[(60, 800.0), (76, 800.0)] },
    Chip { name: "Apple M3", configs: &[(8, 100.0), (10, 100.0)] },
    Chip { name: "Apple M3 Pro", configs: &[(14, 150.0), (18, 150.0)] },
    Chip { name: "Apple M3 Max", configs: &[(30, 300.0), (40, 400.0)] },
    Chip { name: "Apple M3 Ultra", configs: &[(60, 819.0), (80, 819.0)] },
    Chip { name: "Apple M4", configs: &[(8, 120.0), (10, 120.0)] },
    Chip { name: "Apple M4 Pro", configs: &[(16, 273.0), (20, 273.0)] },
    Chip { name: "Apple M4 Max", configs: &[(32, 410.0), (40, 546.0)] },
    Chip { name: "Apple M5", configs: &[(10, 153.0)] },
    Chip { name: "Apple M5 Pro", configs: &[(20, 307.0)] },
    Chip { name: "Apple M5 Max", configs: &[(40, 614.0)] },
];

/// Unified memory bandwidth of a chip in GB/s, or why it is not known: an unknown chip,
/// a GPU core count Apple never shipped for it, or no core count to tell bins apart.
pub fn bandwidth(chip: &str, gpu_cores: Option<u32>) -> Result<f64, String> {
    let chip = chip.trim();
    let Some(entry) = CHIPS.iter().find(|c| c.name == chip) else {
        return Err(format!("unknown: {chip} is not in mlxbench's Apple chip table (src/measure/apple.rs)"));
    };
    let bandwidths = || entry.configs.iter().map(|&(_, bw)| bw);
    match gpu_cores {
        Some(cores) => entry.configs.iter().find(|&&(c, _)| c == cores).map(|&(_, bw)| bw).ok_or_else(|| {
            let known: Vec<String> = entry.configs.iter().map(|(c, _)| c.to_string()).collect();
            format!("unknown: {chip} with {cores} GPU cores is not a published configuration ({} cores are)", known.join(" or "))
        }),
        // without a core count, only a chip whose bins all share one bandwidth is known
        None => {
            let first = bandwidths().next().unwrap_or(0.0);
            if bandwidths().all(|bw| bw == first) {
                Ok(first)
            } else {
                Err(format!("unknown: {chip} ships in bins of different bandwidth and the GPU core count was not found"))
            }
        }
    }
}

/// What the commands of a Mac say about its chip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppleFacts {
    /// `machdep.cpu.brand_string` (or system_profiler's "Chip"), e.g. "Apple M3 Max".
    pub brand: Option<String>,
    pub performance_cores: Option<usize>,
    pub efficiency_cores: Option<usize>,
    pub gpu_cores: Option<u32>,
    pub memory_bytes: Option<u64>,
}

/// The sysctl keys `parse` reads, as host.rs asks for them in one call.
pub const SYSCTL_KEYS: &[&str] = &["machdep.cpu.brand_string", "hw.perflevel0.physicalcpu", "hw.perflevel1.physicalcpu", "hw.memsize"];

/// Reads `sysctl KEY...` (`key: value` lines, `sysctl -a` too), `ioreg -rc
/// AGXAccelerator -d 1` (`"gpu-core-count" = 10`) and `system_profiler
/// SPHardwareDataType SPDisplaysDataType` (the fallback where the others are silent).
/// Anything missing stays `None`; nothing here can fail.
pub fn parse(sysctl: &str, ioreg: &str, profiler: &str) -> AppleFacts {
    let key = |k: &str| -> Option<&str> {
        sysctl.lines().find_map(|l| l.trim().strip_prefix(k)?.strip_prefix(':').map(str::trim)).filter(|v| !v.is_empty())
    };
    let mut f = AppleFacts {
        brand: key("machdep.cpu.brand_string").map(str::to_string),
        performance_cores: key("hw.perflevel0.physicalcpu").and_then(|v| v.parse().ok()),
        efficiency_cores: key("hw.perflevel1.physicalcpu").and_then(|v| v.parse().ok()),
        gpu_cores: ioreg_gpu_cores(ioreg),
        memory_bytes: key("hw.memsize").and_then(|v| v.parse().ok()),
    };
    let profiled = profiler_facts(profiler);
    f.brand = f.brand.or(profiled.brand);
    f.performance_cores = f.performance_cores.or(profiled.performance_cores);
    f.efficiency_cores = f.efficiency_cores.or(profiled.efficiency_cores);
    f.gpu_cores = f.gpu_cores.or(profiled.gpu_cores);
    f
}

/// `"gpu-core-count" = 10` in the AGX accelerator's registry entry.
fn ioreg_gpu_cores(ioreg: &str) -> Option<u32> {
    let line = ioreg.lines().find(|l| l.contains("\"gpu-core-count\""))?;
    line.rsplit('=').next()?.trim().parse().ok()
}

/// system_profiler's "Chip: Apple M1 Pro", "Total Number of Cores: 10 (8 performance and
/// 2 efficiency)" (hardware) and "Total Number of Cores: 16" (graphics) lines.
fn profiler_facts(text: &str) -> AppleFacts {
    let mut f = AppleFacts::default();
    let mut in_graphics = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Graphics/Displays:") || l.starts_with("Chipset Model:") {
            in_graphics = true;
        } else if l.starts_with("Hardware Overview:") || l.starts_with("Hardware:") {
            in_graphics = false;
        }
        if let Some(v) = l.strip_prefix("Chip:") {
            f.brand = Some(v.trim().to_string()).filter(|s| !s.is_empty());
        }
        let Some(v) = l.strip_prefix("Total Number of Cores:") else { continue };
        let v = v.trim();
        let total = v.split_whitespace().next().and_then(|n| n.parse::<u32>().ok());
        if in_graphics {
            f.gpu_cores = total;
        } else if let Some(inner) = v.split_once('(').and_then(|(_, r)| r.strip_suffix(')')) {
            // "8 performance and 2 efficiency"
            let words: Vec<&str> = inner.split_whitespace().collect();
            for pair in words.windows(2) {
                match pair[1] {
                    "performance" => f.performance_cores = pair[0].parse().ok(),
                    "efficiency" => f.efficiency_cores = pair[0].parse().ok(),
                    _ => {}
                }
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_published_chip_with_consistent_bins() {
        for generation in ["M1", "M2", "M3", "M4", "M5"] {
            for tier in ["", " Pro", " Max"] {
                let name = format!("Apple {generation}{tier}");
                assert!(CHIPS.iter().any(|c| c.name == name), "{name} missing");
            }
        }
        for ultra in ["M1", "M2", "M3"] {
            assert!(CHIPS.iter().any(|c| c.name == format!("Apple {ultra} Ultra")));
        }
        for c in CHIPS {
            assert!(!c.configs.is_empty(), "{}", c.name);
            assert!(c.configs.windows(2).all(|w| w[0].0 < w[1].0), "{}: GPU core counts ascending, once each", c.name);
            assert!(c.configs.iter().all(|&(cores, bw)| cores >= 7 && (60.0..1000.0).contains(&bw)), "{}", c.name);
        }
    }

    #[test]
    fn bins_and_unknowns() {
        assert_eq!(bandwidth("Apple M3 Max", Some(30)), Ok(300.0));
        assert_eq!(bandwidth("Apple M3 Max", Some(40)), Ok(400.0));
        assert_eq!(bandwidth("Apple M4 Max", Some(32)), Ok(410.0));
        assert_eq!(bandwidth("Apple M4 Max", Some(40)), Ok(546.0));
        assert_eq!(bandwidth(" Apple M1 ", None), Ok(68.25));
        let e = bandwidth("Apple M4 Max", None).unwrap_err();
        assert!(e.starts_with("unknown") && e.contains("bins"), "{e}");
        // a core count Apple never shipped (an M2 Max reporting 40, as one did) is not guessed
        let e = bandwidth("Apple M2 Max", Some(40)).unwrap_err();
        assert!(e.contains("not a published configuration") && e.contains("30 or 38"), "{e}");
        let e = bandwidth("Apple M9 Extreme", Some(99)).unwrap_err();
        assert!(e.starts_with("unknown: Apple M9 Extreme"), "{e}");
    }

    #[test]
    fn parse_takes_sysctl_then_ioreg_then_profiler() {
        let f = parse("machdep.cpu.brand_string: Apple M2\nhw.memsize: 17179869184\n", "", "");
        assert_eq!(f.brand.as_deref(), Some("Apple M2"));
        assert_eq!((f.memory_bytes, f.gpu_cores, f.performance_cores), (Some(17179869184), None, None));
        let f = parse(
            "",
            "  | \"gpu-core-count\" = 10\n",
            "      Chip: Apple M4\n      Total Number of Cores: 10 (4 performance and 6 efficiency)\n",
        );
        assert_eq!(
            (f.brand.as_deref(), f.gpu_cores, f.performance_cores, f.efficiency_cores),
            (Some("Apple M4"), Some(10), Some(4), Some(6))
        );
        // garbage and empty values give nothing, never a panic
        let f = parse("hw.perflevel0.physicalcpu: lots\nmachdep.cpu.brand_string:\n", "\"gpu-core-count\" = -3", "Total Number of Cores:");
        assert_eq!(f, AppleFacts::default());
    }
}
