//! The load shapes `cargo xtask bench` runs, each against every server: how many subscribers,
//! how many events, how fast, and for how long.

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
    /// Bound on loadgen's whole run, seconds.
    pub(super) timeout: f64,
}

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
            timeout: 90.0,
        },
        Scenario {
            name: "fanout-1k",
            subscribers: scale(1_000),
            messages: scale_messages(2_000),
            rate: 0.0,
            in_flight: 4,
            hold: 0.0,
            timeout: 90.0,
        },
        Scenario {
            name: "fanout-10k",
            subscribers: scale(10_000),
            messages: scale_messages(200),
            rate: 100.0,
            in_flight: 4,
            hold: 0.0,
            timeout: 90.0,
        },
        Scenario {
            name: "steady",
            subscribers: scale(1_000),
            // 50 messages per second for 10 s (1 s quick).
            messages: scale_messages(500),
            rate: 50.0,
            in_flight: 2,
            hold: 0.0,
            timeout: 60.0,
        },
    ]
}
