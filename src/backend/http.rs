//! HTTP plumbing shared by the backends: one client, requests under a deadline, bodies
//! read with a size cap, and server error messages turned into one line.

use std::time::Duration;

use serde_json::Value;

use super::error::{RequestError, one_line};

/// Most bytes read of a non-streamed body (`/models`, `/api/tags`, `/api/show`, ...).
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// Most bytes of an error body read for its message.
pub const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// The HTTP client every backend uses: no proxies (targets are local servers), short
/// connect timeout, no overall timeout (each request has its own deadline).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A transport failure in one line, without the URL (the caller names it once): the
/// innermost cause for a refused connection, the error chain otherwise.
pub fn transport_reason(e: &reqwest::Error) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    while let Some(src) = innermost.source() {
        innermost = src;
    }
    if e.is_connect() {
        return innermost.to_string();
    }
    let head = match e.url() {
        Some(u) => e.to_string().replace(&format!(" for url ({u})"), ""),
        None => e.to_string(),
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{head}: {}", one_line(cause)),
        None => head,
    }
}

/// Why a capped body read stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    #[error("body not complete before the deadline")]
    TimedOut,
    #[error("body larger than {} bytes", .0)]
    TooLarge(usize),
    #[error("body broke off: {0}")]
    Broken(String),
}

/// Reads a whole body, at most `max` bytes, finishing by `deadline`.
pub async fn read_capped(resp: &mut reqwest::Response, max: usize, deadline: tokio::time::Instant) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(Err(e)) => return Err(BodyError::Broken(transport_reason(&e))),
            Ok(Ok(None)) => return Ok(out),
            Ok(Ok(Some(b))) => {
                if out.len() + b.len() > max {
                    return Err(BodyError::TooLarge(max));
                }
                out.extend_from_slice(&b);
            }
        }
    }
}

/// Why a JSON call failed; each displays as one line without the URL (the caller names
/// it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError {
    /// No answer (refused, unreachable, or no headers before the deadline).
    #[error("{0}")]
    NoAnswer(String),
    /// A non-success status, with the server's message.
    #[error("{error}")]
    Status { not_found: bool, error: RequestError },
    /// The body broke off, was too large or late, or was not JSON.
    #[error("{0}")]
    Body(String),
}

/// Sends a request and reads its JSON body, everything within `timeout` and the body
/// within [`MAX_BODY_BYTES`].
pub async fn get_json(builder: reqwest::RequestBuilder, timeout: Duration) -> Result<Value, JsonError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let secs = timeout.as_secs_f64();
    let mut resp = match tokio::time::timeout_at(deadline, builder.send()).await {
        Err(_) => return Err(JsonError::NoAnswer(format!("no answer within {secs} s"))),
        Ok(Err(e)) => return Err(JsonError::NoAnswer(transport_reason(&e))),
        Ok(Ok(r)) => r,
    };
    if !resp.status().is_success() {
        let not_found = resp.status() == reqwest::StatusCode::NOT_FOUND;
        return Err(JsonError::Status { not_found, error: http_error(resp).await });
    }
    let body = read_capped(&mut resp, MAX_BODY_BYTES, deadline).await.map_err(|e| {
        JsonError::Body(match e {
            BodyError::TimedOut => format!("body not complete within {secs} s"),
            e => e.to_string(),
        })
    })?;
    serde_json::from_slice(&body).map_err(|e| JsonError::Body(format!("not JSON ({e})")))
}

/// Explains a non-success response, with the server's own message when the body has one
/// (`{"error": "..."}` or `{"error": {"message": "..."}}`); reads at most
/// [`MAX_ERROR_BODY_BYTES`] for at most 5 s.
pub async fn http_error(mut resp: reqwest::Response) -> RequestError {
    let status = resp.status().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let text = match read_capped(&mut resp, MAX_ERROR_BODY_BYTES, deadline).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.as_str().map(str::to_string).or_else(|| e.get("message")?.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| crate::secrets::cut(text.trim(), 200));
    let msg = crate::secrets::cut(&msg.replace(['\n', '\r'], " "), 300);
    RequestError::Http { status, message: (!msg.is_empty()).then_some(msg) }
}

/// Sends a request under the deadline; a non-success status is an error with the
/// server's message.
pub async fn send(
    builder: reqwest::RequestBuilder,
    url: &str,
    deadline: tokio::time::Instant,
    timeout_s: f64,
) -> Result<reqwest::Response, RequestError> {
    match tokio::time::timeout_at(deadline, builder.send()).await {
        Err(_) => Err(RequestError::HeadersTimedOut { url: url.into(), secs: timeout_s }),
        Ok(Err(e)) if e.is_connect() => Err(RequestError::Connect { url: url.into(), reason: transport_reason(&e) }),
        Ok(Err(e)) => Err(RequestError::Send { url: url.into(), reason: transport_reason(&e) }),
        Ok(Ok(r)) if !r.status().is_success() => Err(http_error(r).await),
        Ok(Ok(r)) => Ok(r),
    }
}
