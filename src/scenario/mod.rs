//! Scenario files: the TOML schema of docs/DESIGN.md, parsing with source spans, semantic
//! validation whose every error names file, line, column and key, and expansion into a
//! [`Plan`] of cases.

mod plan;
mod schema;
mod validate;

pub use plan::{Api, BackendKind, Case, ChatMessage, Params, Plan, Prompt, Target, Workload};
pub use schema::{Defaults, ScenarioSpec, SweepSpec, TargetSpec, WorkloadSpec};
pub use validate::{Diagnostic, ScenarioError, load_file, parse_str};

#[cfg(test)]
mod tests;
