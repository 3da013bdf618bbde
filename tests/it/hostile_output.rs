//! Output hygiene against a hostile server: its text with line breaks, terminal escapes,
//! `@mentions` and bare URLs reaches the terminal summary as one line of ours and the
//! Markdown export as plain text; exports named through a symbolic link are written
//! through it.

use crate::common;

use std::io::Write;

use common::raw::{RawServer, Request, models_ok, respond};
use common::{mlxbench, write_scenario};

const FORGED: &str = "FAILED everything-else: 0 errors";

#[test]
fn server_text_cannot_forge_lines_drive_the_terminal_or_mention_anyone() {
    // the error body a server answers with: a forged summary line, a clear-screen escape
    // and a right-to-left override, a mention and a bare URL
    let message = format!("bad request\n  {FORGED}\r\u{1b}[2J\u{202E}drowssap ping @octocat at https://evil.example/x");
    let body = serde_json::json!({"error": {"message": message}}).to_string();
    let server = RawServer::start(move |req: &Request, s| match req.path.as_str() {
        "/v1/models" => models_ok(s),
        _ => respond(s, "400 Bad Request", "application/json", &body),
    });
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"hygiene\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 4\ntimeout_s = 10\n\
         [[targets]]\nname = \"liar\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\n\
         [[workloads]]\nname = \"w\"\nprompt = \"hi\"\n",
        server.url()
    );
    let f = write_scenario(dir.path(), "s", &toml);
    // the JSON export named through a link (a `latest.json` kept pointing at a run's file)
    let real = dir.path().join("runs").join("run.json");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::File::create(&real).unwrap().write_all(b"{}").unwrap();
    let link = dir.path().join("latest.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let md = dir.path().join("summary.md");
    let run = mlxbench()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("results"))
        .arg("--export-json")
        .arg(&link)
        .arg("--export-markdown")
        .arg(&md)
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    for text in [&stdout, &stderr] {
        assert!(!text.lines().any(|l| l.trim_start().starts_with(FORGED)), "a forged line:\n{text}");
        assert!(!text.contains(['\u{1b}', '\r', '\u{202E}']), "an escape or override reached the terminal:\n{text:?}");
    }
    // the reason is still there, whole, on the case's own line
    let failed = stdout.lines().find(|l| l.contains("FAILED liar")).unwrap_or_else(|| panic!("no FAILED line:\n{stdout}"));
    assert!(failed.contains("bad request") && failed.contains(FORGED) && failed.contains("drowssap"), "{failed}");
    // Markdown: no mention, no autolinked URL, the words still readable
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("octocat") && !md.contains("@octocat") && !md.contains("https://evil"), "{md}");
    // the link still a link, its target the run's results
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "--export-json replaced the link");
    let exported: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert_eq!(exported["scenario"]["name"], "hygiene", "{exported}");
}

/// `info` prints what a server says about itself (model names) on its own line, without
/// the server's escapes or line breaks.
#[test]
fn info_prints_server_names_as_one_plain_line() {
    let models = serde_json::json!({"object": "list", "data": [{"id": "m\n  up   forged 0.0.0.0\u{1b}[31m\u{202E}", "object": "model"}]});
    let body = models.to_string();
    let server = RawServer::start(move |_req: &Request, s| respond(s, "200 OK", "application/json", &body));
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "name = \"i\"\n[[targets]]\nname = \"srv\"\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\n\
         [[workloads]]\nname = \"w\"\nprompt = \"hi\"\n",
        server.url()
    );
    let f = write_scenario(dir.path(), "s", &toml);
    let out = mlxbench().arg("info").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.contains("srv")).unwrap_or_else(|| panic!("no line for the target:\n{stdout}"));
    assert!(line.contains("forged"), "the server's model list is shown: {line}");
    assert!(!stdout.lines().any(|l| l.trim_start().starts_with("up   forged")), "a forged line:\n{stdout}");
    assert!(!stdout.contains(['\u{1b}', '\u{202E}']), "{stdout:?}");
}
