//! Architectures beyond the Llama family, each a tiny random model in Hugging Face layout
//! (tests/fixtures/make_tiny_model.py) whose greedy tokens from the engine equal
//! mlx-lm's for 64 tokens, with every detail that changes the output shown to change it.
#![cfg(feature = "mlx")]

use std::path::{Path, PathBuf};

use crate::mlx_engine::{assert_same, ours, ours_with, python, reference_with, tiny};

/// `with` a detail and `without` it (the same weights otherwise): both give mlx-lm's
/// greedy and seeded-sampled tokens, and their sampled draws differ (the detail bites).
fn assert_detail_matters(with: &Path, without: &Path, seed: u64, what: &str) {
    let sampled = Some((1.0, 0.0, seed));
    assert_ne!(ours_with(with, sampled), ours_with(without, sampled), "{what} changed nothing");
    for m in [with, without] {
        assert_same_greedy_and_sampled(m, seed);
    }
}

/// mlx-lm's greedy tokens, and its draws when sampling at temperature 1 seeded with `seed`.
fn assert_same_greedy_and_sampled(m: &Path, seed: u64) {
    assert_same(m);
    let sampled = Some((1.0, 0.0, seed));
    assert_eq!(ours_with(m, sampled), reference_with(m, sampled), "sampled ids differ from mlx-lm for {}", m.display());
}

/// `model` quantized by mlx-lm's own converter (4 bits, group 64) into `dir/name`.
fn mlx_lm_4bit(model: &Path, dir: &Path, name: &str) -> PathBuf {
    let q = dir.join(name);
    python(&["-m", "mlx_lm", "convert", "--hf-path", &model.display().to_string(), "--mlx-path", &q.display().to_string(), "-q"]);
    q
}

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
    let q = mlx_lm_4bit(&dense, d.path(), "phi3-q4");
    assert_same(&q);
}

/// Gemma 2: scaled embeddings, `1 + weight` norms (four a layer), GELU, soft-capped
/// attention and final logits, tied head. Random Gemma 2 nets settle on one greedy token,
/// so seeded sampling (which reads the whole distribution) is compared too: mlx-lm's
/// draws exactly, and caps small enough to bite draw other tokens than caps too large to
/// matter on the same weights.
#[test]
fn mlx_matches_mlx_lm_gemma2_softcaps() {
    let d = tempfile::tempdir().unwrap();
    let capped = tiny(d.path(), "gemma2", &["--arch", "gemma2", "--seed", "31"]);
    let loose = tiny(d.path(), "gemma2-loose", &["--arch", "gemma2", "--seed", "31", "--softcap", "1e6,1e6"]);
    assert_detail_matters(&capped, &loose, 7, "soft-capping");
}

/// Gemma 2 quantized by mlx-lm's own converter (4 bits, group 64), sampled and greedy.
#[test]
fn mlx_matches_mlx_lm_gemma2_4bit() {
    let d = tempfile::tempdir().unwrap();
    let dense = tiny(d.path(), "gemma2", &["--arch", "gemma2", "--seed", "32", "--hidden", "128"]);
    let q = mlx_lm_4bit(&dense, d.path(), "gemma2-q4");
    assert_same_greedy_and_sampled(&q, 8);
}

/// Mixtral: a router and top-2 of 4 experts per token (softmax over the chosen two),
/// experts stored one tensor each as Hugging Face does and stacked at load; a 37-token
/// prompt takes mlx-lm's sorted path (74 token-expert pairs), decoding the unsorted one.
#[test]
fn mlx_matches_mlx_lm_mixtral_experts() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny(d.path(), "mixtral", &["--arch", "mixtral", "--seed", "41"]);
    assert_same_greedy_and_sampled(&m, 9);
}

/// Qwen3-MoE: softmax over all experts, top-2, renormalised; q/k norms; a dense MLP on
/// layer 1 between sparse ones; dense and quantized by mlx-lm's converter (the experts'
/// gathered quantized matmul).
#[test]
fn mlx_matches_mlx_lm_qwen3_moe_sparse_and_dense_layers() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny(d.path(), "qwen3moe", &["--arch", "qwen3_moe", "--seed", "42", "--layers", "3", "--dense-layers", "1", "--hidden", "128"]);
    assert_same_greedy_and_sampled(&m, 10);
    let q = mlx_lm_4bit(&m, d.path(), "qwen3moe-q4");
    assert_same_greedy_and_sampled(&q, 10);
}

/// Gemma 3 (text): q/k norms, no soft-caps, sliding-window layers (here a window of 8
/// on every other layer, so the 37-token prompt is cut by the window and decoding
/// overwrites the oldest slot, as mlx-lm's RotatingKVCache does) with their own RoPE
/// base: mlx-lm's greedy and sampled tokens, and a window of 1024 draws other tokens.
#[test]
fn mlx_matches_mlx_lm_gemma3_sliding_window() {
    let d = tempfile::tempdir().unwrap();
    let narrow = tiny(d.path(), "gemma3", &["--arch", "gemma3_text", "--seed", "51", "--layers", "4"]);
    let wide = tiny(d.path(), "gemma3-wide", &["--arch", "gemma3_text", "--seed", "51", "--layers", "4", "--window", "1024"]);
    assert_detail_matters(&narrow, &wide, 11, "the sliding window");
    let q = mlx_lm_4bit(&narrow, d.path(), "gemma3-q4");
    assert_same(&q);
}

/// Llama/Mistral sliding-window layers (`layer_types`, as Ministral's config has them):
/// a window of 8 on every other layer gives mlx-lm's greedy and sampled tokens, and other
/// tokens than the same weights without the window.
#[test]
fn mlx_matches_mlx_lm_llama_sliding_window_layers() {
    let d = tempfile::tempdir().unwrap();
    let plain = tiny(d.path(), "plain", &["--seed", "61", "--layers", "4"]);
    let windowed = tiny(d.path(), "windowed", &["--seed", "61", "--layers", "4", "--layer-window", "8"]);
    assert_detail_matters(&windowed, &plain, 12, "the sliding window");
}
