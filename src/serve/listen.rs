//! `serve`'s accept loop: HTTP/1.1 connections with the bounds a server left running on
//! a developer's machine needs (axum's own `serve` has none of them):
//! - at most `max_connections` at once; one more is answered 503 and closed at once, so
//!   idle sockets cannot use up the process's file descriptors;
//! - a request's head (request line and headers) must arrive within `header_timeout`,
//!   counted from when the connection starts waiting for it, keep-alive waits included:
//!   slow-header clients and idle connections are cut off;
//! - the body within the body timeout (guard.rs);
//! - on Ctrl-C/SIGTERM: no new connections, running answers get a grace period.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The bounds of one listening server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long running answers may go on after the stop signal.
    pub grace: Duration,
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 54\r\n\r\n{\"error\":\"too many connections: try again in a moment\"}";

/// Serves `app` on `listener` until `stop` turns true, then waits up to `limits.grace`
/// for running answers. Returns whether answers were still running at the end.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, mut stop: watch::Receiver<bool>) -> bool {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let service = TowerToHyperService::new(app);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok((mut tcp, _peer)) = accepted else {
            // out of descriptors or a reset before accept: let the moment pass
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(BUSY)).await;
            });
            continue;
        };
        // every token goes out at once: Nagle's algorithm would hold small writes until
        // the client's delayed ACK (about 40 ms) and show up as time to first token
        let _ = tcp.set_nodelay(true);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service.clone()));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => false,
        _ = tokio::time::sleep(limits.grace) => true,
    }
}
