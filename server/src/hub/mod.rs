//! The hub: an event log behind one seam ([`log::EventLog`]), and local fan-out over it.
//!
//! Each topic's history is the subscribers' queue. A subscriber is a position in the logs of
//! its topics; publishing appends once and wakes the streams waiting on those topics; a stream
//! writes what lies past its position, bounded per write. Being behind costs a position, not
//! memory: a subscriber is cut only when history no longer holds its next event, and then
//! reconnects with `Last-Event-ID` and is told `reset`.

#[cfg(test)]
mod entitled;
pub(crate) mod fanout;
pub(crate) mod log;
pub(crate) mod memory;
pub(crate) mod redis;
mod ring;
pub(crate) mod subscriber;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use shared::events::Reset;
use shared::wire::{Comment, EventId, encode_comment, encode_retry};
use shared::{Encoded, TopicName};

use fanout::{Fanout, Signal};
use log::{Appended, Arrivals, Budget, Census, EventLog, Health, LogError, NewEvent, Resume};
use subscriber::{End, Member, Subscriber};

use crate::selector::Selectors;

/// Bytes gathered into one write at most (past the first event, which always goes): large
/// enough that a burst of small events leaves in a few writes, small enough that a replay of
/// large events is never held in a second copy much beyond what the socket takes at once.
pub(crate) const MAX_CHUNK: usize = 16 * 1024;

/// The hub of one node.
#[derive(Debug)]
pub(crate) struct Hub {
    log: Arc<dyn EventLog>,
    fanout: Arc<Fanout>,
    members: Mutex<Members>,
    /// Events gathered into one write at most.
    events_per_write: usize,
    /// `retry:` frame sent first on every stream and last on an ended one.
    retry_frame: Bytes,
    /// The comment frame sent to idle streams.
    heartbeat_frame: Bytes,
    /// The `reset` event, framed under a fresh id for each client that must re-fetch its state.
    reset: Encoded,
}

#[derive(Debug, Default)]
struct Members {
    next: u64,
    live: HashMap<u64, Arc<Member>>,
    /// Set when the server drains: new subscribers end right after their prelude.
    closed: bool,
}

/// Removes a subscriber from the hub's registry when its stream goes.
#[derive(Debug)]
pub(crate) struct Registration {
    hub: Arc<Hub>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.members().live.remove(&self.id);
    }
}

/// Where a new subscriber starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// No `Last-Event-ID`: from now.
    Fresh,
    /// After this id: history still holds everything since.
    After(u64),
    /// From now, told first that it missed events.
    Reset,
}

/// A new subscriber: what to write first, then its reading side.
#[derive(Debug)]
pub(crate) struct Subscribed {
    /// `retry:`, and `reset` when the client must re-fetch its state.
    pub(crate) prelude: Bytes,
    /// Reads the replay, the welcome, then live events.
    pub(crate) subscriber: Subscriber,
}

impl Hub {
    /// A hub over `log`, writing at most `events_per_write` events per write, telling browsers
    /// to wait `retry` before reconnecting.
    #[must_use]
    pub(crate) fn new(
        log: Arc<dyn EventLog>,
        events_per_write: usize,
        retry: std::time::Duration,
    ) -> Self {
        let mut retry_frame = Vec::new();
        encode_retry(
            u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
            &mut retry_frame,
        );
        let mut heartbeat_frame = Vec::new();
        encode_comment(
            &Comment::new("").expect("an empty comment is valid"),
            &mut heartbeat_frame,
        );
        let fanout = Arc::new(Fanout::default());
        log.attach(Arc::clone(&fanout) as Arc<dyn Arrivals>);
        Self {
            log,
            fanout,
            members: Mutex::new(Members::default()),
            events_per_write: events_per_write.max(1),
            retry_frame: Bytes::from(retry_frame),
            heartbeat_frame: Bytes::from(heartbeat_frame),
            reset: Encoded::new(&Reset).expect("`reset` has no payload to refuse"),
        }
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        // Every change under this lock is a single map or flag update.
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The frame that tells a browser how long to wait before reconnecting.
    #[must_use]
    pub(crate) fn retry_frame(&self) -> Bytes {
        self.retry_frame.clone()
    }

    /// The comment frame that keeps an idle stream alive and reveals dead peers.
    #[must_use]
    pub(crate) fn heartbeat_frame(&self) -> Bytes {
        self.heartbeat_frame.clone()
    }

    /// Publishes one event (to each of its topics, but once to a subscriber of several); the
    /// log wakes the streams waiting on them once it is readable. A repeated idempotency key
    /// appends nothing.
    ///
    /// # Errors
    /// [`LogError::TooManyTopics`] when a topic it names is new and there is no room for it;
    /// [`LogError::Unavailable`] when the shared log cannot be reached. Nothing is published
    /// then.
    pub(crate) async fn publish(&self, event: &NewEvent<'_>) -> Result<Appended, LogError> {
        self.log.append(event).await
    }

    /// Whether the log takes publishes and new subscribers now.
    #[must_use]
    pub(crate) fn health(&self) -> Health {
        self.log.health()
    }

    /// Subscribes to `topics`, resuming after `last_event_id` when given (any bytes: what is
    /// not an id of ours gets `reset`); private events only reach it where `grants` (a
    /// token's `mercure.subscribe`) select one of their topics.
    ///
    /// # Errors
    /// [`LogError::TooManyTopics`] when a topic it names is new and there is no room for it;
    /// [`LogError::Unavailable`] when the shared log cannot be reached.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        topics: &[TopicName],
        last_event_id: Option<&[u8]>,
        grants: Option<Arc<Selectors>>,
    ) -> Result<Subscribed, LogError> {
        if let Health::Down(reason) = self.log.health() {
            return Err(LogError::Unavailable { reason });
        }
        let logs = self.log.open(topics).await?;
        let start = match last_event_id.map(|raw| self.log.resume(raw)) {
            None => Start::Fresh,
            Some(Resume::After(after)) if !logs.iter().any(|log| log.missed_since(after)) => {
                Start::After(after)
            }
            // Not ours, or history no longer covers it: the client must re-fetch its state.
            Some(_) => Start::Reset,
        };
        let mut prelude = self.retry_frame.to_vec();
        if start == Start::Reset {
            let reset_id = EventId::from_seq(self.log.mark());
            self.reset.frame().id(&reset_id).encode_into(&mut prelude);
        }
        let welcome = match start {
            // On a shared log a client may be ahead of this node (it read another node's
            // newer event): its welcome must not send its `Last-Event-ID` back. A mark repeats
            // harmlessly; an even id could be an event's.
            Start::After(after) => self.log.mark().max(after | 1),
            Start::Fresh | Start::Reset => self.log.mark(),
        };
        let after = match start {
            Start::After(after) => after,
            // Nothing older than the welcome is for this subscriber.
            Start::Fresh | Start::Reset => welcome - 1,
        };

        let signal = Arc::new(Signal::default());
        let member = Arc::new(Member::new(Arc::clone(&signal), after, logs));
        let membership = self.fanout.join(topics, &signal);
        let id = {
            let mut members = self.members();
            let id = members.next;
            members.next += 1;
            if members.closed {
                member.end(End::Drain);
            } else {
                members.live.insert(id, Arc::clone(&member));
            }
            id
        };
        Ok(Subscribed {
            prelude: Bytes::from(prelude),
            subscriber: Subscriber {
                log: Arc::clone(&self.log),
                member,
                membership,
                welcome: Some(welcome),
                after,
                budget: Budget::new(MAX_CHUNK, self.events_per_write),
                grants,
                _registration: Registration {
                    hub: Arc::clone(self),
                    id,
                },
            },
        })
    }

    /// Ends the streams that history has passed (a reader that stopped reading is never
    /// polled, so it cannot find out itself); returns how many. Run periodically: it costs a
    /// look at each subscriber, never anything per event.
    pub(crate) fn cut_behind(&self) -> usize {
        let behind: Vec<Arc<Member>> = {
            let mut members = self.members();
            let ids: Vec<u64> = members
                .live
                .iter()
                .filter(|(_, member)| member.is_behind())
                .map(|(id, _)| *id)
                .collect();
            ids.iter()
                .filter_map(|id| members.live.remove(id))
                .collect()
        };
        behind
            .iter()
            .filter(|member| member.end(End::Behind))
            .count()
    }

    /// Drops expired history everywhere and forgets topics left with neither history nor
    /// subscribers.
    pub(crate) fn sweep(&self) {
        self.log.sweep();
    }

    /// Ends every stream (each sends its `retry:` hint and closes) and lets no new one stay:
    /// the server is draining.
    pub(crate) fn close_all(&self) {
        let ended: Vec<Arc<Member>> = {
            let mut members = self.members();
            members.closed = true;
            members.live.drain().map(|(_, member)| member).collect()
        };
        for member in ended {
            member.end(End::Drain);
        }
    }

    /// What the log holds.
    #[must_use]
    pub(crate) fn census(&self) -> Census {
        self.log.census()
    }

    /// How many subscribers are registered now.
    #[must_use]
    pub(crate) fn subscriber_count(&self) -> usize {
        self.members().live.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt as _;

    use super::memory::{LogLimits, MemoryLog};
    use super::subscriber::Next;
    use super::*;

    /// A reader that is never polled again (its socket is full, so actix stops polling its
    /// body) learns nothing by itself: the hub's periodic check must end it.
    #[test]
    fn a_reader_history_passed_is_cut_by_the_hub_and_one_keeping_up_is_not() {
        let log = MemoryLog::new(LogLimits {
            history_len: 2,
            history_age: Duration::from_secs(60),
            history_bytes: usize::MAX,
            max_topics: 10,
        });
        let hub = Arc::new(Hub::new(Arc::new(log), 8, Duration::from_secs(2)));
        let topic = TopicName::list(["t"]).unwrap();
        let stalled = hub
            .subscribe(&topic, None, None)
            .now_or_never()
            .unwrap()
            .unwrap()
            .subscriber;
        let mut reading = hub
            .subscribe(&topic, None, None)
            .now_or_never()
            .unwrap()
            .unwrap()
            .subscriber;
        for data in ["1", "2"] {
            hub.publish(&NewEvent::new(&topic, None, data))
                .now_or_never()
                .unwrap()
                .unwrap();
        }
        // The welcome, then both events: `reading` keeps up.
        fn read_all(subscriber: &mut Subscriber) {
            while let Next::Chunk { .. } = subscriber.read() {}
        }
        read_all(&mut reading);
        assert_eq!(
            hub.cut_behind(),
            0,
            "history still holds what both have not read"
        );
        hub.publish(&NewEvent::new(&topic, None, "3"))
            .now_or_never()
            .unwrap()
            .unwrap();
        read_all(&mut reading);
        assert_eq!(hub.cut_behind(), 1);
        assert_eq!(stalled.ended(), Some(End::Behind));
        assert_eq!(reading.ended(), None);
        assert_eq!(hub.subscriber_count(), 1);
    }
}
