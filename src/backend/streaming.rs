//! The one request loop of the HTTP backends: send under the request's deadline, read
//! the body chunk by chunk (each stamped the moment it arrives), hand the bytes to the
//! backend's [`Wire`] (its framing and JSON), and turn how the body ended into a
//! complete record or a failed sample with its reason.

use std::time::{Duration, Instant};

use super::{GenFailure, GenResult, StreamEnd, incomplete_reason, read_body, send};
use crate::measure::metrics::StreamRecord;
use crate::stream::{NdjsonFramer, SseFramer, SseItem};

/// A wire format: framing plus the backend's reading of each frame. Reading sets
/// `rec.done` when the stream's done marker arrives.
pub trait Wire {
    /// Feeds one chunk that arrived at `at`; `Ok(true)` once the stream is done.
    fn push(&mut self, chunk: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, String>;
    /// The body ended: reads a last frame that had no terminator.
    fn finish(&mut self, at: Instant, rec: &mut StreamRecord) -> Result<(), String>;
    /// Whether a body that ended without the done marker is complete all the same.
    fn complete_without_marker(&self, _rec: &StreamRecord) -> bool {
        false
    }
}

/// Sends the request and records its stream through `wire`.
pub async fn stream(builder: reqwest::RequestBuilder, url: &str, timeout_s: f64, wire: &mut impl Wire) -> GenResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(timeout_s);
    let sent = Instant::now();
    let mut resp = send(builder, url, deadline, timeout_s).await?;
    let mut rec = StreamRecord::new(sent);
    let end = match read_body(&mut resp, &mut rec, deadline, |bytes, at, rec| wire.push(bytes, at, rec)).await {
        Ok(end) => end,
        Err(reason) => return Err(GenFailure { reason, partial: Some(rec) }),
    };
    if rec.done.is_none() {
        if let Err(reason) = wire.finish(Instant::now(), &mut rec) {
            return Err(GenFailure { reason, partial: Some(rec) });
        }
    }
    if rec.done.is_none() {
        if matches!(end, StreamEnd::Eof) && wire.complete_without_marker(&rec) {
            rec.done = Some(Instant::now());
            return Ok(rec);
        }
        let reason = incomplete_reason(end, &rec, timeout_s);
        return Err(GenFailure { reason, partial: Some(rec) });
    }
    Ok(rec)
}

/// Server-Sent Events, each event's data read by `read` (OpenAI-compatible servers).
pub struct SseWire {
    framer: SseFramer,
    read: fn(&str, Option<&str>, Instant, &mut StreamRecord) -> Result<bool, String>,
    /// A finish_reason without `[DONE]` completes the stream.
    pub finish_reason_completes: bool,
}

impl SseWire {
    pub fn new(read: fn(&str, Option<&str>, Instant, &mut StreamRecord) -> Result<bool, String>) -> Self {
        SseWire { framer: SseFramer::new(), read, finish_reason_completes: false }
    }

    fn event(&self, item: SseItem, at: Instant, rec: &mut StreamRecord) -> Result<(), String> {
        read_event(self.read, item, at, rec)
    }
}

/// Reads one SSE item; marks the record done at the done marker.
fn read_event(
    read: fn(&str, Option<&str>, Instant, &mut StreamRecord) -> Result<bool, String>,
    item: SseItem,
    at: Instant,
    rec: &mut StreamRecord,
) -> Result<(), String> {
    if let SseItem::Event { data, event } = item {
        if read(&data, event.as_deref(), at, rec)? {
            rec.done = Some(at);
        }
    }
    Ok(())
}

impl Wire for SseWire {
    fn push(&mut self, chunk: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, String> {
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

    fn finish(&mut self, at: Instant, rec: &mut StreamRecord) -> Result<(), String> {
        match self.framer.finish() {
            Some(item) => self.event(item, at, rec),
            None => Ok(()),
        }
    }

    fn complete_without_marker(&self, rec: &StreamRecord) -> bool {
        self.finish_reason_completes && rec.finish_reason.is_some()
    }
}

/// Newline-delimited JSON, each line read by `read` (Ollama); the reader sets `rec.done`.
pub struct NdjsonWire {
    framer: NdjsonFramer,
    read: fn(&[u8], Instant, &mut StreamRecord) -> Result<bool, String>,
}

impl NdjsonWire {
    pub fn new(read: fn(&[u8], Instant, &mut StreamRecord) -> Result<bool, String>) -> Self {
        NdjsonWire { framer: NdjsonFramer::new(), read }
    }
}

impl Wire for NdjsonWire {
    fn push(&mut self, chunk: &[u8], at: Instant, rec: &mut StreamRecord) -> Result<bool, String> {
        let mut result = Ok(());
        let read = self.read;
        self.framer.push(chunk, |line| {
            if result.is_ok() && rec.done.is_none() {
                result = read(line, at, rec).map(|_| ());
            }
        });
        result.map(|()| rec.done.is_some())
    }

    fn finish(&mut self, at: Instant, rec: &mut StreamRecord) -> Result<(), String> {
        match self.framer.finish() {
            Some(line) => (self.read)(&line, at, rec).map(|_| ()),
            None => Ok(()),
        }
    }
}
