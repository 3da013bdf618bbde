//! The harness's own cost per token on the hot path: bytes in -> framing -> JSON ->
//! timestamped arrival. Each network chunk is stamped with `Instant::now()` as in the
//! real read loop. The same path again while the energy meter polls on its thread (a
//! source that reads a kernel file each tick, as RAPL does), and the per-request cost of
//! the energy figures, computed after the request. Run with `cargo bench --bench
//! stream_path`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mlxbench::backend::streaming::{NdjsonWire, SseWire, Wire};
use mlxbench::backend::{ollama, openai};
use mlxbench::measure::energy::{Meter, Source, SourceInfo, fill};
use mlxbench::measure::sample::{Sample, StreamRecord, compute};

/// A counter read from a kernel file each tick (as RAPL's `energy_uj` is), advancing
/// with the clock.
struct FileCounter(Instant);

impl Source for FileCounter {
    fn info(&self) -> SourceInfo {
        SourceInfo { name: "bench".into(), covers: "bench".into(), period_ms: 10.0, estimate: false }
    }
    fn joules(&mut self) -> Option<f64> {
        let _ = black_box(std::fs::read("/proc/self/stat"));
        Some(self.0.elapsed().as_secs_f64() * 30.0)
    }
}

const TOKENS: usize = 512;

/// llama.cpp-shaped SSE: one chunk per token, then usage + timings, then [DONE].
fn sse_chunks() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..TOKENS)
        .map(|i| format!("data: {{\"choices\":[{{\"finish_reason\":null,\"index\":0,\"delta\":{{\"content\":\" tok{i}\"}}}}],\"created\":1795297031,\"id\":\"chatcmpl-ycAGsY325QfbeOzxv93KtGKa1t7RuJuR\",\"model\":\"smollm2\",\"system_fingerprint\":\"b0-unknown\",\"object\":\"chat.completion.chunk\"}}\n\n").into_bytes())
        .collect();
    v.push(b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":512,\"prompt_tokens\":31},\"timings\":{\"prompt_n\":31,\"prompt_ms\":46.1,\"predicted_n\":512,\"predicted_ms\":5000.0,\"predicted_per_second\":102.4}}\n\ndata: [DONE]\n\n".to_vec());
    v
}

/// Ollama-shaped NDJSON: one line per token, then the final stats line.
fn ndjson_chunks() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..TOKENS)
        .map(|i| {
            format!(
                "{{\"model\":\"smollm2:135m\",\"created_at\":\"2026-11-21T21:00:00.000000Z\",\"response\":\" tok{i}\",\"done\":false}}\n"
            )
            .into_bytes()
        })
        .collect();
    v.push(b"{\"model\":\"smollm2:135m\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\",\"total_duration\":5000000000,\"load_duration\":1000,\"prompt_eval_count\":31,\"prompt_eval_duration\":46000000,\"eval_count\":512,\"eval_duration\":4990000000}\n".to_vec());
    v
}

/// Feeds the chunks through a backend's wire (framing + JSON), as its request loop does.
fn through(wire: &mut impl Wire, chunks: &[Vec<u8>]) -> StreamRecord {
    let mut rec = StreamRecord::new(Instant::now());
    for c in chunks {
        let at = Instant::now();
        rec.first_byte.get_or_insert(at);
        if let Ok(true) = wire.push(c, at, &mut rec) {
            break;
        }
    }
    rec
}

fn openai_stream(chunks: &[Vec<u8>]) -> StreamRecord {
    through(&mut SseWire::new(openai::handle_event), chunks)
}

fn ollama_stream(chunks: &[Vec<u8>]) -> StreamRecord {
    through(&mut NdjsonWire::new(ollama::handle_line), chunks)
}

fn bench(c: &mut Criterion) {
    let sse = sse_chunks();
    let nd = ndjson_chunks();
    assert_eq!(openai_stream(&sse).arrivals.len(), TOKENS);
    assert_eq!(ollama_stream(&nd).arrivals.len(), TOKENS);
    let mut g = c.benchmark_group("per_token");
    g.throughput(Throughput::Elements(TOKENS as u64));
    g.bench_function("openai_sse", |b| b.iter(|| black_box(openai_stream(black_box(&sse)))));
    g.bench_function("ollama_ndjson", |b| b.iter(|| black_box(ollama_stream(black_box(&nd)))));
    let rec = openai_stream(&sse);
    g.bench_function("metrics_compute", |b| b.iter(|| black_box(compute(black_box(&rec), rec.sent))));
    let meter = Meter::start(vec![Box::new(FileCounter(Instant::now()))]).expect("a meter");
    g.bench_function("openai_sse_meter_on", |b| b.iter(|| black_box(openai_stream(black_box(&sse)))));
    g.bench_function("ollama_ndjson_meter_on", |b| b.iter(|| black_box(ollama_stream(black_box(&nd)))));
    g.finish();
    // the energy figures of one request, once it is done (off the stream path)
    let sent = Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let done = Instant::now();
    meter.settle(done);
    let sample = Sample { ok: true, output_tokens: Some(64), span: Some((sent, Some(sent), done)), ..Default::default() };
    c.bench_function("per_request/energy_fill", |b| {
        b.iter(|| {
            let mut s = sample.clone();
            fill(&meter, black_box(&mut s), Some(10.0));
            black_box(s)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
