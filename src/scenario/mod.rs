//! Scenario files: the TOML schema of docs/DESIGN.md, parsing with source spans, semantic
//! validation whose every error names file, line, column and key, and expansion into a
//! [`Plan`] of cases.

mod files;
mod plan;
mod schema;
mod target;
mod validate;

pub use plan::{Api, BackendKind, Case, ChatMessage, Order, Params, Plan, Prompt, PromptCache, Workload};
pub use schema::{Defaults, ScenarioSpec, SweepSpec, TargetSpec, WorkloadSpec};
pub use target::{
    BackendConfig, LaunchConfig, MlxConfig, OllamaConfig, OpenAiConfig, Target, normalize_ollama_host, resolve_base_url,
    resolve_ollama_host,
};
pub use validate::{Diagnostic, ScenarioError, load_file, parse_str};

#[cfg(test)]
mod tests;
