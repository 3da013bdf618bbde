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
use crate::results::{CaseResult, WarningKind};
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
    // energy and heat sources found (and their meter started) now, never between a
    // case's warmup and its measured requests
    let _ = crate::measure::energy::meter();
    let mut done = Done { results: Vec::with_capacity(plan.cases.len()), index: 0 };
    // with order = "interleaved", the targets mlxbench does not launch take turns
    let together: Vec<usize> = match plan.spec.order {
        Some(crate::scenario::Order::Interleaved) => (0..plan.targets.len()).filter(|t| !plan.targets[*t].launched()).collect(),
        _ => Vec::new(),
    };
    if !together.is_empty() {
        interleaved(plan, &together, observer, factory, &mut done).await;
    }
    for ti in (0..plan.targets.len()).filter(|t| !together.contains(t)) {
        let target = &plan.targets[ti];
        let cases: Vec<&Case> = plan.cases.iter().filter(|c| c.target == ti).collect();
        let Some(first) = cases.first() else { continue };
        // the pause before a case comes before its target's load too, so that the load
        // does not meet the previous target's heat
        case_pause(first, done.index > 0).await;
        observer.event(Event::TargetStarting { target: &target.name });
        match prepare(target, factory).await {
            Err(failed) => done.target_failed(plan, ti, failed, observer).await,
            Ok((backend, info, load)) => {
                for (k, case) in cases.into_iter().enumerate() {
                    case_pause(case, k > 0).await;
                    observer.event(Event::CaseStarted {
                        index: done.index,
                        total: plan.cases.len(),
                        target: &target.name,
                        label: case.label(),
                    });
                    let r = case::run_case(plan, case, &backend, &info, &load, observer).await;
                    done.finished(r, observer);
                }
                backend.stop().await;
            }
        }
    }
    done.results
}

/// The results so far, and the next case's index.
struct Done {
    results: Vec<CaseResult>,
    index: usize,
}

impl Done {
    fn finished(&mut self, mut r: CaseResult, observer: &mut dyn Observer) {
        r.redact_secrets();
        observer.event(Event::CaseFinished { index: self.index, result: &r });
        self.results.push(r);
        self.index += 1;
    }

    /// Every case of a target that could not be started, described or loaded fails with
    /// the reason.
    async fn target_failed(&mut self, plan: &Plan, ti: usize, (error, backend): PrepareError, observer: &mut dyn Observer) {
        let target = &plan.targets[ti];
        let error = crate::fmt::strip_controls(&crate::secrets::redact(&error)).into_owned();
        observer.event(Event::TargetFailed { target: &target.name, error: &error });
        for case in plan.cases.iter().filter(|c| c.target == ti) {
            let mut r = case::empty_result(plan, case, &TargetInfo::default());
            r.error = Some(error.clone());
            self.finished(r, observer);
        }
        if let Some(b) = backend {
            b.stop().await;
        }
    }
}

/// `order = "interleaved"`: every target of `tis` started and loaded, every case's warmup
/// in plan order, then counted run 1 of each case, run 2 of each, ...
async fn interleaved(plan: &Plan, tis: &[usize], observer: &mut dyn Observer, factory: &BackendFactory<'_>, done: &mut Done) {
    let mut ready = Vec::new();
    for (k, &ti) in tis.iter().enumerate() {
        if let Some(first) = plan.cases.iter().find(|c| c.target == ti) {
            case_pause(first, k > 0).await;
        }
        observer.event(Event::TargetStarting { target: &plan.targets[ti].name });
        match prepare(&plan.targets[ti], factory).await {
            Err(failed) => done.target_failed(plan, ti, failed, observer).await,
            Ok(p) => ready.push((ti, p)),
        }
    }
    let mut runs = Vec::new();
    for (ti, (backend, info, load)) in &ready {
        for case in plan.cases.iter().filter(|c| c.target == *ti) {
            let (index, total) = (done.index + runs.len(), plan.cases.len());
            case_pause(case, index > 0).await;
            observer.event(Event::CaseStarted { index, total, target: &plan.targets[*ti].name, label: case.label() });
            runs.push((case, case::CaseRun::start(plan, case, backend, info, load, observer).await));
        }
    }
    let rounds = runs.iter().map(|(c, _)| c.params.iterations).max().unwrap_or(0);
    for it in 0..rounds {
        for (_, run) in runs.iter_mut().filter(|(c, _)| it < c.params.iterations) {
            run.round(it, observer).await;
        }
    }
    for (_, run) in runs {
        let mut r = run.finish().await;
        r.warnings.push(
            WarningKind::InterleavedOrder,
            "order = \"interleaved\": counted runs took turns with other targets' cases; memory peaks span all of their rounds".into(),
        );
        done.finished(r, observer);
    }
    for (_, (backend, ..)) in ready {
        backend.stop().await;
    }
}

/// `case_cooldown_s`: the pause before a case (and before its target's load) when
/// another case or target came before it.
async fn case_pause(case: &Case, after_another: bool) {
    if after_another && case.params.case_cooldown_s > 0.0 {
        tokio::time::sleep(std::time::Duration::from_secs_f64(case.params.case_cooldown_s)).await;
    }
}

type Prepared = (Arc<dyn Backend>, TargetInfo, backend::LoadOutcome);
/// Why a target could not be prepared, and its backend when it was made (to stop it).
type PrepareError = (String, Option<Arc<dyn Backend>>);

async fn prepare(target: &Target, factory: &BackendFactory<'_>) -> Result<Prepared, PrepareError> {
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
