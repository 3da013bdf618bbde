//! GGUF in the in-process MLX backend, on the real SmolLM2-135M-Instruct Q4_1 file that
//! llama.cpp serves (set up by scripts/setup.sh): the tokenizer rebuilt from GGUF
//! metadata gives llama.cpp's own ids, and the model converted by `mlxbench models
//! convert` generates the same 64 greedy tokens as mlx-lm on that converted directory; and
//! a tiny GGUF holding every supported tensor type decodes exactly as the `gguf` package
//! dequantizes it.
#![cfg(feature = "mlx")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mlxbench;
use serde_json::Value;

fn gguf() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if common::skip_unless_set_up("the SmolLM2 GGUF", p.exists()) { None } else { Some(p) }
}

const TEXTS: &[&str] = &[
    "Hello world",
    "  leading spaces and trailing  ",
    "Ünïcödé: naïve café, 東京, Привет мир 🙂",
    "def f(x):\n\treturn x**2  # square\n",
    "12345 + 678 = 13023",
    "tabs\t\tand\nnewlines\n\n\nend",
    "<|im_start|>user\nhi<|im_end|>",
    "emoji 👩\u{200d}👩\u{200d}👧 and accents àéîõü",
    "URL: https://example.org/a?b=c&d=e",
    "    ",
];

pub(crate) struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn post(port: u16, path: &str, body: &Value) -> Option<Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let body = body.to_string();
    write!(s, "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, rest) = out.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // the body may be chunked: take the JSON object inside
    let start = rest.find('{')?;
    let end = rest.rfind('}')?;
    serde_json::from_str(&rest[start..=end]).ok()
}

/// llama.cpp's real server (xllamacpp, scripts/serve_llamacpp.py) on `model`, once it
/// answers `/tokenize`; stopped when the guard drops.
pub(crate) fn llamacpp(model: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let serve = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/serve_llamacpp.py");
    let server = Server(
        Command::new(common::python())
            .arg(serve)
            .args(["--model"])
            .arg(model)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while post(port, "/tokenize", &serde_json::json!({"content": "x"})).is_none() {
        assert!(t0.elapsed() < Duration::from_secs(60), "llama.cpp server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, port)
}

#[test]
fn mlx_gguf_tokenizer_matches_llama_cpp() {
    let Some(model) = gguf() else { return };
    let (_server, port) = llamacpp(&model);
    let out = mlxbench().args(["models", "tokenize"]).arg(&model).args(TEXTS).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ours.len(), TEXTS.len());
    for (text, mine) in TEXTS.iter().zip(&ours) {
        let theirs = post(port, "/tokenize", &serde_json::json!({"content": text})).unwrap();
        assert_eq!(mine, &theirs["tokens"], "ids differ for {text:?}");
    }
}

#[test]
fn mlx_smollm2_converted_from_gguf_matches_mlx_lm() {
    let Some(model) = gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smollm2");
    mlxbench().args(["models", "convert"]).arg(&model).arg(&out).assert().success();
    let tok = mlxbench().args(["models", "tokenize"]).arg(&out).arg("The capital of France is").output().unwrap();
    let ids: Vec<u64> = serde_json::from_slice(&tok.stdout).unwrap();
    let ids: String = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let generated = mlxbench().args(["models", "generate"]).arg(&out).args(["--ids", &ids, "--max-tokens", "64"]).output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let ours: Value = serde_json::from_slice(&generated.stdout).unwrap();
    assert!(ours["text"].as_str().unwrap().contains("Paris"), "a real model answers: {}", ours["text"]);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let r = Command::new(common::python()).arg(fixtures.join("mlx_lm_reference.py")).arg(&out).arg(&ids).arg("64").output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let reference: Value = serde_json::from_str(String::from_utf8_lossy(&r.stdout).trim().lines().last().unwrap()).unwrap();
    assert_eq!(ours["token_ids"].as_array().unwrap().len(), 64);
    assert_eq!(ours["token_ids"], reference["token_ids"]);
}

pub(crate) fn python(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(common::python()).args(args).output().expect("python3");
    assert!(out.status.success(), "python3 {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// mlx-lm's greedy tokens (tests/fixtures/mlx_lm_reference.py) from a model directory.
pub(crate) fn mlx_lm_tokens(dir: &Path, ids: &str, n: u32) -> Value {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = python(&[fixtures.join("mlx_lm_reference.py").as_os_str(), dir.as_os_str(), ids.as_ref(), n.to_string().as_ref()]);
    serde_json::from_str(out.trim().lines().last().unwrap()).unwrap()
}

/// Every GGUF tensor type but the K-quants (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), in one
/// tiny model written by the `gguf` package: the converted weights equal gguf-py's own
/// dequantization, and the model run straight from the .gguf generates what mlx-lm
/// generates from the converted directory.
#[test]
fn mlx_gguf_every_tensor_type_decodes_like_gguf_py() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_gguf.py");
    let file = dir.path().join("tiny.gguf");
    let out = dir.path().join("tiny");
    python(&[script.as_os_str(), "make".as_ref(), file.as_os_str()]);
    mlxbench().args(["models", "convert"]).arg(&file).arg(&out).assert().success();
    let checked: Value =
        serde_json::from_str(python(&[script.as_os_str(), "check".as_ref(), file.as_os_str(), out.as_os_str()]).trim()).unwrap();
    for t in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"] {
        assert!(checked["types"][t].as_u64().unwrap_or(0) > 0, "{t} not covered: {checked}");
    }
    let ids = "40,72,101,108,108,111,44,32,119,111,114,108,100";
    let generated = mlxbench().args(["models", "generate"]).arg(&file).args(["--ids", ids, "--max-tokens", "64"]).output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let ours: Value = serde_json::from_slice(&generated.stdout).unwrap();
    let reference = mlx_lm_tokens(&out, ids, 64);
    assert_eq!(ours["token_ids"].as_array().unwrap().len(), 64);
    assert_eq!(ours["token_ids"], reference["token_ids"]);
}

/// A truncated GGUF and one with a tensor type the engine does not read (Q2_K) are
/// clear errors naming the problem, never a crash (MLX maps the file: a short file
/// reaching it would be a SIGBUS).
#[test]
fn mlx_gguf_truncated_or_unsupported_types_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_gguf.py");
    let good = dir.path().join("good.gguf");
    python(&[script.as_os_str(), "make".as_ref(), good.as_os_str()]);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let header_only = dir.path().join("header.gguf");
    std::fs::write(&header_only, &bytes[..200]).unwrap();
    let q2 = dir.path().join("q2.gguf");
    python(&[script.as_os_str(), "make".as_ref(), q2.as_os_str(), "Q2_K".as_ref()]);
    for (file, expected) in [(&cut, "truncated"), (&header_only, "truncated"), (&q2, "unsupported tensor type Q2_K")] {
        let out = mlxbench().args(["models", "generate"]).arg(file).args(["--ids", "1,2,3", "--max-tokens", "4"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", file.display());
        assert!(err.contains(expected) && err.contains(&file.display().to_string()), "{}: {err}", file.display());
    }
}

/// `good` with the dimension `which` of tensor `name` set to `value` (its table entry:
/// name, dimension count, dimensions).
fn patch_dim(good: &[u8], name: &str, which: usize, value: u64) -> Vec<u8> {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend(name.as_bytes());
    let at = good.windows(key.len()).position(|w| w == key).unwrap_or_else(|| panic!("{name} not in the GGUF")) + key.len() + 4 + 8 * which;
    let mut b = good.to_vec();
    b[at..at + 8].copy_from_slice(&value.to_le_bytes());
    b
}

/// A tensor listed twice, one with a zero dimension, and projections whose shapes the
/// config does not imply: each an error naming the tensor (exit 1), for `generate` and
/// `convert` alike, never a panic or "MLX's GGUF loader failed".
#[test]
fn mlx_gguf_bad_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_gguf.py");
    let good = dir.path().join("good.gguf");
    python(&[script.as_os_str(), "make".as_ref(), good.as_os_str()]);
    let bytes = std::fs::read(&good).unwrap();
    // `attn_k` renamed `attn_q` (same length): the q projection listed twice
    let mut twice = bytes.clone();
    let k = b"blk.0.attn_k.weight";
    let at = twice.windows(k.len()).position(|w| w == k).unwrap();
    twice[at..at + k.len()].copy_from_slice(b"blk.0.attn_q.weight");
    let cases = [
        (twice, "tensor blk.0.attn_q.weight: listed twice", true),
        (patch_dim(&bytes, "blk.0.attn_q.weight", 1, 0), "tensor blk.0.attn_q.weight: a dimension of size 0", true),
        // shapes are the model's to check: `convert` only copies the tensors
        (patch_dim(&bytes, "blk.0.attn_q.weight", 1, 32), "tensor model.layers.0.self_attn.q_proj.weight is [32, 64]", false),
        (patch_dim(&bytes, "blk.1.ffn_down.weight", 1, 32), "tensor model.layers.1.mlp.down_proj.weight is [32, 128]", false),
    ];
    for (i, (b, expected, convert_fails)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.gguf"));
        std::fs::write(&file, b).unwrap();
        let generate = mlxbench().args(["models", "generate"]).arg(&file).args(["--ids", "1,2,3", "--max-tokens", "2"]).output().unwrap();
        let convert = mlxbench().args(["models", "convert"]).arg(&file).arg(dir.path().join(format!("out{i}"))).output().unwrap();
        for (what, out) in [("generate", generate), ("convert", convert)] {
            let err = String::from_utf8_lossy(&out.stderr);
            if what == "convert" && !convert_fails {
                assert!(!err.contains("panicked"), "{what} {expected}: {err}");
                continue;
            }
            assert_eq!(out.status.code(), Some(1), "{what} {expected}: {err}");
            assert!(err.contains(expected) && !err.contains("panicked"), "{what} {expected}: {err}");
        }
    }
}
