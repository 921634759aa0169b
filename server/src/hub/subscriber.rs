//! A subscriber: a position in the logs of its topics, read forward in id order a bounded write
//! at a time. Replay after `Last-Event-ID` is the same read begun earlier, so live and replay
//! meet without a gap or a duplicate.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use shared::events::Welcome;
use shared::wire::EventId;
use shared::{Encoded, TopicName};

use super::fanout::{Membership, Route, Signal};
use super::log::{Budget, EventLog, Read, TopicLog};
use crate::selector::Selectors;

/// The welcome, encoded once for every stream (each frames it under its own id).
static WELCOME: LazyLock<Encoded> =
    LazyLock::new(|| Encoded::new(&Welcome).expect("the welcome is constant text"));

/// Why a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// History no longer holds the next event it has not read.
    Behind,
    /// The server is draining.
    Drain,
}

const RUNNING: u8 = 0;
const BEHIND: u8 = 1;
const DRAIN: u8 = 2;

/// The part of a subscriber the hub sees: where it is, and a way to end it.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) signal: Arc<Signal>,
    /// The last id written to the client.
    position: AtomicU64,
    end: AtomicU8,
    pub(crate) topics: Vec<Arc<dyn TopicLog>>,
}

impl Member {
    pub(crate) fn new(signal: Arc<Signal>, position: u64, topics: Vec<Arc<dyn TopicLog>>) -> Self {
        Self {
            signal,
            position: AtomicU64::new(position),
            end: AtomicU8::new(RUNNING),
            topics,
        }
    }

    /// Ends the stream for `why` unless it already ended; `true` when this call ended it.
    pub(crate) fn end(&self, why: End) -> bool {
        let code = match why {
            End::Behind => BEHIND,
            End::Drain => DRAIN,
        };
        let ended = self
            .end
            .compare_exchange(RUNNING, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if ended {
            self.signal.wake();
        }
        ended
    }

    fn ended(&self) -> Option<End> {
        match self.end.load(Ordering::Acquire) {
            BEHIND => Some(End::Behind),
            DRAIN => Some(End::Drain),
            _ => None,
        }
    }

    /// Whether history has already dropped an event this subscriber has not read.
    pub(crate) fn is_behind(&self) -> bool {
        let position = self.position.load(Ordering::Acquire);
        self.topics.iter().any(|topic| topic.missed_since(position))
    }
}

/// What one read produced.
#[derive(Debug)]
pub(crate) enum Next {
    /// Frames to write, as one chunk.
    Chunk {
        /// The frames.
        bytes: Bytes,
        /// Published events in it (the welcome is not one).
        events: usize,
        /// The budget ran out with more waiting.
        cut_short: bool,
    },
    /// Nothing past the position yet.
    Nothing,
    /// The stream must end; `first` is true for the one read that learns it first (to count
    /// it once).
    End {
        /// Why.
        why: End,
        /// This read ended it (rather than the hub, which counted it then).
        first: bool,
    },
}

/// A subscriber's reading side, owned by its stream.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) member: Arc<Member>,
    pub(crate) membership: Membership,
    /// The welcome's id, until it is written: it follows the replay, before anything newer.
    pub(crate) welcome: Option<u64>,
    /// The last id read.
    pub(crate) after: u64,
    /// Frames and events per write.
    pub(crate) budget: Budget,
    /// The topics whose private events it may read (`mercure.subscribe`); `None`: anonymous,
    /// public events only.
    pub(crate) grants: Option<Arc<Selectors>>,
    /// Removes the subscriber from the hub's registry when dropped.
    pub(crate) _registration: super::Registration,
}

impl Subscriber {
    /// Whether events may be waiting past the position (a cheap check, without reading).
    #[must_use]
    pub(crate) fn pending(&self) -> bool {
        if self.welcome.is_some() || self.member.ended().is_some() {
            return true;
        }
        let head = self.log.head();
        head > self.after
            && self
                .member
                .topics
                .iter()
                .any(|topic| topic.newest().min(head) > self.after)
    }

    /// Why the stream must end, once it must.
    #[must_use]
    pub(crate) fn ended(&self) -> Option<End> {
        self.member.ended()
    }

    /// Has `waker` woken by the next publish on any of the topics (or by the hub ending the
    /// stream), or, given a `route`, handed by that publish to the stream's pacer. Call before
    /// a last read: a publish in between then still reaches it.
    pub(crate) fn listen(&self, waker: &Waker, route: Option<Route>) {
        self.member.signal.route(route);
        self.member.signal.register(waker);
        self.membership.list();
    }

    /// Reads what lies past the position, up to one write's budget, and moves past it.
    pub(crate) fn read(&mut self) -> Next {
        if let Some(why) = self.member.ended() {
            return Next::End { why, first: false };
        }
        let head = self.log.head();
        let through = self.welcome.map_or(head, |welcome| welcome - 1);
        let grants = &self.grants;
        let admit = |topics: &[TopicName]| {
            grants
                .as_ref()
                .is_some_and(|grants| grants.matches_any(topics))
        };
        let mut chunk = Chunk::default();
        let read = match self.member.topics.as_slice() {
            [only] => {
                let mut budget = self.budget;
                only.read(
                    self.after,
                    through,
                    &mut budget,
                    &admit,
                    &mut |id, frame| {
                        chunk.push(id, frame);
                    },
                )
            }
            several => read_merged(
                several,
                self.after,
                through,
                self.budget,
                &admit,
                &mut chunk,
            ),
        };
        // How far the read went: what it wrote, and the private events it passed over.
        let (cut_short, reached) = match read {
            Read::Complete => (false, through),
            Read::Truncated(last) => (true, last),
            Read::Missed => {
                let first = self.member.end(End::Behind);
                return Next::End {
                    why: End::Behind,
                    first,
                };
            }
        };
        let events = chunk.events;
        let mut chunk = chunk.finish();
        if reached > self.after {
            self.after = reached;
        }
        if let Some(welcome) = self.welcome
            && !cut_short
        {
            // Replay done: the welcome, then live events after it.
            let id = EventId::from_seq(welcome);
            let frame = WELCOME.frame().id(&id).to_vec();
            chunk = if chunk.is_empty() {
                Bytes::from(frame)
            } else {
                let mut joined = BytesMut::from(&chunk[..]);
                joined.extend_from_slice(&frame);
                joined.freeze()
            };
            self.after = welcome;
            self.welcome = None;
        }
        self.member.position.store(self.after, Ordering::Release);
        if chunk.is_empty() {
            return Next::Nothing;
        }
        Next::Chunk {
            bytes: chunk,
            events,
            cut_short,
        }
    }
}

/// The frames of one write, gathered in id order: a single frame is passed on as it is (no
/// copy), more are copied once into one buffer.
#[derive(Debug, Default)]
struct Chunk {
    first: Option<Bytes>,
    joined: BytesMut,
    last: u64,
    events: usize,
}

impl Chunk {
    fn push(&mut self, id: u64, frame: &Bytes) {
        match self.events {
            0 => self.first = Some(frame.clone()),
            1 => {
                if let Some(first) = self.first.take() {
                    self.joined.reserve(first.len() + frame.len());
                    self.joined.extend_from_slice(&first);
                }
                self.joined.extend_from_slice(frame);
            }
            _ => self.joined.extend_from_slice(frame),
        }
        self.last = id;
        self.events += 1;
    }

    fn finish(self) -> Bytes {
        match self.first {
            Some(only) => only,
            None => self.joined.freeze(),
        }
    }
}

/// Reads several topics past `after` and merges them into id order (an event published to
/// several of them once), within one write's `budget`.
fn read_merged(
    topics: &[Arc<dyn TopicLog>],
    after: u64,
    through: u64,
    budget: Budget,
    admit: &dyn Fn(&[TopicName]) -> bool,
    chunk: &mut Chunk,
) -> Read {
    let mut frames: Vec<(u64, Bytes)> = Vec::new();
    // A topic whose read was cut short after this id: nothing later may go out in this write,
    // as that topic may hold events in between.
    let mut limit: Option<u64> = None;
    for topic in topics {
        let mut topic_budget = budget;
        match topic.read(
            after,
            through,
            &mut topic_budget,
            admit,
            &mut |id, frame| {
                frames.push((id, frame.clone()));
            },
        ) {
            Read::Complete => {}
            Read::Truncated(last) => limit = Some(limit.map_or(last, |limit| limit.min(last))),
            Read::Missed => return Read::Missed,
        }
    }
    frames.sort_unstable_by_key(|(id, _)| *id);
    frames.dedup_by_key(|(id, _)| *id);
    let mut budget = budget;
    for (id, frame) in &frames {
        if limit.is_some_and(|limit| *id > limit) || !budget.take(frame.len()) {
            return Read::Truncated(chunk.last);
        }
        chunk.push(*id, frame);
    }
    match limit {
        Some(limit) => Read::Truncated(limit),
        None => Read::Complete,
    }
}
