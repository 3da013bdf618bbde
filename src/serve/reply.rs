//! What both APIs answer alike: the HTTP status of each engine failure, and error
//! responses (each API gives its own JSON body; a full queue's 503 says when to retry).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::worker::Failure;

impl Failure {
    /// The status both APIs answer this failure with: the request's fault is 400, the
    /// model's or the engine's 500.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Load(_) | Failure::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error response with `body` (the API's own error shape); a 503 (the queue is full)
/// carries `Retry-After: 1`.
pub fn error_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retry_after() {
        assert_eq!(Failure::BadRequest("x".into()).status(), StatusCode::BAD_REQUEST);
        assert_eq!(Failure::Load("x".into()).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Failure::Engine("x".into()).status(), StatusCode::INTERNAL_SERVER_ERROR);
        let busy = error_response(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({}));
        assert_eq!(busy.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert!(error_response(StatusCode::BAD_REQUEST, serde_json::json!({})).headers().get(header::RETRY_AFTER).is_none());
    }
}
