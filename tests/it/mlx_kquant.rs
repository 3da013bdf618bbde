//! Ollama's default downloads are K-quant GGUF files (Q4_K_M: Q4_K with Q6_K for
//! attn_v, ffn_down and output). Tiny random models of both K mixes, written with the
//! `gguf` package (tests/fixtures/tiny_gguf.py): the engine's re-packed weights equal
//! gguf-py's dequantization within the stated bounds (docs/engine.md), the .gguf run
//! in-process generates mlx-lm's greedy tokens from the converted directory, and the same
//! file loads and runs in llama.cpp's real server. And the real SmolLM2 Q4_K_M made by
//! Ollama's own quantizer (scripts/make_kquant.sh) gives mlx-lm's tokens too.
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

/// The real SmolLM2-135M-Instruct Q4_K_M that scripts/setup.sh makes with the real
/// Ollama's quantizer (Q5_0, Q4_K, Q6_K and Q8_0 tensors): run straight from the .gguf
/// it answers "Paris", with mlx-lm's 64 greedy tokens on its converted directory.
#[test]
fn mlx_real_q4_k_m_smollm2_matches_mlx_lm() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_K_M.gguf");
    if common::skip_unless_set_up("the SmolLM2 Q4_K_M GGUF", file.exists()) {
        return;
    }
    // `models list` names the file's mix as Ollama does, and says it runs
    let listed = mlxbench().args(["models", "list", "--json", "--models"]).arg(file.parent().unwrap()).output().unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let entry = listed.as_array().unwrap().iter().find(|e| e["path"].as_str().is_some_and(|p| p.ends_with("Q4_K_M.gguf"))).unwrap();
    assert_eq!((&entry["quantization"], &entry["supported"]), (&json!("Q4_K_M"), &json!(true)), "{entry}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q4km");
    mlxbench().args(["models", "convert"]).arg(&file).arg(&out).assert().success();
    let config: Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let bits: std::collections::BTreeSet<u64> =
        config["quantization"].as_object().unwrap().values().filter_map(|q| q.get("bits").and_then(Value::as_u64)).collect();
    assert_eq!(bits.into_iter().collect::<Vec<_>>(), [4, 5, 8], "Q4_K, Q5_0 and Q6_K/Q8_0 modules: {}", config["quantization"]);
    let tok = mlxbench().args(["models", "tokenize"]).arg(&file).arg("The capital of France is").output().unwrap();
    let ids: Vec<u64> = serde_json::from_slice(&tok.stdout).unwrap();
    let ids: String = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let generated = mlxbench().args(["models", "generate"]).arg(&file).args(["--ids", &ids, "--max-tokens", "64"]).output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let ours: Value = serde_json::from_slice(&generated.stdout).unwrap();
    assert!(ours["text"].as_str().unwrap().contains("Paris"), "a real model answers: {}", ours["text"]);
    let reference = mlx_lm_tokens(&out, &ids, 64);
    assert_eq!(ours["token_ids"].as_array().unwrap().len(), 64);
    assert_eq!(ours["token_ids"], reference["token_ids"], "the engine on the .gguf and mlx-lm on its conversion disagree");
}
