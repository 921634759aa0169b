//! What one loadgen process counts and measures while it runs: the subscribers' counters (which
//! a helper process also sends, frozen, to the process that started it), the publishers'
//! counters, the latency histograms, the first error met, and its own CPU time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::histogram::Histogram;

/// Subscriber counters, this process's or (as last reported) a helper's.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) connected: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Subscribe attempts answered 5xx and made again.
    pub(crate) retried: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) warmed: AtomicU64,
    pub(crate) complete: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) unique: AtomicU64,
    pub(crate) duplicated: AtomicU64,
    /// Wall-clock nanoseconds of the last delivery.
    pub(crate) last_delivery_ns: AtomicU64,
}

/// [`Counts`] frozen, to send from a helper process to the one that started it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CountsSnapshot {
    pub(crate) connected: u64,
    pub(crate) failed: u64,
    pub(crate) retried: u64,
    pub(crate) dropped: u64,
    pub(crate) warmed: u64,
    pub(crate) complete: u64,
    pub(crate) deliveries: u64,
    pub(crate) unique: u64,
    pub(crate) duplicated: u64,
    pub(crate) last_delivery_ns: u64,
}

impl Counts {
    pub(crate) fn snapshot(&self) -> CountsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CountsSnapshot {
            connected: load(&self.connected),
            failed: load(&self.failed),
            retried: load(&self.retried),
            dropped: load(&self.dropped),
            warmed: load(&self.warmed),
            complete: load(&self.complete),
            deliveries: load(&self.deliveries),
            unique: load(&self.unique),
            duplicated: load(&self.duplicated),
            last_delivery_ns: load(&self.last_delivery_ns),
        }
    }

    pub(crate) fn store(&self, snapshot: &CountsSnapshot) {
        let store = |counter: &AtomicU64, value| counter.store(value, Ordering::Relaxed);
        store(&self.connected, snapshot.connected);
        store(&self.failed, snapshot.failed);
        store(&self.retried, snapshot.retried);
        store(&self.dropped, snapshot.dropped);
        store(&self.warmed, snapshot.warmed);
        store(&self.complete, snapshot.complete);
        store(&self.deliveries, snapshot.deliveries);
        store(&self.unique, snapshot.unique);
        store(&self.duplicated, snapshot.duplicated);
        store(&self.last_delivery_ns, snapshot.last_delivery_ns);
    }
}

/// Which counter of [`Counts`] to read.
pub(crate) type Field = fn(&Counts) -> &AtomicU64;

/// Everything one process measures: what its subscribers and publishers counted and timed.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// What this process's subscribers counted.
    pub(crate) counts: Counts,
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    /// Wall-clock nanoseconds of the last publish answer.
    pub(crate) last_publish_ns: AtomicU64,
    /// Publish → receive, per delivery.
    pub(crate) latency: Histogram,
    /// Connect → response head, per subscriber.
    pub(crate) connect: Histogram,
    /// Publish request → its answer.
    pub(crate) publish_rtt: Histogram,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    /// The first error any task met, or an empty string.
    pub(crate) fn first_error(&self) -> String {
        self.first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }

    /// Keeps `err` if it is the first.
    pub(crate) fn error(&self, err: &anyhow::Error) {
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert_with(|| format!("{err:#}"));
    }
}

/// This process's CPU time so far (user + system), from `/proc/self/stat` in clock ticks
/// (`USER_HZ`, 100 on Linux); 0 where that file does not exist.
pub(crate) fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the `)` that closes the command name: state is the first, utime the 12th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
