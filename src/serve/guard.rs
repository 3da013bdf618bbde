//! What `serve` lets through before a handler runs, so that it is safe to leave running
//! on a developer's machine, as Ollama guards its own server:
//! - **Host** (DNS rebinding): while listening on a loopback address, only requests
//!   naming a loopback, private or unspecified IP, `localhost`, this machine's hostname
//!   or a `.localhost`/`.local`/`.internal` name pass; listening elsewhere (`--host
//!   0.0.0.0`) is the user's choice to be reached by any name.
//! - **Origin** (cross-site requests from web pages): a request with an `Origin` header
//!   passes only from the loopback origins (any port), `app://`, `file://`, `tauri://`
//!   and VS Code's webviews, or one the user allows (`--allow-origin`, `MLXBENCH_ORIGINS`,
//!   `*` wildcards); it gets CORS headers, and its preflight a 204. Clients that send no
//!   `Origin` (curl, SDKs) are not affected.
//! - **Body**: a `Content-Length` over the limit is refused (413) before a byte is read;
//!   any body is read whole within the body timeout (`--body-timeout`, else 408) and the
//!   limit.
//!
//! Refusals are 403/408/413 in the API's own error shape (`/v1/*`: OpenAI's).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Largest request body: prompts are text; 16 MiB is far beyond any context.
pub const BODY_LIMIT: usize = 16 << 20;

/// Origins web pages may call from without being allowed by the user.
const DEFAULT_ORIGINS: &[&str] = &["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"];
const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1", "[::1]", "0.0.0.0"];

/// Who may call: built once from the listening address and the user's settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Listening on loopback: the Host header is checked.
    check_host: bool,
    hostname: String,
    origins: Vec<String>,
}

impl Policy {
    /// `extra` are the user's origins (`--allow-origin`, `MLXBENCH_ORIGINS`), kept first.
    pub fn new(listening: IpAddr, extra: &[String]) -> Policy {
        let mut origins: Vec<String> = extra.iter().map(|o| o.trim().to_ascii_lowercase()).filter(|o| !o.is_empty()).collect();
        for name in LOOPBACK_NAMES {
            for scheme in ["http", "https"] {
                origins.push(format!("{scheme}://{name}"));
                origins.push(format!("{scheme}://{name}:*"));
            }
        }
        origins.extend(DEFAULT_ORIGINS.iter().map(|o| o.to_string()));
        let hostname = sysinfo::System::host_name().unwrap_or_default().to_ascii_lowercase();
        Policy { check_host: listening.is_loopback(), hostname, origins }
    }

    /// The allowed origins, the user's first (for `serve`'s start-up line and errors).
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether a request naming `host` (the Host header, port included) may pass.
    pub fn host_allowed(&self, host: &str) -> bool {
        if !self.check_host {
            return true;
        }
        let host = host.trim().to_ascii_lowercase();
        let name = strip_port(&host);
        if name.is_empty() {
            return true; // HTTP/1.0 without a Host: nothing to rebind
        }
        if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return ip.is_loopback() || ip.is_unspecified() || is_private(ip);
        }
        name == "localhost"
            || (!self.hostname.is_empty() && name == self.hostname)
            || [".localhost", ".local", ".internal"].iter().any(|tld| name.ends_with(tld))
    }

    /// Whether a page at `origin` may call.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        self.origins.iter().any(|pattern| glob(pattern, &origin))
    }
}

/// `name` of `name:port`, `[v6]` of `[v6]:port`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map(|(v6, _)| &host[..v6.len() + 1]).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        // fc00::/7 (unique local) and fe80::/10 (link local)
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// A refusal in the shape the path's API uses.
pub fn refuse(path: &str, status: StatusCode, message: &str) -> Response {
    let body = if path.starts_with("/v1/") {
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": status.as_u16().to_string()}})
    } else {
        json!({"error": message})
    };
    (status, axum::Json(body)).into_response()
}

/// The Host and Origin checks (module docs).
pub async fn check(State(policy): State<Arc<Policy>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !policy.host_allowed(host) {
        let shown: String = host.chars().take(100).collect();
        let why = format!(
            "forbidden: Host {shown:?} is not this machine (serve on a loopback address answers loopback names only; --host 0.0.0.0 listens for others)"
        );
        return refuse(&path, StatusCode::FORBIDDEN, &why);
    }
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let allowed = origin.to_str().is_ok_and(|o| policy.origin_allowed(o));
    if !allowed {
        let shown: String = String::from_utf8_lossy(origin.as_bytes()).chars().take(100).collect();
        let why = format!("forbidden: Origin {shown:?} may not call this server (allow it with --allow-origin or MLXBENCH_ORIGINS)");
        return refuse(&path, StatusCode::FORBIDDEN, &why);
    }
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE, HEAD, OPTIONS"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, User-Agent, Accept, X-Requested-With"),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        r
    } else {
        next.run(req).await
    };
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    resp.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Reads the request body whole, within [`BODY_LIMIT`] and `timeout` (module docs).
pub async fn read_body(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/api/blobs/") {
        // `ollama create` uploads a whole model here and reads no answer before it has
        // sent it: its handler drains the upload keeping nothing (within its own time
        // bound), then refuses, so the CLI shows the reason instead of a broken pipe
        return next.run(req).await;
    }
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return too_large(&path);
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Err(_) => refuse(&path, StatusCode::REQUEST_TIMEOUT, &format!("request body not received within {} s", timeout.as_secs())),
        Ok(Err(e)) if is_length_limit(&e) => too_large(&path),
        Ok(Err(e)) => refuse(&path, StatusCode::BAD_REQUEST, &format!("cannot read the request body: {e}")),
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

fn too_large(path: &str) -> Response {
    refuse(path, StatusCode::PAYLOAD_TOO_LARGE, &format!("request body over {} MiB", BODY_LIMIT >> 20))
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Policy {
        Policy::new("127.0.0.1".parse().unwrap(), &["https://bench.example.com".into(), "http://*.lab.test:*".into()])
    }

    #[test]
    fn hosts_on_loopback_are_this_machine_only() {
        let p = loopback();
        for ok in [
            "127.0.0.1:11434",
            "localhost",
            "LOCALHOST:80",
            "[::1]:11434",
            "0.0.0.0",
            "10.1.2.3:11434",
            "192.168.1.20",
            "box.local",
            "x.localhost:3000",
            "host.docker.internal",
            "",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.example.com", "evil.example.com:11434", "8.8.8.8", "localhost.evil.com", "[2001:db8::1]:80", "127.0.0.1.nip.io"] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        // listening on every address: any name may reach it, as the user asked
        assert!(Policy::new("0.0.0.0".parse().unwrap(), &[]).host_allowed("evil.example.com"));
    }

    #[test]
    fn origins_are_loopback_apps_and_the_users() {
        let p = loopback();
        for ok in [
            "http://localhost",
            "http://localhost:5173",
            "https://127.0.0.1:8443",
            "http://[::1]:3000",
            "app://obsidian.md",
            "vscode-webview://abc",
            "https://bench.example.com",
            "http://ci.lab.test:8080",
        ] {
            assert!(p.origin_allowed(ok), "{ok}");
        }
        for bad in [
            "https://evil.example.com",
            "http://localhost.evil.com",
            "null",
            "http://127.0.0.1.evil.com:80",
            "https://bench.example.com.evil",
            "http://lab.test:80",
        ] {
            assert!(!p.origin_allowed(bad), "{bad}");
        }
        assert_eq!(p.origins()[0], "https://bench.example.com");
    }

    #[test]
    fn glob_and_port_stripping() {
        assert!(glob("a*c*e", "abcde") && glob("*", "") && !glob("a*c", "ab") && !glob("ab*b", "ab"));
        assert_eq!((strip_port("[::1]:80"), strip_port("a.b:8080"), strip_port("::1"), strip_port("h")), ("[::1]", "a.b", "::1", "h"));
    }
}
