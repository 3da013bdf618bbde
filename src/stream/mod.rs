//! Byte-stream framing: NDJSON lines and Server-Sent Events.
//!
//! Framers take bytes exactly as they arrive off the socket, in chunks of any size and
//! split at any point, and hand out complete frames. They never allocate per byte and
//! never fail: a frame that does not parse is the backend's business, not the framer's.

pub mod json;
pub mod ndjson;
pub mod sse;

pub use ndjson::NdjsonFramer;
pub use sse::{SseFramer, SseItem};
