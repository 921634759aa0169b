//! The embedded event log: every topic's history in this process's memory, one sequence of ids,
//! and a byte budget over all topics. Nothing else to run.
//!
//! Appending takes the sequence lock, encodes the frame, pushes it into each topic's ring and
//! then publishes the new head; readers only ever read up to the head, so a reader of several
//! topics never sees an id before every smaller id is in place (no event can slip in behind
//! its position). The lock covers an append, never a fan-out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use shared::TopicName;

use super::log::{
    Appended, Arrivals, Census, EventLog, Health, LogError, NewEvent, Resume, TopicLog,
};
use super::ring::TopicRing;

/// The bounds of a log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogLimits {
    /// Events kept per topic.
    pub(crate) history_len: usize,
    /// How long an event stays replayable.
    pub(crate) history_age: Duration,
    /// Bytes of frames kept over all topics; past it, the oldest events go first.
    pub(crate) history_bytes: usize,
    /// Topics held at once (with readers or history).
    pub(crate) max_topics: usize,
}

/// The log of one node, in memory.
#[derive(Debug)]
pub(crate) struct MemoryLog {
    limits: LogLimits,
    /// Held for the whole of an append or a mark: ids are handed out and made readable in order.
    sequence: Mutex<Sequence>,
    /// Every id up to this one is readable.
    head: AtomicU64,
    /// The first id of this run minus one: ids below it are another run's.
    floor: u64,
    topics: RwLock<Topics>,
    /// Bytes of frames held over all topics.
    bytes: AtomicUsize,
    /// Told of every append.
    arrivals: OnceLock<Arc<dyn Arrivals>>,
}

#[derive(Debug)]
struct Sequence {
    last: u64,
    /// Every (id, topic) still possibly in history, oldest first: the byte budget evicts from
    /// its front. Entries whose event already left by count or age are dropped as met.
    appended: VecDeque<(u64, Arc<TopicRing>)>,
}

#[derive(Debug, Default)]
struct Topics {
    rings: HashMap<TopicName, Arc<TopicRing>>,
    /// The highest id that left a topic since forgotten: a topic made anew starts from it, so
    /// that a client resuming on a forgotten topic is still told what it missed.
    forgotten_through: u64,
}

impl MemoryLog {
    /// An empty log whose ids start at the current time in microseconds, so that ids from an
    /// earlier run are recognisably older than anything this run holds.
    #[must_use]
    pub(crate) fn new(limits: LogLimits) -> Self {
        let now_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_micros()).unwrap_or(u64::MAX / 2)
            });
        Self {
            limits,
            sequence: Mutex::new(Sequence {
                last: now_micros,
                appended: VecDeque::new(),
            }),
            head: AtomicU64::new(now_micros),
            floor: now_micros,
            topics: RwLock::new(Topics::default()),
            bytes: AtomicUsize::new(0),
            arrivals: OnceLock::new(),
        }
    }

    fn sequence(&self) -> MutexGuard<'_, Sequence> {
        // Each step under the lock leaves the sequence usable; nothing in it panics.
        self.sequence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn topics_read(&self) -> std::sync::RwLockReadGuard<'_, Topics> {
        self.topics.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn topics_write(&self) -> std::sync::RwLockWriteGuard<'_, Topics> {
        self.topics.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rings of `names`, made when missing; refused when new ones would pass the limit
    /// even after a sweep. `sequence` is the sequence lock when the caller holds it (it is
    /// taken before the topic map, never after).
    fn rings(
        &self,
        names: &[TopicName],
        now: Instant,
        sequence: Option<&mut Sequence>,
    ) -> Result<Vec<Arc<TopicRing>>, LogError> {
        let fits = |topics: &Topics| {
            let new = names
                .iter()
                .filter(|name| !topics.rings.contains_key(*name))
                .count();
            topics.rings.len() + new <= self.limits.max_topics
        };
        {
            let topics = self.topics_read();
            let found: Vec<Arc<TopicRing>> = names
                .iter()
                .filter_map(|name| topics.rings.get(name).cloned())
                .collect();
            if found.len() == names.len() {
                return Ok(found);
            }
            if !fits(&topics) {
                drop(topics);
                match sequence {
                    Some(sequence) => self.sweep_with(sequence, now),
                    None => self.sweep_with(&mut self.sequence(), now),
                }
            }
        }
        let mut topics = self.topics_write();
        if !fits(&topics) {
            return Err(LogError::TooManyTopics {
                max: self.limits.max_topics,
            });
        }
        let forgotten_through = topics.forgotten_through;
        Ok(names
            .iter()
            .map(|name| {
                Arc::clone(
                    topics
                        .rings
                        .entry(name.clone())
                        .or_insert_with(|| Arc::new(TopicRing::new(forgotten_through))),
                )
            })
            .collect())
    }

    fn evict(&self, ring: &TopicRing, now: Instant) {
        let freed = ring.evict(self.limits.history_len, self.limits.history_age, now);
        self.bytes.fetch_sub(freed.bytes, Ordering::Relaxed);
    }

    /// Keeps the bytes held under the budget, oldest events first over all topics (but never
    /// `newest`, the event just appended, which live readers have yet to read), and drops
    /// bookkeeping for events that already left.
    fn enforce_budget(&self, sequence: &mut Sequence, newest: u64) {
        while let Some((id, ring)) = sequence.appended.front() {
            if *id >= newest {
                break;
            }
            if self.bytes.load(Ordering::Relaxed) > self.limits.history_bytes {
                if let Some(bytes) = ring.evict_exact(*id) {
                    self.bytes.fetch_sub(bytes, Ordering::Relaxed);
                }
            } else if !ring.has_evicted(*id) {
                break;
            }
            sequence.appended.pop_front();
        }
    }

    /// Expires history, drops budget bookkeeping for what left, and forgets topics nobody
    /// reads that hold nothing; with the sequence lock held.
    fn sweep_with(&self, sequence: &mut Sequence, now: Instant) {
        for ring in self.topics_read().rings.values() {
            self.evict(ring, now);
        }
        self.enforce_budget(sequence, u64::MAX);
        let mut topics = self.topics_write();
        let mut forgotten_through = topics.forgotten_through;
        topics.rings.retain(|_, ring| {
            // Only the map holds it (no reader, no budget entry) and it holds nothing.
            if Arc::strong_count(ring) == 1 && ring.len() == 0 {
                forgotten_through = forgotten_through.max(ring.evicted_through());
                return false;
            }
            true
        });
        topics.forgotten_through = forgotten_through;
    }
}

impl MemoryLog {
    /// [`EventLog::append`], at once.
    ///
    /// # Errors
    /// [`LogError::TooManyTopics`] when a topic is new and there is no room for it.
    pub(crate) fn append_now(&self, event: &NewEvent<'_>) -> Result<Appended, LogError> {
        let now = Instant::now();
        let mut sequence = self.sequence();
        let rings = self.rings(event.topics, now, Some(&mut sequence))?;
        if let Some(key) = event.key
            && let Some(id) = rings.iter().find_map(|ring| ring.find_key(key))
        {
            return Ok(Appended::Repeated(id));
        }
        sequence.last += 1;
        let id = sequence.last;
        let frame = event.encode(id);
        let key: Option<Arc<str>> = event.key.map(Arc::from);
        let audience = event.audience();
        for ring in rings {
            ring.push(id, now, frame.clone(), key.clone(), audience.clone());
            self.bytes.fetch_add(frame.len(), Ordering::Relaxed);
            self.evict(&ring, now);
            sequence.appended.push_back((id, ring));
        }
        self.enforce_budget(&mut sequence, id);
        self.head.store(id, Ordering::Release);
        drop(sequence);
        if let Some(arrivals) = self.arrivals.get() {
            arrivals.arrived(event.topics);
        }
        Ok(Appended::New(id))
    }

    /// [`EventLog::open`], at once.
    ///
    /// # Errors
    /// [`LogError::TooManyTopics`] when a topic is new and there is no room for it.
    pub(crate) fn open_now(
        &self,
        topics: &[TopicName],
    ) -> Result<Vec<Arc<dyn TopicLog>>, LogError> {
        let now = Instant::now();
        let rings = self.rings(topics, now, None)?;
        Ok(rings
            .into_iter()
            .map(|ring| {
                // Expired events must not be replayed: a resuming reader is told it missed them.
                self.evict(&ring, now);
                ring as Arc<dyn TopicLog>
            })
            .collect())
    }
}

impl EventLog for MemoryLog {
    fn attach(&self, arrivals: Arc<dyn Arrivals>) {
        // A log serves one hub; a second attach keeps the first.
        let _ = self.arrivals.set(arrivals);
    }

    fn append<'a>(&'a self, event: &'a NewEvent<'a>) -> BoxFuture<'a, Result<Appended, LogError>> {
        Box::pin(std::future::ready(self.append_now(event)))
    }

    fn mark(&self) -> u64 {
        let mut sequence = self.sequence();
        sequence.last += 1;
        self.head.store(sequence.last, Ordering::Release);
        sequence.last
    }

    fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    fn resume(&self, last_event_id: &[u8]) -> Resume {
        let id = std::str::from_utf8(last_event_id)
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|text| text.parse::<u64>().ok());
        match id {
            Some(id) if id >= self.floor && id <= self.head() => Resume::After(id),
            _ => Resume::Unknown,
        }
    }

    fn open<'a>(
        &'a self,
        topics: &'a [TopicName],
    ) -> BoxFuture<'a, Result<Vec<Arc<dyn TopicLog>>, LogError>> {
        Box::pin(std::future::ready(self.open_now(topics)))
    }

    fn health(&self) -> Health {
        Health::Up
    }

    fn sweep(&self) {
        self.sweep_with(&mut self.sequence(), Instant::now());
    }

    fn census(&self) -> Census {
        let topics = self.topics_read();
        Census {
            topics: topics.rings.len(),
            events: topics.rings.values().map(|ring| ring.len()).sum(),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::hub::log::{Budget, Read};

    fn limits() -> LogLimits {
        LogLimits {
            history_len: 10,
            history_age: Duration::from_secs(3600),
            history_bytes: usize::MAX,
            max_topics: 100,
        }
    }

    fn names(list: &[&str]) -> Vec<TopicName> {
        TopicName::list(list).unwrap()
    }

    fn append(log: &MemoryLog, topics: &[TopicName], data: &str) -> u64 {
        log.append_now(&NewEvent::new(topics, None, data))
            .unwrap()
            .id()
    }

    fn read_all(topic: &Arc<dyn TopicLog>, after: u64, through: u64) -> (Vec<u64>, Read) {
        let mut seen = Vec::new();
        let mut budget = Budget::new(usize::MAX, usize::MAX);
        let read = topic.read(
            after,
            through,
            &mut budget,
            &|_| true,
            &mut |id, _: &Bytes| seen.push(id),
        );
        (seen, read)
    }

    #[test]
    fn ids_grow_over_appends_and_marks_and_the_head_follows() {
        let log = MemoryLog::new(limits());
        let topics = names(&["a", "b"]);
        let first = append(&log, &topics, "x");
        let mark = log.mark();
        let second = append(&log, &topics[..1], "y");
        assert!(first < mark && mark < second);
        assert_eq!(log.head(), second);
        let opened = log.open_now(&topics).unwrap();
        assert_eq!(read_all(&opened[0], 0, log.head()).0, [first, second]);
        assert_eq!(read_all(&opened[1], 0, log.head()).0, [first]);
    }

    #[test]
    fn a_repeated_key_appends_nothing_while_its_event_is_in_history() {
        let log = MemoryLog::new(LogLimits {
            history_len: 2,
            ..limits()
        });
        let topic = names(&["a"]);
        let keyed = NewEvent {
            key: Some("k"),
            ..NewEvent::new(&topic, None, "x")
        };
        let first = log.append_now(&keyed).unwrap();
        assert!(matches!(first, Appended::New(_)));
        assert_eq!(
            log.append_now(&keyed).unwrap(),
            Appended::Repeated(first.id())
        );
        assert_eq!(log.census().events, 1);
        append(&log, &topic, "1");
        append(&log, &topic, "2");
        // The keyed event left history: the key is free again.
        assert!(matches!(log.append_now(&keyed).unwrap(), Appended::New(_)));
    }

    #[test]
    fn only_our_ids_resume() {
        let log = MemoryLog::new(limits());
        let id = append(&log, &names(&["a"]), "x");
        assert_eq!(log.resume(id.to_string().as_bytes()), Resume::After(id));
        assert_eq!(
            log.resume(log.floor.to_string().as_bytes()),
            Resume::After(log.floor)
        );
        for foreign in [
            (log.floor - 1).to_string(),
            (id + 1).to_string(),
            String::new(),
            "abc".to_owned(),
            format!(" {id}"),
            "9".repeat(100),
        ] {
            assert_eq!(
                log.resume(foreign.as_bytes()),
                Resume::Unknown,
                "{foreign:?}"
            );
        }
        assert_eq!(log.resume(&[0xff, 0xfe]), Resume::Unknown);
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest_events_over_all_topics() {
        let log = MemoryLog::new(LogLimits {
            history_bytes: 1,
            ..limits()
        });
        let (a, b) = (names(&["a"]), names(&["b"]));
        let first = append(&log, &a, "x");
        let second = append(&log, &b, "y");
        // Over budget with any event: only the newest is kept.
        let census = log.census();
        assert_eq!(census.events, 1);
        let opened = log.open_now(&[a[0].clone(), b[0].clone()]).unwrap();
        assert_eq!(read_all(&opened[0], 0, second).1, Read::Missed);
        assert_eq!(
            read_all(&opened[0], first, second),
            (vec![], Read::Complete)
        );
        assert_eq!(read_all(&opened[1], first, second).0, [second]);
    }

    #[test]
    fn a_new_topic_beyond_the_limit_is_refused_and_nothing_is_appended() {
        let log = MemoryLog::new(LogLimits {
            max_topics: 2,
            ..limits()
        });
        let held = log.open_now(&names(&["a"])).unwrap();
        append(&log, &names(&["b"]), "x");
        let refused = log.append_now(&NewEvent::new(&names(&["a", "c"]), None, "y"));
        assert_eq!(refused, Err(LogError::TooManyTopics { max: 2 }));
        assert!(log.open_now(&names(&["d"])).is_err());
        assert_eq!(log.census().events, 1);
        drop(held);
        // Nobody reads `a` and it holds nothing: a sweep makes room.
        assert!(log.open_now(&names(&["d"])).is_ok());
    }

    #[test]
    fn expired_topics_are_forgotten_and_a_topic_made_anew_remembers_what_was_lost() {
        let log = MemoryLog::new(LogLimits {
            history_age: Duration::ZERO,
            ..limits()
        });
        let a = names(&["a"]);
        let id = append(&log, &a, "x");
        std::thread::sleep(Duration::from_millis(2));
        log.sweep();
        assert_eq!(log.census(), Census::default());
        let opened = log.open_now(&a).unwrap();
        assert!(opened[0].missed_since(id - 1));
        assert!(!opened[0].missed_since(id));
    }
}
