//! No panic and no native crash from model files or ids: a GGUF whose metadata says zero
//! heads or an absurd width, and prompt ids outside the vocabulary, are clear errors
//! (exit 1 with the reason), never SIGSEGV or a Rust panic.
#![cfg(feature = "mlx")]

use crate::common;

use std::path::{Path, PathBuf};

use common::mlxbench;

fn gguf() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if common::skip_unless_set_up("the SmolLM2 GGUF", p.exists()) { None } else { Some(p) }
}

/// A copy of the GGUF with the u32 metadata value of `key` replaced.
fn patched(src: &Path, dir: &Path, key: &str, value: u32) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    let mut needle = (key.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(key.as_bytes());
    let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap_or_else(|| panic!("{key} not in the GGUF")) + needle.len();
    assert_eq!(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()), 4, "{key} is a u32");
    bytes[at + 4..at + 8].copy_from_slice(&value.to_le_bytes());
    let out = dir.join(format!("{}.gguf", key.replace('.', "_")));
    std::fs::write(&out, bytes).unwrap();
    out
}

fn generate(model: &Path, ids: &str) -> (Option<i32>, String) {
    let o = mlxbench().args(["models", "generate"]).arg(model).args(["--ids", ids, "--max-tokens", "2"]).output().unwrap();
    (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn broken_model_sizes_are_clear_errors() {
    let Some(src) = gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (key, value, expect) in [
        ("llama.attention.head_count", 0, "llama.attention.head_count = 0 is not a model size"),
        ("llama.embedding_length", u32::MAX - 4, "llama.embedding_length = 4294967291 is not a model size"),
        ("llama.attention.head_count", 7, "7 attention heads is not a multiple of 3 key/value heads"),
    ] {
        let (code, out) = generate(&patched(&src, dir.path(), key, value), "1");
        assert_eq!(code, Some(1), "{key}={value}: {out}");
        assert!(out.contains(expect), "{key}={value}: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

#[test]
fn prompt_ids_outside_the_vocabulary_are_refused() {
    let Some(src) = gguf() else { return };
    for ids in ["60000", "1,49152"] {
        let (code, out) = generate(&src, ids);
        assert_eq!(code, Some(1), "{ids}: {out}");
        assert!(out.contains("outside the model's vocabulary of 49152 ids"), "{ids}: {out}");
    }
    let (code, out) = generate(&src, "1,49151");
    assert_eq!(code, Some(0), "the last id of the vocabulary is fine: {out}");
}

/// Device truth: MLX says where a target computes; a device MLX does not have is a
/// clear error for that target, and the run goes on.
#[test]
fn the_device_is_recorded_and_a_missing_one_refused() {
    let Some(src) = gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"dev\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 2\n\
         [[targets]]\nname = \"cpu\"\nbackend = \"mlx\"\nmodel = \"{m}\"\ndevice = \"cpu\"\n\
         [[targets]]\nname = \"gpu\"\nbackend = \"mlx\"\nmodel = \"{m}\"\ndevice = \"gpu\"\n\
         [[workloads]]\nname = \"w\"\nprompt = \"Hi\"\n",
        m = src.display()
    );
    let f = common::write_scenario(dir.path(), "dev", &toml);
    let out = dir.path().join("r");
    let o = mlxbench().args(["run", "-q", "--out"]).arg(&out).arg(&f).output().unwrap();
    let r = common::read_result(&out);
    let cases = r["cases"].as_array().unwrap();
    let cpu = cases.iter().find(|c| c["target"] == "cpu").unwrap();
    assert_eq!((cpu["device"]["kind"].as_str(), cpu["device"]["api"].as_str()), (Some("cpu"), Some("cpu")), "{cpu}");
    assert_eq!(cpu["samples"][0]["ok"], true);
    assert!(cpu["backend_version"].as_str().unwrap().contains("(cpu,"), "{}", cpu["backend_version"]);
    let gpu = cases.iter().find(|c| c["target"] == "gpu").unwrap();
    if gpu["device"]["kind"] == "gpu" {
        return; // a machine with an MLX GPU backend: it ran there
    }
    assert_eq!(o.status.code(), Some(3));
    let err = gpu["error"].as_str().unwrap_or_default();
    assert!(err.contains("device = \"gpu\" asked for, but MLX cannot use a GPU"), "{err}");
}
