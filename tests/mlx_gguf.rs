//! GGUF in the in-process MLX backend, on the real SmolLM2-135M-Instruct Q4_1 file that
//! llama.cpp serves (set up by scripts/setup.sh): the tokenizer rebuilt from GGUF
//! metadata gives llama.cpp's own ids, and the model converted by `mlxbench models
//! convert` generates the same 64 greedy tokens as mlx-lm on that converted directory.
#![cfg(feature = "mlx")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mlxbench;
use serde_json::Value;

fn gguf() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.exists() {
        return Some(p);
    }
    if std::env::var("MLXBENCH_SKIP_REAL").is_ok_and(|v| v == "1") {
        return None;
    }
    panic!("{} is missing: run scripts/setup.sh (or set MLXBENCH_SKIP_REAL=1)", p.display());
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

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn post(port: u16, path: &str, body: &Value) -> Option<Value> {
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

#[test]
fn mlx_gguf_tokenizer_matches_llama_cpp() {
    let Some(model) = gguf() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let serve = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/serve_llamacpp.py");
    let _server = Server(
        Command::new("python3")
            .arg(serve)
            .args(["--model"])
            .arg(&model)
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
    let r = Command::new("python3").arg(fixtures.join("mlx_lm_reference.py")).arg(&out).arg(&ids).arg("64").output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let reference: Value = serde_json::from_str(String::from_utf8_lossy(&r.stdout).trim().lines().last().unwrap()).unwrap();
    assert_eq!(ours["token_ids"].as_array().unwrap().len(), 64);
    assert_eq!(ours["token_ids"], reference["token_ids"]);
}
