//! Scenario files: the TOML schema of DESIGN.md, parsing with source spans, semantic
//! validation whose every error names file, line, column and key, and expansion into a
//! [`Plan`] of cases.

mod plan;
mod schema;
mod validate;

pub use plan::{Case, ChatMessage, Params, Plan, Prompt, Target, Workload};
pub use schema::{Defaults, ScenarioSpec, SweepSpec, TargetSpec, WorkloadSpec};
pub use validate::{Diagnostic, ScenarioError, load_file, parse_str};

/// The backends a target may name.
pub const BACKENDS: &[&str] = &["mlx", "ollama", "openai"];

#[cfg(test)]
mod tests;
