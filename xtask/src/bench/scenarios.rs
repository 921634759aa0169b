//! The load shapes `cargo xtask bench` runs, each against every server: how many subscribers,
//! how many events, how fast, for how long, and which of the measured metrics the report shows
//! for it.

/// One load shape; `--quick` divides the sizes by ten.
#[derive(Debug, Clone)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) subscribers: usize,
    pub(super) messages: u64,
    /// Publishes per second; 0 = as fast as the in-flight bound allows.
    pub(super) rate: f64,
    pub(super) in_flight: usize,
    /// Seconds to hold idle connections.
    pub(super) hold: f64,
    /// Seconds loadgen waits after the last publish for deliveries still queued in the
    /// server: what has not arrived by then counts as lost.
    pub(super) drain: f64,
    /// Bound on loadgen's whole run, seconds.
    pub(super) timeout: f64,
    /// The metrics the report's table shows, in order.
    pub(super) shown: &'static [&'static str],
}

impl Scenario {
    /// The load in words, for the report.
    pub(super) fn describe(&self) -> String {
        let rate = if self.rate > 0.0 {
            format!("{} messages/s", self.rate)
        } else if self.messages > 0 {
            format!("as fast as {} requests in flight allow", self.in_flight)
        } else {
            "no messages".to_owned()
        };
        let hold = if self.hold > 0.0 {
            format!(", held {} s", self.hold)
        } else {
            String::new()
        };
        format!(
            "{} subscribers, {} messages of 64 B, {rate}{hold}.",
            self.subscribers, self.messages
        )
    }
}

/// The drain of every scenario that publishes: long enough that a server which queues (Pushpin
/// delivers ~50,000 events/s here, so fanout-1k's 2,000,000 deliveries take 40 s) is measured
/// as slow, not as lossy. Servers that keep up end the drain as soon as everything arrived.
const DRAIN: f64 = 60.0;

pub(super) fn scenarios(quick: bool) -> Vec<Scenario> {
    let scale = |full: usize| if quick { full / 10 } else { full };
    let scale_messages = |full: u64| if quick { full / 10 } else { full };
    vec![
        Scenario {
            name: "idle",
            subscribers: scale(10_000),
            messages: 0,
            rate: 0.0,
            in_flight: 1,
            hold: if quick { 1.0 } else { 10.0 },
            drain: 0.0,
            timeout: 90.0,
            shown: &[
                "rss_kb_per_conn",
                "peak_rss_mb",
                "connect_p50_ms",
                "connect_p99_ms",
                "connect_all_s",
                "cpu_s",
                "connected",
                "connect_failed",
                "connect_retries",
                "dropped",
            ],
        },
        Scenario {
            name: "fanout-1k",
            subscribers: scale(1_000),
            messages: scale_messages(2_000),
            rate: 0.0,
            in_flight: 4,
            hold: 0.0,
            drain: DRAIN,
            timeout: 150.0,
            shown: &[
                "deliveries_per_s",
                "cpu_us_per_delivery",
                "latency_p50_ms",
                "latency_p99_ms",
                "latency_max_ms",
                "lost",
                "duplicated",
                "dropped",
                "publish_rate",
                "peak_rss_mb",
                "cpu_s",
                "loadgen_cpu_s",
            ],
        },
        Scenario {
            name: "fanout-10k",
            subscribers: scale(10_000),
            messages: scale_messages(200),
            rate: 100.0,
            in_flight: 4,
            hold: 0.0,
            drain: DRAIN,
            // Pinned, Pushpin takes ~20 s to connect 10,000 subscribers and answers under 10
            // publishes a second while it delivers: its run takes ~110 s.
            timeout: 180.0,
            shown: &[
                "deliveries_per_s",
                "publish_rate",
                "cpu_us_per_delivery",
                "latency_p50_ms",
                "latency_p99_ms",
                "latency_max_ms",
                "lost",
                "duplicated",
                "dropped",
                "peak_rss_mb",
                "cpu_s",
                "loadgen_cpu_s",
            ],
        },
        // fanout-10k's offered load caps its deliveries at 1,000,000/s, which a server that
        // keeps up reaches whatever its headroom: the same crowd, published to as fast as the
        // server answers, measures what it can deliver.
        Scenario {
            name: "fanout-10k-max",
            subscribers: scale(10_000),
            messages: scale_messages(200),
            rate: 0.0,
            in_flight: 4,
            hold: 0.0,
            drain: DRAIN,
            timeout: 180.0,
            shown: &[
                "deliveries_per_s",
                "publish_rate",
                "cpu_us_per_delivery",
                "latency_p50_ms",
                "latency_p99_ms",
                "latency_max_ms",
                "lost",
                "duplicated",
                "dropped",
                "peak_rss_mb",
                "cpu_s",
                "loadgen_cpu_s",
            ],
        },
        Scenario {
            name: "steady",
            subscribers: scale(1_000),
            // 50 messages per second for 10 s (1 s quick).
            messages: scale_messages(500),
            rate: 50.0,
            in_flight: 2,
            hold: 0.0,
            drain: DRAIN,
            timeout: 90.0,
            shown: &[
                "latency_p50_ms",
                "latency_p99_ms",
                "latency_max_ms",
                "lost",
                "duplicated",
                "dropped",
                "cpu_us_per_delivery",
                "peak_rss_mb",
                "cpu_s",
            ],
        },
        // What a sudden burst costs the subscribers: twice the publishers of fanout-1k, so the
        // servers' buffers fill; whatever a server drops or cuts shows here.
        Scenario {
            name: "burst",
            subscribers: scale(1_000),
            messages: scale_messages(2_000),
            rate: 0.0,
            in_flight: 8,
            hold: 0.0,
            drain: DRAIN,
            timeout: 150.0,
            shown: &[
                "lost",
                "duplicated",
                "dropped",
                "deliveries_per_s",
                "latency_p50_ms",
                "latency_p99_ms",
                "latency_max_ms",
                "publish_rate",
                "publish_errors",
                "cpu_us_per_delivery",
                "peak_rss_mb",
                "loadgen_cpu_s",
            ],
        },
    ]
}
