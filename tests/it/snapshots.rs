//! Snapshot tests of the result-file contract, the terminal table and the Markdown export,
//! on fixed data (no clocks, no network). A change here is a contract change: review it.

use std::time::{Duration, Instant};

use chrono::TimeZone;
use mlxbench::measure::sample::{ServerRates, StreamRecord, Usage, compute};
use mlxbench::output::{markdown, table};
use mlxbench::results::{
    Api, BackendKind, CaseResult, HostInfo, LoadResult, MemoryResult, Params, PromptCache, RunAggregate, RunResult, SCHEMA_VERSION,
    ScenarioRecord,
};
use serde_json::json;

fn record(ttft: u64, itl: u64, tokens: u32, jitter: u64) -> StreamRecord {
    let t0 = Instant::now();
    let mut r = StreamRecord::new(t0);
    r.first_byte = Some(t0 + Duration::from_millis(2));
    for k in 0..u64::from(tokens) {
        r.push_text(t0 + Duration::from_millis(ttft + jitter + k * itl), "x", 1);
    }
    r.done = Some(t0 + Duration::from_millis(ttft + jitter + u64::from(tokens) * itl));
    r.usage = Usage { prompt_tokens: Some(20), output_tokens: Some(u64::from(tokens)) };
    r.server_rates = ServerRates { prefill_tokens: Some(20), prefill_ms: Some(ttft as f64 - 5.0), decode_tps: Some(1000.0 / itl as f64) };
    r.finish_reason = Some("length".into());
    r
}

fn case(target: &str, backend: &str, model: &str, ttft: u64, itl: u64) -> CaseResult {
    let mut samples = Vec::new();
    for (i, j) in [0u64, 3, 1, 2, 30].iter().enumerate() {
        let rec = record(ttft, itl, 8, *j);
        let mut s = compute(&rec, rec.sent);
        s.iteration = i as u32;
        // the wall clock of the send is real time: fixed here, its form is the contract
        assert!(s.sent_at.is_some());
        s.sent_at = format!("2026-01-02T03:04:0{i}.5Z").parse().ok();
        samples.push(s);
    }
    let mut failed = mlxbench::measure::sample::Sample::failed(
        "timed out after 5 s: stream stalled after 3 tokens",
        mlxbench::measure::sample::ErrorKind::Timeout,
    );
    failed.iteration = 5;
    samples.push(failed);
    let mut c = CaseResult {
        target: target.into(),
        backend: BackendKind::from_name(backend).unwrap(),
        model: model.into(),
        backend_version: Some(format!("{backend} 1.0")),
        device: None,
        model_info: None,
        workload: "short".into(),
        params: Params {
            max_tokens: 8,
            prompt_tokens: None,
            concurrency: 1,
            temperature: 0.0,
            top_p: None,
            seed: 42,
            ignore_eos: true,
            warmup: 1,
            iterations: 6,
            timeout_s: 300.0,
            cooldown_s: 0.0,
            case_cooldown_s: 0.0,
            api: Api::Completion,
            prompt_cache: Some(PromptCache::Cold),
            exclude_throttled: false,
            until_cool_max_s: None,
        },
        load: Some(LoadResult { method: "fixed".into(), cold_ms: Some(1500.0), warm_ms: Some(12.5), ..Default::default() }),
        memory: Some(MemoryResult {
            source: "rss".into(),
            pids: vec![42],
            baseline_bytes: Some(100 << 20),
            after_load_bytes: Some(300 << 20),
            peak_bytes: Some(320 << 20),
            load_delta_bytes: Some(200 << 20),
            peak_delta_bytes: Some(20 << 20),
            gpu_peak_bytes: None,
            server_reported: None,
            allocator: None,
        }),
        samples,
        runs: vec![RunAggregate { iteration: 0, wall_ms: 200.0, ok: 1, failed: 0, output_tokens: 8, output_tps: 40.0 }],
        summary: Default::default(),
        warnings: Default::default(),
        error: None,
        interrupted: false,
        energy: None,
    };
    mlxbench::runner::summarize_case(&mut c);
    c
}

fn run() -> RunResult {
    let mut broken = case("broken", "ollama", "<script>", 100, 10);
    broken.samples.clear();
    broken.summary.clear();
    broken.warnings.clear();
    broken.error = Some("model \"<script>\" not found at http://127.0.0.1:11434".into());
    RunResult {
        schema_version: SCHEMA_VERSION,
        mlxbench_version: "0.1.0".into(),
        started_at: chrono::Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap(),
        finished_at: Some(chrono::Utc.with_ymd_and_hms(2026, 11, 21, 12, 5, 0).unwrap()),
        complete: true,
        host: HostInfo {
            os: "macos".into(),
            os_version: "15.1".into(),
            arch: "aarch64".into(),
            cpu: "Apple M3 Max".into(),
            cores: 16,
            physical_cores: Some(16),
            performance_cores: Some(12),
            efficiency_cores: Some(4),
            memory_bytes: 64 << 30,
            chip: Some("Apple M3 Max".into()),
            gpu_cores: Some(40),
            memory_bandwidth_gbps: Some(400.0),
            memory_bandwidth_note: None,
            hostname: "bench-mac".into(),
            gpus: mlxbench::measure::gpu::detect(Some("Apple M3 Max"), Some(40), 64 << 30, Some(400.0))
                .into_iter()
                .filter(|g| g.vendor == mlxbench::measure::gpu::GpuVendor::Apple)
                .collect(),
        },
        scenario: ScenarioRecord {
            name: "snap <demo>".into(),
            description: None,
            path: "scenarios/snap.toml".into(),
            source_sha256: "0".repeat(64),
            spec: json!({"name": "snap"}),
        },
        cases: vec![case("llama.cpp", "openai", "smollm2", 100, 10), case("ollama <i>|", "ollama", "smollm2:135m", 80, 20), broken],
    }
}

#[test]
fn result_json_contract() {
    insta::assert_json_snapshot!(run());
}

#[test]
fn terminal_table() {
    let mut out = Vec::new();
    table::render(&mut out, &run().cases, None).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn markdown_export_escapes_names() {
    let mut out = Vec::new();
    markdown::render(&mut out, &run()).unwrap();
    let md = String::from_utf8(out).unwrap();
    assert!(md.contains("ollama &lt;i&gt;\\|"), "{md}");
    assert!(md.contains("&lt;script&gt;"), "{md}");
    assert!(!md.contains("<script>") && !md.contains("<i>"), "{md}");
    insta::assert_snapshot!(md);
}
