//! Model files are bounded: a GGUF with one bad length or with megabytes of metadata
//! arrays costs `models list` little memory (peak measured while it runs), and a chat
//! template that floods memory or never ends is refused with the reason while the run
//! goes on, its memory bounded too.
#![cfg(feature = "mlx")]

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::{read_result, run_watching_memory, write_scenario};

/// A GGUF v3 header: no tensors, one metadata entry `key` of type `t` with `value`.
fn gguf_header(key: &str, t: u32, value: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes()); // tensors
    b.extend(1u64.to_le_bytes()); // metadata entries
    b.extend((key.len() as u64).to_le_bytes());
    b.extend(key.as_bytes());
    b.extend(t.to_le_bytes());
    b.extend(value);
    b
}

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("mlxbench"))
}

#[test]
fn bad_lengths_and_huge_metadata_arrays_cost_models_list_little() {
    let dir = tempfile::tempdir().unwrap();
    // a 2 GiB file (sparse) whose first string claims 1.9 GB
    let mut bad = gguf_header("general.name", 8, &1_900_000_000u64.to_le_bytes());
    bad.extend(b"tiny");
    let f = std::fs::File::create(dir.path().join("bad-length.gguf")).unwrap();
    (&f).write_all(&bad).unwrap();
    f.set_len(2 << 30).unwrap();
    // 62 MB of a metadata array nobody reads (u8 elements)
    let n: u64 = 62_000_000;
    let mut arr = 0u32.to_le_bytes().to_vec();
    arr.extend(n.to_le_bytes());
    let mut junk = gguf_header("junk.array", 9, &arr);
    junk.resize(junk.len() + n as usize, 7);
    std::fs::write(dir.path().join("junk-array.gguf"), &junk).unwrap();
    drop(junk);
    let mut cmd = bin();
    cmd.args(["models", "list", "--json", "--models"]).arg(dir.path());
    let (out, peak_kb) = run_watching_memory(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let entries: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let reason = |name: &str| {
        let e = entries.as_array().unwrap().iter().find(|e| e["path"].as_str().is_some_and(|p| p.ends_with(name))).unwrap();
        e["reason"].as_str().unwrap_or_default().to_string()
    };
    assert!(reason("bad-length.gguf").contains("runs past") || reason("bad-length.gguf").contains("would need"), "{stdout}");
    // listed (no architecture, so not runnable), the array skipped rather than kept
    assert!(!reason("junk-array.gguf").contains("array"), "{stdout}");
    // before: 2 GiB read for the first, 1.96 GiB of values for the second
    assert!(peak_kb < 400 << 10, "models list peaked at {} MiB", peak_kb >> 10);
}

/// A model whose chat template doubles a string 40 times (1 TiB if it could), and one
/// whose template loops 10^10 times: each refused with the budget it exceeded, the run
/// goes on (a completion prompt still runs), and memory stays bounded.
#[test]
fn hostile_chat_templates_are_refused_within_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_tiny_model.py");
    let model = dir.path().join("m");
    let made = Command::new(common::python()).arg(&script).arg(&model).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let doubling = format!("{{% set s = 'ab' %}}{}{{{{ s|length }}}}", "{% set s = s ~ s %}".repeat(40));
    let endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}".to_string();
    for (name, template, expect) in [("flood", doubling, "used more than 512 MiB"), ("endless", endless, "template steps")] {
        let cfg = serde_json::json!({"chat_template": template, "eos_token": "<|endoftext|>"});
        std::fs::write(model.join("tokenizer_config.json"), cfg.to_string()).unwrap();
        let toml = format!(
            "name = \"{name}\"\n[defaults]\nwarmup = 0\niterations = 1\nmax_tokens = 4\ntimeout_s = 30\n\
             [[targets]]\nname = \"mlx\"\nbackend = \"mlx\"\nmodel = \"{}\"\n\
             [[workloads]]\nname = \"chat\"\nmessages = [{{ role = \"user\", content = \"hi\" }}]\n\
             [[workloads]]\nname = \"plain\"\nprompt = \"hi\"\n",
            model.display()
        );
        let f = write_scenario(dir.path(), name, &toml);
        let out_dir = dir.path().join(format!("r-{name}"));
        let mut cmd = bin();
        cmd.args(["run", "-q", "--out"]).arg(&out_dir).arg(&f);
        let t0 = std::time::Instant::now();
        let (out, peak_kb) = run_watching_memory(cmd);
        let took = t0.elapsed();
        assert_eq!(out.status.code(), Some(3), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let r = read_result(&out_dir);
        let cases = r["cases"].as_array().unwrap();
        let chat = cases.iter().find(|c| c["workload"] == "chat").unwrap();
        let plain = cases.iter().find(|c| c["workload"] == "plain").unwrap();
        let err = chat["samples"][0]["error"].as_str().unwrap_or_default();
        assert!(err.contains("chat template refused") && err.contains(expect), "{name}: {err}");
        assert_eq!(plain["samples"][0]["ok"], true, "{name}: {plain}");
        assert!(peak_kb < 1536 << 10, "{name}: the run peaked at {} MiB", peak_kb >> 10);
        assert!(took.as_secs() < 60, "{name}: took {took:?}");
    }
}
