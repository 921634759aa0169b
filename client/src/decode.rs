//! Turns browser events into [`AppEvent`]s: each Herald event through its `shared` type, so the
//! name a listener is attached to and the payload it decodes come from one definition.
//!
//! The decision (what a payload means for the page, and whether its data decodes) lives in
//! [`received`], a pure function tested natively; the functions taking `web_sys` types only read
//! fields out of the browser's objects.

use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource};

use shared::Event as HeraldEvent;
use shared::events::{Message, Reset};
use shared::payload::CurrentTime;

use crate::state::{AppEvent, Payload, Received};
use crate::subscription::Delivered;

/// A Herald event the page shows: what its decoded payload means to the state.
pub trait Shown: HeraldEvent {
    /// The payload, as the state keeps it.
    fn payload(self) -> Payload;
}

impl Shown for Message {
    fn payload(self) -> Payload {
        Payload::Text
    }
}

impl Shown for CurrentTime {
    fn payload(self) -> Payload {
        Payload::Tick(self)
    }
}

impl Shown for Reset {
    fn payload(self) -> Payload {
        Payload::Reset
    }
}

/// Decodes one stream event of type `E` from its id and data.
#[must_use]
pub fn received<E: Shown>(id: &str, data: &str) -> Received {
    let payload = match E::decode(data) {
        Ok(event) => event.payload(),
        Err(err) => Payload::Malformed(err.to_string()),
    };
    Received {
        event: E::NAME.to_owned(),
        id: id.to_owned(),
        data: data.to_owned(),
        payload,
    }
}

/// Decodes an event an `EventSource` delivered to a listener for `E`.
#[must_use]
pub fn delivered<E: Shown>(event: &Delivered<E>) -> Received {
    received::<E>(&event.id, &event.data)
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
    use shared::event;

    use super::*;

    #[test]
    fn message_is_text() {
        let got = received::<Message>("1", shared::names::WELCOME_TEXT);
        assert_eq!(got.payload, Payload::Text);
        assert_eq!(got.event, event::MESSAGE);
        assert_eq!(got.id, "1");
        assert_eq!(got.data, shared::names::WELCOME_TEXT);
    }

    #[test]
    fn current_time_decodes_shared_payload() {
        let data = r#"{"time":"2023-11-14T22:13:20.123Z"}"#;
        let got = received::<CurrentTime>("7", data);
        assert_eq!(got.event, event::CURRENT_TIME);
        assert_eq!(
            got.payload,
            Payload::Tick(CurrentTime::decode(data).unwrap())
        );
    }

    #[test]
    fn bad_current_time_is_malformed_not_a_panic() {
        let got = received::<CurrentTime>("", "{}");
        assert!(matches!(got.payload, Payload::Malformed(_)), "{got:?}");
    }

    #[test]
    fn reset_is_its_own_payload() {
        let got = received::<Reset>("", "");
        assert_eq!(got.event, event::RESET);
        assert_eq!(got.payload, Payload::Reset);
    }

    #[test]
    fn a_delivered_event_decodes_as_its_type() {
        let got = delivered(&Delivered::<Message>::new("3", "hi"));
        assert_eq!((got.id.as_str(), got.data.as_str()), ("3", "hi"));
        assert_eq!(got.payload, Payload::Text);
    }
}
