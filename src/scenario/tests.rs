//! Scenario parsing, validation diagnostics and expansion.

use std::path::Path;

use super::*;

const GOOD: &str = r#"
name = "demo"
[defaults]
iterations = 3
[[targets]]
backend = "ollama"
model = "smollm2:135m"
[[targets]]
name = "cpp"
backend = "openai"
model = "smollm2"
base_url = "http://127.0.0.1:8080/v1"
[[workloads]]
name = "short"
prompt = "Why is the sky blue?"
[[workloads]]
name = "synthetic"
prompt_tokens = 64
[sweep]
max_tokens = [16, 32]
prompt_tokens = [128, 256]
concurrency = [1, 4]
"#;

fn errors(src: &str) -> Vec<Diagnostic> {
    match parse_str(src, Path::new("s.toml")) {
        Err(ScenarioError::Invalid { diagnostics, .. }) => diagnostics,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected errors for:\n{src}"),
    }
}

fn one(src: &str) -> Diagnostic {
    let d = errors(src);
    assert_eq!(d.len(), 1, "{d:?}");
    d.into_iter().next().unwrap()
}

const TAIL: &str = "[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt = \"p\"\n";

#[test]
fn expands_targets_workloads_and_sweeps() {
    let plan = parse_str(GOOD, Path::new("dir/s.toml")).unwrap();
    assert_eq!(plan.targets[0].name, "ollama:smollm2:135m");
    assert_eq!(plan.targets[1].name, "cpp");
    // per target: short x 2 mt x 2 c  +  synthetic x 2 pt x 2 mt x 2 c = 4 + 8
    assert_eq!(plan.cases.len(), 2 * 12);
    let syn: Vec<_> = plan.cases.iter().filter(|c| c.workload.name == "synthetic").collect();
    assert!(syn.iter().any(|c| c.params.prompt_tokens == Some(256) && c.params.concurrency == 4 && c.params.max_tokens == 32));
    assert!(plan.cases.iter().all(|c| c.params.iterations == 3 && c.params.warmup == 1 && c.params.ignore_eos));
    match &syn[0].workload.prompt {
        Prompt::Text(t) => assert_eq!(t.split(' ').count(), 128),
        p => panic!("{p:?}"),
    }
    assert!(plan.base_dir.is_absolute() && plan.base_dir.ends_with("dir"), "{:?}", plan.base_dir);
    assert_eq!(plan.source_sha256.len(), 64);
}

#[test]
fn unknown_key_names_file_line_column_and_key() {
    let d = one(&format!("name = \"x\"\n[defaults]\nwarmup = 1\nwarmupp = 2\n{TAIL}"));
    assert_eq!((d.line, d.key.as_str()), (4, "defaults.warmupp"), "{d}");
    assert!(d.message.contains("unknown field"), "{d}");
    assert!(d.to_string().starts_with("s.toml:4:"), "{d}");
}

#[test]
fn wrong_type_points_at_the_value() {
    let d = one(&format!("name = \"x\"\n[defaults]\niterations = \"five\"\n{TAIL}"));
    assert_eq!((d.line, d.column, d.key.as_str()), (3, 14, "defaults.iterations"), "{d}");
}

#[test]
fn unknown_key_in_a_target() {
    let d =
        one("name = \"x\"\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\nmodle = \"n\"\n[[workloads]]\nname = \"w\"\nprompt = \"p\"\n");
    assert_eq!((d.line, d.key.as_str()), (5, "targets.modle"), "{d}");
}

#[test]
fn semantic_errors_are_all_reported_with_positions() {
    let src = "name = \"x\"\n[defaults]\niterations = 0\ntemperature = -1.0\n[[targets]]\nbackend = \"vllm\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\n";
    let d = errors(src);
    let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, vec!["defaults.iterations", "defaults.temperature", "targets[0].backend", "workloads[0].prompt"], "{d:?}");
    assert_eq!((d[0].line, d[0].column), (3, 14));
    assert_eq!(d[2].line, 6);
    assert!(d[2].message.contains("unknown backend \"vllm\""));
}

#[test]
fn missing_targets_and_name() {
    let d = errors("[[workloads]]\nname = \"w\"\nprompt = \"p\"\n");
    let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, vec!["name", "targets"]);
}

#[test]
fn unreadable_prompt_file() {
    let src =
        "name = \"x\"\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt_file = \"nope/missing.txt\"\n";
    let d = one(src);
    assert_eq!((d.line, d.key.as_str()), (7, "workloads[0].prompt_file"), "{d}");
    assert!(d.message.contains("cannot read"), "{d}");
}

#[test]
fn prompt_sources_exclusive_and_misc_rules() {
    let d = one(
        "name = \"x\"\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt = \"a\"\nprompt_tokens = 5\n",
    );
    assert!(d.message.contains("only one"), "{d}");
    let d =
        one("name = \"x\"\n[[targets]]\nbackend = \"mlx\"\nmodel = \"m\"\nlaunch = [\"x\"]\n[[workloads]]\nname = \"w\"\nprompt = \"a\"\n");
    assert_eq!(d.key, "targets[0].launch");
    assert!(d.message.contains("in-process"), "{d}");
    let d = one(&format!("name = \"x\"\n[sweep]\nconcurrency = [1, 0]\n{TAIL}"));
    assert_eq!((d.key.as_str(), d.line), ("sweep.concurrency", 3));
    let d = one(&format!("name = \"x\"\n{TAIL}[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n"));
    assert!(d.message.contains("duplicate target name"), "{d}");
}

#[test]
fn toml_syntax_error_has_position() {
    let d = one("name = \"x\"\n[defaults\nwarmup = 1\n");
    assert_eq!(d.line, 2, "{d}");
}

#[test]
fn chat_messages_and_chat_flag() {
    let src = "name = \"x\"\n[[targets]]\nbackend = \"openai\"\nmodel = \"m\"\n[[workloads]]\nname = \"a\"\nmessages = [{ role = \"user\", content = \"hi\" }]\n[[workloads]]\nname = \"b\"\nprompt = \"yo\"\nchat = true\n";
    let plan = parse_str(src, Path::new("s.toml")).unwrap();
    assert!(plan.cases.iter().all(|c| c.params.api == super::Api::Chat));
    assert_eq!(plan.cases[1].workload.prompt, Prompt::Chat(vec![ChatMessage { role: "user".into(), content: "yo".into() }]));
    let d = one(
        "name = \"x\"\n[[targets]]\nbackend = \"openai\"\nmodel = \"m\"\n[[workloads]]\nname = \"a\"\nmessages = [{ role = \"user\", contnt = \"hi\" }]\n",
    );
    assert_eq!(d.line, 7, "{d}");
    assert!(d.key.ends_with("contnt"), "{d}");
}

#[test]
fn non_ascii_sources_never_panic() {
    for src in [
        "name = \"é\"\n[defaults]\nwarmup = \"ü\"\n",
        "name = \"日本\"\n[[targets]]\nbackend = \"ollama\"\nmodel = \"é\"\nhöst = 1\n",
        "ü = ",
        "[[",
        "\u{feff}name = 1",
    ] {
        let _ = parse_str(src, Path::new("u.toml"));
    }
    let d = one(
        "name = \"日本語\"\nwarmupp = 1\n[[targets]]\nbackend = \"ollama\"\nmodel = \"m\"\n[[workloads]]\nname = \"w\"\nprompt = \"p\"\n",
    );
    assert_eq!(d.line, 2, "{d}");
}

#[test]
fn targets_resolve_into_typed_configs_with_absolute_paths() {
    let src = r#"
name = "t"
[[targets]]
backend = "openai"
model = "m"
base_url = "127.0.0.1:18081/v1/"
launch = ["llama-server", "-m", "model.gguf"]
ready_timeout_s = 7
extra_body = { cache_prompt = false }
[[targets]]
backend = "ollama"
model = "x"
host = "127.0.0.1"
options = { num_ctx = 2048 }
[[workloads]]
name = "w"
prompt = "hi"
"#;
    // a bare file name: the folder is the current one, made absolute
    let plan = parse_str(src, Path::new("bare.toml")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(plan.base_dir, cwd);
    match &plan.targets[0].config {
        BackendConfig::Openai(c) => {
            assert_eq!(c.base_url, "http://127.0.0.1:18081/v1");
            let l = c.launch.as_ref().unwrap();
            assert_eq!((l.cwd.as_path(), l.ready_timeout.as_secs()), (cwd.as_path(), 7));
            assert_eq!(c.extra_body.get("cache_prompt"), Some(&serde_json::json!(false)));
        }
        c => panic!("{c:?}"),
    }
    match &plan.targets[1].config {
        BackendConfig::Ollama(c) => {
            assert_eq!(c.host, "http://127.0.0.1:11434");
            assert_eq!(c.options.get("num_ctx"), Some(&serde_json::json!(2048)));
        }
        c => panic!("{c:?}"),
    }
    assert_eq!(plan.targets[1].backend(), BackendKind::Ollama);
}

#[test]
fn device_is_cpu_or_gpu_and_only_for_mlx() {
    let t = |extra: &str, backend: &str| {
        format!("name = \"x\"\n[[targets]]\nbackend = \"{backend}\"\nmodel = \"m\"\n{extra}\n[[workloads]]\nname = \"w\"\nprompt = \"a\"\n")
    };
    let d = one(&t("device = \"tpu\"", "mlx"));
    assert!(d.key == "targets[0].device" && d.message.contains("\"cpu\" or \"gpu\""), "{d}");
    let d = one(&t("device = \"gpu\"", "ollama"));
    assert!(d.message.contains("only the mlx backend"), "{d}");
    let plan = parse_str(&t("device = \"gpu\"", "mlx"), Path::new("d.toml")).unwrap();
    assert!(matches!(&plan.targets[0].config, BackendConfig::Mlx(c) if c.gpu == Some(true)));
}
