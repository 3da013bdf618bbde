//! A backend that runs no model and opens no socket: every request follows a script
//! (time to first token, gap between tokens, token count, or a failure), timed with the
//! real clock. The runner's own behaviour (warmup, failed targets and requests,
//! concurrency aggregates, cooldowns) is tested against it in-process, with known truth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{Backend, BackendError, GenFailure, GenRequest, GenResult, LoadOutcome, RequestError, TargetInfo};
use crate::measure::sample::{StreamRecord, Usage};
use crate::results::LoadResult;

/// What one request does.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Streams `tokens` tokens: the first after `ttft`, then one every `gap`.
    Stream { ttft: Duration, gap: Duration, tokens: u32 },
    /// Fails with this error after `after`.
    Fail { after: Duration, error: RequestError },
}

/// Which lifecycle step fails, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAt {
    Start,
    Describe,
    Load,
}

type Script = dyn Fn(u64) -> Reply + Send + Sync;

/// A scripted backend; clones share their counters.
#[derive(Clone)]
pub struct Scripted {
    script: Arc<Script>,
    fail_at: Option<FailAt>,
    requests: Arc<AtomicU64>,
    in_flight: Arc<AtomicU32>,
    max_in_flight: Arc<AtomicU32>,
}

impl Scripted {
    /// `script(n)` decides the n-th request (0-based, warmup included, in send order).
    pub fn new(script: impl Fn(u64) -> Reply + Send + Sync + 'static) -> Self {
        Scripted {
            script: Arc::new(script),
            fail_at: None,
            requests: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        }
    }

    /// Every request streams the same way.
    pub fn steady(ttft: Duration, gap: Duration, tokens: u32) -> Self {
        Scripted::new(move |_| Reply::Stream { ttft, gap, tokens })
    }

    /// Makes a lifecycle step fail with a configuration error.
    pub fn failing_at(mut self, step: FailAt) -> Self {
        self.fail_at = Some(step);
        self
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Most requests that were in flight at once.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    fn check(&self, step: FailAt) -> Result<(), BackendError> {
        match self.fail_at {
            Some(s) if s == step => Err(BackendError::Config(format!("scripted failure at {step:?}"))),
            _ => Ok(()),
        }
    }

    async fn run(&self, req: &GenRequest) -> GenResult {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let sent = Instant::now();
        let mut rec = StreamRecord::new(sent);
        let result = match (self.script)(n) {
            Reply::Fail { after, error } => {
                tokio::time::sleep(after).await;
                Err(GenFailure::new(error))
            }
            Reply::Stream { ttft, gap, tokens } => {
                let tokens = tokens.min(req.params.max_tokens);
                for i in 0..tokens {
                    let due = sent + ttft + gap * i;
                    tokio::time::sleep_until(due.into()).await;
                    let at = Instant::now();
                    rec.first_byte.get_or_insert(at);
                    rec.push_text(at, "x", 1);
                }
                rec.usage = Usage { prompt_tokens: Some(10), output_tokens: Some(u64::from(tokens)) };
                rec.finish_reason = Some("length".into());
                rec.done = Some(Instant::now());
                Ok(rec)
            }
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl Backend for Scripted {
    fn start(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        async move { self.check(FailAt::Start) }.boxed()
    }

    fn describe(&self) -> BoxFuture<'_, Result<TargetInfo, BackendError>> {
        async move {
            self.check(FailAt::Describe)?;
            Ok(TargetInfo { backend_version: Some("scripted".into()), ..Default::default() })
        }
        .boxed()
    }

    fn load(&self) -> BoxFuture<'_, Result<LoadOutcome, BackendError>> {
        async move {
            self.check(FailAt::Load)?;
            let load = LoadResult { method: "scripted: no model".into(), cold_ms: Some(0.0), ..Default::default() };
            Ok(LoadOutcome { load: Some(load), ..Default::default() })
        }
        .boxed()
    }

    fn generate<'a>(&'a self, req: &'a GenRequest) -> BoxFuture<'a, GenResult> {
        self.run(req).boxed()
    }

    fn memory_pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        async {}.boxed()
    }
}
