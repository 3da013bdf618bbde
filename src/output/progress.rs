//! Progress bars (indicatif) driven by runner events; hidden when stdout is not a
//! terminal or with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::Event;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(visible: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} requests  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        if visible {
            // keeps the clock and spinner moving through long loads and prefills
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        Progress { bar }
    }

    pub fn event(&self, e: &Event<'_>) {
        match e {
            Event::PlanStarted { requests, .. } => self.bar.inc_length(*requests),
            Event::TargetStarting { target } => self.bar.set_message(format!("{target}: starting and loading")),
            Event::TargetFailed { target, error } => self.bar.println(format!("{target}: {}", crate::fmt::one_line(error))),
            Event::CaseStarted { index, total, target, label } => {
                self.bar.set_message(format!("case {}/{total}: {target} {label}", index + 1))
            }
            Event::RequestFinished { .. } => self.bar.inc(1),
            Event::RoundFinished { .. } => {}
            Event::CaseFinished { result, .. } => {
                if result.error.is_some() {
                    let n = u64::from(result.params.warmup) + u64::from(result.params.iterations);
                    let c = u64::from(result.params.concurrency);
                    self.bar.inc(n * c);
                }
            }
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
