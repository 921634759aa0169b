//! The client's state as plain Rust: connection status, the clock, a bounded event log, the
//! topics the page subscribes to (the demo's private one among them, locked unless the page holds
//! a token) and how the last publish went.
//!
//! Nothing here touches the browser, so every transition is unit-tested natively with `#[test]`;
//! `view` turns this state into DOM and `decode` produces the [`AppEvent`]s that drive it.

use std::collections::VecDeque;

use chrono::Timelike;
use shared::payload::CurrentTime;
use shared::topic_name::MAX_TOPICS;
use shared::{TopicError, TopicName};

/// How many received events the log keeps.
///
/// The clock alone adds one event a second; 100 entries are the last minute and a half of it,
/// enough to see what just happened, while keeping every render cheap and memory flat on a page
/// left open for days.
pub const LOG_CAPACITY: usize = 100;

/// The demo's private topic: offered next to the public ones, readable only with a token.
///
/// Nothing in the name makes it private: its events are, because they are published with
/// `"private": true`, which the hub delivers only to subscribers whose token's
/// `mercure.subscribe` selects the topic. `cargo xtask run` mints a token for this name
/// (`xtask/src/run.rs` spells it again, as xtask depends on nothing of ours).
pub const PRIVATE_TOPIC: &str = "private/demo";

/// Why a private topic cannot be chosen on a page opened without a token.
pub const LOCKED: &str = "private topics need a token: open this page with ?authorization=TOKEN (cargo xtask run prints such a link)";

/// One topic the picker offers, and whether it is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicChoice {
    /// The topic's name.
    pub name: String,
    /// Whether the stream subscribes to it.
    pub chosen: bool,
    /// Whether its events are private: choosing it needs the page's token, which the stream
    /// then presents.
    pub private: bool,
}

/// How the publish form's last send went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Publish {
    /// Nothing sent yet, or the last send succeeded.
    #[default]
    Idle,
    /// A send is in flight: the form waits for it rather than sending twice.
    Sending,
    /// The last send failed; the reason is shown under the form.
    Failed(String),
}

/// What the page shows about the `EventSource` connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connection {
    /// The first connection attempt has not been answered yet.
    #[default]
    Connecting,
    /// The server accepted the stream; events are flowing.
    Open,
    /// The connection dropped and the browser is retrying on its own.
    Reconnecting,
    /// The browser gave up (a fatal error, or the subscription was closed): no more events.
    Closed,
}

impl Connection {
    /// The text shown in `#state`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Reconnecting => "reconnecting",
            Self::Closed => "closed",
        }
    }
}

/// The typed payload of a received event, decided by its event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A `message` event (the welcome and published events): the data is shown as it came.
    Text,
    /// A `currentTime` tick that decoded.
    Tick(CurrentTime),
    /// A `reset`: history could not cover the gap since our last event id.
    Reset,
    /// An event whose data did not decode; the reason is kept to be shown in the log.
    Malformed(String),
}

/// One event as received from the stream: what the log shows and what the state acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The SSE event type (`message` when the server sent none).
    pub event: String,
    /// The event's id (`lastEventId`); empty when the server sent none.
    pub id: String,
    /// The raw `data`, multi-line data already joined by the browser.
    pub data: String,
    /// What the data means, decoded once here so the view never parses.
    pub payload: Payload,
}

/// Everything that can change the state; produced by `decode` from browser events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// A new subscription is being opened (at start, or after changing what to listen to).
    Connecting,
    /// The `EventSource` fired `open`.
    Opened,
    /// The `EventSource` fired `error`; `closed` when its `readyState` is `CLOSED`, that is when the
    /// browser will not retry.
    Failed {
        /// Whether the browser gave up rather than scheduling a reconnect.
        closed: bool,
    },
    /// The subscription was dropped on purpose (e.g. to subscribe to other topics).
    Closed,
    /// An event arrived on the stream.
    Received(Received),
    /// A picker checkbox was ticked (`chosen`) or cleared.
    TopicChosen {
        /// The checkbox's topic.
        topic: String,
        /// Its new state.
        chosen: bool,
    },
    /// A topic name was typed into the picker to be offered and chosen.
    TopicAdded(String),
    /// The publish form started sending.
    PublishSending,
    /// The server accepted the published event.
    PublishSent,
    /// Publishing failed (refused by the client's own checks, the network or the server).
    PublishFailed(String),
}

/// The whole client state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageState {
    connection: Connection,
    clock: Option<CurrentTime>,
    /// Newest first, at most [`LOG_CAPACITY`] long: pushing to the front and truncating the back
    /// are both O(1) on a `VecDeque`.
    log: VecDeque<Received>,
    /// The picker's topics in the order shown: the built-in ones, then those added. The chosen
    /// ones, in this order, are what the stream subscribes to.
    topics: Vec<TopicChoice>,
    /// Why the last name typed into the picker was refused, until one is accepted.
    topic_error: Option<String>,
    publish: Publish,
    /// Whether the page was opened with a token, which unlocks the private topic. The token
    /// itself stays out of the state, which is cloned and printed with `{:?}`.
    has_token: bool,
}

impl Default for PageState {
    fn default() -> Self {
        Self {
            connection: Connection::default(),
            clock: None,
            log: VecDeque::new(),
            // The server's own defaults, all chosen: a fresh page shows what `/events` shows.
            // Then the private topic, shown (locked) even without a token, so that a visitor
            // sees that there is more to it.
            topics: shared::topic::DEFAULTS
                .iter()
                .map(|name| TopicChoice {
                    name: (*name).to_owned(),
                    chosen: true,
                    private: false,
                })
                .chain([TopicChoice {
                    name: PRIVATE_TOPIC.to_owned(),
                    chosen: false,
                    private: true,
                }])
                .collect(),
            topic_error: None,
            publish: Publish::Idle,
            has_token: false,
        }
    }
}

impl PageState {
    /// A state for a page without a token that has just started connecting, to the default
    /// topics; the private topic is locked.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A state for a page opened with a token: the private topic is unlocked and chosen too,
    /// since reading it is why such a page is opened.
    #[must_use]
    pub fn with_token() -> Self {
        let mut state = Self {
            has_token: true,
            ..Self::default()
        };
        for choice in &mut state.topics {
            choice.chosen |= choice.private;
        }
        state
    }

    /// Applies one event.
    pub fn apply(&mut self, event: AppEvent) {
        match event {
            AppEvent::Connecting => self.connection = Connection::Connecting,
            AppEvent::Opened => self.connection = Connection::Open,
            AppEvent::Failed { closed: true } | AppEvent::Closed => {
                self.connection = Connection::Closed;
            }
            // The browser retries by itself after an error; say so rather than "closed".
            AppEvent::Failed { closed: false } => self.connection = Connection::Reconnecting,
            AppEvent::Received(received) => self.receive(received),
            AppEvent::TopicChosen { topic, chosen } => self.choose(&topic, chosen),
            AppEvent::TopicAdded(name) => self.topic_error = self.add_topic(&name).err(),
            AppEvent::PublishSending => self.publish = Publish::Sending,
            AppEvent::PublishSent => self.publish = Publish::Idle,
            AppEvent::PublishFailed(reason) => self.publish = Publish::Failed(reason),
        }
    }

    fn choose(&mut self, topic: &str, chosen: bool) {
        let full = self.topics().count() >= MAX_TOPICS;
        // Only offered topics have checkboxes; a name from anywhere else is ignored.
        let has_token = self.has_token;
        let Some(choice) = self.topics.iter_mut().find(|choice| choice.name == topic) else {
            return;
        };
        // Its checkbox is disabled; this guards against anything else ticking it.
        if chosen && choice.private && !has_token {
            self.topic_error = Some(LOCKED.to_owned());
            return;
        }
        if chosen && !choice.chosen && full {
            self.topic_error = Some(TopicError::TooMany.to_string());
            return;
        }
        choice.chosen = chosen;
    }

    /// Offers and chooses `name`, trimmed: surrounding spaces in a text box are almost always
    /// accidental, and would make a topic nobody publishes to. Typing the private topic's name
    /// is choosing it, so it is locked the same way.
    fn add_topic(&mut self, name: &str) -> Result<(), String> {
        let name = name.trim();
        TopicName::new(name).map_err(|err| err.to_string())?;
        match self.topics.iter().position(|choice| choice.name == name) {
            Some(index) if self.topics[index].chosen => {}
            Some(index) if self.topics[index].private && !self.has_token => {
                return Err(LOCKED.to_owned());
            }
            _ if self.topics().count() >= MAX_TOPICS => {
                return Err(TopicError::TooMany.to_string());
            }
            Some(index) => self.topics[index].chosen = true,
            None => self.topics.push(TopicChoice {
                name: name.to_owned(),
                chosen: true,
                private: false,
            }),
        }
        Ok(())
    }

    fn receive(&mut self, received: Received) {
        if let Payload::Tick(tick) = received.payload {
            self.clock = Some(tick);
        }
        // Receiving an event proves the stream is up, even if `open` was missed or raced an error.
        self.connection = Connection::Open;
        self.log.push_front(received);
        self.log.truncate(LOG_CAPACITY);
    }

    /// The connection status.
    #[must_use]
    pub fn connection(&self) -> Connection {
        self.connection
    }

    /// The latest tick, if any arrived.
    #[must_use]
    pub fn clock(&self) -> Option<CurrentTime> {
        self.clock
    }

    /// The text shown in `#clock`: the server's time to the second, so it visibly moves each tick.
    #[must_use]
    pub fn clock_text(&self) -> String {
        // `Timelike` rather than `format("%H:%M:%S")`: chrono's format-string machinery would add
        // tens of kilobytes to the .wasm for this one line.
        self.clock.map_or_else(
            || "--:--:-- UTC".to_owned(),
            |tick| {
                let time = tick.time;
                format!(
                    "{:02}:{:02}:{:02} UTC",
                    time.hour(),
                    time.minute(),
                    time.second()
                )
            },
        )
    }

    /// The received events, newest first.
    pub fn log(&self) -> impl ExactSizeIterator<Item = &Received> {
        self.log.iter()
    }

    /// The topics the picker offers, in order, each with whether it is chosen.
    pub fn topic_choices(&self) -> impl ExactSizeIterator<Item = &TopicChoice> {
        self.topics.iter()
    }

    /// The chosen topics, in the picker's order: what the stream subscribes to.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics
            .iter()
            .filter(|choice| choice.chosen)
            .map(|choice| choice.name.as_str())
    }

    /// The text shown in `#topics`: the chosen topics, or `none` (the stream is then closed).
    #[must_use]
    pub fn topics_text(&self) -> String {
        let chosen: Vec<&str> = self.topics().collect();
        if chosen.is_empty() {
            "none".to_owned()
        } else {
            chosen.join(", ")
        }
    }

    /// Whether the page holds a token, that is whether the private topic is unlocked.
    #[must_use]
    pub fn has_token(&self) -> bool {
        self.has_token
    }

    /// Whether the stream must present the page's token: only when a private topic is chosen,
    /// so that a page reading public topics alone never risks a `401` (an expired token, say)
    /// for what needs none.
    #[must_use]
    pub fn needs_token(&self) -> bool {
        self.has_token
            && self
                .topics
                .iter()
                .any(|choice| choice.chosen && choice.private)
    }

    /// Why the last name typed into the picker was refused, if it was.
    #[must_use]
    pub fn topic_error(&self) -> Option<&str> {
        self.topic_error.as_deref()
    }

    /// How the last publish went.
    #[must_use]
    pub fn publish(&self) -> &Publish {
        &self.publish
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn text(id: &str, data: &str) -> AppEvent {
        AppEvent::Received(Received {
            event: shared::event::MESSAGE.to_owned(),
            id: id.to_owned(),
            data: data.to_owned(),
            payload: Payload::Text,
        })
    }

    fn tick(secs: i64) -> AppEvent {
        let tick = CurrentTime {
            time: DateTime::from_timestamp(secs, 0).unwrap(),
        };
        AppEvent::Received(Received {
            event: shared::event::CURRENT_TIME.to_owned(),
            id: secs.to_string(),
            data: shared::Encoded::new(&tick).unwrap().data().to_owned(),
            payload: Payload::Tick(tick),
        })
    }

    #[test]
    fn starts_connecting_with_an_empty_clock_and_log() {
        let state = PageState::new();
        assert_eq!(state.connection(), Connection::Connecting);
        assert_eq!(state.connection().label(), "connecting");
        assert_eq!(state.clock_text(), "--:--:-- UTC");
        assert_eq!(state.log().len(), 0);
    }

    #[test]
    fn follows_open_error_and_close() {
        let mut state = PageState::new();
        state.apply(AppEvent::Opened);
        assert_eq!(state.connection().label(), "open");
        state.apply(AppEvent::Failed { closed: false });
        assert_eq!(state.connection().label(), "reconnecting");
        state.apply(AppEvent::Opened);
        state.apply(AppEvent::Failed { closed: true });
        assert_eq!(state.connection().label(), "closed");
        state.apply(AppEvent::Opened);
        state.apply(AppEvent::Closed);
        assert_eq!(state.connection(), Connection::Closed);
        state.apply(AppEvent::Connecting);
        assert_eq!(state.connection(), Connection::Connecting);
    }

    #[test]
    fn an_event_after_an_error_means_open_again() {
        let mut state = PageState::new();
        state.apply(AppEvent::Failed { closed: false });
        state.apply(text("1", "hi"));
        assert_eq!(state.connection(), Connection::Open);
    }

    #[test]
    fn ticks_set_the_clock_and_other_events_leave_it() {
        let mut state = PageState::new();
        state.apply(tick(1_700_000_000));
        assert_eq!(state.clock_text(), "22:13:20 UTC");
        state.apply(tick(1_700_000_001));
        assert_eq!(state.clock_text(), "22:13:21 UTC");
        state.apply(text("9", "hello"));
        state.apply(AppEvent::Received(Received {
            event: shared::event::CURRENT_TIME.to_owned(),
            id: "10".to_owned(),
            data: "not json".to_owned(),
            payload: Payload::Malformed("expected value".to_owned()),
        }));
        assert_eq!(state.clock_text(), "22:13:21 UTC");
        assert_eq!(state.log().len(), 4);
    }

    fn chosen(state: &PageState) -> Vec<&str> {
        state.topics().collect()
    }

    #[test]
    fn starts_with_the_default_topics_chosen() {
        let state = PageState::new();
        assert_eq!(chosen(&state), shared::topic::DEFAULTS);
        assert_eq!(state.topics_text(), "clock, messages");
        assert_eq!(state.topic_error(), None);
        assert_eq!(state.publish(), &Publish::Idle);
    }

    #[test]
    fn checkboxes_choose_and_unchoose_offered_topics_only() {
        let mut state = PageState::new();
        let toggle = |topic: &str, chosen| AppEvent::TopicChosen {
            topic: topic.to_owned(),
            chosen,
        };
        state.apply(toggle(shared::topic::CLOCK, false));
        assert_eq!(chosen(&state), [shared::topic::MESSAGES]);
        state.apply(toggle(shared::topic::MESSAGES, false));
        assert_eq!(chosen(&state), Vec::<&str>::new());
        assert_eq!(state.topics_text(), "none");
        // Choosing again keeps the picker's order, not the order of clicks.
        state.apply(toggle(shared::topic::MESSAGES, true));
        state.apply(toggle(shared::topic::CLOCK, true));
        assert_eq!(chosen(&state), shared::topic::DEFAULTS);
        state.apply(toggle("not-offered", true));
        assert_eq!(chosen(&state), shared::topic::DEFAULTS);
        assert_eq!(state.topic_choices().len(), 3);
    }

    #[test]
    fn without_a_token_the_private_topic_is_offered_but_locked() {
        let mut state = PageState::new();
        let private: Vec<&TopicChoice> = state
            .topic_choices()
            .filter(|choice| choice.private)
            .collect();
        assert_eq!(
            private,
            [&TopicChoice {
                name: PRIVATE_TOPIC.to_owned(),
                chosen: false,
                private: true,
            }]
        );
        assert!(!state.has_token());
        state.apply(AppEvent::TopicChosen {
            topic: PRIVATE_TOPIC.to_owned(),
            chosen: true,
        });
        assert_eq!(state.topic_error(), Some(LOCKED));
        state.apply(AppEvent::TopicAdded(format!(" {PRIVATE_TOPIC} ")));
        assert_eq!(state.topic_error(), Some(LOCKED));
        assert_eq!(chosen(&state), shared::topic::DEFAULTS);
        assert!(!state.needs_token());
    }

    #[test]
    fn with_a_token_the_private_topic_is_chosen_and_the_stream_needs_the_token() {
        let mut state = PageState::with_token();
        assert!(state.has_token());
        assert_eq!(chosen(&state), ["clock", "messages", PRIVATE_TOPIC]);
        assert_eq!(state.topics_text(), "clock, messages, private/demo");
        assert!(state.needs_token());
        // Public topics alone do not present the token: nothing there needs it.
        state.apply(AppEvent::TopicChosen {
            topic: PRIVATE_TOPIC.to_owned(),
            chosen: false,
        });
        assert!(!state.needs_token());
        state.apply(AppEvent::TopicAdded(PRIVATE_TOPIC.to_owned()));
        assert_eq!(state.topic_error(), None);
        assert!(state.needs_token());
    }

    #[test]
    fn added_topics_are_trimmed_offered_and_chosen_once() {
        let mut state = PageState::new();
        state.apply(AppEvent::TopicAdded("  news/uk ".to_owned()));
        assert_eq!(state.topic_error(), None);
        assert_eq!(chosen(&state), ["clock", "messages", "news/uk"]);
        state.apply(AppEvent::TopicAdded("news/uk".to_owned()));
        assert_eq!(state.topic_choices().len(), 4);
        // Adding an offered but unchosen topic chooses it again.
        state.apply(AppEvent::TopicChosen {
            topic: "clock".to_owned(),
            chosen: false,
        });
        state.apply(AppEvent::TopicAdded("clock".to_owned()));
        assert_eq!(chosen(&state), ["clock", "messages", "news/uk"]);
        assert_eq!(state.topics_text(), "clock, messages, news/uk");
    }

    #[test]
    fn bad_topic_names_are_refused_with_a_reason_until_a_good_one() {
        let mut state = PageState::new();
        for (bad, want) in [
            ("", TopicError::Empty),
            ("   ", TopicError::Empty),
            ("a\u{7}b", TopicError::Control),
            ("a\nb", TopicError::Control),
        ] {
            state.apply(AppEvent::TopicAdded(bad.to_owned()));
            assert_eq!(
                state.topic_error(),
                Some(want.to_string().as_str()),
                "{bad:?}"
            );
        }
        state.apply(AppEvent::TopicAdded(
            "x".repeat(shared::topic_name::MAX_TOPIC_LEN + 1),
        ));
        assert_eq!(
            state.topic_error(),
            Some(TopicError::TooLong.to_string().as_str())
        );
        assert_eq!(state.topic_choices().len(), 3);
        // Exactly the limit is fine, counted in bytes: 128 two-byte characters.
        state.apply(AppEvent::TopicAdded(
            "é".repeat(shared::topic_name::MAX_TOPIC_LEN / 2),
        ));
        assert_eq!(state.topic_error(), None);
        assert_eq!(state.topic_choices().len(), 4);
    }

    #[test]
    fn no_more_than_the_servers_topic_limit() {
        let mut state = PageState::new();
        for i in 0..MAX_TOPICS - 2 {
            state.apply(AppEvent::TopicAdded(format!("t{i}")));
        }
        assert_eq!(state.topics().count(), MAX_TOPICS);
        state.apply(AppEvent::TopicAdded("one-too-many".to_owned()));
        assert_eq!(
            state.topic_error(),
            Some(TopicError::TooMany.to_string().as_str())
        );
        assert_eq!(state.topics().count(), MAX_TOPICS);
        state.apply(AppEvent::TopicChosen {
            topic: "t0".to_owned(),
            chosen: false,
        });
        state.apply(AppEvent::TopicChosen {
            topic: "t0".to_owned(),
            chosen: true,
        });
        assert_eq!(state.topics().count(), MAX_TOPICS);
    }

    #[test]
    fn publish_status_follows_send_success_and_failure() {
        let mut state = PageState::new();
        state.apply(AppEvent::PublishSending);
        assert_eq!(state.publish(), &Publish::Sending);
        state.apply(AppEvent::PublishFailed("rate limited".to_owned()));
        assert_eq!(state.publish(), &Publish::Failed("rate limited".to_owned()));
        state.apply(AppEvent::PublishSending);
        state.apply(AppEvent::PublishSent);
        assert_eq!(state.publish(), &Publish::Idle);
    }

    #[test]
    fn log_is_newest_first_and_bounded() {
        let mut state = PageState::new();
        for i in 0..LOG_CAPACITY + 5 {
            state.apply(text(&i.to_string(), "x"));
        }
        assert_eq!(state.log().len(), LOG_CAPACITY);
        let ids: Vec<&str> = state.log().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.first(), Some(&"104"));
        assert_eq!(ids.last(), Some(&"5"));
    }
}
