//! What a run measured, and the one `RESULT key=value …` line `cargo xtask bench` reads from
//! it (no JSON parser on that side).

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// What a run measured. Durations in milliseconds, rates per second.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) subscribers: u64,
    pub(crate) connected: u64,
    pub(crate) connect_failed: u64,
    /// Subscribe attempts answered 5xx and made again (see `subscriber`).
    pub(crate) connect_retries: u64,
    /// Streams the server ended before the run did.
    pub(crate) dropped: u64,
    pub(crate) connect_all_s: f64,
    pub(crate) connect_p50_ms: f64,
    pub(crate) connect_p99_ms: f64,
    pub(crate) connect_max_ms: f64,
    pub(crate) messages: u64,
    pub(crate) published: u64,
    pub(crate) publish_errors: u64,
    pub(crate) publish_s: f64,
    pub(crate) publish_rate: f64,
    pub(crate) publish_p50_ms: f64,
    pub(crate) publish_p99_ms: f64,
    pub(crate) deliveries: u64,
    pub(crate) deliveries_per_s: f64,
    pub(crate) latency_p50_ms: f64,
    pub(crate) latency_p99_ms: f64,
    pub(crate) latency_max_ms: f64,
    /// Events that streams open when publishing began did not receive (a stream ended early
    /// misses the rest).
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) timed_out: bool,
    /// CPU seconds (user + system) of this process and its helpers: near the wall time means
    /// loadgen, not the server, was the bottleneck.
    pub(crate) loadgen_cpu_s: f64,
    pub(crate) wall_s: f64,
    /// The first error a connection met, to explain failures.
    pub(crate) first_error: String,
}

impl Report {
    /// `key=value` pairs on one line, for `cargo xtask bench` to read without a JSON parser.
    pub(crate) fn to_line(&self) -> anyhow::Result<String> {
        let value = serde_json::to_value(self)?;
        let object = value.as_object().context("a report is an object")?;
        let mut line = String::from("RESULT");
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(text) => text.replace(char::is_whitespace, "_"),
                other => other.to_string(),
            };
            line.push_str(&format!(" {key}={text}"));
        }
        Ok(line)
    }
}
