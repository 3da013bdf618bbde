//! A hostile HTTP server for tests: raw TCP, so a test can answer anything at all
//! (endless lines, stalls mid-body, echoed headers, wrong content types). Each
//! connection is one request; the handler writes the whole response.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The request line and headers, as sent (credentials included).
    pub head: String,
    pub body: String,
}

pub struct RawServer {
    pub port: u16,
}

type Handler = Arc<dyn Fn(&Request, &mut TcpStream) + Send + Sync>;

impl RawServer {
    /// Serves every connection on its own thread with `handler`, until the test ends.
    pub fn start(handler: impl Fn(&Request, &mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler: Handler = Arc::new(handler);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let h = handler.clone();
                std::thread::spawn(move || serve(conn, &h));
            }
        });
        RawServer { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(mut conn: TcpStream, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut parts = head.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&buf[head_end.min(buf.len())..]).into_owned();
    handler(&Request { method, path, head, body }, &mut conn);
}

/// A complete response with a body.
pub fn respond(s: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let _ =
        write!(s, "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

/// Headers of a body that runs until the connection closes; the caller writes the body.
pub fn start_stream(s: &mut TcpStream, content_type: &str, extra_headers: &str) {
    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{extra_headers}Connection: close\r\n\r\n");
    let _ = s.flush();
}

/// `GET /v1/models` listing one model, as every OpenAI test target needs to start.
pub fn models_ok(s: &mut TcpStream) {
    respond(s, "200 OK", "application/json", r#"{"object":"list","data":[{"id":"m"}]}"#);
}
