//! The client's state as plain Rust: connection status, the clock and a bounded event log.
//!
//! Nothing here touches the browser, so every transition is unit-tested natively with `#[test]`;
//! `view` turns this state into DOM and `decode` produces the [`AppEvent`]s that drive it.

use std::collections::VecDeque;

use chrono::Timelike;
use shared::payload::CurrentTime;

/// How many received events the log keeps.
///
/// The clock alone adds one event a second; 100 entries are the last minute and a half of it,
/// enough to see what just happened, while keeping every render cheap and memory flat on a page
/// left open for days.
pub const LOG_CAPACITY: usize = 100;

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
    /// An event type this client does not know (yet); kept in the log as it came.
    Unknown,
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
}

/// The whole client state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppState {
    connection: Connection,
    clock: Option<CurrentTime>,
    /// Newest first, at most [`LOG_CAPACITY`] long: pushing to the front and truncating the back
    /// are both O(1) on a `VecDeque`.
    log: VecDeque<Received>,
}

impl AppState {
    /// A state for a page that has just started connecting.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
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
        }
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
            data: tick.to_data(),
            payload: Payload::Tick(tick),
        })
    }

    #[test]
    fn starts_connecting_with_an_empty_clock_and_log() {
        let state = AppState::new();
        assert_eq!(state.connection(), Connection::Connecting);
        assert_eq!(state.connection().label(), "connecting");
        assert_eq!(state.clock_text(), "--:--:-- UTC");
        assert_eq!(state.log().len(), 0);
    }

    #[test]
    fn follows_open_error_and_close() {
        let mut state = AppState::new();
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
        let mut state = AppState::new();
        state.apply(AppEvent::Failed { closed: false });
        state.apply(text("1", "hi"));
        assert_eq!(state.connection(), Connection::Open);
    }

    #[test]
    fn ticks_set_the_clock_and_other_events_leave_it() {
        let mut state = AppState::new();
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

    #[test]
    fn log_is_newest_first_and_bounded() {
        let mut state = AppState::new();
        for i in 0..LOG_CAPACITY + 5 {
            state.apply(text(&i.to_string(), "x"));
        }
        assert_eq!(state.log().len(), LOG_CAPACITY);
        let ids: Vec<&str> = state.log().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.first(), Some(&"104"));
        assert_eq!(ids.last(), Some(&"5"));
    }
}
