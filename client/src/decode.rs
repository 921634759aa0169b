//! Turns browser events into typed [`AppEvent`]s, using the names and payloads from `shared`.
//!
//! The decision (which event type means what, and whether its data parses) lives in
//! [`received`], a pure function tested natively; the functions taking `web_sys` types only read
//! fields out of the browser's objects.

use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource, MessageEvent};

use shared::event;
use shared::payload::CurrentTime;

use crate::state::{AppEvent, Payload, Received};

/// Decodes one stream event from its type, id and data.
#[must_use]
pub fn received(event_type: &str, id: &str, data: &str) -> Received {
    let payload = match event_type {
        event::MESSAGE => Payload::Text,
        event::CURRENT_TIME => match CurrentTime::from_data(data) {
            Ok(tick) => Payload::Tick(tick),
            Err(err) => Payload::Malformed(err.to_string()),
        },
        event::RESET => Payload::Reset,
        _ => Payload::Unknown,
    };
    Received {
        event: event_type.to_owned(),
        id: id.to_owned(),
        data: data.to_owned(),
        payload,
    }
}

/// Decodes a `MessageEvent` dispatched by an `EventSource`.
#[must_use]
pub fn message(message: &MessageEvent) -> Received {
    // An EventSource's data is always a string; anything else would be a browser bug, and showing
    // it empty is kinder than panicking.
    let data = message.data().as_string().unwrap_or_default();
    received(&message.type_(), &message.last_event_id(), &data)
}

/// Decodes the `open` event.
#[must_use]
pub fn open(_event: &Event) -> AppEvent {
    AppEvent::Opened
}

/// Decodes an `error` event: the browser retries unless its `readyState` is `CLOSED`.
#[must_use]
pub fn error(event: &Event) -> AppEvent {
    let closed = event
        .target()
        .and_then(|target| target.dyn_into::<EventSource>().ok())
        .is_some_and(|source| source.ready_state() == EventSource::CLOSED);
    AppEvent::Failed { closed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_text() {
        let got = received(event::MESSAGE, "1", shared::names::WELCOME_TEXT);
        assert_eq!(got.payload, Payload::Text);
        assert_eq!(got.event, event::MESSAGE);
        assert_eq!(got.id, "1");
        assert_eq!(got.data, shared::names::WELCOME_TEXT);
    }

    #[test]
    fn current_time_decodes_shared_payload() {
        let data = r#"{"time":"2023-11-14T22:13:20.123Z"}"#;
        let got = received(event::CURRENT_TIME, "7", data);
        assert_eq!(
            got.payload,
            Payload::Tick(CurrentTime::from_data(data).unwrap())
        );
    }

    #[test]
    fn bad_current_time_is_malformed_not_a_panic() {
        let got = received(event::CURRENT_TIME, "", "{}");
        assert!(matches!(got.payload, Payload::Malformed(_)), "{got:?}");
    }

    #[test]
    fn reset_and_unknown_types() {
        assert_eq!(received(event::RESET, "", "").payload, Payload::Reset);
        assert_eq!(received("other", "", "x").payload, Payload::Unknown);
    }
}
