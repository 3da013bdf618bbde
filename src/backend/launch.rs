//! The launch sequence both HTTP backends share: refuse when something already answers,
//! spawn the target's `launch` command, wait until the backend's readiness probe says so
//! (spawn -> ready is the load time), and stop it at the end.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::BackendError;
use super::managed::ManagedServer;
use crate::scenario::LaunchConfig;

/// What a readiness probe saw: `Err` = no answer (yet), `Ok(false)` = the server answers
/// but is not ready (say, its model is still being imported), `Ok(true)` = ready.
pub type Readiness = Result<bool, String>;

/// A server a backend starts and stops itself.
#[derive(Debug, Default)]
pub struct Launcher {
    server: Mutex<Option<ManagedServer>>,
    ready_ms: Mutex<Option<f64>>,
    /// SIGTERM -> SIGKILL grace of the launched server (`stop_grace_s`).
    grace: Mutex<Duration>,
}

impl Launcher {
    /// Spawns `cfg` and waits until `probe` (called with its own deadline) says ready.
    pub async fn start<F, Fut>(&self, cfg: &LaunchConfig, label: &str, url: &str, probe: F) -> Result<(), BackendError>
    where
        F: Fn(Duration) -> Fut,
        Fut: Future<Output = Readiness>,
    {
        if probe(Duration::from_millis(500)).await.is_ok() {
            return Err(BackendError::Launch(format!(
                "something already answers at {url}; refusing to launch a second server there (stop it, or remove `launch` to benchmark it as is)"
            )));
        }
        let t0 = Instant::now();
        *self.grace.lock().unwrap_or_else(|e| e.into_inner()) = cfg.stop_grace;
        *self.lock() = Some(ManagedServer::spawn(&cfg.argv, &cfg.cwd, label)?);
        loop {
            if let Some(why) = self.lock().as_mut().and_then(ManagedServer::exited) {
                return Err(BackendError::Launch(why));
            }
            let last = match probe(Duration::from_secs(1)).await {
                Ok(true) => {
                    *self.ready_ms.lock().unwrap_or_else(|e| e.into_inner()) = Some(crate::measure::ms(t0.elapsed()));
                    return Ok(());
                }
                Ok(false) => "it answers but is not ready".to_string(),
                Err(e) => e,
            };
            if t0.elapsed() > cfg.ready_timeout {
                let tail = self.lock().as_ref().map(|s| s.log_tail(5)).unwrap_or_default();
                let secs = cfg.ready_timeout.as_secs_f64();
                let grace = cfg.stop_grace.as_secs_f64();
                return Err(BackendError::Launch(format!(
                    "server did not answer at {url} within {secs} s (last: {last}); {tail}; it is stopped with SIGTERM, then SIGKILL after {grace} s (stop_grace_s)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Spawn -> ready, ms, when this launcher started the server.
    pub fn ready_ms(&self) -> Option<f64> {
        *self.ready_ms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The launched process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().map(|s| s.pid)
    }

    /// Stops the server (SIGTERM to its group, SIGKILL after `stop_grace_s`).
    pub async fn stop(&self) {
        let server = self.lock().take();
        let grace = *self.grace.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut s) = server {
            let _ = tokio::task::spawn_blocking(move || s.stop(grace)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ManagedServer>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }
}
