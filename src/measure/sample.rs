//! Per-request metrics (docs/DESIGN.md "Metrics") computed from a [`StreamRecord`]: the raw
//! monotonic timestamps a backend took as bytes arrived.

use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use super::error_kind::ErrorKind;
use super::ms;

/// Token counts reported by the backend itself.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// Rates and durations the server computed on its side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerRates {
    /// Prompt tokens the server actually evaluated (less than the prompt on a cache hit).
    pub prefill_tokens: Option<u64>,
    pub prefill_ms: Option<f64>,
    pub decode_tps: Option<f64>,
}

/// Raw timing of one streamed request, as observed where bytes arrive.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sent: Instant,
    pub first_byte: Option<Instant>,
    /// Arrival time of every chunk carrying non-empty generated text, with the number of
    /// tokens it carried (1 unless the backend says otherwise).
    pub arrivals: Vec<(Instant, u32)>,
    /// When the stream completed (done marker seen and body ended).
    pub done: Option<Instant>,
    pub usage: Usage,
    pub server_rates: ServerRates,
    /// Server timing fields kept exactly as given.
    pub server: Option<serde_json::Value>,
    pub finish_reason: Option<String>,
    pub text: String,
}

impl StreamRecord {
    pub fn new(sent: Instant) -> Self {
        Self {
            sent,
            first_byte: None,
            arrivals: Vec::new(),
            done: None,
            usage: Usage::default(),
            server_rates: ServerRates::default(),
            server: None,
            finish_reason: None,
            text: String::new(),
        }
    }

    /// Records a chunk of generated text that arrived at `at`; empty text is ignored.
    pub fn push_text(&mut self, at: Instant, text: &str, tokens: u32) {
        if !text.is_empty() {
            self.arrivals.push((at, tokens.max(1)));
            self.text.push_str(text);
            // an emoji whose UTF-16 halves came in two frames (stream/json.rs)
            if crate::stream::json::has_stand_ins(text) {
                crate::stream::json::join_surrogates(&mut self.text);
            }
        }
    }

    /// Tokens counted from arrivals, the fallback when the backend reports no usage.
    pub fn arrival_tokens(&self) -> u64 {
        self.arrivals.iter().map(|(_, k)| u64::from(*k)).sum()
    }
}

/// Where a sample's token counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// Exact: the in-process tokenizer, Ollama's counts, OpenAI `usage`.
    Backend,
    /// Counted from token-bearing chunks (the backend reported no usage).
    Estimate,
}

/// What a sample's prefill rate is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefillSource {
    /// The server's own prefill time (and evaluated prompt tokens).
    Server,
    /// The client-measured time to first token.
    Ttft,
}

/// One request's metrics as stored in the result file (`samples[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Counted run index (warmup runs are not stored).
    pub iteration: u32,
    /// Stream index within the run, 0..concurrency.
    pub stream: u32,
    pub ok: bool,
    /// Why the request failed, one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What kind of failure `error` is: connect, send, timeout, http, broken, truncated,
    /// malformed, not_a_stream, server, limit, config, engine (or internal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Offset of this request's send from the start of its run, ms.
    pub start_offset_ms: f64,
    /// When the request was sent, UTC (to line samples up with outside records such as
    /// nvidia-smi's power log or a server's own log); absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_byte_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<f64>,
    /// Gaps between successive token arrivals, ms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub itl_ms: Vec<f64>,
    /// Arrival of each token-bearing chunk after the request was sent, ms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrival_ms: Vec<f64>,
    /// Tokens carried by each arrival; omitted when every arrival carried one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrival_tokens: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Whether the token counts are exact or estimated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_source: Option<TokenSource>,
    /// (output_tokens - 1) / (last arrival - first arrival), tokens/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_tps: Option<f64>,
    /// Decode rate the server computed itself, tokens/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_tps_server: Option<f64>,
    /// prompt tokens / prefill time, tokens/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill_tps: Option<f64>,
    /// Prompt tokens the server did not evaluate because it had them cached (the prompt's
    /// tokens minus those it evaluated, or llama.cpp's `cache_n`); absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_prompt_tokens: Option<u64>,
    /// Which time `prefill_tps` is divided by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill_source: Option<PrefillSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Raw server timings, as given (Ollama durations in ns; llama.cpp `timings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<serde_json::Value>,
    /// Server claims that could not be true and were not used (claims.rs), one line each:
    /// the client's own figure stands in for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_set_aside: Vec<String>,
    /// Energy from request sent to stream complete, J, summed over the case's energy
    /// sources (measure/energy; what they cover is in the case's `energy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
    /// Energy over the decode phase alone (first token -> stream complete), J.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_energy_j: Option<f64>,
    /// `energy_j` / end-to-end time, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    /// `decode_energy_j` / (output_tokens - 1): J per decoded token, gross.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub j_per_token: Option<f64>,
    /// As `j_per_token`, less the case's idle power over the decode time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub j_per_token_above_idle: Option<f64>,
    /// 1 / `j_per_token`: decoded tokens per J, gross.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_j: Option<f64>,
    /// Why energy is absent although it was measured (a span below the counters'
    /// resolution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_note: Option<String>,
    /// Throttle reasons in force at some moment of the request (heat, power caps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttled: Vec<String>,
    /// Mean clock during the request (an NVIDIA GPU's SM clock, Apple's GPU, else the
    /// CPUs' frequency), MHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_mhz: Option<f64>,
    /// (sent, first token, done): what energy is computed over, after the fact; not stored.
    #[serde(skip)]
    pub span: Option<(Instant, Option<Instant>, Instant)>,
}

impl Sample {
    /// A failed request with its one-line reason and the kind of failure.
    pub fn failed(reason: impl Into<String>, kind: ErrorKind) -> Self {
        Sample { ok: false, error: Some(reason.into()), error_kind: Some(kind), ..Default::default() }
    }
}

/// Prompt tokens a server answered from its cache: fewer evaluated than sent, or
/// llama.cpp's `timings.cache_n`.
fn cached_prompt_tokens(rec: &StreamRecord) -> Option<u64> {
    let skipped = rec.usage.prompt_tokens.zip(rec.server_rates.prefill_tokens).and_then(|(sent, evaluated)| sent.checked_sub(evaluated));
    let cache_n = rec.server.as_ref().and_then(|v| v.get("timings")?.get("cache_n")?.as_u64());
    skipped.filter(|n| *n > 0).or(cache_n.filter(|n| *n > 0))
}

/// Computes the metrics of a completed stream. `run_start` is when its run began.
pub fn compute(rec: &StreamRecord, run_start: Instant) -> Sample {
    let since = |t: Instant| ms(t.saturating_duration_since(rec.sent));
    let arrival_ms: Vec<f64> = rec.arrivals.iter().map(|(t, _)| since(*t)).collect();
    let itl_ms: Vec<f64> = arrival_ms.windows(2).map(|w| w[1] - w[0]).collect();
    let all_single = rec.arrivals.iter().all(|(_, k)| *k == 1);

    let (output_tokens, token_source) = match rec.usage.output_tokens {
        Some(n) => (Some(n), TokenSource::Backend),
        None => (Some(rec.arrival_tokens()), TokenSource::Estimate),
    };
    let ttft_ms = arrival_ms.first().copied();

    let decode_tps = match (output_tokens, rec.arrivals.first(), rec.arrivals.last()) {
        (Some(n), Some((first, _)), Some((last, _))) if n >= 2 => {
            let span = last.saturating_duration_since(*first).as_secs_f64();
            (span > 0.0).then(|| (n - 1) as f64 / span)
        }
        _ => None,
    };

    let (prefill_tps, prefill_source) = match (rec.server_rates.prefill_ms, rec.server_rates.prefill_tokens.or(rec.usage.prompt_tokens)) {
        (Some(p_ms), Some(n)) if p_ms > 0.0 && n > 0 => (Some(n as f64 / (p_ms / 1e3)), Some(PrefillSource::Server)),
        _ => match (ttft_ms, rec.usage.prompt_tokens) {
            (Some(t), Some(n)) if t > 0.0 && n > 0 => (Some(n as f64 / (t / 1e3)), Some(PrefillSource::Ttft)),
            _ => (None, None),
        },
    };

    Sample {
        iteration: 0,
        stream: 0,
        ok: true,
        error: None,
        error_kind: None,
        start_offset_ms: ms(rec.sent.saturating_duration_since(run_start)),
        sent_at: wall_clock(rec.sent),
        first_byte_ms: rec.first_byte.map(since),
        ttft_ms,
        e2e_ms: rec.done.map(since),
        itl_ms,
        arrival_tokens: if all_single { Vec::new() } else { rec.arrivals.iter().map(|(_, k)| *k).collect() },
        arrival_ms,
        prompt_tokens: rec.usage.prompt_tokens,
        cached_prompt_tokens: cached_prompt_tokens(rec),
        output_tokens,
        token_source: Some(token_source),
        decode_tps,
        decode_tps_server: rec.server_rates.decode_tps,
        prefill_tps,
        prefill_source,
        finish_reason: rec.finish_reason.clone(),
        server: rec.server.clone(),
        span: rec.done.map(|d| (rec.sent, rec.arrivals.first().map(|a| a.0), d)),
        ..Default::default()
    }
}

/// The wall-clock time of `t`, a moment in the past (read after the request, never on
/// the stream path).
fn wall_clock(t: Instant) -> Option<chrono::DateTime<chrono::Utc>> {
    let ago = chrono::Duration::from_std(Instant::now().saturating_duration_since(t)).ok()?;
    chrono::Utc::now().checked_sub_signed(ago)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn cached_prompt_tokens_from_counts_or_cache_n() {
        let t0 = Instant::now();
        let mut r = StreamRecord::new(t0);
        r.push_text(at(t0, 10), "a", 1);
        r.done = Some(at(t0, 20));
        r.usage = Usage { prompt_tokens: Some(100), output_tokens: Some(1) };
        r.server_rates.prefill_tokens = Some(100);
        assert_eq!(compute(&r, t0).cached_prompt_tokens, None, "all evaluated");
        r.server_rates.prefill_tokens = Some(20);
        assert_eq!(compute(&r, t0).cached_prompt_tokens, Some(80), "fewer evaluated than sent");
        r.server_rates.prefill_tokens = None;
        r.server = Some(serde_json::json!({"timings": {"cache_n": 64}}));
        assert_eq!(compute(&r, t0).cached_prompt_tokens, Some(64), "llama.cpp's cache_n");
    }

    #[test]
    fn ttft_itl_decode_from_known_arrivals() {
        let wall = chrono::Utc::now();
        let t0 = Instant::now() - Duration::from_secs(3);
        let mut r = StreamRecord::new(t0);
        r.first_byte = Some(at(t0, 5));
        r.push_text(at(t0, 7), "", 1); // role-only / empty deltas do not count
        for i in 0..11 {
            r.push_text(at(t0, 100 + i * 20), "x", 1);
        }
        r.done = Some(at(t0, 310));
        r.usage = Usage { prompt_tokens: Some(50), output_tokens: Some(11) };
        let s = compute(&r, t0);
        assert_eq!(s.ttft_ms, Some(100.0));
        assert_eq!(s.first_byte_ms, Some(5.0));
        assert_eq!(s.e2e_ms, Some(310.0));
        assert_eq!(s.itl_ms.len(), 10);
        assert!(s.itl_ms.iter().all(|g| (g - 20.0).abs() < 1e-6));
        // 10 intervals of 20 ms: 50 tok/s
        assert!((s.decode_tps.unwrap() - 50.0).abs() < 1e-6);
        assert_eq!(s.token_source, Some(TokenSource::Backend));
        // no server prefill: prompt / TTFT = 50 / 0.1 s
        assert!((s.prefill_tps.unwrap() - 500.0).abs() < 1e-6);
        assert_eq!(s.prefill_source, Some(PrefillSource::Ttft));
        assert!(s.arrival_tokens.is_empty());
        // sent three seconds before `wall`, give or take the test's own time
        let before = (wall - s.sent_at.unwrap()).num_milliseconds();
        assert!((2_990..3_100).contains(&before), "sent {before} ms before the test began");
    }

    #[test]
    fn multi_token_chunks_and_estimates() {
        let t0 = Instant::now();
        let mut r = StreamRecord::new(t0);
        r.push_text(at(t0, 10), "ab", 2);
        r.push_text(at(t0, 30), "c", 1);
        let s = compute(&r, t0);
        assert_eq!(s.output_tokens, Some(3));
        assert_eq!(s.token_source, Some(TokenSource::Estimate));
        assert_eq!(s.arrival_tokens, vec![2, 1]);
        assert!((s.decode_tps.unwrap() - 100.0).abs() < 1e-6);
        assert_eq!(s.e2e_ms, None);
    }

    #[test]
    fn server_prefill_wins_and_single_token_has_no_decode_rate() {
        let t0 = Instant::now();
        let mut r = StreamRecord::new(t0);
        r.push_text(at(t0, 40), "x", 1);
        r.usage = Usage { prompt_tokens: Some(100), output_tokens: Some(1) };
        r.server_rates = ServerRates { prefill_tokens: Some(80), prefill_ms: Some(20.0), decode_tps: None };
        let s = compute(&r, t0);
        assert_eq!(s.decode_tps, None);
        assert!((s.prefill_tps.unwrap() - 4000.0).abs() < 1e-6);
        assert_eq!(s.prefill_source, Some(PrefillSource::Server));
    }
}
