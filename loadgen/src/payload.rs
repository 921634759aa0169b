//! The data loadgen publishes: a sequence number and the wall-clock send time, padded to the
//! wanted size, so each subscriber can tell lost and duplicated events and measure latency from
//! the event alone, whichever server carried it.
//!
//! Text, not binary: every server under test carries `data` as text, and Herald wraps it in
//! JSON. Wall-clock nanoseconds (not `Instant`) so that several loadgen processes on one
//! machine agree on the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Marks a warm-up event: sent until every subscriber has seen one, so the measured events
/// start only when every subscription is live on the server (Nchan may answer the headers
/// before it has registered the subscriber).
const WARM: &str = "warm";

/// What a subscriber found in an event's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// A measured event.
    Bench {
        /// Its position in the run, from 0.
        seq: u64,
        /// When the publisher wrote it, in nanoseconds since the Unix epoch.
        sent_ns: u64,
    },
    /// A warm-up event.
    Warm,
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// The data of measured event `seq` sent at `sent_ns`, padded with `x` to `size` bytes (longer
/// when the two numbers alone need more).
pub(crate) fn encode(seq: u64, sent_ns: u64, size: usize) -> String {
    let mut data = format!("{seq} {sent_ns} ");
    if data.len() < size {
        data.extend(std::iter::repeat_n('x', size - data.len()));
    }
    data
}

/// The data of a warm-up event.
pub(crate) fn warm() -> &'static str {
    WARM
}

/// Reads an event's data; `None` for anything loadgen did not send (a welcome, a reset).
pub(crate) fn decode(data: &str) -> Option<Stamp> {
    if data == WARM {
        return Some(Stamp::Warm);
    }
    let mut parts = data.splitn(3, ' ');
    let seq = parts.next()?.parse().ok()?;
    let sent_ns = parts.next()?.parse().ok()?;
    Some(Stamp::Bench { seq, sent_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads_to_size() {
        let data = encode(41, 1_700_000_000_123_456_789, 64);
        assert_eq!(data.len(), 64);
        assert_eq!(
            decode(&data),
            Some(Stamp::Bench {
                seq: 41,
                sent_ns: 1_700_000_000_123_456_789
            })
        );
    }

    #[test]
    fn grows_past_a_too_small_size() {
        let data = encode(7, 12345, 4);
        assert_eq!(data, "7 12345 ");
        assert_eq!(
            decode(&data),
            Some(Stamp::Bench {
                seq: 7,
                sent_ns: 12345
            })
        );
    }

    #[test]
    fn recognises_warm_up_and_ignores_the_rest() {
        assert_eq!(decode(warm()), Some(Stamp::Warm));
        assert_eq!(decode("hello from stream"), None);
        assert_eq!(decode(""), None);
        assert_eq!(decode("12"), None);
    }
}
