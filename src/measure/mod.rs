//! Measurement primitives: per-request metrics from timestamped stream records, memory
//! probes per OS, energy and heat sources, and the host fingerprint.

pub mod apple;
pub mod claims;
pub mod energy;
pub mod error_kind;
pub mod gpu;
pub mod host;
pub mod memory;
pub mod sample;

use std::time::Duration;

/// Milliseconds as f64, the unit of every `*_ms` field.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
