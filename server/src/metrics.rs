//! The server's counters and their Prometheus text rendering (`GET /metrics`). The hub knows
//! nothing of them: streams, routes and the janitor count what they do, and the hub's own
//! gauges (subscribers, topics, history) are read from it when rendering.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::hub::log::{Census, Health};
use crate::jwt::Refusal;

/// Counters and gauges, updated lock-free on the hot paths.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    connections: AtomicU64,
    published: AtomicU64,
    deliveries: AtomicU64,
    slow_cut: AtomicU64,
    rejected: AtomicU64,
    tcp_open: AtomicU64,
    /// Tokens refused, by [`Refusal::ALL`]'s order.
    refused_tokens: [AtomicU64; Refusal::ALL.len()],
}

/// Counts one open TCP connection for as long as it lives: actix keeps it in the connection's
/// extensions, which are dropped when the connection's task ends.
#[derive(Debug)]
pub(crate) struct TcpConnectionGuard(Arc<Stats>);

impl TcpConnectionGuard {
    /// Counts a connection that has just been accepted.
    #[must_use]
    pub(crate) fn new(stats: &Arc<Stats>) -> Self {
        stats.tcp_open.fetch_add(1, Relaxed);
        Self(Arc::clone(stats))
    }
}

impl Drop for TcpConnectionGuard {
    fn drop(&mut self) {
        self.0.tcp_open.fetch_sub(1, Relaxed);
    }
}

impl Stats {
    /// One event published.
    pub(crate) fn published(&self) {
        self.published.fetch_add(1, Relaxed);
    }

    /// `events` written to one subscriber.
    pub(crate) fn delivered(&self, events: usize) {
        if events > 0 {
            self.deliveries.fetch_add(events as u64, Relaxed);
        }
    }

    /// `count` subscribers ended because history no longer held their next event.
    pub(crate) fn cut_behind(&self, count: usize) {
        self.slow_cut.fetch_add(count as u64, Relaxed);
    }

    /// One token refused, for `why`.
    pub(crate) fn token_refused(&self, why: Refusal) {
        if let Some(index) = Refusal::ALL.iter().position(|reason| *reason == why) {
            self.refused_tokens[index].fetch_add(1, Relaxed);
        }
    }

    /// Counts one more open stream unless `max` are open already; `false` means over the limit.
    pub(crate) fn try_open_connection(&self, max: usize) -> bool {
        let admitted = self
            .connections
            .fetch_update(Relaxed, Relaxed, |open| {
                (open < max as u64).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            self.rejected.fetch_add(1, Relaxed);
        }
        admitted
    }

    pub(crate) fn close_connection(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    /// The Prometheus text exposition of every counter, plus the hub's gauges given.
    #[must_use]
    pub(crate) fn render(&self, subscribers: usize, census: Census, health: Health) -> String {
        let rows = [
            (
                "herald_connections",
                "gauge",
                "Event streams open.",
                &self.connections,
            ),
            (
                "herald_events_published_total",
                "counter",
                "Events published.",
                &self.published,
            ),
            (
                "herald_deliveries_total",
                "counter",
                "Events written to subscribers.",
                &self.deliveries,
            ),
            (
                "herald_slow_clients_cut_total",
                "counter",
                "Subscribers cut because history no longer held their next event.",
                &self.slow_cut,
            ),
            (
                "herald_tcp_connections",
                "gauge",
                "TCP connections open, each served by one task.",
                &self.tcp_open,
            ),
            (
                "herald_connections_rejected_total",
                "counter",
                "Streams refused over the connection limit.",
                &self.rejected,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Relaxed)
            );
        }
        let gauges = [
            (
                "herald_subscribers",
                "Subscribers registered in the hub.",
                subscribers,
            ),
            (
                "herald_history_events",
                "Events held for replay (once per topic).",
                census.events,
            ),
            (
                "herald_history_bytes",
                "Bytes of encoded events held for replay.",
                census.bytes,
            ),
            (
                "herald_topics",
                "Topics held (with subscribers or history).",
                census.topics,
            ),
            (
                "herald_log_up",
                "1 while the event log takes publishes and subscribers; 0 while it cannot.",
                usize::from(health == Health::Up),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP herald_tokens_refused_total JWTs refused, by reason.\n\
             # TYPE herald_tokens_refused_total counter"
        );
        for (reason, count) in Refusal::ALL.iter().zip(&self.refused_tokens) {
            let _ = writeln!(
                out,
                "herald_tokens_refused_total{{reason=\"{}\"}} {}",
                reason.label(),
                count.load(Relaxed)
            );
        }
        if let Health::Down(reason) = health {
            // One series, present only while down: the reason is one of a fixed few phrases.
            let _ = writeln!(
                out,
                "# HELP herald_log_down Why the event log is unavailable.\n\
                 # TYPE herald_log_down gauge\nherald_log_down{{reason=\"{reason}\"}} 1"
            );
        }
        out
    }
}
