//! The in-process MLX backend against the reference implementation, mlx-lm (Python):
//! for the same prompt ids, greedy output ids are identical for 64 tokens on tiny
//! random-weight models the test generates itself (Llama dense and tied, Qwen2, Qwen3,
//! Llama 3 and linear RoPE scaling, and 4/8-bit quantized by mlx-lm's own converter). Bad models fail their case with a clear reason
//! while the run goes on. Needs `scripts/test.sh`'s Python packages (mlx-lm, numpy,
//! safetensors, tokenizers).
#![cfg(feature = "mlx")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{mlxbench, read_result, write_scenario};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub(crate) fn python(args: &[&str]) -> String {
    let out = Command::new(common::python()).args(args).output().expect("python3");
    assert!(out.status.success(), "python3 {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn tiny(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let mut args = vec![fixtures().join("make_tiny_model.py").display().to_string(), p.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    python(&refs);
    p
}

const MAX: usize = 64;

fn ids() -> String {
    (3..40).map(|i| ((i * 37) % 500 + 3).to_string()).collect::<Vec<_>>().join(",")
}

fn token_ids(json: &str) -> Vec<u64> {
    let v: Value = serde_json::from_str(json.trim().lines().last().unwrap()).unwrap();
    v["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

/// Ours, greedy unless `sampling` = (temperature, top-p or 0, seed).
pub(crate) fn ours_with(model: &Path, sampling: Option<(f64, f64, u64)>) -> Vec<u64> {
    let mut cmd = mlxbench();
    cmd.args(["models", "generate"]).arg(model).args(["--ids", &ids(), "--max-tokens", &MAX.to_string()]);
    if let Some((t, p, seed)) = sampling {
        cmd.args(["--temperature", &t.to_string(), "--seed", &seed.to_string()]);
        if p > 0.0 {
            cmd.args(["--top-p", &p.to_string()]);
        }
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    token_ids(&String::from_utf8_lossy(&out.stdout))
}

pub(crate) fn ours(model: &Path) -> Vec<u64> {
    ours_with(model, None)
}

/// mlx-lm, greedy unless `sampling` = (temperature, top-p or 0, seed): its own sampler.
pub(crate) fn reference_with(model: &Path, sampling: Option<(f64, f64, u64)>) -> Vec<u64> {
    let mut args = vec![fixtures().join("mlx_lm_reference.py").display().to_string(), model.display().to_string(), ids(), MAX.to_string()];
    if let Some((t, p, seed)) = sampling {
        args.extend([t.to_string(), p.to_string(), seed.to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    token_ids(&python(&refs))
}

fn reference(model: &Path) -> Vec<u64> {
    reference_with(model, None)
}

pub(crate) fn assert_same(model: &Path) {
    let (a, b) = (ours(model), reference(model));
    assert_eq!(a.len(), MAX);
    assert_eq!(a, b, "greedy ids differ from mlx-lm for {}", model.display());
}

#[test]
fn mlx_greedy_matches_mlx_lm_dense_untied() {
    let d = tempfile::tempdir().unwrap();
    assert_same(&tiny(d.path(), "dense", &["--seed", "1"]));
}

#[test]
fn mlx_greedy_matches_mlx_lm_tied_three_layers() {
    let d = tempfile::tempdir().unwrap();
    assert_same(&tiny(d.path(), "tied", &["--seed", "2", "--tied", "--layers", "3"]));
}

#[test]
fn mlx_greedy_matches_mlx_lm_qwen2_biases() {
    let d = tempfile::tempdir().unwrap();
    assert_same(&tiny(d.path(), "qwen2", &["--seed", "9", "--arch", "qwen2"]));
}

#[test]
fn mlx_greedy_matches_mlx_lm_qwen3_qk_norms_tied() {
    let d = tempfile::tempdir().unwrap();
    assert_same(&tiny(d.path(), "qwen3", &["--seed", "10", "--arch", "qwen3", "--tied"]));
}

/// Seeded temperature and top-p sampling draw exactly the tokens mlx-lm's own sampler
/// draws with the same seed; the seed and top-p each change the draw.
#[test]
fn mlx_sampling_matches_mlx_lm_seeded() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny(d.path(), "m", &["--seed", "1"]);
    for s in [(0.8, 0.0, 5), (1.0, 0.9, 7), (1.0, 0.5, 3)] {
        assert_eq!(ours_with(&m, Some(s)), reference_with(&m, Some(s)), "temperature, top-p, seed = {s:?}");
    }
    assert_ne!(ours_with(&m, Some((0.8, 0.0, 5))), ours_with(&m, Some((0.8, 0.0, 6))), "the seed changes the draw");
    assert_ne!(ours_with(&m, Some((1.0, 0.0, 3))), ours_with(&m, Some((1.0, 0.5, 3))), "top-p changes the draw");
}

/// RoPE scaling as the config asks: the same weights give other tokens than unscaled
/// RoPE (so the scaling is really applied) and exactly mlx-lm's tokens.
fn assert_same_scaled(kind: &str) {
    let d = tempfile::tempdir().unwrap();
    let plain = tiny(d.path(), "plain", &["--seed", "11"]);
    let scaled = tiny(d.path(), kind, &["--seed", "11", "--rope-scaling", kind]);
    assert_ne!(ours(&plain), ours(&scaled), "{kind} RoPE scaling changed nothing");
    assert_same(&scaled);
}

#[test]
fn mlx_greedy_matches_mlx_lm_llama3_rope_scaling() {
    assert_same_scaled("llama3");
}

#[test]
fn mlx_greedy_matches_mlx_lm_linear_rope_scaling() {
    assert_same_scaled("linear");
}

/// A dense tiny model quantized by mlx-lm's own converter (embeddings and head too).
fn assert_same_quantized(seed: &str, bits: u32, group: u32) {
    let d = tempfile::tempdir().unwrap();
    let dense = tiny(d.path(), "dense", &["--seed", seed, "--hidden", "128"]);
    let q = d.path().join(format!("q{bits}g{group}"));
    let (b, g) = (bits.to_string(), group.to_string());
    python(&[
        "-m",
        "mlx_lm",
        "convert",
        "--hf-path",
        &dense.display().to_string(),
        "--mlx-path",
        &q.display().to_string(),
        "-q",
        "--q-bits",
        &b,
        "--q-group-size",
        &g,
    ]);
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(q.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["quantization"]["bits"], bits);
    assert_eq!(cfg["quantization"]["group_size"], group);
    let weights = std::fs::read(q.join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8_lossy(&weights[8..8 + header_len]);
    assert!(header.contains("model.embed_tokens.scales"), "embeddings are quantized too");
    assert_same(&q);
}

#[test]
fn mlx_greedy_matches_mlx_lm_4bit() {
    assert_same_quantized("3", 4, 64);
}

#[test]
fn mlx_greedy_matches_mlx_lm_8bit_group_32() {
    assert_same_quantized("4", 8, 32);
}

#[test]
fn mlx_greedy_matches_mlx_lm_4bit_group_128() {
    assert_same_quantized("5", 4, 128);
}

#[test]
fn mlx_backend_runs_cases_and_reports_bad_models_per_case() {
    let d = tempfile::tempdir().unwrap();
    let good = tiny(d.path(), "good", &["--seed", "4"]);
    // truncated weights
    let trunc = tiny(d.path(), "trunc", &["--seed", "5"]);
    let st = trunc.join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 3]).unwrap();
    // unknown architecture
    let arch = tiny(d.path(), "arch", &["--seed", "6"]);
    let cfg = std::fs::read_to_string(arch.join("config.json")).unwrap().replace("\"llama\"", "\"mamba\"");
    std::fs::write(arch.join("config.json"), cfg).unwrap();
    // tokenizer larger than the embedding
    let small = tiny(d.path(), "small", &["--seed", "7", "--vocab", "300"]);
    std::fs::copy(good.join("tokenizer.json"), small.join("tokenizer.json")).unwrap();
    // short context
    let short = tiny(d.path(), "short", &["--seed", "8"]);
    let cfg = std::fs::read_to_string(short.join("config.json"))
        .unwrap()
        .replace("\"max_position_embeddings\": 2048", "\"max_position_embeddings\": 40");
    std::fs::write(short.join("config.json"), cfg).unwrap();

    let t = |name: &str, p: &Path| format!("[[targets]]\nname = \"{name}\"\nbackend = \"mlx\"\nmodel = \"{}\"\n", p.display());
    let toml = format!(
        "name = \"mlx-cases\"\n[defaults]\nwarmup = 1\niterations = 2\nmax_tokens = 16\n{}{}{}{}{}{}[[targets]]\nname = \"missing\"\nbackend = \"mlx\"\nmodel = \"{}/nope\"\n[[workloads]]\nname = \"w\"\nprompt_tokens = 48\n[[workloads]]\nname = \"chat\"\nmessages = [{{ role = \"user\", content = \"Hi there\" }}]\n",
        t("good", &good),
        t("truncated", &trunc),
        t("unknown-arch", &arch),
        t("tokenizer-mismatch", &small),
        t("short-context", &short),
        "",
        d.path().display()
    );
    let f = write_scenario(d.path(), "mlx", &toml);
    let out = d.path().join("r");
    let a = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).assert().code(3);
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    let r = read_result(&out);
    let cases = r["cases"].as_array().unwrap();
    let case = |target: &str, w: &str| cases.iter().find(|c| c["target"] == target && c["workload"] == w).unwrap().clone();
    let err = |c: &Value| {
        c["error"].as_str().map(str::to_string).or_else(|| c["samples"][0]["error"].as_str().map(str::to_string)).unwrap_or_default()
    };

    for w in ["w", "chat"] {
        let g = case("good", w);
        assert!(g["error"].is_null(), "{}", g["error"]);
        for s in g["samples"].as_array().unwrap() {
            assert_eq!(s["ok"], true, "{s}");
            assert_eq!(s["output_tokens"], 16);
            assert_eq!(s["token_source"], "backend");
            assert!(s["ttft_ms"].as_f64().unwrap() > 0.0 && s["decode_tps"].as_f64().unwrap() > 0.0);
        }
        assert!(g["backend_version"].as_str().unwrap().starts_with("mlx 0.32.2"));
        assert!(g["load"]["cold_ms"].as_f64().unwrap() > 0.0);
        assert!(g["memory"]["allocator"]["peak_bytes"].as_u64().unwrap() > 0);
    }
    assert!(case("good", "w")["samples"][0]["prompt_tokens"].as_u64().unwrap() > 20);
    assert!(err(&case("truncated", "w")).contains("safetensors"), "{}", err(&case("truncated", "w")));
    assert!(err(&case("unknown-arch", "w")).contains("unsupported architecture \"mamba\""));
    assert!(err(&case("tokenizer-mismatch", "w")).contains("do not match"), "{}", err(&case("tokenizer-mismatch", "w")));
    assert!(err(&case("missing", "w")).contains("not found"), "{}", err(&case("missing", "w")));
    let sc = case("short-context", "w");
    assert!(err(&sc).contains("exceeds the model's context of 40"), "{}", err(&sc));
    assert!(stdout.contains("FAILED"));
}

/// The optimised step (compiled SwiGLU, stacked q/k/v and gate/up matmuls, one RoPE over
/// q and k) and the plain ops give the same tokens, greedy and sampled.
#[test]
fn compiled_and_uncompiled_steps_generate_the_same_tokens() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny(d.path(), "compile", &["--seed", "7", "--layers", "3"]);
    let generate = |no_compile: &str, sampled: bool| -> Value {
        let mut cmd = mlxbench();
        cmd.env("MLXBENCH_NO_COMPILE", no_compile).args(["models", "generate"]).arg(&m).args(["--ids", &ids(), "--max-tokens", "64"]);
        if sampled {
            cmd.args(["--temperature", "0.8", "--top-p", "0.9", "--seed", "5"]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap()).unwrap()
    };
    for sampled in [false, true] {
        let (on, off) = (generate("0", sampled), generate("1", sampled));
        assert_eq!((on["compiled"].as_bool(), off["compiled"].as_bool()), (Some(true), Some(false)));
        assert_eq!((on["stacked"].as_bool(), off["stacked"].as_bool()), (Some(true), Some(false)));
        assert_eq!(on["token_ids"], off["token_ids"], "sampled: {sampled}");
        assert_eq!(on["token_ids"].as_array().unwrap().len(), 64);
    }
}

/// A prompt longer than one prefill chunk (2048 tokens) is prefilled in chunks and
/// still generates mlx-lm's tokens (mlx-lm chunks at the same size).
#[test]
fn long_prompt_prefills_in_chunks_and_matches_mlx_lm() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny(d.path(), "long", &["--seed", "11"]);
    let cfg = m.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("\"max_position_embeddings\": 2048", "\"max_position_embeddings\": 8192");
    std::fs::write(&cfg, text).unwrap();
    let ids = (0..2300).map(|i| ((i * 53) % 500 + 3).to_string()).collect::<Vec<_>>().join(",");
    let out = mlxbench().args(["models", "generate"]).arg(&m).args(["--ids", &ids, "--max-tokens", "16"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours = token_ids(&String::from_utf8_lossy(&out.stdout));
    let theirs = token_ids(&python(&[&fixtures().join("mlx_lm_reference.py").display().to_string(), &m.display().to_string(), &ids, "16"]));
    assert_eq!(ours.len(), 16);
    assert_eq!(ours, theirs);
}

/// MLX's launch batching, when set, and the plain step are part of how a number was
/// made: `info` (and every result's backend version) names them.
#[test]
fn launch_batching_setting_is_recorded() {
    let out = mlxbench().env("MLX_MAX_OPS_PER_BUFFER", "37").arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("in-process via mlx-rs 0.33.0, MLX_MAX_OPS_PER_BUFFER=37)"), "{text}");
    let out = mlxbench().env("MLX_MAX_OPS_PER_BUFFER", "37").env("MLXBENCH_NO_COMPILE", "1").arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MLX_MAX_OPS_PER_BUFFER=37, plain step: MLXBENCH_NO_COMPILE=1)"), "{text}");
    let out = mlxbench().env_remove("MLX_MAX_OPS_PER_BUFFER").env_remove("MLXBENCH_NO_COMPILE").arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("(gpu: cuda") {
        // unset, the engine batches 100 kernels per CUDA graph
        assert!(text.contains("in-process via mlx-rs 0.33.0, MLX_MAX_OPS_PER_BUFFER=100)"), "{text}");
    } else {
        // no CUDA GPU (CPU here, or Metal): MLX's own default stays
        assert!(text.contains("in-process via mlx-rs 0.33.0)") && !text.contains("MLX_MAX_OPS_PER_BUFFER"), "{text}");
    }
}

/// Operations per label in a graph written by `MLXBENCH_STEP_DOT` (MLX's DOT export).
fn graph_ops(dot: &Path) -> std::collections::HashMap<String, usize> {
    let text = std::fs::read_to_string(dot).unwrap_or_else(|e| panic!("{}: {e}", dot.display()));
    let mut ops = std::collections::HashMap::new();
    for part in text.split("label =\"").skip(1) {
        let label = part.split('"').next().unwrap_or_default().to_string();
        *ops.entry(label).or_insert(0) += 1;
    }
    ops
}

/// Host time per decode step grows with the nodes of the step's graph: ours asks MLX
/// for fewer operations than mlx-lm's on the same model (both graphs written by
/// `MLXBENCH_STEP_DOT` at the second decode step), with one SliceUpdate per key and
/// value write and no more reshapes than mlx-lm's.
#[test]
fn decode_step_graph_is_smaller_than_mlx_lm() {
    let d = tempfile::tempdir().unwrap();
    let m = tiny(d.path(), "graph", &["--seed", "3", "--layers", "3"]);
    let (ours, theirs) = (d.path().join("ours.dot"), d.path().join("theirs.dot"));
    let out = mlxbench()
        .env("MLXBENCH_STEP_DOT", &ours)
        .args(["models", "generate"])
        .arg(&m)
        .args(["--ids", &ids(), "--max-tokens", "4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = fixtures().join("mlx_lm_reference.py");
    let out = Command::new(common::python())
        .env("MLXBENCH_STEP_PROFILE", "1")
        .env("MLXBENCH_STEP_DOT", &theirs)
        .arg(&reference)
        .arg(&m)
        .args([&ids(), "4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (graph_ops(&ours), graph_ops(&theirs));
    let n = |g: &std::collections::HashMap<String, usize>, k: &str| g.get(k).copied().unwrap_or(0);
    let total = |g: &std::collections::HashMap<String, usize>| g.values().sum::<usize>();
    assert_eq!((n(&a, "SliceUpdate"), n(&b, "SliceUpdate")), (6, 6), "ours {a:?}\ntheirs {b:?}");
    assert!(n(&a, "Reshape") <= n(&b, "Reshape"), "reshapes: ours {a:?}\ntheirs {b:?}");
    assert!(n(&a, "Matmul") < n(&b, "Matmul"), "matmuls: ours {a:?}\ntheirs {b:?}");
    assert!(total(&a) < total(&b), "nodes: ours {} vs mlx-lm {}\nours {a:?}\ntheirs {b:?}", total(&a), total(&b));
}
