//! One topic's history in memory: encoded frames in id order, bounded by count and age, with an
//! index of idempotency keys. Readers are only positions in it; nobody copies a frame per reader.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shared::TopicName;

use super::log::{Budget, Read, TopicLog};

/// An event as history keeps it: already encoded, shared by every reader.
#[derive(Debug)]
struct Stored {
    id: u64,
    at: Instant,
    frame: Bytes,
    /// The publisher's idempotency key, if it gave one.
    key: Option<Arc<str>>,
    /// A private event's topics (who may read it is decided by them); `None` when public.
    private_to: Option<Arc<[TopicName]>>,
}

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first.
    entries: VecDeque<Stored>,
    /// The highest id that has left history: a reader before it missed events.
    evicted_through: u64,
    /// Idempotency keys of the events in history, to the event's id.
    keys: HashMap<Arc<str>, u64>,
    /// Bytes of frames held.
    bytes: usize,
}

impl Ring {
    fn pop_front(&mut self) -> Option<usize> {
        let oldest = self.entries.pop_front()?;
        self.evicted_through = oldest.id;
        if let Some(key) = oldest.key
            && self.keys.get(&key) == Some(&oldest.id)
        {
            self.keys.remove(&key);
        }
        self.bytes -= oldest.frame.len();
        Some(oldest.frame.len())
    }
}

/// One topic's history.
#[derive(Debug)]
pub(crate) struct TopicRing {
    /// The newest id appended, readable without the lock.
    newest: AtomicU64,
    ring: RwLock<Ring>,
}

/// What an eviction freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Freed {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
}

impl TopicRing {
    /// An empty history whose readers count as having missed everything up to
    /// `evicted_through` (a topic forgotten and made anew remembers what it lost).
    pub(crate) fn new(evicted_through: u64) -> Self {
        Self {
            newest: AtomicU64::new(evicted_through),
            ring: RwLock::new(Ring {
                evicted_through,
                ..Ring::default()
            }),
        }
    }

    fn read_lock(&self) -> RwLockReadGuard<'_, Ring> {
        // Every critical section leaves the ring consistent between statements that can
        // panic (none can), so a poisoned lock holds a usable ring.
        self.ring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Ring> {
        self.ring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event (ids only grow: the log appends under its sequence lock); a private
    /// one carries its topics.
    pub(crate) fn push(
        &self,
        id: u64,
        at: Instant,
        frame: Bytes,
        key: Option<Arc<str>>,
        private_to: Option<Arc<[TopicName]>>,
    ) {
        let mut ring = self.write_lock();
        if let Some(key) = &key {
            ring.keys.insert(Arc::clone(key), id);
        }
        ring.bytes += frame.len();
        ring.entries.push_back(Stored {
            id,
            at,
            frame,
            key,
            private_to,
        });
        self.newest.store(id, Ordering::Release);
    }

    /// Drops what is beyond `max_len` entries or older than `max_age`.
    pub(crate) fn evict(&self, max_len: usize, max_age: Duration, now: Instant) -> Freed {
        let mut ring = self.write_lock();
        let mut freed = Freed::default();
        while let Some(oldest) = ring.entries.front() {
            let expired = now.saturating_duration_since(oldest.at) > max_age;
            if ring.entries.len() <= max_len && !expired {
                break;
            }
            if let Some(bytes) = ring.pop_front() {
                freed.events += 1;
                freed.bytes += bytes;
            }
        }
        freed
    }

    /// Drops the oldest event if it is `id` (the log's byte budget evicts oldest first over
    /// all topics); the bytes freed, or `None` when `id` already left.
    pub(crate) fn evict_exact(&self, id: u64) -> Option<usize> {
        let mut ring = self.write_lock();
        if ring.entries.front().is_some_and(|oldest| oldest.id == id) {
            return ring.pop_front();
        }
        None
    }

    /// Records that every event up to `through` has left history (the shared log lost some of
    /// them while this node was away): those still held go too, so that a reader before
    /// `through` is told it missed events rather than handed part of them.
    pub(crate) fn lose_through(&self, through: u64) -> Freed {
        let mut ring = self.write_lock();
        let mut freed = Freed::default();
        while ring
            .entries
            .front()
            .is_some_and(|oldest| oldest.id <= through)
        {
            if let Some(bytes) = ring.pop_front() {
                freed.events += 1;
                freed.bytes += bytes;
            }
        }
        ring.evicted_through = ring.evicted_through.max(through);
        if self.newest.load(Ordering::Acquire) < through {
            self.newest.store(through, Ordering::Release);
        }
        freed
    }

    /// Whether `id` has already left history.
    pub(crate) fn has_evicted(&self, id: u64) -> bool {
        self.read_lock().evicted_through >= id
    }

    /// The id of the event in history published with idempotency key `key`.
    pub(crate) fn find_key(&self, key: &str) -> Option<u64> {
        self.read_lock().keys.get(key).copied()
    }

    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.read_lock().entries.len()
    }

    /// Bytes of frames held.
    pub(crate) fn bytes(&self) -> usize {
        self.read_lock().bytes
    }

    /// The highest id that has left history.
    pub(crate) fn evicted_through(&self) -> u64 {
        self.read_lock().evicted_through
    }
}

impl TopicLog for TopicRing {
    fn newest(&self) -> u64 {
        self.newest.load(Ordering::Acquire)
    }

    fn missed_since(&self, after: u64) -> bool {
        self.read_lock().evicted_through > after
    }

    fn read(
        &self,
        after: u64,
        through: u64,
        budget: &mut Budget,
        admit: &dyn Fn(&[TopicName]) -> bool,
        visit: &mut dyn FnMut(u64, &Bytes),
    ) -> Read {
        let ring = self.read_lock();
        if ring.evicted_through > after {
            return Read::Missed;
        }
        // History is in id order: the first event to hand over is found by binary search.
        let start = ring.entries.partition_point(|stored| stored.id <= after);
        let mut last = after;
        for stored in ring.entries.range(start..) {
            if stored.id > through {
                break;
            }
            if stored
                .private_to
                .as_ref()
                .is_some_and(|topics| !admit(topics))
            {
                last = stored.id;
                continue;
            }
            if !budget.take(stored.frame.len()) {
                return Read::Truncated(last);
            }
            visit(stored.id, &stored.frame);
            last = stored.id;
        }
        Read::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic() -> TopicRing {
        TopicRing::new(0)
    }

    fn ids(ring: &TopicRing, after: u64, through: u64, budget: &mut Budget) -> (Vec<u64>, Read) {
        let mut seen = Vec::new();
        let read = ring.read(after, through, budget, &|_| true, &mut |id, _| {
            seen.push(id)
        });
        (seen, read)
    }

    #[test]
    fn eviction_by_count_and_age_remembers_the_last_dropped_id() {
        let start = Instant::now();
        let ring = topic();
        for id in 1..=5 {
            ring.push(
                id,
                start + Duration::from_secs(id),
                Bytes::from("x"),
                None,
                None,
            );
        }
        let freed = ring.evict(3, Duration::from_secs(100), start);
        assert_eq!(
            freed,
            Freed {
                events: 2,
                bytes: 2
            }
        );
        assert_eq!(ring.evicted_through(), 2);
        ring.evict(3, Duration::from_secs(10), start + Duration::from_secs(14));
        assert_eq!(ring.evicted_through(), 3);
        assert!(ring.missed_since(2));
        assert!(!ring.missed_since(3));
        let all = &mut Budget::new(usize::MAX, usize::MAX);
        assert_eq!(ids(&ring, 3, 10, all), (vec![4, 5], Read::Complete));
        assert_eq!(ids(&ring, 4, 10, all), (vec![5], Read::Complete));
        assert_eq!(ids(&ring, 1, 10, all), (vec![], Read::Missed));
        assert_eq!(ids(&ring, 9, 10, all), (vec![], Read::Complete));
    }

    #[test]
    fn reads_stop_at_the_range_end_and_at_the_budget() {
        let ring = topic();
        for id in [2, 4, 6, 8] {
            ring.push(id, Instant::now(), Bytes::from("abcd"), None, None);
        }
        let all = &mut Budget::new(usize::MAX, usize::MAX);
        assert_eq!(ids(&ring, 0, 5, all), (vec![2, 4], Read::Complete));
        // Two frames of four bytes fit in nine; the third does not.
        let mut budget = Budget::new(9, usize::MAX);
        assert_eq!(
            ids(&ring, 0, 8, &mut budget),
            (vec![2, 4], Read::Truncated(4))
        );
        let mut budget = Budget::new(usize::MAX, 3);
        assert_eq!(
            ids(&ring, 2, 8, &mut budget),
            (vec![4, 6, 8], Read::Complete)
        );
    }

    #[test]
    fn keys_are_found_while_their_event_is_in_history() {
        let ring = topic();
        ring.push(
            1,
            Instant::now(),
            Bytes::from("a"),
            Some(Arc::from("k")),
            None,
        );
        ring.push(2, Instant::now(), Bytes::from("b"), None, None);
        assert_eq!(ring.find_key("k"), Some(1));
        assert_eq!(ring.find_key("other"), None);
        assert_eq!(ring.evict_exact(2), None, "only the oldest goes");
        assert_eq!(ring.evict_exact(1), Some(1));
        assert_eq!(ring.find_key("k"), None);
        assert!(ring.has_evicted(1));
        assert_eq!((ring.len(), ring.bytes()), (1, 1));
    }

    #[test]
    fn a_private_event_goes_only_where_admitted_and_costs_nothing_elsewhere() {
        let ring = topic();
        let private: Arc<[TopicName]> = Arc::from(TopicName::list(["a"]).unwrap());
        ring.push(1, Instant::now(), Bytes::from("p"), None, None);
        ring.push(2, Instant::now(), Bytes::from("s"), None, Some(private));
        ring.push(3, Instant::now(), Bytes::from("q"), None, None);
        let read = |after, admit: &dyn Fn(&[TopicName]) -> bool, budget: &mut Budget| {
            let mut seen = Vec::new();
            let read = ring.read(after, 10, budget, admit, &mut |id, _| seen.push(id));
            (seen, read)
        };
        let all = &mut Budget::new(usize::MAX, usize::MAX);
        assert_eq!(read(0, &|_| true, all), (vec![1, 2, 3], Read::Complete));
        let all = &mut Budget::new(usize::MAX, usize::MAX);
        assert_eq!(read(0, &|_| false, all), (vec![1, 3], Read::Complete));
        // One event per read: the one passed over moves the position without using the budget.
        assert_eq!(
            read(0, &|_| false, &mut Budget::new(100, 1)),
            (vec![1], Read::Truncated(2))
        );
        assert_eq!(
            read(2, &|_| false, &mut Budget::new(100, 1)),
            (vec![3], Read::Complete)
        );
    }
}
