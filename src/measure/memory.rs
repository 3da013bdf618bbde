//! Memory probes. Linux: resident set size from `/proc/<pid>/statm`. macOS: the
//! `phys_footprint` that Activity Monitor shows (via libproc). Elsewhere: sysinfo's RSS.
//! A [`PeakSampler`] polls a set of processes on its own thread during generation.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

/// What the byte counts mean on this OS.
#[cfg(target_os = "macos")]
pub const SOURCE: &str = "phys_footprint";
#[cfg(not(target_os = "macos"))]
pub const SOURCE: &str = "rss";

/// Memory of one process in bytes, `None` if it is gone or unreadable.
#[cfg(target_os = "linux")]
pub fn process_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(resident * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

#[cfg(target_os = "macos")]
pub fn process_bytes(pid: u32) -> Option<u64> {
    use libproc::libproc::pid_rusage::{RUsageInfoV4, pidrusage};
    pidrusage::<RUsageInfoV4>(i32::try_from(pid).ok()?).ok().map(|r| r.ri_phys_footprint)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn process_bytes(pid: u32) -> Option<u64> {
    let mut sys = System::new();
    let p = sysinfo::Pid::from_u32(pid);
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[p]), true, ProcessRefreshKind::nothing().with_memory());
    sys.process(p).map(|p| p.memory())
}

/// Sum over processes that still exist; `None` when none could be read.
pub fn total_bytes(pids: &[u32]) -> Option<u64> {
    let vals: Vec<u64> = pids.iter().filter_map(|p| process_bytes(*p)).collect();
    (!vals.is_empty()).then(|| vals.iter().sum())
}

fn process_table() -> System {
    let mut sys = System::new();
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing().with_cmd(UpdateKind::OnlyIfNotSet));
    sys
}

/// Processes whose executable name contains any of `patterns` (case-insensitive).
pub fn find_by_name(patterns: &[String]) -> Vec<u32> {
    let sys = process_table();
    let pats: Vec<String> = patterns.iter().map(|p| p.to_lowercase()).collect();
    let me = std::process::id();
    let mut pids: Vec<u32> = sys
        .processes()
        .iter()
        .filter(|(pid, p)| {
            let name = p.name().to_string_lossy().to_lowercase();
            pid.as_u32() != me && p.thread_kind().is_none() && pats.iter().any(|pat| name.contains(pat))
        })
        .map(|(pid, _)| pid.as_u32())
        .collect();
    pids.sort_unstable();
    pids
}

/// The process listening on a local TCP port (Linux: `/proc/net/tcp{,6}` and the
/// processes' socket descriptors); `None` elsewhere or when it cannot be seen.
pub fn pid_listening_on(port: u16) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        let inodes: HashSet<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .flat_map(|t| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
                (local_port == port && *f.get(3)? == "0A").then(|| f.get(9).map(|i| format!("socket:[{i}]")))?
            })
            .collect();
        if inodes.is_empty() {
            return None;
        }
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| inodes.contains(l.to_string_lossy().as_ref())))
                .then_some(pid)
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

/// `root` and all its descendants.
pub fn process_tree(root: u32) -> Vec<u32> {
    let sys = process_table();
    let mut tree: HashSet<u32> = HashSet::from([root]);
    loop {
        let before = tree.len();
        for (pid, p) in sys.processes() {
            if p.thread_kind().is_none() && p.parent().is_some_and(|pp| tree.contains(&pp.as_u32())) {
                tree.insert(pid.as_u32());
            }
        }
        if tree.len() == before {
            break;
        }
    }
    let mut v: Vec<u32> = tree.into_iter().collect();
    v.sort_unstable();
    v
}

/// Polls the summed memory of a process set on a background thread and keeps the peak.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    /// Highest GPU memory of the processes (NVML), 0 while none was seen.
    gpu_peak: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

/// What a [`PeakSampler`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peaks {
    /// Resident memory (or phys_footprint), bytes.
    pub host: Option<u64>,
    /// GPU memory through NVML, bytes, when any of the processes used a GPU.
    pub gpu: Option<u64>,
}

impl PeakSampler {
    /// Starts polling every `interval`; the first reading is taken before returning.
    pub fn start(pids: Vec<u32>, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(total_bytes(&pids).unwrap_or(0)));
        let gpu_peak = Arc::new(AtomicU64::new(0));
        let handle = (!pids.is_empty()).then(|| {
            let (stop, peak, gpu_peak) = (stop.clone(), peak.clone(), gpu_peak.clone());
            std::thread::spawn(move || {
                let gpu = super::gpu::GpuMemoryProbe::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(b) = total_bytes(&pids) {
                        peak.fetch_max(b, Ordering::Relaxed);
                    }
                    if let Some(b) = gpu.as_ref().and_then(|g| g.used_by(&pids)) {
                        gpu_peak.fetch_max(b, Ordering::Relaxed);
                    }
                    std::thread::sleep(interval);
                }
            })
        });
        PeakSampler { stop, peak, gpu_peak, handle }
    }

    /// Stops the thread; returns the peaks in bytes, `None` where nothing was read.
    pub fn finish(mut self) -> Peaks {
        self.stop_thread();
        let nonzero = |v: u64| Some(v).filter(|b| *b > 0);
        Peaks { host: nonzero(self.peak.load(Ordering::Relaxed)), gpu: nonzero(self.gpu_peak.load(Ordering::Relaxed)) }
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_listener_of_a_port_is_found() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(pid_listening_on(port), Some(std::process::id()));
        drop(l);
        assert_eq!(pid_listening_on(port), None);
    }

    #[test]
    fn own_process_is_measured_and_peak_sees_growth() {
        let me = std::process::id();
        let before = process_bytes(me).expect("own memory readable");
        assert!(before > 0);
        let sampler = PeakSampler::start(vec![me], Duration::from_millis(1));
        let block = vec![1u8; 64 << 20];
        std::thread::sleep(Duration::from_millis(50));
        let peaks = sampler.finish();
        assert_eq!(peaks.gpu, None, "no GPU memory on a CPU-only allocation");
        let peak = peaks.host.unwrap();
        assert!(block.iter().step_by(4096).all(|b| *b == 1));
        assert!(peak >= before + (48 << 20), "peak {peak} before {before}");
    }

    #[test]
    fn gone_processes_read_as_none() {
        assert_eq!(total_bytes(&[u32::MAX - 7]), None);
        assert!(process_tree(std::process::id()).contains(&std::process::id()));
    }
}
