//! Apple Silicon: IOReport's "Energy Model" channels (CPU, GPU, ANE, DRAM), read without
//! sudo through the `macmon` library on a thread of their own (its sampler blocks for
//! each window): the average power of each 100 ms window, integrated into joules. The
//! figures are the SoC's own model estimates, and labelled so. Heat: the system's
//! thermal pressure level (`notify` state `com.apple.system.thermalpressurelevel`) and
//! the GPU's frequency over the window.

use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{Source, SourceInfo, Unavailable};

/// The sampling window, ms.
const WINDOW_MS: u32 = 100;

unsafe extern "C" {
    fn notify_register_check(name: *const std::os::raw::c_char, out_token: *mut std::os::raw::c_int) -> u32;
    fn notify_get_state(token: std::os::raw::c_int, state: *mut u64) -> u32;
}

struct Soc {
    /// Microjoules so far, and the last window's GPU frequency, MHz.
    micro_joules: Arc<AtomicU64>,
    gpu_mhz: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
    pressure: Option<std::os::raw::c_int>,
}

impl Source for Soc {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: "IOReport Energy Model (macmon)".into(),
            covers: "SoC: CPU + GPU + ANE + DRAM".into(),
            period_ms: f64::from(WINDOW_MS),
            estimate: true,
        }
    }
    fn joules(&mut self) -> Option<f64> {
        self.ready.load(Ordering::Relaxed).then(|| self.micro_joules.load(Ordering::Relaxed) as f64 / 1e6)
    }
    fn throttle(&mut self) -> Vec<String> {
        let mut state = 0u64;
        // SAFETY: a token notify_register_check gave us; the state is written to `state`
        let ok = self.pressure.is_some_and(|t| unsafe { notify_get_state(t, &mut state) } == 0);
        match state {
            _ if !ok => Vec::new(),
            0 => Vec::new(),
            1 => vec!["macOS thermal pressure moderate".into()],
            2 => vec!["macOS thermal pressure heavy".into()],
            _ => vec!["macOS thermal pressure critical".into()],
        }
    }
    fn clock_mhz(&mut self) -> Option<f64> {
        Some(self.gpu_mhz.load(Ordering::Relaxed) as f64).filter(|m| *m > 0.0)
    }
}

/// The SoC's energy model, when IOReport answers.
pub fn sources() -> Result<Vec<Box<dyn Source>>, Unavailable> {
    let micro_joules = Arc::new(AtomicU64::new(0));
    let gpu_mhz = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicBool::new(false));
    let (uj, mhz, ok) = (micro_joules.clone(), gpu_mhz.clone(), ready.clone());
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("mlxbench-ioreport".into())
        .spawn(move || {
            let mut sampler = match macmon::Sampler::new() {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = tx.send(Ok(()));
            while let Ok(m) = sampler.get_metrics(WINDOW_MS) {
                let watts = f64::from(m.all_power) + f64::from(m.ram_power);
                uj.fetch_add((watts * f64::from(WINDOW_MS) * 1e3) as u64, Ordering::Relaxed);
                mhz.store(u64::from(m.gpu_freq_mhz), Ordering::Relaxed);
                ok.store(true, Ordering::Relaxed);
            }
        })
        .map_err(|e| Unavailable { name: "IOReport".into(), reason: format!("cannot start its thread: {e}") })?;
    match rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Unavailable { name: "IOReport".into(), reason: e }),
        Err(_) => return Err(Unavailable { name: "IOReport".into(), reason: "its sampler stopped".into() }),
    }
    let pressure = CString::new("com.apple.system.thermalpressurelevel").ok().and_then(|name| {
        let mut token = 0;
        // SAFETY: a NUL-terminated name and a place for the token
        (unsafe { notify_register_check(name.as_ptr(), &mut token) } == 0).then_some(token)
    });
    // the first window has to pass before there is a reading
    std::thread::sleep(std::time::Duration::from_millis(u64::from(WINDOW_MS) * 2));
    Ok(vec![Box::new(Soc { micro_joules, gpu_mhz, ready, pressure })])
}
