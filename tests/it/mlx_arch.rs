//! Architectures beyond the Llama family, each a tiny random model in Hugging Face layout
//! (tests/fixtures/make_tiny_model.py) whose greedy tokens from the engine equal
//! mlx-lm's for 64 tokens, with every detail that changes the output shown to change it.
#![cfg(feature = "mlx")]

use crate::mlx_engine::{assert_same, ours, python, tiny};

/// Phi-3: q/k/v fused as `qkv_proj`, gate/up as `gate_up_proj`; untied head.
#[test]
fn mlx_greedy_matches_mlx_lm_phi3_fused_projections() {
    let d = tempfile::tempdir().unwrap();
    assert_same(&tiny(d.path(), "phi3", &["--arch", "phi3", "--seed", "21"]));
}

/// Phi-3's long-context RoPE (`longrope`: per-pair factors and a scale on q and k) with
/// a partial rotary factor (Phi-4-mini's 0.75): mlx-lm's tokens, and other tokens than
/// the same weights with plain RoPE.
#[test]
fn mlx_greedy_matches_mlx_lm_phi3_longrope_partial_rotary() {
    let d = tempfile::tempdir().unwrap();
    let common = ["--arch", "phi3", "--seed", "22", "--partial-rotary", "0.75"];
    let plain = tiny(d.path(), "plain", &common);
    let long = tiny(d.path(), "long", &[&common[..], &["--rope-scaling", "longrope"]].concat());
    assert_ne!(ours(&plain), ours(&long), "longrope changed nothing");
    assert_same(&long);
    assert_same(&plain);
}

/// Phi-3 quantized by mlx-lm's own converter (4 bits, group 64): the fused quantized
/// projections split by rows (packed words, scales and biases alike).
#[test]
fn mlx_greedy_matches_mlx_lm_phi3_4bit() {
    let d = tempfile::tempdir().unwrap();
    let dense = tiny(d.path(), "phi3", &["--arch", "phi3", "--seed", "23", "--hidden", "128"]);
    let q = d.path().join("phi3-q4");
    python(&["-m", "mlx_lm", "convert", "--hf-path", &dense.display().to_string(), "--mlx-path", &q.display().to_string(), "-q"]);
    assert_same(&q);
}
