//! The hub: topics, ids, bounded history, replay after `Last-Event-ID`, and fan-out.
//!
//! Every event is encoded once, under the hub's lock, into a [`Bytes`] frame that history and
//! every subscriber share. Each subscriber has a bounded queue; the hub only ever `try_send`s,
//! so a subscriber whose queue is full is cut (its queue closes, its stream ends with a `retry`
//! hint and the browser comes back with `Last-Event-ID`) instead of slowing anyone else.
//!
//! Subscribing snapshots history and registers the queue under the same lock as publishing, so
//! the seam between replay and live has no gap and no duplicate.

pub mod queue;
mod topic;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shared::wire::{Comment, EventFrame, EventId, EventName, encode_comment, encode_retry};

use crate::metrics::Stats;
use queue::SendError;
use topic::{Stored, SubscriberId, Topic};

/// What the hub needs to know, taken from the server's configuration.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Events kept per topic for replay.
    pub history_len: usize,
    /// How long an event stays replayable.
    pub history_age: Duration,
    /// Events a subscriber may have pending before it is cut.
    pub client_buffer: usize,
    /// The reconnection delay suggested to browsers.
    pub retry: Duration,
    /// Topics held at once (with subscribers or history); a new one beyond it is refused.
    pub max_topics: usize,
}

/// Why the hub refused a publish or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// Every place for a topic is taken by topics with subscribers or live history.
    #[error(
        "too many topics ({max}); a topic is forgotten once nobody listens and its history expires"
    )]
    TooManyTopics {
        /// The configured limit.
        max: usize,
    },
}

/// The in-memory hub of one node.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<State>,
    config: HubConfig,
    stats: Stats,
    /// `retry:` frame sent first on every stream and last on a cut one.
    retry_frame: Bytes,
    /// The comment frame sent to idle streams.
    heartbeat_frame: Bytes,
    reset_name: EventName,
}

#[derive(Debug)]
struct State {
    /// The last id handed out. Ids start at the start time in microseconds, so ids from an
    /// earlier run of the server are recognisably older than anything this run remembers.
    last_id: u64,
    /// The first id of this run minus one: a client that last saw an id below it missed events.
    floor: u64,
    /// The highest id evicted from topics that were since forgotten; a topic created anew
    /// starts from it, so a resume on a forgotten topic is still told what it missed.
    forgotten_through: u64,
    next_subscriber: SubscriberId,
    topics: HashMap<Arc<str>, Topic>,
    /// The topics of each live subscriber, to remove it from all of them at once.
    subscriptions: HashMap<SubscriberId, Box<[Arc<str>]>>,
    /// Set by [`Hub::close_all`] when the server drains: nobody is registered any more.
    closed: bool,
}

/// One event to publish.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    /// Where it goes: validated topic names, at least one.
    pub topics: &'a [&'a str],
    /// Its type; `message` when `None`.
    pub event: Option<&'a EventName>,
    /// Its data, any text (line breaks become several `data:` lines).
    pub data: &'a str,
    /// A reconnection time to send along, in milliseconds.
    pub retry: Option<u64>,
    /// The publisher's idempotency key.
    pub key: Option<&'a str>,
}

impl<'a> Publication<'a> {
    /// A plain event of type `event` to `topics`.
    #[must_use]
    pub fn new(topics: &'a [&'a str], event: Option<&'a EventName>, data: &'a str) -> Self {
        Self {
            topics,
            event,
            data,
            retry: None,
            key: None,
        }
    }

    fn encode(&self, id: u64) -> Vec<u8> {
        let event_id = EventId::from_seq(id);
        let mut frame = EventFrame::new(self.data).id(&event_id);
        if let Some(event) = self.event {
            frame = frame.event(event);
        }
        if let Some(retry) = self.retry {
            frame = frame.retry(retry);
        }
        frame.to_vec()
    }
}

/// A new subscriber's side of the hub: what to send first, then the live queue.
#[derive(Debug)]
pub struct Subscription {
    /// `retry:`, then `reset` or the replayed events, then the welcome: one chunk.
    pub prelude: Bytes,
    /// Live frames. It closes when the hub cut this subscriber for being too slow.
    pub receiver: queue::Receiver,
    /// Removes the subscriber from the hub when dropped.
    pub guard: SubscriberGuard,
}

/// Unregisters a subscriber from every topic when dropped (the client went away).
#[derive(Debug)]
#[must_use]
pub struct SubscriberGuard {
    hub: Arc<Hub>,
    id: SubscriberId,
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        state.remove_subscriber(self.id);
        self.hub.stats.set_subscribers(state.subscriptions.len());
    }
}

impl Hub {
    /// An empty hub.
    #[must_use]
    pub fn new(config: HubConfig) -> Self {
        let now_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_micros()).unwrap_or(u64::MAX / 2)
            });
        let mut retry_frame = Vec::new();
        encode_retry(
            u64::try_from(config.retry.as_millis()).unwrap_or(u64::MAX),
            &mut retry_frame,
        );
        let mut heartbeat_frame = Vec::new();
        encode_comment(
            &Comment::new("").expect("an empty comment is valid"),
            &mut heartbeat_frame,
        );
        Self {
            state: Mutex::new(State {
                last_id: now_micros,
                floor: now_micros,
                forgotten_through: 0,
                next_subscriber: 0,
                topics: HashMap::new(),
                subscriptions: HashMap::new(),
                closed: false,
            }),
            config,
            stats: Stats::default(),
            retry_frame: Bytes::from(retry_frame),
            heartbeat_frame: Bytes::from(heartbeat_frame),
            reset_name: EventName::new(shared::event::RESET).expect("a constant, valid event name"),
        }
    }

    /// The hub's counters.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The frame that tells a browser how long to wait before reconnecting.
    #[must_use]
    pub fn retry_frame(&self) -> Bytes {
        self.retry_frame.clone()
    }

    /// The comment frame that keeps an idle stream alive and reveals dead peers.
    #[must_use]
    pub fn heartbeat_frame(&self) -> Bytes {
        self.heartbeat_frame.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written in a way that
        // matters more than stopping every stream would, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes one event (to each of its topics, but once to a subscriber of several) and
    /// returns its id; a repeated idempotency key returns the first event's id instead.
    ///
    /// # Errors
    /// [`HubError::TooManyTopics`] when a topic it names is new and there is no room for it;
    /// nothing is published then.
    pub fn publish(&self, publication: &Publication<'_>) -> Result<u64, HubError> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(key) = publication.key {
            let earlier = publication
                .topics
                .iter()
                .find_map(|name| state.topics.get(*name)?.find_key(key));
            if let Some(id) = earlier {
                return Ok(id);
            }
        }
        state.make_room(publication.topics.iter().copied(), &self.config, now)?;
        state.last_id += 1;
        let id = state.last_id;
        let stored = Stored {
            id,
            at: now,
            frame: Bytes::from(publication.encode(id)),
            key: publication.key.map(Arc::from),
        };

        let mut reached: HashSet<SubscriberId> = HashSet::new();
        let mut cut = Vec::new();
        let mut delivered = 0u64;
        let several = publication.topics.len() > 1;
        for name in publication.topics {
            let topic = state.topic_mut(name);
            topic.history.push_back(stored.clone());
            topic.evict(self.config.history_len, self.config.history_age, now);
            for (&subscriber, sender) in &topic.subscribers {
                if several && !reached.insert(subscriber) {
                    continue;
                }
                match sender.try_send(stored.frame.clone()) {
                    Ok(()) => delivered += 1,
                    Err(SendError::Full) => cut.push(subscriber),
                    // The stream is gone and its guard is about to unregister it.
                    Err(SendError::Closed) => {}
                }
            }
        }
        for subscriber in &cut {
            state.remove_subscriber(*subscriber);
        }
        self.stats.published(delivered, cut.len());
        self.stats.set_subscribers(state.subscriptions.len());
        Ok(id)
    }

    /// Subscribes to `topics`, resuming after `last_event_id` when given.
    ///
    /// # Errors
    /// [`HubError::TooManyTopics`] when a topic it names is new and there is no room for it.
    pub fn subscribe(
        self: &Arc<Self>,
        topics: &[String],
        last_event_id: Option<&str>,
    ) -> Result<Subscription, HubError> {
        let now = Instant::now();
        let (sender, receiver) = queue::queue(self.config.client_buffer);
        let mut state = self.lock();
        state.make_room(topics.iter().map(String::as_str), &self.config, now)?;
        let names: Box<[Arc<str>]> = topics.iter().map(|name| state.topic_key(name)).collect();
        for name in &names {
            state
                .topic_mut(name)
                .evict(self.config.history_len, self.config.history_age, now);
        }

        let mut prelude = self.retry_frame.to_vec();
        let mut replay: Vec<Stored> = Vec::new();
        let resumed = last_event_id.map(|text| text.trim().parse::<u64>());
        let reset = match resumed {
            None => false,
            Some(Ok(after)) if after >= state.floor && after <= state.last_id => {
                let missed = names.iter().any(|name| {
                    state
                        .topics
                        .get(name)
                        .is_some_and(|topic| topic.evicted_through > after)
                });
                if !missed {
                    for name in &names {
                        if let Some(topic) = state.topics.get(name) {
                            replay.extend(topic.since(after).cloned());
                        }
                    }
                    // An event published to several of these topics is stored in each.
                    replay.sort_unstable_by_key(|stored| stored.id);
                    replay.dedup_by_key(|stored| stored.id);
                }
                missed
            }
            // Older than this run, newer than anything issued, or not a number: not ours.
            Some(_) => true,
        };
        if reset {
            state.last_id += 1;
            let reset_id = EventId::from_seq(state.last_id);
            EventFrame::new("")
                .event(&self.reset_name)
                .id(&reset_id)
                .encode_into(&mut prelude);
        }
        for stored in &replay {
            prelude.extend_from_slice(&stored.frame);
        }
        state.last_id += 1;
        let welcome_id = EventId::from_seq(state.last_id);
        EventFrame::new(shared::names::WELCOME_TEXT)
            .id(&welcome_id)
            .encode_into(&mut prelude);

        let id = state.next_subscriber;
        state.next_subscriber += 1;
        // While draining, the queue is not registered: dropping its only sender ends the stream
        // right after the prelude.
        if !state.closed {
            for name in &names {
                state.topic_mut(name).subscribers.insert(id, sender.clone());
            }
            state.subscriptions.insert(id, names);
        }
        self.stats.set_subscribers(state.subscriptions.len());
        drop(state);

        Ok(Subscription {
            prelude: Bytes::from(prelude),
            receiver,
            guard: SubscriberGuard {
                hub: Arc::clone(self),
                id,
            },
        })
    }

    /// Drops expired history everywhere and forgets topics left with neither history nor
    /// subscribers (run periodically, so that idle topics do not wait to be touched).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.lock().sweep(&self.config, now);
    }

    /// Topics held now.
    #[must_use]
    pub fn topic_count(&self) -> usize {
        self.lock().topics.len()
    }

    /// Ends every stream (each sends its `retry:` hint and closes) and registers no new ones:
    /// the server is draining. Streams end through their queues closing, so a stream needs no
    /// shutdown signal of its own to poll.
    pub fn close_all(&self) {
        let mut state = self.lock();
        state.closed = true;
        let ids: Vec<SubscriberId> = state.subscriptions.keys().copied().collect();
        for id in ids {
            state.remove_subscriber(id);
        }
        self.stats.set_subscribers(0);
    }

    /// Events held in history, over all topics.
    #[must_use]
    pub fn history_events(&self) -> usize {
        self.lock()
            .topics
            .values()
            .map(|topic| topic.history.len())
            .sum()
    }

    /// How many subscribers are registered now.
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.lock().subscriptions.len()
    }
}

impl State {
    /// The shared key of a topic, reusing the existing allocation when the topic exists.
    fn topic_key(&self, name: &str) -> Arc<str> {
        self.topics
            .get_key_value(name)
            .map_or_else(|| Arc::from(name), |(key, _)| Arc::clone(key))
    }

    fn topic_mut(&mut self, name: &str) -> &mut Topic {
        let key = self.topic_key(name);
        let forgotten_through = self.forgotten_through;
        self.topics.entry(key).or_insert_with(|| Topic {
            evicted_through: forgotten_through,
            ..Topic::default()
        })
    }

    /// Drops a subscriber's queues (its stream then ends) and forgets topics left unused.
    fn remove_subscriber(&mut self, id: SubscriberId) {
        let Some(names) = self.subscriptions.remove(&id) else {
            return;
        };
        for name in names.iter() {
            if let Some(topic) = self.topics.get_mut(name) {
                topic.subscribers.remove(&id);
                if topic.is_unused() {
                    self.forgotten_through = self.forgotten_through.max(topic.evicted_through);
                    self.topics.remove(name);
                }
            }
        }
    }

    /// Expires history in every topic and forgets the topics left unused.
    fn sweep(&mut self, config: &HubConfig, now: Instant) {
        let mut forgotten_through = self.forgotten_through;
        self.topics.retain(|_, topic| {
            topic.evict(config.history_len, config.history_age, now);
            if topic.is_unused() {
                forgotten_through = forgotten_through.max(topic.evicted_through);
                return false;
            }
            true
        });
        self.forgotten_through = forgotten_through;
    }

    /// Makes sure the topics named can all be held: when some are new and the limit is
    /// reached, sweeps first, and refuses if that was not enough.
    fn make_room<'n>(
        &mut self,
        names: impl Iterator<Item = &'n str> + Clone,
        config: &HubConfig,
        now: Instant,
    ) -> Result<(), HubError> {
        // Even if every name were new there would be room: the usual case, checked cheaply.
        if self.topics.len() + names.clone().count() <= config.max_topics {
            return Ok(());
        }
        let fits = |state: &Self| {
            let mut new: Vec<&str> = names
                .clone()
                .filter(|name| !state.topics.contains_key(*name))
                .collect();
            new.sort_unstable();
            new.dedup();
            state.topics.len() + new.len() <= config.max_topics
        };
        if fits(self) {
            return Ok(());
        }
        self.sweep(config, now);
        if fits(self) {
            return Ok(());
        }
        Err(HubError::TooManyTopics {
            max: config.max_topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Waker};

    use super::*;

    fn hub(max_topics: usize, history_age: Duration) -> Arc<Hub> {
        Arc::new(Hub::new(HubConfig {
            history_len: 10,
            history_age,
            client_buffer: 8,
            retry: Duration::from_secs(2),
            max_topics,
        }))
    }

    fn publish(hub: &Hub, topics: &[&str]) -> Result<u64, HubError> {
        hub.publish(&Publication::new(topics, None, "x"))
    }

    #[test]
    fn a_new_topic_beyond_the_limit_is_refused_and_nothing_is_published() {
        let hub = hub(2, Duration::from_secs(3600));
        let subscription = hub.subscribe(&["a".to_owned()], None).unwrap();
        publish(&hub, &["b"]).unwrap();
        assert_eq!(
            publish(&hub, &["c"]),
            Err(HubError::TooManyTopics { max: 2 })
        );
        // Together with a topic that has room, the event still goes nowhere.
        assert!(publish(&hub, &["a", "c"]).is_err());
        let cx = Context::from_waker(Waker::noop());
        assert!(!subscription.receiver.has_frames(&cx));
        assert!(hub.subscribe(&["d".to_owned()], None).is_err());
        // Known topics need no room.
        publish(&hub, &["a", "b"]).unwrap();
        assert!(subscription.receiver.has_frames(&cx));
        assert_eq!(hub.topic_count(), 2);
    }

    #[test]
    fn topics_whose_history_expired_make_room_and_sweeps_forget_them() {
        let hub = hub(2, Duration::from_millis(1));
        publish(&hub, &["a"]).unwrap();
        publish(&hub, &["b"]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Full, but both topics only hold expired history: the publish sweeps them away.
        publish(&hub, &["c"]).unwrap();
        assert_eq!(hub.topic_count(), 1);
        std::thread::sleep(Duration::from_millis(20));
        hub.sweep();
        assert_eq!(hub.topic_count(), 0);
        assert_eq!(hub.history_events(), 0);
    }
}
