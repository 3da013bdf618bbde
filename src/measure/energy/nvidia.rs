//! NVIDIA GPUs through NVML: the total energy counter (mJ since the driver loaded, Volta
//! and newer; it advances about every 100 ms), or where a GPU lacks it, its power draw
//! integrated over the meter's ticks; clock event ("throttle") reasons and the SM clock.

use std::time::Instant;

use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::Clock;

use super::{Source, SourceInfo, Unavailable};

/// How each GPU's energy is read.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    Counter,
    /// Power integrated: the last (time, mW) and joules so far.
    Power,
}

struct Gpus {
    nvml: Nvml,
    gpus: Vec<(u32, String, Read)>,
    integrated: Vec<(Option<(Instant, f64)>, f64)>,
}

/// The reasons that mean clocks are held back by heat or power (idle, application
/// clocks and sync boost are not throttling).
fn reasons(r: ThrottleReasons) -> Vec<String> {
    [
        (ThrottleReasons::SW_POWER_CAP, "GPU power cap"),
        (ThrottleReasons::HW_SLOWDOWN, "GPU hardware slowdown"),
        (ThrottleReasons::SW_THERMAL_SLOWDOWN, "GPU thermal slowdown (software)"),
        (ThrottleReasons::HW_THERMAL_SLOWDOWN, "GPU thermal slowdown (hardware)"),
        (ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN, "GPU power brake"),
    ]
    .into_iter()
    .filter(|(bit, _)| r.contains(*bit))
    .map(|(_, what)| what.to_string())
    .collect()
}

impl Source for Gpus {
    fn info(&self) -> SourceInfo {
        let covers: Vec<String> = self.gpus.iter().map(|(i, name, _)| format!("GPU {i} ({name})")).collect();
        let counter = self.gpus.iter().all(|g| g.2 == Read::Counter);
        let name = if counter { "NVML energy counter" } else { "NVML power draw, integrated" };
        SourceInfo { name: name.into(), covers: covers.join(" + "), period_ms: 100.0, estimate: false }
    }

    fn joules(&mut self) -> Option<f64> {
        let mut sum = 0.0;
        for (k, (i, _, how)) in self.gpus.iter().enumerate() {
            let d = self.nvml.device_by_index(*i).ok()?;
            match how {
                Read::Counter => sum += d.total_energy_consumption().ok()? as f64 / 1e3,
                Read::Power => {
                    let now = Instant::now();
                    let w = f64::from(d.power_usage().ok()?) / 1e3;
                    let (last, total) = &mut self.integrated[k];
                    if let Some((t, w0)) = *last {
                        *total += (w0 + w) / 2.0 * now.duration_since(t).as_secs_f64();
                    }
                    *last = Some((now, w));
                    sum += *total;
                }
            }
        }
        Some(sum)
    }

    fn throttle(&mut self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, _, _) in &self.gpus {
            let Ok(d) = self.nvml.device_by_index(*i) else { continue };
            for r in d.current_throttle_reasons().map(reasons).unwrap_or_default() {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }

    fn clock_mhz(&mut self) -> Option<f64> {
        let d = self.nvml.device_by_index(self.gpus.first()?.0).ok()?;
        d.clock_info(Clock::SM).ok().map(f64::from)
    }
}

/// Every NVIDIA GPU, one source for all; unavailable without NVML or a GPU.
pub fn sources() -> Result<Vec<Box<dyn Source>>, Unavailable> {
    let unavailable = |reason: &str| Unavailable { name: "NVML".into(), reason: reason.into() };
    let nvml = Nvml::init()
        .or_else(|_| Nvml::builder().lib_path("libnvidia-ml.so.1".as_ref()).init())
        .map_err(|_| unavailable("no NVIDIA driver (NVML) here"))?;
    let count = nvml.device_count().unwrap_or(0);
    let mut gpus = Vec::new();
    for i in 0..count {
        let Ok(d) = nvml.device_by_index(i) else { continue };
        let name = d.name().unwrap_or_else(|_| "NVIDIA GPU".into());
        let how = if d.total_energy_consumption().is_ok() {
            Read::Counter
        } else if d.power_usage().is_ok() {
            Read::Power
        } else {
            continue;
        };
        gpus.push((i, name, how));
    }
    if gpus.is_empty() {
        return Err(unavailable("NVML found no GPU with an energy counter or a power reading"));
    }
    let integrated = vec![(None, 0.0); gpus.len()];
    Ok(vec![Box::new(Gpus { nvml, gpus, integrated })])
}
