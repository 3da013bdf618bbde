//! `mlxbench serve` left running on a developer's machine, attacked as a web page and as
//! hostile clients would (raw sockets, so every byte and every delay is the test's):
//! cross-site and DNS-rebinding requests get 403 while loopback ones pass, slow and idle
//! clients are cut off within the timeouts, one connection over the cap is answered 503,
//! an announced 1 TB body is refused before it is read, oversized prompts and message
//! lists are refused before they cost memory, and a FIFO among the models does not keep
//! the server from listening.
#![cfg(feature = "mlx")]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::serve::Server;
use common::{python, root};

/// An empty models folder holding a FIFO named like weights (a scan must not block on it).
fn fifo_models() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("trap");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
    let st = Command::new("mkfifo").arg(m.join("model.safetensors")).status().unwrap();
    assert!(st.success());
    let st = Command::new("mkfifo").arg(d.path().join("fifo.gguf")).status().unwrap();
    assert!(st.success());
    d
}

fn addr(s: &Server) -> String {
    s.url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// Sends `request` as it is and reads the answer until the server closes or 10 s pass.
fn raw(s: &Server, request: &str) -> String {
    let mut c = TcpStream::connect(addr(s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if head_and_body_done(&out) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a whole response with a Content-Length is in.
fn head_and_body_done(out: &[u8]) -> bool {
    let text = String::from_utf8_lossy(out);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let len =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
    len.is_some_and(|n| body.len() >= n)
}

/// POSTs a JSON body over a raw connection: status and body.
fn post(s: &Server, path: &str, body: &str) -> (u16, String) {
    let me = addr(s);
    let r = raw(
        s,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {me}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    (status(&r), r.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn status(resp: &str) -> u16 {
    resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn get(path: &str, host: &str, origin: Option<&str>) -> String {
    let o = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{o}Connection: close\r\n\r\n")
}

#[test]
fn web_pages_and_rebound_names_get_403_loopback_passes() {
    let m = fifo_models();
    let s = Server::start(m.path(), &["--allow-origin", "https://bench.example.com"]);
    let me = addr(&s);
    // a cross-site "simple" POST (text/plain needs no preflight) from a foreign page
    let body = r#"{"model":"x","prompt":"hi"}"#;
    let post = format!(
        "POST /api/generate HTTP/1.1\r\nHost: {me}\r\nOrigin: https://evil.example.com\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = raw(&s, &post);
    assert_eq!(status(&r), 403, "{r}");
    assert!(r.contains("Origin \\\"https://evil.example.com\\\" may not call") && r.contains("--allow-origin"), "{r}");
    // DNS rebinding: the page's own name resolving to 127.0.0.1
    for path in ["/api/show", "/api/tags", "/v1/models", "/"] {
        let r = raw(&s, &get(path, "evil.example.com:11434", None));
        assert_eq!(status(&r), 403, "{path}: {r}");
        assert!(!r.contains("trap"), "nothing about the models leaks: {r}");
    }
    assert!(raw(&s, &get("/v1/models", "evil.example.com", None)).contains("\"message\""), "OpenAI's error shape on /v1");
    // the machine's own names and pages pass, with CORS headers for pages
    for (host, origin) in
        [(me.as_str(), None), ("localhost", Some("http://localhost:5173")), (me.as_str(), Some("https://bench.example.com"))]
    {
        let r = raw(&s, &get("/api/tags", host, origin));
        assert_eq!(status(&r), 200, "{host} {origin:?}: {r}");
        if let Some(o) = origin {
            assert!(r.to_ascii_lowercase().contains(&format!("access-control-allow-origin: {o}")), "{r}");
        }
    }
    let pre = format!(
        "OPTIONS /api/chat HTTP/1.1\r\nHost: {me}\r\nOrigin: http://127.0.0.1:3000\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
    );
    let r = raw(&s, &pre);
    assert_eq!(status(&r), 204, "{r}");
    assert!(r.to_ascii_lowercase().contains("access-control-allow-methods"), "{r}");
}

#[test]
fn slow_idle_and_surplus_clients_are_cut_off() {
    let m = fifo_models();
    let s = Server::start(m.path(), &["--header-timeout", "2", "--body-timeout", "2", "--max-connections", "4"]);
    let me = addr(&s);
    // slowloris: a header byte every 300 ms never completes the head
    let started = Instant::now();
    let mut slow = TcpStream::connect(&me).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    slow.write_all(b"GET /api/tags HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    let mut closed = false;
    let mut buf = [0u8; 1024];
    for i in 0..40 {
        if slow.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).is_err() {
            closed = true;
            break;
        }
        if matches!(slow.read(&mut buf), Ok(0)) || matches!(slow.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
        {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed && took < Duration::from_secs(5), "slow headers held the connection {took:?}");
    // a body announced and never sent: 408 within the body timeout
    let mut c = TcpStream::connect(&me).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let t0 = Instant::now();
    c.write_all(format!("POST /api/chat HTTP/1.1\r\nHost: {me}\r\nContent-Length: 100\r\n\r\n0123456789").as_bytes()).unwrap();
    let mut resp = vec![0u8; 4096];
    let n = c.read(&mut resp).unwrap_or(0);
    let r = String::from_utf8_lossy(&resp[..n]).into_owned();
    assert_eq!(status(&r), 408, "{r}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // four idle connections fill the cap: the fifth is answered 503 at once
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&me).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let r = raw(&s, &get("/api/tags", &me, None));
    assert_eq!(status(&r), 503, "{r}");
    assert!(r.contains("too many connections"), "{r}");
    // idle connections are closed by the header timeout, and the server takes requests again
    std::thread::sleep(Duration::from_millis(2800));
    let r = raw(&s, &get("/api/tags", &me, None));
    assert_eq!(status(&r), 200, "after the idle ones timed out: {r}");
    drop(idle);
}

#[test]
fn a_terabyte_announced_is_refused_before_reading() {
    let m = fifo_models();
    let s = Server::start(m.path(), &[]);
    let me = addr(&s);
    let t0 = Instant::now();
    let r = raw(&s, &format!("POST /api/generate HTTP/1.1\r\nHost: {me}\r\nContent-Length: 1099511627776\r\n\r\n0123456789"));
    assert_eq!(status(&r), 413, "{r}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let r = raw(&s, &format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {me}\r\nContent-Length: 99999999999\r\n\r\n{{"));
    assert_eq!(status(&r), 413, "{r}");
    assert!(r.contains("\"message\":\"request body over 16 MiB\""), "{r}");
}

/// Peak resident memory of a process, from /proc (Linux).
fn peak_rss(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches(" kB").trim().parse().ok()?;
    Some(kb << 10)
}

#[test]
fn oversized_prompts_and_message_lists_are_refused_before_they_cost_memory() {
    let ok = Command::new(python()).args(["-c", "import numpy, safetensors, tokenizers"]).output().is_ok_and(|o| o.status.success());
    if common::skip_unless_set_up("numpy, safetensors and tokenizers (scripts/test.sh installs them)", ok) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(python()).arg(root().join("tests/fixtures/make_tiny_model.py")).arg(d.path().join("tiny")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = Server::start(d.path(), &[]);
    // load the model once, so what follows measures the requests alone
    let (code, text) = post(&s, "/api/generate", r#"{"model": "tiny", "prompt": "hi", "stream": false, "options": {"num_predict": 1}}"#);
    assert_eq!(code, 200, "{text}");
    let before = peak_rss(s.child.id());
    let prompt = "lorem ipsum ".repeat(15 << 20 >> 4); // 15 MiB of text
    let t0 = Instant::now();
    let (code, text) = post(&s, "/api/generate", &serde_json::json!({"model": "tiny", "prompt": prompt, "stream": false}).to_string());
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("cannot fit the model's context of 2048 tokens"), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let many: Vec<serde_json::Value> = (0..400_000).map(|_| serde_json::json!({"role": "user", "content": "a"})).collect();
    for (path, body) in [
        ("/api/chat", serde_json::json!({"model": "tiny", "messages": many, "stream": false})),
        ("/v1/chat/completions", serde_json::json!({"model": "tiny", "messages": many})),
    ] {
        let (code, text) = post(&s, path, &body.to_string());
        assert_eq!(code, 400, "{path}: {text}");
        assert!(text.contains("400000 messages: at most 8192 are accepted"), "{path}: {text}");
    }
    if let (Some(a), Some(b)) = (before, peak_rss(s.child.id())) {
        eprintln!("serve's peak memory: {} MiB after loading, {} MiB after the oversized requests", a >> 20, b >> 20);
        assert!(b.saturating_sub(a) < 300 << 20, "peak memory grew by {} MiB", (b - a) >> 20);
    }
}

#[test]
fn models_list_passes_over_fifos_naming_them() {
    let m = fifo_models();
    let t0 = Instant::now();
    let o = common::mlxbench().args(["models", "list", "--models"]).arg(m.path()).timeout(Duration::from_secs(20)).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(t0.elapsed() < Duration::from_secs(10), "models list blocked on a FIFO: {text}");
    assert!(o.status.success(), "{text}");
    assert!(text.contains("trap:latest") && !text.contains("fifo"), "{text}");
    // named directly, a FIFO is refused at once instead of blocking the engine
    let t0 = Instant::now();
    let o = common::mlxbench()
        .args(["models", "generate"])
        .arg(m.path().join("fifo.gguf"))
        .args(["--ids", "1", "--max-tokens", "1"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(t0.elapsed() < Duration::from_secs(10) && o.status.code() == Some(1), "{text}");
    assert!(text.contains("fifo.gguf: a FIFO, not a model file"), "{text}");
}
