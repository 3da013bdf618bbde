//! The real Ollama CLI (`../shared/tools/ollama/bin/ollama`, 0.24) as a client of
//! `mlxbench serve`, serving the SmolLM2-135M-Instruct Q4_1 GGUF that scripts/setup.sh
//! puts in `models/`: `list`, `show`, `pull`, `run` (prompt argument, stdin, `--verbose`),
//! `ps`, `stop`, and the clear refusals of `rm`, `cp` and `create`. Between the CLI and the
//! server a recording proxy keeps what the server sent, so the CLI's `--verbose` block is
//! checked against the server's own final object. Without the CLI or the model the test
//! says SKIPPED (and fails under scripts/test.sh, which requires them).
#![cfg(feature = "mlx")]

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use common::root;
use common::serve::Server;
use serde_json::Value;

const MODEL: &str = "smollm2-135m-instruct:q4_1";
/// The server's limit for requests that set none (the CLI sets none): the model ends
/// its short answers well before it, and a rambling one cannot hold the test.
const LIMIT: u64 = 96;

/// A TCP proxy on a free port in front of `upstream`, keeping every byte the server
/// sent. Each connection is relayed by two threads until either side closes.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start(upstream: String) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let log = log.clone();
                std::thread::spawn(move || {
                    let (mut server, mut client) = (server, client);
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = server.read(&mut buf) {
                        if n == 0 || client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Recorder { port, seen }
    }

    /// The server's final answer objects (`"done": true` with counts) seen so far, in order.
    fn finals(&self) -> Vec<Value> {
        let bytes = self.seen.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .filter(|v| v["done"] == true && v.get("eval_count").is_some())
            .collect()
    }
}

struct Cli {
    bin: PathBuf,
    home: tempfile::TempDir,
    host: String,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("OLLAMA_HOST", &self.host)
            .env("HOME", self.home.path())
            .env("OLLAMA_NO_CLOUD", "1")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs and requires success; returns (stdout, stderr).
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> (String, String) {
        let out = self.run(args, stdin);
        let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "ollama {args:?} failed ({}):\nstdout: {o}\nstderr: {e}", out.status);
        (o, e)
    }

    /// Runs and requires a failure whose message says `needle`.
    fn refused(&self, args: &[&str], needle: &str) {
        let out = self.run(args, None);
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && e.contains(needle), "ollama {args:?}: {} {e}", out.status);
    }
}

/// A Go `time.Duration` as its `String()` writes it (`1.5s`, `12.3ms`, `850µs`, `1m2.5s`), in ns.
fn go_duration_ns(s: &str) -> Option<f64> {
    let mut rest = s.trim();
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (scale, len) = [("ms", 1e6), ("µs", 1e3), ("us", 1e3), ("ns", 1.0), ("h", 3.6e12), ("m", 6e10), ("s", 1e9)]
            .iter()
            .find(|(u, _)| rest.starts_with(u))
            .map(|(u, k)| (*k, u.len()))?;
        total += value * scale;
        rest = &rest[len..];
    }
    Some(total)
}

/// `text` without terminal escape sequences (the CLI's spinner writes them to stderr).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // parameters, then one final byte in @..~
            for f in chars.by_ref() {
                if ('@'..='~').contains(&f) {
                    break;
                }
            }
        }
    }
    out
}

/// `label:   value` from the CLI's `--verbose` block.
fn verbose_line(err: &str, label: &str) -> String {
    let clean = strip_ansi(err);
    clean
        .split(['\n', '\r'])
        .find_map(|l| {
            // the spinner may share the line; `eval count` must not match `prompt eval count`
            let at = l.find(&format!("{label}:"))?;
            let before = l[..at].trim_end();
            (!before.ends_with(|c: char| c.is_ascii_alphanumeric())).then(|| l[at + label.len() + 1..].trim().to_string())
        })
        .unwrap_or_else(|| panic!("no `{label}` line in --verbose output:\n{clean}"))
}

fn number(v: &str) -> f64 {
    v.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no number in {v:?}"))
}

/// The answer text must be text: no special or end-of-turn token's markup.
fn plain(answer: &str) {
    assert!(!answer.trim().is_empty(), "empty answer");
    for marker in ["<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|"] {
        assert!(!answer.contains(marker), "special token text {marker} in the answer: {answer:?}");
    }
}

/// The answer the server sent for the last request ended at the model's end of turn.
fn ended_by_turn_end(rec: &Recorder) -> bool {
    rec.finals().last().is_some_and(|f| f["done_reason"] == "stop" && f["eval_count"].as_u64().is_some_and(|n| n < LIMIT))
}

fn set_up() -> Option<(Cli, tempfile::TempDir)> {
    let bin = common::ollama_binary();
    let gguf = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let what = "the Ollama CLI (../shared/tools/ollama/bin/ollama, or ollama on PATH) and the SmolLM2 GGUF (scripts/setup.sh)";
    if common::skip_unless_set_up(what, bin.is_some() && gguf.exists()) {
        return None;
    }
    let bin = bin?;
    let models = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&gguf, models.path().join(gguf.file_name().unwrap())).unwrap();
    Some((Cli { bin, home: tempfile::tempdir().unwrap(), host: String::new() }, models))
}

fn started(models: &Path) -> (Server, Recorder) {
    let limit = LIMIT.to_string();
    let server = Server::start(models, &["--num-predict", &limit]);
    let upstream = server.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    (server, Recorder::start(upstream))
}

/// The CLI's `--verbose` block against the server's final object of the last request:
/// durations to the nanosecond, counts exactly, rates to the printed digits.
fn verbose_block_is_the_servers(err: &str, rec: &Recorder) {
    let last = rec.finals().pop().expect("the server sent no final object");
    let field = |k: &str| last[k].as_f64().unwrap_or_else(|| panic!("no {k} in {last}"));
    for (label, key) in [
        ("total duration", "total_duration"),
        ("load duration", "load_duration"),
        ("prompt eval duration", "prompt_eval_duration"),
        ("eval duration", "eval_duration"),
    ] {
        let shown = verbose_line(err, label);
        let ns = go_duration_ns(&shown).unwrap_or_else(|| panic!("{label}: {shown:?} is not a Go duration"));
        // Go prints durations whole; allow rounding of the last printed digit
        assert!((ns - field(key)).abs() <= field(key) * 1e-6 + 1.0, "{label}: CLI {shown} vs server {} ns", field(key));
    }
    assert_eq!(number(&verbose_line(err, "prompt eval count")), field("prompt_eval_count"), "{err}");
    assert_eq!(number(&verbose_line(err, "eval count")), field("eval_count"), "{err}");
    for (label, count, dur) in
        [("prompt eval rate", "prompt_eval_count", "prompt_eval_duration"), ("eval rate", "eval_count", "eval_duration")]
    {
        let rate = number(&verbose_line(err, label));
        let server = field(count) / (field(dur) / 1e9);
        assert!((rate - server).abs() <= 0.006 + server * 1e-9, "{label}: CLI {rate} vs server {server:.4}");
    }
    assert!(field("load_duration") > 0.0 && field("prompt_eval_count") > 10.0, "{last}");
}

#[test]
fn the_real_ollama_cli_drives_mlxbench_serve() {
    let Some((mut cli, models)) = set_up() else { return };
    let (server, rec) = started(models.path());
    cli.host = format!("127.0.0.1:{}", rec.port);

    let (list, _) = cli.ok(&["list"], None);
    assert!(list.contains("NAME") && list.contains(MODEL), "{list}");

    // the CLI names the model in `name` with an empty `model`
    let (show, _) = cli.ok(&["show", MODEL], None);
    for want in ["architecture", "llama", "parameters", "135M", "context length", "8192", "quantization", "Q4_1"] {
        assert!(show.contains(want), "`ollama show` lacks {want:?}:\n{show}");
    }
    let (out, err) = cli.ok(&["pull", MODEL], None);
    assert!(format!("{out}{err}").contains("success"), "{out}{err}");
    cli.refused(&["pull", "no-such-model:latest"], "mlxbench serve never downloads models");

    // a prompt argument, then stdin: plain text, and an end of turn ends the reply
    let mut turn_ends = 0;
    let (answer, _) = cli.ok(&["run", MODEL, "Name three colors."], None);
    plain(&answer);
    turn_ends += usize::from(ended_by_turn_end(&rec));
    let (answer, _) = cli.ok(&["run", MODEL], Some("Name three animals.\n"));
    plain(&answer);
    turn_ends += usize::from(ended_by_turn_end(&rec));

    // --verbose: the CLI's figures are the server's final object, rates included
    let (answer, err) = cli.ok(&["run", "--verbose", MODEL, "Name three fruits."], None);
    plain(&answer);
    turn_ends += usize::from(ended_by_turn_end(&rec));
    verbose_block_is_the_servers(&err, &rec);
    // sampled at Ollama's default temperature, most answers end at <|im_end|>; all three
    // running to the limit would mean the end of turn is not seen
    assert!(turn_ends >= 1, "no reply ended at the end of turn: {:?}", rec.finals());

    // greedy, both APIs: the same reply, ended by <|im_end|> (the GGUF's end of
    // sequence), whose text is not in it
    let greedy = greedy_replies(&server.url);
    for (api, text, reason, tokens) in &greedy {
        plain(text);
        assert!(reason == "stop" && *tokens < 64, "{api}: {reason} after {tokens} tokens: {text:?}");
    }
    assert_eq!(greedy[0].1, greedy[1].1, "the two APIs answered differently");

    let (ps, _) = cli.ok(&["ps"], None);
    assert!(ps.contains(MODEL) && ps.contains("CPU"), "{ps}");
    cli.ok(&["stop", MODEL], None);
    let (ps, _) = cli.ok(&["ps"], None);
    assert!(!ps.contains(MODEL), "still loaded after `ollama stop`: {ps}");

    // what a folder of model files cannot do is refused, saying so
    cli.refused(&["rm", MODEL], "mlxbench serve does not");
    cli.refused(&["cp", MODEL, "copy:latest"], "mlxbench serve does not");
    let modelfile = cli.home.path().join("Modelfile");
    let gguf = models.path().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    for from in [MODEL.to_string(), gguf.display().to_string()] {
        std::fs::write(&modelfile, format!("FROM {from}\nPARAMETER temperature 0\n")).unwrap();
        cli.refused(&["create", "mine:latest", "-f", modelfile.to_str().unwrap()], "mlxbench serve does not create models");
    }
    let (list, _) = cli.ok(&["list"], None);
    assert!(list.contains(MODEL) && !list.contains("copy") && !list.contains("mine"), "{list}");
}

/// One greedy answer through each API (Ollama's with the CLI's `"model": ""` and the
/// name in `name`): `(api, text, finish reason, tokens)`.
fn greedy_replies(url: &str) -> Vec<(&'static str, String, String, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let post = |path: &str, body: Value| {
            let req = c.post(format!("{url}{path}")).json(&body);
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let prompt = "Name three colors.";
        let o = post(
            "/api/generate",
            serde_json::json!({"model": "", "name": MODEL, "prompt": prompt, "stream": false, "options": {"temperature": 0, "num_predict": 64}}),
        )
        .await;
        let a = post(
            "/v1/chat/completions",
            serde_json::json!({"model": MODEL, "messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_tokens": 64}),
        )
        .await;
        let s = |v: &Value| v.as_str().unwrap_or_else(|| panic!("not a string: {o} {a}")).to_string();
        vec![
            ("ollama", s(&o["response"]), s(&o["done_reason"]), o["eval_count"].as_u64().unwrap_or(0)),
            ("openai", s(&a["choices"][0]["message"]["content"]), s(&a["choices"][0]["finish_reason"]), a["usage"]["completion_tokens"].as_u64().unwrap_or(0)),
        ]
    })
}

#[test]
fn go_durations_parse() {
    assert_eq!(go_duration_ns("1.5s"), Some(1.5e9));
    assert_eq!(go_duration_ns("12.345ms"), Some(12.345e6));
    assert_eq!(go_duration_ns("850µs"), Some(850e3));
    assert_eq!(go_duration_ns("1m2.5s"), Some(62.5e9));
    assert_eq!(go_duration_ns("3x"), None);
}
