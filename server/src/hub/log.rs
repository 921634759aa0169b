//! The seam between the hub and where events are kept: an event log with one order of ids,
//! bounded history per topic, idempotency keys, and reads past a position.
//!
//! Everything above this seam (fan-out, pacing, streams) is the same code whatever fills it;
//! [`super::memory::MemoryLog`] is the embedded implementation, [`super::redis::RedisLog`] the
//! one several nodes share: ids from one cluster-wide order, each node holding a window of
//! recent events that its readers read. Appending and opening may cross the network, so they
//! are futures; reading is always local and synchronous. Either way the log, not its caller,
//! says when events arrive ([`Arrivals`]): on a shared log they also arrive from other nodes.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use shared::wire::{EventFrame, EventId, EventName};
use shared::{Encoded, TopicName};

/// Why the log refused to append or to open topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LogError {
    /// Every place for a topic is taken by topics with subscribers or live history.
    #[error(
        "too many topics ({max}); a topic is forgotten once nobody listens and its history expires"
    )]
    TooManyTopics {
        /// The configured limit.
        max: usize,
    },
    /// The shared log cannot be reached; nothing was appended or opened.
    #[error("the event log is unavailable ({reason}); retry shortly")]
    Unavailable {
        /// What is wrong, for the client and for `/metrics`.
        reason: &'static str,
    },
}

impl LogError {
    /// How long a client refused for this should wait before trying again.
    #[must_use]
    pub(crate) fn retry_after(self) -> std::time::Duration {
        match self {
            Self::TooManyTopics { .. } => std::time::Duration::from_secs(10),
            Self::Unavailable { .. } => std::time::Duration::from_secs(2),
        }
    }
}

/// Whether the log can take appends and new readers now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Working.
    Up,
    /// Not now, and why (one of a few fixed phrases: it is a metric label).
    Down(&'static str),
}

/// Told when events become readable, from this node or another: the hub's fan-out.
pub(crate) trait Arrivals: Send + Sync + fmt::Debug {
    /// Events up to the log's head now include some on these topics.
    fn arrived(&self, topics: &[TopicName]);
}

/// One event to append.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewEvent<'a> {
    /// Where it goes: at least one topic, no repeats.
    pub(crate) topics: &'a [TopicName],
    /// Its type; `message` when `None`.
    pub(crate) event: Option<&'a EventName>,
    /// Its data, any text (line breaks become several `data:` lines).
    pub(crate) data: &'a str,
    /// A reconnection time to send along, in milliseconds.
    pub(crate) retry: Option<u64>,
    /// The publisher's idempotency key.
    pub(crate) key: Option<&'a str>,
    /// Only for subscribers entitled to one of its topics (`mercure.subscribe`).
    pub(crate) private: bool,
}

impl<'a> NewEvent<'a> {
    /// A plain event of type `event` to `topics`.
    #[must_use]
    pub(crate) fn new(
        topics: &'a [TopicName],
        event: Option<&'a EventName>,
        data: &'a str,
    ) -> Self {
        Self {
            topics,
            event,
            data,
            retry: None,
            key: None,
            private: false,
        }
    }

    /// An event of a [`shared::Event`] type, encoded by [`Encoded::new`], to `topics`: its
    /// name and data come together from the type, so they cannot be mismatched.
    #[must_use]
    pub(crate) fn typed(topics: &'a [TopicName], event: &'a Encoded) -> Self {
        Self::new(topics, event.name(), event.data())
    }

    /// Who may read it: `None` for everyone, or its topics when it is private.
    #[must_use]
    pub(crate) fn audience(&self) -> Option<Arc<[TopicName]>> {
        self.private.then(|| Arc::from(self.topics))
    }

    /// The event's frame under `id`: encoded once, shared by history and every reader.
    #[must_use]
    pub(crate) fn encode(&self, id: u64) -> Bytes {
        let event_id = EventId::from_seq(id);
        let mut frame = EventFrame::new(self.data).id(&event_id);
        if let Some(event) = self.event {
            frame = frame.event(event);
        }
        if let Some(retry) = self.retry {
            frame = frame.retry(retry);
        }
        Bytes::from(frame.to_vec())
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// A new event under this id.
    New(u64),
    /// The key was seen on an event still in history: nothing appended, that event's id.
    Repeated(u64),
}

impl Appended {
    /// The id the publisher is answered with.
    #[must_use]
    pub(crate) fn id(self) -> u64 {
        match self {
            Self::New(id) | Self::Repeated(id) => id,
        }
    }
}

/// Where a subscriber that sent a `Last-Event-ID` starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// After this id: an id of ours that history may still cover.
    After(u64),
    /// Not an id this log handed out (another run's, another server's, garbage): the client
    /// must be told it may have missed events.
    Unknown,
}

/// How a read past a position ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// Every event in the range was handed over.
    Complete,
    /// The budget ran out; events after this id (and up to the range's end) remain.
    Truncated(u64),
    /// History no longer holds every event after the position: the reader missed some.
    Missed,
}

/// One topic's history, as readers see it.
pub(crate) trait TopicLog: Send + Sync + fmt::Debug {
    /// The newest id appended to this topic (0 when none): a cheap check for news.
    fn newest(&self) -> u64;

    /// Whether an event after `after` has left history unread by a reader at `after`.
    fn missed_since(&self, after: u64) -> bool;

    /// Hands `visit` the events with `after < id <= through`, oldest first, while `budget`
    /// allows: each event costs its frame's length, and at least one is always handed over. A
    /// private event goes only where `admit` accepts its topics; the others are passed over
    /// (and cost nothing).
    fn read(
        &self,
        after: u64,
        through: u64,
        budget: &mut Budget,
        admit: &dyn Fn(&[TopicName]) -> bool,
        visit: &mut dyn FnMut(u64, &Bytes),
    ) -> Read;
}

/// What one write may still carry: bytes and events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Bytes left.
    pub(crate) bytes: usize,
    /// Events left.
    pub(crate) events: usize,
    /// Whether anything was taken yet: the first event is taken whatever its size.
    pub(crate) taken: bool,
}

impl Budget {
    /// A budget of `bytes` and `events`.
    #[must_use]
    pub(crate) fn new(bytes: usize, events: usize) -> Self {
        Self {
            bytes,
            events,
            taken: false,
        }
    }

    /// Takes a frame of `len` bytes if it fits; `false` when the budget is spent.
    pub(crate) fn take(&mut self, len: usize) -> bool {
        if self.taken && (len > self.bytes || self.events == 0) {
            return false;
        }
        self.bytes = self.bytes.saturating_sub(len);
        self.events = self.events.saturating_sub(1);
        self.taken = true;
        true
    }
}

/// A log of events for every topic of one hub.
pub(crate) trait EventLog: Send + Sync + fmt::Debug {
    /// Has `arrivals` told of every event that becomes readable from now on.
    fn attach(&self, arrivals: Arc<dyn Arrivals>);

    /// Appends one event to each of its topics under one new id, greater than every id handed
    /// out before; or, when its key matches an event still in one of those topics' history,
    /// appends nothing.
    ///
    /// # Errors
    /// [`LogError::TooManyTopics`] when a topic is new and there is no room for it;
    /// [`LogError::Unavailable`] when the shared log cannot be reached. Nothing is appended
    /// then.
    fn append<'a>(&'a self, event: &'a NewEvent<'a>) -> BoxFuture<'a, Result<Appended, LogError>>;

    /// A new id for a frame that is not kept (a stream's welcome, a `reset`): greater than every
    /// id handed out before, so it orders correctly in the client's `Last-Event-ID`.
    fn mark(&self) -> u64;

    /// Every event with an id up to this one is readable; later ones may still be on their way.
    fn head(&self) -> u64;

    /// Where a client that last saw `last_event_id` resumes.
    fn resume(&self, last_event_id: &[u8]) -> Resume;

    /// The topics' histories, for a subscriber to read; opening holds them (they are not
    /// forgotten while open).
    ///
    /// # Errors
    /// [`LogError::TooManyTopics`] when a topic is new and there is no room for it;
    /// [`LogError::Unavailable`] when a shared log cannot be reached to fill a topic's window.
    fn open<'a>(
        &'a self,
        topics: &'a [TopicName],
    ) -> BoxFuture<'a, Result<Vec<Arc<dyn TopicLog>>, LogError>>;

    /// Whether appends and new readers can be served now.
    fn health(&self) -> Health;

    /// Drops expired history and forgets topics with neither history nor readers.
    fn sweep(&self);

    /// Topics held, and events held over all of them.
    fn census(&self) -> Census;
}

/// How much a log holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Topics held.
    pub(crate) topics: usize,
    /// Events held, counted once per topic they are in.
    pub(crate) events: usize,
    /// Bytes of frames held.
    pub(crate) bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_always_takes_the_first_frame_then_only_what_fits() {
        let mut budget = Budget::new(10, 3);
        assert!(budget.take(25), "the first frame, however large");
        assert!(!budget.take(1), "then nothing: no bytes left");
        let mut budget = Budget::new(100, 2);
        assert!(budget.take(10));
        assert!(budget.take(10));
        assert!(!budget.take(10), "no events left");
    }
}
