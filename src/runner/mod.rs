//! The runner: for each target, start the backend, describe and load the model, then for
//! each of its cases run warmup and counted runs (each run = `concurrency` simultaneous
//! requests) with cooldowns, sampling memory throughout. It emits [`Event`]s and returns
//! data; it never prints.

mod case;
mod energy;
pub mod prompt;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::backend::{self, Backend, BackendError, TargetInfo};
use crate::results::CaseResult;
use crate::scenario::{Case, Plan, Target};

pub use case::summarize_case;

/// Progress notifications, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan is about to run: number of cases and of requests (warmup included).
    PlanStarted {
        cases: usize,
        requests: u64,
    },
    TargetStarting {
        target: &'a str,
    },
    /// The target could not be started, described or loaded; its cases are skipped.
    TargetFailed {
        target: &'a str,
        error: &'a str,
    },
    CaseStarted {
        index: usize,
        total: usize,
        target: &'a str,
        label: String,
    },
    RequestFinished {
        warmup: bool,
        ok: bool,
    },
    /// A round of measured requests finished: the case so far (samples and runs, not yet
    /// summarized), for keeping what finished when the run is interrupted.
    RoundFinished {
        partial: &'a CaseResult,
    },
    CaseFinished {
        index: usize,
        result: &'a CaseResult,
    },
}

/// Receives events; presentation and the result writer implement this.
pub trait Observer: Send {
    fn event(&mut self, event: Event<'_>);
}

impl<F: FnMut(Event<'_>) + Send> Observer for F {
    fn event(&mut self, event: Event<'_>) {
        self(event)
    }
}

/// Total requests a plan will send, warmup included.
pub fn request_count(plan: &Plan) -> u64 {
    plan.cases
        .iter()
        .map(|c| (u64::from(c.params.warmup) + u64::from(c.params.iterations)) * u64::from(c.params.concurrency))
        .fold(0, u64::saturating_add)
}

/// Makes the backend of a target.
pub type BackendFactory<'a> = dyn Fn(&Target) -> Result<Box<dyn Backend>, BackendError> + Sync + 'a;

/// Runs every case of the plan with the real backends; returns one result per case, in
/// plan order.
pub async fn run_plan(plan: &Plan, observer: &mut dyn Observer) -> Vec<CaseResult> {
    run_plan_with(plan, observer, &backend::create).await
}

/// [`run_plan`] with the backends `factory` makes (tests use scripted ones).
pub async fn run_plan_with(plan: &Plan, observer: &mut dyn Observer, factory: &BackendFactory<'_>) -> Vec<CaseResult> {
    observer.event(Event::PlanStarted { cases: plan.cases.len(), requests: request_count(plan) });
    let total = plan.cases.len();
    let mut results = Vec::with_capacity(total);
    let mut index = 0;
    for (ti, target) in plan.targets.iter().enumerate() {
        let cases: Vec<&Case> = plan.cases.iter().filter(|c| c.target == ti).collect();
        if cases.is_empty() {
            continue;
        }
        observer.event(Event::TargetStarting { target: &target.name });
        let prepared = prepare(target, factory).await;
        match prepared {
            Err((error, backend)) => {
                let error = crate::fmt::strip_controls(&crate::secrets::redact(&error)).into_owned();
                observer.event(Event::TargetFailed { target: &target.name, error: &error });
                for case in cases {
                    let mut r = case::empty_result(plan, case, &TargetInfo::default());
                    r.error = Some(error.clone());
                    observer.event(Event::CaseFinished { index, result: &r });
                    results.push(r);
                    index += 1;
                }
                if let Some(b) = backend {
                    b.stop().await;
                }
            }
            Ok((backend, info, load)) => {
                for case in cases {
                    observer.event(Event::CaseStarted { index, total, target: &target.name, label: case.label() });
                    let mut r = case::run_case(plan, case, &backend, &info, &load, observer).await;
                    r.redact_secrets();
                    observer.event(Event::CaseFinished { index, result: &r });
                    results.push(r);
                    index += 1;
                }
                backend.stop().await;
            }
        }
    }
    results
}

type Prepared = (Arc<dyn Backend>, TargetInfo, backend::LoadOutcome);

async fn prepare(target: &Target, factory: &BackendFactory<'_>) -> Result<Prepared, (String, Option<Arc<dyn Backend>>)> {
    let backend: Arc<dyn Backend> = factory(target).map_err(|e| (e.to_string(), None))?.into();
    if let Err(e) = backend.start().await {
        return Err((e.to_string(), Some(backend)));
    }
    let mut info = match backend.describe().await {
        Ok(i) => i,
        Err(e) => return Err((e.to_string(), Some(backend))),
    };
    let load = match backend.load().await {
        Ok(l) => l,
        Err(e) => return Err((format!("load failed: {e}"), Some(backend))),
    };
    info.warnings.extend(load.warnings.iter().cloned());
    Ok((backend, info, load))
}
