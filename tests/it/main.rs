//! Every integration test in one binary (one link of the crate and MLX instead of one per
//! file), a module per area. nextest runs each test in its own process all the same; the
//! timing-sensitive modules get the whole machine by name (`.config/nextest.toml`).
//! Modules that need the in-process engine are compiled with the `mlx` feature only
//! (`#![cfg(feature = "mlx")]` at their top).

mod common;

mod cli;
mod energy;
mod faults;
mod fleet;
mod fuzz;
mod hostile;
mod hostile_output;
mod hostile_states;
mod mac_setup;
mod mlx_arch;
mod mlx_engine;
mod mlx_gguf;
mod mlx_hostile;
mod mlx_kquant;
mod mlx_model_files;
mod ollama_cli;
mod real_llamacpp;
mod real_ollama;
mod report;
mod serve;
mod serve_guard;
mod snapshots;
mod structure;
mod timing;
