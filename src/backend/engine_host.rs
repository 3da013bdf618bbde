//! The engine thread, one implementation for the in-process backend (backend/mlx.rs) and
//! `serve` (serve/worker.rs). MLX arrays belong to the thread that uses them, so every
//! engine call runs on one thread that owns the models. Jobs arrive typed through a
//! bounded queue and each runs with panics caught: inside a job, [`guarded`] turns a panic
//! into that job's error with its message; one that escapes a job is caught here, the
//! thread lives on, and [`EngineHost::why`] gives its message to whoever finds the job's
//! answer missing. A worker may ask to be woken at a deadline (serve's keep-alive). When
//! the thread ends, the reason is kept for every later request.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlxbench_engine::{self as engine, Loaded};

/// What runs on the engine thread (made there: it owns MLX state, which stays on it).
pub trait Worker<J> {
    /// Does one job, answering on the job's own reply channel.
    fn handle(&mut self, job: J);
    /// When to wake without a job (`None`: only when a job comes).
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// After every job and every wake-up.
    fn tick(&mut self) {}
}

/// Why a job was not queued.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// `capacity` jobs are waiting.
    Full,
    /// The thread has ended: why.
    Stopped(String),
}

/// The handlers' side of the engine thread.
pub struct EngineHost<J> {
    tx: Mutex<Option<SyncSender<J>>>,
    /// Why the thread ended, or the last panic that escaped a job: the whole sentence.
    why: Arc<Mutex<Option<String>>>,
    /// Most jobs waiting, not counting the one running.
    pub capacity: usize,
}

impl<J: Send + 'static> EngineHost<J> {
    /// Starts the thread `name` running the worker `make` makes there, with room for
    /// `capacity` waiting jobs.
    pub fn start<W: Worker<J>>(name: &str, capacity: usize, make: impl FnOnce() -> W + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<J>(capacity);
        let why = Arc::new(Mutex::new(None));
        let noted = why.clone();
        std::thread::Builder::new().name(name.into()).spawn(move || run(rx, make(), &noted))?;
        Ok(EngineHost { tx: Mutex::new(Some(tx)), why, capacity })
    }

    /// Queues a job, or says at once why not.
    pub fn submit(&self, job: J) -> Result<(), Refused> {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else { return Err(Refused::Stopped(self.why())) };
        tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Full,
            TrySendError::Disconnected(_) => Refused::Stopped(self.why()),
        })
    }

    /// Why a job got no answer: the thread's end, or a panic that escaped a job.
    pub fn why(&self) -> String {
        let why = self.why.lock().unwrap_or_else(|e| e.into_inner()).clone();
        why.unwrap_or_else(|| "the MLX engine thread stopped: no reason recorded".into())
    }

    /// Lets the thread end once the jobs already queued are done.
    pub fn stop(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn run<J>(rx: mpsc::Receiver<J>, mut worker: impl Worker<J>, why: &Mutex<Option<String>>) {
    loop {
        let got = match worker.deadline() {
            Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match got {
            Ok(job) => {
                if let Err(e) = guarded(|| {
                    worker.handle(job);
                    Ok(())
                }) {
                    *why.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("the MLX engine dropped the request: {e}"));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        worker.tick();
    }
    *why.lock().unwrap_or_else(|e| e.into_inner()) = Some("the MLX engine thread stopped: the backend was stopped".into());
}

/// Runs `f`, turning a panic into an error with its message: a failing model or request
/// reports its real reason, and the engine thread lives on.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!("the engine panicked: {}", msg.unwrap_or_else(|| "no message".into())))
    })
}

/// Loads a model, timed, then gets its chat template ready outside that time (checked
/// within its budgets in a child process, its end of turn found; a refused template
/// fails chat requests with the reason later): the model and its load time.
pub fn load_ready(path: &std::path::Path) -> Result<(Loaded, Duration), String> {
    let t0 = Instant::now();
    let mut loaded = guarded(|| engine::load(path).map_err(|e| e.to_string()))?;
    let took = t0.elapsed();
    if let Some(t) = loaded.tokenizer.as_mut() {
        let _ = t.prepare_chat();
    }
    Ok((loaded, took))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_engine_is_an_error_with_its_message() {
        let r: Result<(), String> = guarded(|| panic!("gather index out of range"));
        assert_eq!(r.unwrap_err(), "the engine panicked: gather index out of range");
        assert_eq!(guarded(|| Ok::<_, String>(3)), Ok(3));
    }

    /// Jobs are numbers: 0 panics, others are echoed back; a full queue refuses, and the
    /// thread outlives a panic and says why an answer was missing.
    struct Echo(mpsc::Sender<u32>);
    impl Worker<u32> for Echo {
        fn handle(&mut self, job: u32) {
            if job == 0 {
                panic!("job zero");
            }
            std::thread::sleep(Duration::from_millis(20));
            let _ = self.0.send(job);
        }
    }

    #[test]
    fn jobs_queue_up_to_capacity_and_the_thread_outlives_a_panic() {
        let (tx, rx) = mpsc::channel();
        let host = EngineHost::start("test-engine", 1, move || Echo(tx)).unwrap();
        host.submit(0).unwrap();
        // no answer; the reason is there once the panic is caught (a debug build's panic
        // hook may take a while to print its backtrace first)
        let t0 = Instant::now();
        while !host.why().contains("job zero") && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(host.why(), "the MLX engine dropped the request: the engine panicked: job zero");
        assert!(rx.try_recv().is_err());
        host.submit(1).unwrap();
        // one running, one waiting: a third is refused at once
        let mut refused = false;
        for n in 2..5 {
            refused |= host.submit(n) == Err(Refused::Full);
        }
        assert!(refused);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(1));
        host.stop();
        assert!(matches!(host.submit(9), Err(Refused::Stopped(_))));
        // the thread ends once its queue is empty, and says why
        let t0 = Instant::now();
        while !host.why().contains("stopped") && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(host.why(), "the MLX engine thread stopped: the backend was stopped");
    }
}
