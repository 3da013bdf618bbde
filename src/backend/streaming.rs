//! The one request loop of the HTTP backends: send under the request's deadline, read
//! the body chunk by chunk (each stamped the moment it arrives), hand the bytes to the
//! backend's [`Wire`] (its framing and JSON), and turn how the body ended into a
//! complete record or a failed sample with its reason. Every read is bounded: one frame,
//! the whole body and the number of token arrivals.

use std::time::{Duration, Instant};

use super::error::RequestError;
use super::{GenFailure, GenResult, http};
use crate::measure::sample::StreamRecord;
use crate::stream::{NdjsonFramer, SseFramer, SseItem};

/// Most bytes of one frame (a line, an SSE event) still waiting for its end.
pub const MAX_FRAME_BYTES: usize = 4 << 20;
/// Most bytes of one streamed body.
pub const MAX_STREAM_BYTES: usize = 256 << 20;

/// Most tokens a server may report in one count (`usage`, `eval_count`, ...): larger
/// numbers are a broken or hostile server, not a measurement.
pub const MAX_REPORTED_TOKENS: u64 = 100_000_000;

/// Most token arrivals accepted for a request of `max_tokens`: servers may split a token
/// over chunks, but a stream far past its limit is a server that does not stop.
pub fn max_arrivals(max_tokens: u32) -> u64 {
    u64::from(max_tokens).saturating_mul(4).saturating_add(1024)
}

/// A wire format: framing plus the backend's reading of each frame. Reading sets
/// `rec.done` when the stream's done marker arrives.
pub trait Wire {
    /// Feeds one chunk that arrived at `at`; `Ok(true)` once the stream is done.
    fn push(&mut self, chunk: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, RequestError>;
    /// The body ended: reads a last frame that had no terminator.
    fn finish(&mut self, at: Instant, rec: &mut StreamRecord) -> Result<(), RequestError>;
    /// Bytes held for a frame that has not ended.
    fn pending(&self) -> usize;
    /// The media type of the stream, as servers name it in `Content-Type`.
    fn media_type(&self) -> &'static str;
    /// Whether a body that ended without the done marker is complete all the same.
    fn complete_without_marker(&self, _rec: &StreamRecord) -> bool {
        false
    }
}

/// How a streamed body ended.
enum StreamEnd {
    /// The body ended (the wire decides whether its done marker was seen).
    Eof,
    /// The per-request deadline passed.
    TimedOut,
    /// The connection broke.
    Broken(String),
}

/// Sends the request and records its stream through `wire`.
pub async fn stream(builder: reqwest::RequestBuilder, url: &str, timeout_s: f64, max_tokens: u32, wire: &mut impl Wire) -> GenResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(timeout_s);
    let sent = Instant::now();
    let mut resp = http::send(builder, url, deadline, timeout_s).await?;
    if let Some(why) = not_a_stream(&resp, wire.media_type()) {
        return Err(GenFailure::new(RequestError::NotAStream(why)));
    }
    let mut rec = StreamRecord::new(sent);
    let end = match read_body(&mut resp, &mut rec, deadline, max_arrivals(max_tokens), wire).await {
        Ok(end) => end,
        Err(error) => return Err(GenFailure { error, partial: Some(Box::new(rec)) }),
    };
    let mid_frame = wire.pending() > 0;
    if rec.done.is_none()
        && !matches!(end, StreamEnd::TimedOut)
        && let Err(error) = wire.finish(Instant::now(), &mut rec)
    {
        return Err(GenFailure { error, partial: Some(Box::new(rec)) });
    }
    if rec.done.is_none() && matches!(end, StreamEnd::Eof) && wire.complete_without_marker(&rec) {
        rec.done = Some(Instant::now());
    }
    if rec.done.is_some() {
        return match check_counts(&rec) {
            Ok(()) => Ok(rec),
            Err(error) => Err(GenFailure { error, partial: None }),
        };
    }
    let tokens = rec.arrival_tokens();
    let error = match end {
        StreamEnd::TimedOut => RequestError::Stalled { secs: timeout_s, tokens, mid_line: mid_frame },
        StreamEnd::Broken(reason) => RequestError::Broken { tokens, reason },
        StreamEnd::Eof => RequestError::Truncated { tokens },
    };
    Err(GenFailure { error, partial: Some(Box::new(rec)) })
}

/// Why a response is not a stream we can read, from its headers: a compressed body
/// (we ask for none) or a single JSON document where a stream was asked for.
fn not_a_stream(resp: &reqwest::Response, expected: &str) -> Option<String> {
    let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let encoding = header(reqwest::header::CONTENT_ENCODING);
    if !encoding.is_empty() && encoding != "identity" {
        return Some(format!("the body is compressed (Content-Encoding: {encoding}); mlxbench reads uncompressed streams"));
    }
    let media = header(reqwest::header::CONTENT_TYPE);
    if media.starts_with("application/json") {
        return Some(format!("the server answered with one JSON document (Content-Type: {media}), not a {expected} stream"));
    }
    None
}

/// Reads the body chunk by chunk, stamping each chunk with the instant it arrived.
async fn read_body(
    resp: &mut reqwest::Response,
    rec: &mut StreamRecord,
    deadline: tokio::time::Instant,
    max_arrivals: u64,
    wire: &mut impl Wire,
) -> Result<StreamEnd, RequestError> {
    let mut total = 0usize;
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Ok(StreamEnd::TimedOut),
            Ok(Err(e)) => return Ok(StreamEnd::Broken(http::transport_reason(&e))),
            Ok(Ok(None)) => return Ok(StreamEnd::Eof),
            Ok(Ok(Some(bytes))) => {
                let now = Instant::now();
                rec.first_byte.get_or_insert(now);
                total += bytes.len();
                if wire.push(&bytes, now, rec)? {
                    return Ok(StreamEnd::Eof);
                }
                check_limits(total, wire.pending(), rec.arrivals.len() as u64, max_arrivals)?;
            }
        }
    }
}

/// Token counts the server reported, range-checked.
fn check_counts(rec: &StreamRecord) -> Result<(), RequestError> {
    let counts = [
        ("prompt tokens", rec.usage.prompt_tokens),
        ("output tokens", rec.usage.output_tokens),
        ("evaluated prompt tokens", rec.server_rates.prefill_tokens),
    ];
    for (what, n) in counts {
        if let Some(n) = n.filter(|n| *n > MAX_REPORTED_TOKENS) {
            return Err(RequestError::Limit(format!(
                "the server reported {n} {what}, more than the {MAX_REPORTED_TOKENS} mlxbench accepts as a count"
            )));
        }
    }
    Ok(())
}

fn check_limits(total: usize, pending: usize, arrivals: u64, max_arrivals: u64) -> Result<(), RequestError> {
    if pending > MAX_FRAME_BYTES {
        return Err(RequestError::Limit(format!(
            "one stream frame grew past {} MiB without ending; stopped reading",
            MAX_FRAME_BYTES >> 20
        )));
    }
    if total > MAX_STREAM_BYTES {
        return Err(RequestError::Limit(format!("the stream grew past {} MiB; stopped reading", MAX_STREAM_BYTES >> 20)));
    }
    if arrivals > max_arrivals {
        return Err(RequestError::Limit(format!(
            "the server sent more than {max_arrivals} token chunks for this request's max_tokens; stopped reading"
        )));
    }
    Ok(())
}

/// Reads the data of one SSE event: `Ok(true)` at the done marker.
pub type SseReader = fn(&str, Option<&str>, Instant, &mut StreamRecord) -> Result<bool, RequestError>;
/// Reads one NDJSON line: `Ok(true)` at the done marker.
pub type LineReader = fn(&[u8], Instant, &mut StreamRecord) -> Result<bool, RequestError>;

/// Server-Sent Events, each event's data read by `read` (OpenAI-compatible servers).
pub struct SseWire {
    framer: SseFramer,
    read: SseReader,
    /// A finish_reason without `[DONE]` completes the stream.
    pub finish_reason_completes: bool,
}

impl SseWire {
    pub fn new(read: SseReader) -> Self {
        SseWire { framer: SseFramer::new(), read, finish_reason_completes: false }
    }
}

/// Reads one SSE item; marks the record done at the done marker.
fn read_event(read: SseReader, item: SseItem, at: Instant, rec: &mut StreamRecord) -> Result<(), RequestError> {
    if let SseItem::Event { data, event } = item
        && read(&data, event.as_deref(), at, rec)?
    {
        rec.done = Some(at);
    }
    Ok(())
}

impl Wire for SseWire {
    fn push(&mut self, chunk: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, RequestError> {
        // read in the framer's callback: no per-chunk buffer on the hot path
        let mut result = Ok(());
        let read = self.read;
        self.framer.push(chunk, |item| {
            if result.is_ok() && rec.done.is_none() {
                result = read_event(read, item, at, rec);
            }
        });
        result.map(|()| rec.done.is_some())
    }

    fn finish(&mut self, at: Instant, rec: &mut StreamRecord) -> Result<(), RequestError> {
        match self.framer.finish() {
            Some(item) => read_event(self.read, item, at, rec),
            None => Ok(()),
        }
    }

    fn pending(&self) -> usize {
        self.framer.pending_len()
    }

    fn media_type(&self) -> &'static str {
        "text/event-stream"
    }

    fn complete_without_marker(&self, rec: &StreamRecord) -> bool {
        self.finish_reason_completes && rec.finish_reason.is_some()
    }
}

/// Newline-delimited JSON, each line read by `read` (Ollama); the reader sets `rec.done`.
pub struct NdjsonWire {
    framer: NdjsonFramer,
    read: LineReader,
}

impl NdjsonWire {
    pub fn new(read: LineReader) -> Self {
        NdjsonWire { framer: NdjsonFramer::new(), read }
    }
}

impl Wire for NdjsonWire {
    fn push(&mut self, chunk: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, RequestError> {
        let mut result = Ok(());
        let read = self.read;
        self.framer.push(chunk, |line| {
            if result.is_ok() && rec.done.is_none() {
                result = read(line, at, rec).map(|_| ());
            }
        });
        result.map(|()| rec.done.is_some())
    }

    fn finish(&mut self, at: Instant, rec: &mut StreamRecord) -> Result<(), RequestError> {
        match self.framer.finish() {
            Some(line) => (self.read)(&line, at, rec).map(|_| ()),
            None => Ok(()),
        }
    }

    fn pending(&self) -> usize {
        self.framer.pending_len()
    }

    fn media_type(&self) -> &'static str {
        "application/x-ndjson"
    }
}
