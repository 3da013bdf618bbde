//! Ollama's default downloads are K-quant GGUF files (Q4_K_M: Q4_K with Q6_K for
//! attn_v, ffn_down and output). Tiny random models of both K mixes, written with the
//! `gguf` package (tests/fixtures/tiny_gguf.py): the engine's re-packed weights equal
//! gguf-py's dequantization within the stated bounds (docs/engine.md), the .gguf run
//! in-process generates mlx-lm's greedy tokens from the converted directory, and the same
//! file loads and runs in llama.cpp's real server.
#![cfg(feature = "mlx")]

use crate::common;
use crate::mlx_gguf::{llamacpp, mlx_lm_tokens, post, python};

use std::path::{Path, PathBuf};

use common::mlxbench;
use serde_json::{Value, json};

fn make(dir: &Path, mix: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_gguf.py");
    let file = dir.join(format!("{mix}.gguf"));
    python(&[script.as_os_str(), "make".as_ref(), file.as_os_str(), mix.as_ref()]);
    file
}

#[test]
fn mlx_k_quants_decode_like_gguf_py_and_generate_like_mlx_lm() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_gguf.py");
    let ids = "40,72,101,108,108,111,44,32,119,111,114,108,100";
    for (mix, types) in [("q4_k_m", ["Q4_K", "Q6_K"]), ("q5_k_m", ["Q5_K", "Q6_K"])] {
        let dir = tempfile::tempdir().unwrap();
        let file = make(dir.path(), mix);
        let out = dir.path().join(mix);
        mlxbench().args(["models", "convert"]).arg(&file).arg(&out).assert().success();
        let checked: Value =
            serde_json::from_str(python(&[script.as_os_str(), "check".as_ref(), file.as_os_str(), out.as_os_str()]).trim()).unwrap();
        for t in types {
            assert!(checked["types"][t].as_u64().unwrap_or(0) > 0, "{mix}: {t} not covered: {checked}");
        }
        let generated = mlxbench().args(["models", "generate"]).arg(&file).args(["--ids", ids, "--max-tokens", "64"]).output().unwrap();
        assert!(generated.status.success(), "{mix}: {}", String::from_utf8_lossy(&generated.stderr));
        let ours: Value = serde_json::from_slice(&generated.stdout).unwrap();
        let reference = mlx_lm_tokens(&out, ids, 64);
        assert_eq!(ours["token_ids"].as_array().unwrap().len(), 64, "{mix}");
        assert_eq!(ours["token_ids"], reference["token_ids"], "{mix}: the engine and mlx-lm disagree");
    }
}

/// The same Q4_K_M file in llama.cpp's server and in the engine: both load it and
/// generate the tokens asked for.
#[test]
fn mlx_k_quant_gguf_runs_in_llama_cpp_and_in_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let file = make(dir.path(), "q4_k_m");
    let (_server, port) = llamacpp(&file);
    let body = json!({"prompt": "hello world", "n_predict": 8, "ignore_eos": true, "temperature": 0});
    let done = post(port, "/completion", &body).expect("llama.cpp answers /completion");
    assert_eq!(done["tokens_predicted"], 8, "{done}");
    let generated = mlxbench().args(["models", "generate"]).arg(&file).args(["--ids", "1,2,3", "--max-tokens", "8"]).output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let ours: Value = serde_json::from_slice(&generated.stdout).unwrap();
    assert_eq!(ours["token_ids"].as_array().map(Vec::len), Some(8), "{ours}");
}
