//! One subscriber's account of the events it received: which sequence numbers (a bit each),
//! how many came twice or out of order, and the resets. The soak's events carry
//! `<prefix><seq>` in `data`; the welcome is not counted.

use shared::names::WELCOME_TEXT;
use shared::wire::ParsedEvent;

/// What one subscriber saw, and what happened to its connection.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) unique: u64,
    pub(crate) duplicated: u64,
    /// Events whose id was not above the one before, or whose sequence number was below one
    /// already seen.
    pub(crate) out_of_order: u64,
    pub(crate) resets: u64,
    /// Events that were neither ours nor the welcome.
    pub(crate) unexpected: u64,
    pub(crate) drops_fin: u64,
    pub(crate) drops_rst: u64,
    /// Streams the server ended (or reset) on its own.
    pub(crate) server_ended: u64,
    pub(crate) reconnect_failures: u64,
    /// Still waiting for events on an open stream when the run stopped.
    pub(crate) stuck_reading: u64,
    /// How long that stream had been quiet then.
    pub(crate) quiet_for: std::time::Duration,
    /// Bytes that stream had read since its last event.
    pub(crate) stuck_bytes: u64,
    /// Events that stream had carried (its welcome included).
    pub(crate) stuck_events_on_stream: u64,
    /// Still trying to reconnect when the run stopped.
    pub(crate) stuck_resuming: u64,
    /// When it had every event.
    pub(crate) complete_at: Option<std::time::Instant>,
}

/// The record of one subscriber.
#[derive(Debug)]
pub(crate) struct Ledger {
    prefix: &'static str,
    bits: Vec<u64>,
    events: u64,
    max_seq: Option<u64>,
    last_id: u64,
    pub(crate) seen: Seen,
}

impl Ledger {
    /// A ledger for events `<prefix>0` to `<prefix><events - 1>`.
    pub(crate) fn new(prefix: &'static str, events: u64) -> anyhow::Result<Self> {
        Ok(Self {
            prefix,
            bits: vec![0; usize::try_from(events.div_ceil(64))?],
            events,
            max_seq: None,
            last_id: 0,
            seen: Seen::default(),
        })
    }

    /// Every event arrived.
    pub(crate) fn complete(&self) -> bool {
        self.seen.unique == self.events
    }

    /// Events that never arrived.
    pub(crate) fn lost(&self) -> u64 {
        self.events - self.seen.unique
    }

    pub(crate) fn record(&mut self, event: &ParsedEvent) {
        if event.event == shared::event::RESET {
            self.seen.resets += 1;
            return;
        }
        if event.data == WELCOME_TEXT {
            return;
        }
        let seq = event
            .data
            .strip_prefix(self.prefix)
            .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .filter(|&seq| seq < self.events);
        let (Some(seq), Ok(id)) = (seq, event.id.parse::<u64>()) else {
            self.seen.unexpected += 1;
            return;
        };
        if id <= self.last_id {
            self.seen.out_of_order += 1;
        }
        self.last_id = id;
        let word = usize::try_from(seq / 64).unwrap_or(usize::MAX);
        let bit = 1 << (seq % 64);
        let Some(slot) = self.bits.get_mut(word) else {
            self.seen.unexpected += 1;
            return;
        };
        if *slot & bit != 0 {
            self.seen.duplicated += 1;
            return;
        }
        *slot |= bit;
        self.seen.unique += 1;
        if self.max_seq.is_some_and(|max| seq < max) {
            self.seen.out_of_order += 1;
        }
        self.max_seq = Some(self.max_seq.map_or(seq, |max| max.max(seq)));
        if self.complete() {
            self.seen.complete_at = Some(std::time::Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, data: &str) -> ParsedEvent {
        ParsedEvent {
            event: shared::event::MESSAGE.to_owned(),
            data: data.to_owned(),
            id: id.to_string(),
        }
    }

    #[test]
    fn counts_loss_repeats_and_disorder() {
        let mut ledger = Ledger::new("t ", 4);
        let ledger = ledger.as_mut().expect("a small ledger");
        ledger.record(&event(10, WELCOME_TEXT));
        ledger.record(&event(11, "t 0"));
        ledger.record(&event(13, "t 2 padding"));
        ledger.record(&event(12, "t 1"));
        ledger.record(&event(14, "t 2"));
        ledger.record(&event(15, "other 3"));
        assert_eq!(ledger.seen.unique, 3);
        assert_eq!(ledger.lost(), 1);
        assert_eq!(ledger.seen.duplicated, 1);
        // `t 1` came with a lower id and after a higher sequence number: counted once each.
        assert_eq!(ledger.seen.out_of_order, 2);
        assert_eq!(ledger.seen.unexpected, 1);
        assert!(!ledger.complete());
        ledger.record(&event(16, "t 3"));
        assert!(ledger.complete());
    }
}
