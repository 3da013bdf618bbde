//! Roofline efficiency for the hardware comparison: decode is memory-bound, so a dense
//! model at batch 1 cannot decode faster than (memory bandwidth / bytes of weights read
//! per token). Efficiency = measured decode tok/s / that ceiling.

use serde_json::Value;

use super::median_with_ci;
use crate::results::{CaseResult, RunResult};

/// One roofline row.
#[derive(Debug, Clone, PartialEq)]
pub struct Roofline {
    pub machine: String,
    pub case: String,
    pub bandwidth_gbps: Option<f64>,
    /// Whose memory the bandwidth is: "host" or "GPU <name>".
    pub memory: String,
    pub weights_bytes: Option<u64>,
    /// "scenario" (the target's `weights_bytes`) or "estimate" (parameters x bits/weight).
    pub weights_source: Option<&'static str>,
    pub decode_tps: Option<f64>,
    /// Bandwidth / weights, tokens/s.
    pub ceiling_tps: Option<f64>,
    pub efficiency: Option<f64>,
}

/// The statement printed with every roofline table.
pub const ASSUMPTIONS: &str = "Roofline assumptions: decoding one token reads every weight once (dense model, batch 1, one stream); reads of the KV cache and activations are ignored; bandwidth is the published peak of the memory the case computed from (the GPU's for cases that ran on a GPU: MLX's device, or Ollama's size_vram; the host's otherwise, known for Apple Silicon only) from mlxbench's tables, not a measured sustained rate; weights come from the target's `weights_bytes` in the scenario, else are estimated from Ollama's parameter count and quantization. Efficiency above 100% means one of these assumptions does not hold.";

/// Bits per weight of common quantizations, block scales included.
fn bits_per_weight(quant: &str) -> Option<f64> {
    let q = quant.to_ascii_uppercase();
    Some(match q.as_str() {
        "F32" => 32.0,
        "F16" | "BF16" => 16.0,
        "Q8_0" => 8.5,
        "Q6_K" => 6.56,
        "Q5_0" => 5.5,
        "Q5_1" => 6.0,
        "Q5_K_M" | "Q5_K_S" | "Q5_K" => 5.5,
        "Q4_0" => 4.5,
        "Q4_1" => 5.0,
        "Q4_K_M" | "Q4_K_S" | "Q4_K" => 4.85,
        "Q3_K_M" | "Q3_K_S" | "Q3_K_L" => 3.9,
        "Q2_K" => 3.35,
        _ => return None,
    })
}

/// "135M", "1.2B", "7B" -> parameter count.
fn parse_params(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_uppercase();
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        'B' => (&s[..s.len() - 1], 1e9),
        'T' => (&s[..s.len() - 1], 1e12),
        _ => (&s[..], 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * mult).filter(|n| *n > 0.0)
}

/// Bytes of weights read per token for a case, and where the number came from.
pub fn weights_bytes(run: &RunResult, c: &CaseResult) -> Option<(u64, &'static str)> {
    let targets = run.scenario.spec.get("targets").and_then(Value::as_array);
    let from_spec = targets.into_iter().flatten().find_map(|t| {
        let name = t.get("name").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
            format!("{}:{}", t.get("backend").and_then(Value::as_str).unwrap_or(""), t.get("model").and_then(Value::as_str).unwrap_or(""))
        });
        (name == c.target).then(|| t.get("weights_bytes").and_then(Value::as_u64)).flatten()
    });
    if let Some(b) = from_spec {
        return Some((b, "scenario"));
    }
    let info = c.model_info.as_ref()?;
    let params = parse_params(info.get("parameter_size")?.as_str()?)?;
    let bits = bits_per_weight(info.get("quantization_level")?.as_str()?)?;
    Some(((params * bits / 8.0) as u64, "estimate"))
}

/// The bandwidth a case's decode was bound by, and whose memory it is: the GPU's when
/// the case ran on one (MLX's `device`, or an Ollama model with `size_vram`), else the
/// host's.
pub fn case_bandwidth(run: &RunResult, c: &CaseResult) -> (Option<f64>, String) {
    let mlx_gpu = c.device.as_ref().filter(|d| d.kind == crate::results::DeviceKind::Gpu);
    let vram = c.memory.as_ref().and_then(|m| m.server_reported.as_ref()?.get("size_vram")?.as_u64()).is_some_and(|v| v > 0);
    if mlx_gpu.is_some() || vram {
        let name = mlx_gpu.and_then(|d| d.name.clone());
        let gpu = run.host.gpus.iter().find(|g| name.as_ref().is_some_and(|n| *n == g.name)).or_else(|| run.host.gpus.first());
        return match gpu {
            Some(g) => (g.memory_bandwidth_gbps, format!("GPU {}", g.name)),
            None => (None, format!("GPU {}", name.unwrap_or_else(|| "(not in the host fingerprint)".into()))),
        };
    }
    (run.host.memory_bandwidth_gbps, "host".into())
}

/// Roofline rows for every case of every machine.
pub fn roofline(machines: &[RunResult]) -> Vec<Roofline> {
    let mut rows = Vec::new();
    for run in machines {
        for c in &run.cases {
            let (bw, memory) = case_bandwidth(run, c);
            let w = weights_bytes(run, c);
            let decode = median_with_ci(c, crate::metric::Metric::DecodeTps).map(|x| x.0);
            let ceiling = bw.zip(w).map(|(bw, (b, _))| bw * 1e9 / b as f64);
            rows.push(Roofline {
                machine: run.machine(),
                case: c.full_label(),
                bandwidth_gbps: bw,
                memory,
                weights_bytes: w.map(|x| x.0),
                weights_source: w.map(|x| x.1),
                decode_tps: decode,
                ceiling_tps: ceiling,
                efficiency: decode.zip(ceiling).map(|(d, c)| d / c),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_cases_use_the_gpus_bandwidth() {
        use crate::measure::gpu::GpuInfo;
        use crate::results::DeviceRecord;
        let mut run: RunResult = serde_json::from_str(include_str!("../../tests/fixtures/results/m3-3.json")).unwrap();
        run.host.memory_bandwidth_gbps = None;
        run.host.gpus = vec![GpuInfo {
            vendor: crate::measure::gpu::GpuVendor::Nvidia,
            name: "NVIDIA H200".into(),
            memory_bytes: None,
            driver_version: None,
            memory_bandwidth_gbps: Some(4800.0),
            bandwidth_source: "t".into(),
            gpu_cores: None,
        }];
        let mut c = run.cases[0].clone();
        c.memory = None;
        assert_eq!(case_bandwidth(&run, &c), (None, "host".into()));
        c.device = Some(DeviceRecord {
            kind: crate::results::DeviceKind::Gpu,
            api: "cuda".into(),
            name: Some("NVIDIA H200".into()),
            architecture: None,
            memory_bytes: None,
        });
        assert_eq!(case_bandwidth(&run, &c), (Some(4800.0), "GPU NVIDIA H200".into()));
    }

    #[test]
    fn parameter_sizes_and_quantizations() {
        assert_eq!(parse_params("135M"), Some(135e6));
        assert_eq!(parse_params("1.2B"), Some(1.2e9));
        assert_eq!(parse_params("x"), None);
        assert_eq!(bits_per_weight("q4_0"), Some(4.5));
        assert_eq!(bits_per_weight("IQ9"), None);
    }
}
