//! The hub's counters and their Prometheus text rendering (`GET /metrics`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters and gauges, updated lock-free on the hot paths.
#[derive(Debug, Default)]
pub struct Stats {
    subscribers: AtomicU64,
    connections: AtomicU64,
    published: AtomicU64,
    deliveries: AtomicU64,
    slow_cut: AtomicU64,
    rejected: AtomicU64,
    tcp_open: AtomicU64,
}

/// Counts one open TCP connection for as long as it lives: actix keeps it in the connection's
/// extensions, which are dropped when the connection's task ends.
#[derive(Debug)]
pub struct TcpConnectionGuard(std::sync::Arc<crate::hub::Hub>);

impl TcpConnectionGuard {
    /// Counts a connection that has just been accepted.
    #[must_use]
    pub fn new(hub: std::sync::Arc<crate::hub::Hub>) -> Self {
        hub.stats().tcp_open.fetch_add(1, Relaxed);
        Self(hub)
    }
}

impl Drop for TcpConnectionGuard {
    fn drop(&mut self) {
        self.0.stats().tcp_open.fetch_sub(1, Relaxed);
    }
}

impl Stats {
    pub(crate) fn set_subscribers(&self, count: usize) {
        self.subscribers.store(count as u64, Relaxed);
    }

    pub(crate) fn published(&self, deliveries: u64, cut: usize) {
        self.published.fetch_add(1, Relaxed);
        self.deliveries.fetch_add(deliveries, Relaxed);
        self.slow_cut.fetch_add(cut as u64, Relaxed);
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

    /// Subscribers registered in the hub.
    #[must_use]
    pub fn subscribers(&self) -> u64 {
        self.subscribers.load(Relaxed)
    }

    /// Event streams open now.
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    /// Subscribers cut for falling behind their buffer, since start.
    #[must_use]
    pub fn slow_cut(&self) -> u64 {
        self.slow_cut.load(Relaxed)
    }

    /// The Prometheus text exposition of every counter, plus the hub gauges given.
    #[must_use]
    pub fn render(&self, history_events: usize, topics: usize) -> String {
        let rows = [
            (
                "herald_subscribers",
                "gauge",
                "Subscribers registered in the hub.",
                &self.subscribers,
            ),
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
                "Events queued to subscribers.",
                &self.deliveries,
            ),
            (
                "herald_slow_clients_cut_total",
                "counter",
                "Subscribers cut for a full buffer.",
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
        let _ = writeln!(
            out,
            "# HELP herald_history_events Events held for replay.\n# TYPE herald_history_events gauge\nherald_history_events {history_events}"
        );
        let _ = writeln!(
            out,
            "# HELP herald_topics Topics held (with subscribers or history).\n# TYPE herald_topics gauge\nherald_topics {topics}"
        );
        out
    }
}
