//! Managed servers: spawn a target's `launch` command in its own process group, wait
//! until its HTTP API answers (spawn -> ready is the load time), and stop the whole group
//! at the end, on error, on Ctrl-C (drop) alike. Output goes to a log file whose tail is
//! quoted (secrets masked) when the server fails to come up. The log may hold whatever
//! the server prints, keys included: it is created new (never through a planted file or
//! link), readable by this user only, under an unpredictable name, and removed when the
//! server is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BackendError;

/// A running server process that we started.
#[derive(Debug)]
pub struct ManagedServer {
    child: Child,
    pub pid: u32,
    pub log_path: PathBuf,
    stopped: bool,
    /// Kills the server's whole group if mlxbench dies without stopping it ([`watchdog`]).
    watchdog: Option<Child>,
}

impl ManagedServer {
    /// Spawns `argv` in `cwd`. A relative program path containing `/` is taken relative
    /// to `cwd`; a bare name is looked up on PATH.
    pub fn spawn(argv: &[String], cwd: &Path, label: &str) -> Result<Self, BackendError> {
        let (prog, args) = argv.split_first().ok_or_else(|| BackendError::Launch("empty launch command".into()))?;
        let (log, log_path) = private_log(label)?;
        let log2 = log.try_clone().map_err(|e| BackendError::Launch(format!("cannot open server log: {e}")))?;
        let program = if prog.contains('/') && !Path::new(prog).is_absolute() { cwd.join(prog) } else { PathBuf::from(prog) };
        let mut cmd = Command::new(&program);
        cmd.args(args).current_dir(cwd).stdin(Stdio::null()).stdout(log).stderr(log2);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            #[cfg(target_os = "linux")]
            die_with_parent(&mut cmd);
        }
        let child =
            cmd.spawn().map_err(|e| BackendError::Launch(format!("cannot start `{}` in {}: {e}", argv.join(" "), cwd.display())))?;
        let pid = child.id();
        let watchdog = watchdog(pid);
        Ok(ManagedServer { child, pid, log_path, stopped: false, watchdog })
    }

    /// Tells the watchdog the group was stopped here (a line on its pipe: it exits
    /// without killing) and reaps it.
    fn release_watchdog(&mut self) {
        use std::io::Write;
        if let Some(mut w) = self.watchdog.take() {
            if let Some(mut pipe) = w.stdin.take() {
                let _ = pipe.write_all(b"stopped\n");
            }
            let _ = w.wait();
        }
    }

    /// `Some(reason)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("server exited ({status}) before it was ready; {}", self.log_tail(5))),
            Ok(None) => None,
            Err(e) => Some(format!("cannot watch server process: {e}")),
        }
    }

    /// The last `n` non-empty lines of the server's log, on one line.
    pub fn log_tail(&self, n: usize) -> String {
        // masked before the lines are joined: a key split over two lines is still one
        let text = crate::secrets::redact(&read_tail(&self.log_path, 64 << 10)).into_owned();
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(n)..].join(" | ");
        if tail.is_empty() {
            format!("its log {} is empty", self.log_path.display())
        } else {
            format!("last log lines ({}): {tail}", self.log_path.display())
        }
    }

    /// SIGTERM to the group, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        signal_group(self.pid, Signal::Term);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                signal_group(self.pid, Signal::Kill); // children that outlived the leader
                self.release_watchdog();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(self.pid, Signal::Kill);
        let _ = self.child.wait();
        self.release_watchdog();
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            signal_group(self.pid, Signal::Kill);
            let _ = self.child.wait();
            self.release_watchdog();
        }
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// A new log file in the temporary folder: `create_new` (O_EXCL: an existing file or a
/// symbolic link planted at the name fails instead of being followed), mode 0600, and a
/// random part in the name; a few names are tried.
fn private_log(label: &str) -> Result<(File, PathBuf), BackendError> {
    let slug = crate::results::slug_for_file(label);
    crate::results::write::create_new_in(&std::env::temp_dir(), &format!("mlxbench-{slug}-{}-", std::process::id()), ".log", true)
        .map_err(|e| BackendError::Launch(format!("cannot create a server log in {}: {e}", std::env::temp_dir().display())))
}

/// The last `max` bytes of a file (a server's log can be any size).
fn read_tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.take(max).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

enum Signal {
    Term,
    Kill,
}

#[cfg(unix)]
fn signal_group(pid: u32, sig: Signal) {
    let sig = match sig {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: killpg only sends a signal; the group is the one we created at spawn.
        unsafe {
            libc::killpg(pid, sig);
        }
    }
}

#[cfg(not(unix))]
fn signal_group(_pid: u32, _sig: Signal) {}

/// A process that outlives mlxbench to kill the server's whole process group when
/// mlxbench dies in any way (SIGKILL included, where no drop guard runs and
/// `PR_SET_PDEATHSIG` reaches only the direct child, not a server a wrapper shell
/// started; macOS has no such signal at all). It waits on a pipe only mlxbench holds
/// (close-on-exec, so no server inherits it): end of file means mlxbench is gone; a line
/// means the group was stopped here. In its own group, so Ctrl-C at the terminal does
/// not end it first. `None` (and the kernel's signal alone) where `sh` cannot start.
#[cfg(unix)]
fn watchdog(pgid: u32) -> Option<Child> {
    use std::os::unix::process::CommandExt;
    Command::new("/bin/sh")
        .args(["-c", "if read -r _; then exit 0; fi; kill -s KILL -- \"-$1\" 2>/dev/null", "mlxbench-watchdog"])
        .arg(pgid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()
}

#[cfg(not(unix))]
fn watchdog(_pgid: u32) -> Option<Child> {
    None
}

/// The kernel kills the server when mlxbench dies in any way (SIGKILL, abort, crash),
/// where no drop guard runs: `PR_SET_PDEATHSIG` in the child before it execs.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // the parent may have died before prctl took effect
            if libc::getppid() != parent {
                return Err(std::io::Error::other("mlxbench exited while starting the server"));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_kills_the_whole_group_and_reports_exits() {
        let argv: Vec<String> = ["sh", "-c", "sleep 30 & sleep 30; echo never"].iter().map(|s| s.to_string()).collect();
        let mut s = ManagedServer::spawn(&argv, Path::new("."), "group test").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(s.exited().is_none());
        let group = crate::measure::memory::process_tree(s.pid);
        assert!(group.len() >= 2, "{group:?}");
        s.stop(Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(100));
        for pid in group {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(stat.is_empty() || stat.contains(") Z "), "pid {pid} still alive: {stat}");
        }

        let argv: Vec<String> = ["sh", "-c", "echo boom >&2; exit 3"].iter().map(|s| s.to_string()).collect();
        let mut s = ManagedServer::spawn(&argv, Path::new("."), "exit test").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let why = s.exited().unwrap();
        assert!(why.contains("boom") && why.contains('3'), "{why}");
    }
}
