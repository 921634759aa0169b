//! One topic: its bounded history and the senders of its live subscribers.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::queue::Sender;
use bytes::Bytes;

/// An event as the hub keeps it: already encoded, shared by every subscriber and by history.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) id: u64,
    pub(crate) at: Instant,
    pub(crate) frame: Bytes,
    /// The publisher's idempotency key, if it gave one.
    pub(crate) key: Option<Arc<str>>,
}

/// A subscriber's identity inside the hub.
pub(crate) type SubscriberId = u64;

#[derive(Debug, Default)]
pub(crate) struct Topic {
    /// Oldest first; bounded by count and age (see [`Topic::evict`]).
    pub(crate) history: VecDeque<Stored>,
    /// The highest id that history has dropped: a client that saw less than this missed events.
    pub(crate) evicted_through: u64,
    pub(crate) subscribers: HashMap<SubscriberId, Sender>,
}

impl Topic {
    /// Drops what is beyond `max_len` entries or older than `max_age`.
    pub(crate) fn evict(&mut self, max_len: usize, max_age: Duration, now: Instant) {
        while let Some(oldest) = self.history.front() {
            let expired = now.saturating_duration_since(oldest.at) > max_age;
            if self.history.len() <= max_len && !expired {
                break;
            }
            self.evicted_through = oldest.id;
            self.history.pop_front();
        }
    }

    /// The stored events with an id above `after`, oldest first.
    pub(crate) fn since(&self, after: u64) -> impl Iterator<Item = &Stored> {
        // History is in id order, so the first event to send is found by binary search.
        let start = self.history.partition_point(|stored| stored.id <= after);
        self.history.range(start..)
    }

    /// The id of the remembered event published with idempotency key `key`.
    pub(crate) fn find_key(&self, key: &str) -> Option<u64> {
        self.history
            .iter()
            .rev()
            .find(|stored| stored.key.as_deref() == Some(key))
            .map(|stored| stored.id)
    }

    /// A topic nobody listens to and nothing is remembered for can be forgotten.
    pub(crate) fn is_unused(&self) -> bool {
        self.subscribers.is_empty() && self.history.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: u64, at: Instant) -> Stored {
        Stored {
            id,
            at,
            frame: Bytes::new(),
            key: None,
        }
    }

    #[test]
    fn eviction_by_count_and_age_remembers_the_last_dropped_id() {
        let start = Instant::now();
        let mut topic = Topic::default();
        for id in 1..=5 {
            topic
                .history
                .push_back(stored(id, start + Duration::from_secs(id)));
        }
        topic.evict(3, Duration::from_secs(100), start);
        assert_eq!(topic.evicted_through, 2);
        assert_eq!(topic.history.len(), 3);
        topic.evict(3, Duration::from_secs(10), start + Duration::from_secs(14));
        assert_eq!(topic.evicted_through, 3);
        assert_eq!(topic.since(0).map(|s| s.id).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(topic.since(4).map(|s| s.id).collect::<Vec<_>>(), [5]);
        assert_eq!(topic.since(9).count(), 0);
    }
}
