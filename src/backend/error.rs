//! What can go wrong, as types: [`BackendError`] for a target (it cannot run at all) and
//! [`RequestError`] for one request (a failed sample; the run goes on). Each displays as
//! one line that names what was waited for or read, and does not repeat its source.

use crate::measure::sample::ErrorKind;

/// Why a target cannot run; every case of the target records it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("model \"{model}\" not found at {url}{}", available_list(.available))]
    ModelNotFound { model: String, url: String, available: Vec<String> },
    #[error("{0}")]
    Launch(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Request(String),
    #[error("the mlx backend is not built in: {0}")]
    NotBuiltIn(String),
}

fn available_list(v: &[String]) -> String {
    if v.is_empty() { String::new() } else { format!(" (server has: {})", v.join(", ")) }
}

/// Why one request failed. Result files record the message (`samples[].error`) and the
/// kind (`samples[].error_kind`, see [`RequestError::kind`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// No TCP connection.
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The request could not be sent or its headers not read.
    #[error("request to {url} failed: {reason}")]
    Send { url: String, reason: String },
    /// No response headers before the request's deadline.
    #[error("timed out after {secs} s waiting for response headers from {url}")]
    HeadersTimedOut { url: String, secs: f64 },
    /// A non-success status; `message` is the server's own error text when it gave one.
    #[error("HTTP {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Http { status: String, message: Option<String> },
    /// The body stopped arriving before the deadline passed.
    #[error("timed out after {secs} s: stream stalled after {tokens} tokens{}", partial_line(*.mid_line))]
    Stalled { secs: f64, tokens: u64, mid_line: bool },
    /// The connection broke mid-body.
    #[error("connection broke after {tokens} tokens: {reason}")]
    Broken { tokens: u64, reason: String },
    /// The body ended without the stream's done marker.
    #[error("stream ended without completion marker after {tokens} tokens (truncated)")]
    Truncated { tokens: u64 },
    /// A frame was not the JSON the API defines; `excerpt` is its start.
    #[error("malformed JSON in stream ({reason}): {excerpt}")]
    Malformed { reason: String, excerpt: String },
    /// The answer was not a stream this backend reads (a plain JSON body, compressed, ...).
    #[error("not a stream: {0}")]
    NotAStream(String),
    /// The server reported an error inside the stream.
    #[error("server error in stream: {0}")]
    Server(String),
    /// A limit of the harness was reached (named, with its value).
    #[error("{0}")]
    Limit(String),
    /// The target's configuration cannot make this request (a missing API key, ...).
    #[error("{0}")]
    Config(String),
    /// The in-process engine failed or is not running.
    #[error("{0}")]
    Engine(String),
}

fn partial_line(mid_line: bool) -> &'static str {
    if mid_line { " (in the middle of a line)" } else { "" }
}

impl RequestError {
    /// The kind of failure, for tables and result files.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RequestError::Connect { .. } => ErrorKind::Connect,
            RequestError::Send { .. } => ErrorKind::Send,
            RequestError::HeadersTimedOut { .. } | RequestError::Stalled { .. } => ErrorKind::Timeout,
            RequestError::Http { .. } => ErrorKind::Http,
            RequestError::Broken { .. } => ErrorKind::Broken,
            RequestError::Truncated { .. } => ErrorKind::Truncated,
            RequestError::Malformed { .. } => ErrorKind::Malformed,
            RequestError::NotAStream(_) => ErrorKind::NotAStream,
            RequestError::Server(_) => ErrorKind::Server,
            RequestError::Limit(_) => ErrorKind::Limit,
            RequestError::Config(_) => ErrorKind::Config,
            RequestError::Engine(_) => ErrorKind::Engine,
        }
    }

    /// A malformed frame, its excerpt cut to a readable length.
    pub fn malformed(reason: impl std::fmt::Display, frame: &[u8]) -> Self {
        let excerpt = crate::secrets::cut(&String::from_utf8_lossy(&frame[..frame.len().min(400)]), 80);
        RequestError::Malformed { reason: reason.to_string(), excerpt }
    }
}

/// One line out of an error and its causes, without repeats.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_kinds_stable() {
        let e = RequestError::Http { status: "404 Not Found".into(), message: Some("model 'x' not found".into()) };
        assert_eq!(e.to_string(), "HTTP 404 Not Found: model 'x' not found");
        assert_eq!(e.kind(), ErrorKind::Http);
        let s = RequestError::Stalled { secs: 2.0, tokens: 3, mid_line: true };
        assert_eq!(s.to_string(), "timed out after 2 s: stream stalled after 3 tokens (in the middle of a line)");
        assert_eq!(s.kind(), ErrorKind::Timeout);
        let m = RequestError::malformed("expected value", "x".repeat(500).as_bytes());
        assert!(m.to_string().len() < 160, "{m}");
    }
}
