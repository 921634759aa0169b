//! A node's window on the shared log: the recent history of the topics its subscribers read,
//! filled from Redis when a topic is first opened here and kept current by the follower. Readers
//! only ever read the window, so live fan-out and short replays never wait on Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shared::TopicName;
use shared::wire::EventName;

use super::ids;
use super::script::Entry;
use crate::hub::log::{Census, NewEvent};
use crate::hub::memory::LogLimits;
use crate::hub::ring::TopicRing;

/// The topics held here and how far the node has read the log.
#[derive(Debug)]
pub(crate) struct Window {
    limits: LogLimits,
    rings: RwLock<HashMap<TopicName, Arc<TopicRing>>>,
    /// Every event up to this id that is on a held topic is in its ring.
    head: AtomicU64,
}

impl Window {
    /// An empty window whose readers start at `head`.
    #[must_use]
    pub(crate) fn new(limits: LogLimits, head: u64) -> Self {
        Self {
            limits,
            rings: RwLock::new(HashMap::new()),
            head: AtomicU64::new(head),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<TopicName, Arc<TopicRing>>> {
        // Map updates are single inserts and removals: a poisoned map is still whole.
        self.rings.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<TopicName, Arc<TopicRing>>> {
        self.rings.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every event up to this id is in the window (on the topics it holds).
    #[must_use]
    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Moves the head to `id` (never back).
    pub(crate) fn advance(&self, id: u64) {
        self.head.fetch_max(id, Ordering::AcqRel);
    }

    /// The ring of `topic`, when held.
    #[must_use]
    pub(crate) fn ring(&self, topic: &TopicName) -> Option<Arc<TopicRing>> {
        self.read().get(topic).cloned()
    }

    /// The topics held.
    #[must_use]
    pub(crate) fn topics(&self) -> Vec<TopicName> {
        self.read().keys().cloned().collect()
    }

    /// Whether `more` new topics fit, after forgetting those nobody reads if need be.
    #[must_use]
    pub(crate) fn fits(&self, more: usize) -> bool {
        if self.read().len() + more <= self.limits.max_topics {
            return true;
        }
        self.sweep();
        self.read().len() + more <= self.limits.max_topics
    }

    /// Holds `topic` from now on, with `entries` (oldest first, all up to the head) as its
    /// history, and every id up to `gone` counted as left.
    pub(crate) fn hold(&self, topic: &TopicName, gone: u64, entries: &[Entry]) -> Arc<TopicRing> {
        let ring = Arc::new(TopicRing::new(gone));
        let (now, now_ms) = (Instant::now(), unix_millis());
        for entry in entries {
            let age = Duration::from_millis(now_ms.saturating_sub(ids::millis(entry.id)));
            let at = now.checked_sub(age).unwrap_or(now);
            ring.push(entry.id, at, frame(entry), None, audience(entry));
        }
        ring.evict(self.limits.history_len, self.limits.history_age, now);
        Arc::clone(self.write().entry(topic.clone()).or_insert(ring))
    }

    /// Puts `entry` into the rings of the topics it names that are held here; returns those.
    pub(crate) fn apply(&self, entry: &Entry) -> Vec<TopicName> {
        let rings = self.read();
        let held: Vec<(TopicName, Arc<TopicRing>)> = entry
            .topics
            .split('\n')
            .filter_map(|name| {
                let topic = TopicName::new(name).ok()?;
                let ring = rings.get(&topic)?;
                Some((topic, Arc::clone(ring)))
            })
            .collect();
        drop(rings);
        if held.is_empty() {
            return Vec::new();
        }
        let frame = frame(entry);
        let audience = audience(entry);
        let now = Instant::now();
        held.into_iter()
            .map(|(topic, ring)| {
                ring.push(entry.id, now, frame.clone(), None, audience.clone());
                ring.evict(self.limits.history_len, self.limits.history_age, now);
                topic
            })
            .collect()
    }

    /// Counts every id up to `through` on `topic` as left history (the shared log trimmed them
    /// before this node read them).
    pub(crate) fn lose(&self, topic: &TopicName, through: u64) {
        if let Some(ring) = self.ring(topic) {
            ring.lose_through(through);
        }
    }

    /// Counts everything up to `through` as lost on every topic held (the shared log lost its
    /// data): every reader is told so. Returns the topics, to wake their readers.
    pub(crate) fn lose_all(&self, through: u64) -> Vec<TopicName> {
        let rings = self.read();
        for ring in rings.values() {
            ring.lose_through(through);
        }
        rings.keys().cloned().collect()
    }

    /// Expires history and forgets topics nobody reads here (they are filled again from the
    /// shared log when next opened).
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut rings = self.write();
        rings.retain(|_, ring| {
            ring.evict(self.limits.history_len, self.limits.history_age, now);
            Arc::strong_count(ring) > 1
        });
    }

    /// Topics held, and what they hold.
    #[must_use]
    pub(crate) fn census(&self) -> Census {
        let rings = self.read();
        Census {
            topics: rings.len(),
            events: rings.values().map(|ring| ring.len()).sum(),
            bytes: rings.values().map(|ring| ring.bytes()).sum(),
        }
    }
}

/// The frame of `entry`: encoded once per node, shared by its rings and readers.
fn frame(entry: &Entry) -> Bytes {
    // Names were checked when published; one that no longer passes is sent as a plain message
    // rather than breaking the stream.
    let event = (!entry.event.is_empty())
        .then(|| EventName::new(&entry.event).ok())
        .flatten();
    NewEvent {
        retry: entry.retry,
        ..NewEvent::new(&[], event.as_ref(), &entry.data)
    }
    .encode(entry.id)
}

/// Who may read `entry`: everyone, or for a private event, whoever may read one of its topics.
fn audience(entry: &Entry) -> Option<Arc<[TopicName]>> {
    entry.private.then(|| {
        entry
            .topics
            .split('\n')
            .filter_map(|name| TopicName::new(name).ok())
            .collect()
    })
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}
