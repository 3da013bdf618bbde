//! What a server claims about a request, checked against what the client saw and asked
//! for before any metric uses it. A claim that cannot be true is not taken: the client's
//! own figure (or none) stands in, and the sample names the claim it set aside, so the
//! case can warn. Tolerances are wide: only impossible claims are caught, never a server
//! that batches tokens into chunks or counts a template's tokens.

use super::sample::StreamRecord;

/// What the client asked for, known before the request was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked {
    /// `max_tokens` of the request.
    pub max_tokens: u64,
    /// Bytes of prompt text (every message's content).
    pub prompt_bytes: u64,
    /// Messages in the prompt (1 for a plain prompt).
    pub messages: u64,
}

/// Template tokens a chat template may add per message, and per request (BOS, the
/// assistant's header): generous, so no real template trips them.
const TEMPLATE_TOKENS_PER_MESSAGE: u64 = 32;
const TEMPLATE_TOKENS: u64 = 64;
/// Faster than this is not a measurement (a 1 ns duration, a counter reset).
const MAX_RATE_TPS: f64 = 1e7;
/// A server's decode rate more than this many times the client's is not its decode rate.
const MAX_RATE_OVER_CLIENT: f64 = 20.0;

/// Checks `rec`'s server figures against `asked` and the stream itself; sets aside each
/// impossible claim (in place) and returns what was set aside, one line each.
pub fn check(rec: &mut StreamRecord, asked: &Asked) -> Vec<String> {
    let mut rejected = Vec::new();
    let observed = rec.arrival_tokens();
    if let Some(n) = rec.usage.output_tokens
        && n > asked.max_tokens + 1
    {
        rejected.push(format!("{n} output tokens for max_tokens={} (kept the {observed} counted from the stream)", asked.max_tokens));
        rec.usage.output_tokens = None;
    }
    let most_prompt = asked.prompt_bytes + TEMPLATE_TOKENS_PER_MESSAGE * asked.messages.max(1) + TEMPLATE_TOKENS;
    if let Some(n) = rec.usage.prompt_tokens
        && n > most_prompt
    {
        rejected.push(format!("{n} prompt tokens for {} bytes of prompt (at most {most_prompt} are possible)", asked.prompt_bytes));
        rec.usage.prompt_tokens = None;
    }
    if let Some(n) = rec.server_rates.prefill_tokens
        && n > most_prompt
    {
        rejected.push(format!("{n} evaluated prompt tokens for {} bytes of prompt", asked.prompt_bytes));
        rec.server_rates.prefill_tokens = None;
    }
    check_rates(rec, &mut rejected);
    rejected
}

/// The server's prefill time and decode rate: positive, finite, physically possible, and
/// (prefill) within the time to first token the client saw.
fn check_rates(rec: &mut StreamRecord, rejected: &mut Vec<String>) {
    let ttft_ms = rec.arrivals.first().map(|(t, _)| super::ms(t.saturating_duration_since(rec.sent)));
    if let Some(p) = rec.server_rates.prefill_ms {
        let n = rec.server_rates.prefill_tokens.or(rec.usage.prompt_tokens).unwrap_or(0) as f64;
        let too_fast = p > 0.0 && n / (p / 1e3) > MAX_RATE_TPS;
        let too_slow = ttft_ms.is_some_and(|t| p > t * 1.05 + 5.0);
        if !p.is_finite() || p < 0.0 || too_fast || too_slow {
            let seen = ttft_ms.map_or(String::new(), |t| format!(" (the first token came {t:.1} ms after sending)"));
            rejected.push(format!("a prefill time of {p} ms for {n} tokens{seen}"));
            rec.server_rates.prefill_ms = None;
        }
    }
    if let Some(r) = rec.server_rates.decode_tps {
        let client = client_decode_tps(rec);
        let beyond = client.is_some_and(|c| r > c * MAX_RATE_OVER_CLIENT);
        if !r.is_finite() || r <= 0.0 || r > MAX_RATE_TPS || beyond {
            let seen = client.map_or(String::new(), |c| format!(" (the stream came at {c:.1} tok/s)"));
            rejected.push(format!("a decode rate of {r} tok/s{seen}"));
            rec.server_rates.decode_tps = None;
        }
    }
}

/// Tokens per second between the first and last arrival, as the client saw them.
fn client_decode_tps(rec: &StreamRecord) -> Option<f64> {
    let n = rec.usage.output_tokens.unwrap_or_else(|| rec.arrival_tokens());
    let (first, last) = (rec.arrivals.first()?.0, rec.arrivals.last()?.0);
    let span = last.saturating_duration_since(first).as_secs_f64();
    (n >= 2 && span > 0.0).then(|| (n - 1) as f64 / span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::sample::ServerRates;
    use std::time::{Duration, Instant};

    /// Five tokens 10 ms apart, the first 50 ms after sending.
    fn five() -> StreamRecord {
        let t0 = Instant::now();
        let mut r = StreamRecord::new(t0);
        for i in 0..5 {
            r.push_text(t0 + Duration::from_millis(50 + 10 * i), "ab", 1);
        }
        r.done = Some(t0 + Duration::from_millis(100));
        r
    }

    const ASKED: Asked = Asked { max_tokens: 5, prompt_bytes: 7, messages: 1 };

    #[test]
    fn impossible_counts_are_set_aside_for_the_clients() {
        let mut r = five();
        r.usage.output_tokens = Some(99_999_999);
        r.usage.prompt_tokens = Some(1000);
        let why = check(&mut r, &ASKED);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("99999999 output tokens for max_tokens=5 (kept the 5 counted"), "{why:?}");
        assert!(why[1].contains("1000 prompt tokens for 7 bytes"), "{why:?}");
        assert_eq!((r.usage.output_tokens, r.usage.prompt_tokens), (None, None));
        let s = crate::measure::sample::compute(&r, r.sent);
        assert_eq!((s.output_tokens, s.token_source), (Some(5), Some(crate::measure::sample::TokenSource::Estimate)));
        // plausible claims stand: a template's tokens, max_tokens + 1 (a stop token)
        let mut r = five();
        r.usage = crate::measure::sample::Usage { prompt_tokens: Some(90), output_tokens: Some(6) };
        assert!(check(&mut r, &ASKED).is_empty());
        assert_eq!(r.usage.output_tokens, Some(6));
    }

    #[test]
    fn impossible_rates_are_set_aside() {
        for (rates, expect) in [
            (ServerRates { prefill_tokens: Some(7), prefill_ms: Some(1e-6), decode_tps: None }, "prefill time of"),
            (ServerRates { prefill_tokens: Some(7), prefill_ms: Some(400.0), decode_tps: None }, "first token came 50.0 ms"),
            (ServerRates { prefill_tokens: None, prefill_ms: None, decode_tps: Some(-3.0) }, "decode rate of -3"),
            (ServerRates { prefill_tokens: None, prefill_ms: None, decode_tps: Some(1e17) }, "decode rate of 100000000000000000"),
            (ServerRates { prefill_tokens: None, prefill_ms: None, decode_tps: Some(5000.0) }, "the stream came at 100.0 tok/s"),
        ] {
            let mut r = five();
            r.server_rates = rates;
            let why = check(&mut r, &ASKED);
            assert!(why.len() == 1 && why[0].contains(expect), "{rates:?}: {why:?}");
            assert_eq!((r.server_rates.prefill_ms, r.server_rates.decode_tps), (None, None));
        }
        // a server prefill within the TTFT and a decode rate near the client's stand
        let mut r = five();
        r.server_rates = ServerRates { prefill_tokens: Some(7), prefill_ms: Some(40.0), decode_tps: Some(130.0) };
        assert!(check(&mut r, &ASKED).is_empty());
    }
}
