//! The events Herald sends, one Rust type each, carrying its SSE event name and the encoding of
//! its payload: the server publishes a value of the type, a client listens for the type and gets
//! the value back, so a name can never be paired with the wrong payload on either side.
//!
//! The wire format is exactly what it was when these were bare strings (third-party clients rely
//! on it): the welcome and the UI's messages are default `message` events with plain text, the
//! clock's tick is `currentTime` with a JSON object, `reset` has empty data.

use std::fmt;

use crate::payload::CurrentTime;
use crate::wire::{EventFrame, EventName};

/// The default SSE event type: a frame without an `event:` line is dispatched under this name.
const DEFAULT_NAME: &str = "message";

/// An event Herald sends: its name and how its payload becomes `data` and back.
pub trait Event: Sized {
    /// The SSE `event:` field (`message` is sent without one, as the default).
    const NAME: &'static str;

    /// Appends the payload, as the event's `data`, to `out`.
    ///
    /// # Errors
    /// When the payload cannot be represented (a JSON encoder's refusal).
    fn encode(&self, out: &mut String) -> Result<(), EncodeError>;

    /// Reads the payload back from a received event's `data`.
    ///
    /// # Errors
    /// When `data` is not what [`Event::encode`] writes for this type.
    fn decode(data: &str) -> Result<Self, DecodeError>;

    /// Decodes a received event if it has this type's name: `None` for another event type.
    fn decode_named(name: &str, data: &str) -> Option<Result<Self, DecodeError>> {
        (name == Self::NAME).then(|| Self::decode(data))
    }
}

/// Why a payload could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The JSON encoder refused the payload.
    #[error("cannot encode a `{event}` payload as JSON: {source}")]
    Json {
        /// The event's name.
        event: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

/// Why a received event's data is not its type's payload.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The data is not the JSON the type encodes to.
    #[error("`{event}` data is not its JSON payload: {source}")]
    Json {
        /// The event's name.
        event: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The data is not the fixed text the type is sent with.
    #[error("`{event}` data is not {expected:?}")]
    Text {
        /// The event's name.
        event: &'static str,
        /// The text the type is always sent with.
        expected: &'static str,
    },
}

/// An event encoded once, ready to frame: its validated name (none for the default `message`)
/// and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    name: Option<EventName>,
    data: String,
}

impl Encoded {
    /// Encodes `event` under its type's name.
    ///
    /// # Errors
    /// When the payload cannot be encoded.
    ///
    /// # Panics
    /// Never: every [`Event::NAME`] here is a valid, non-empty event type (tested below).
    pub fn new<E: Event>(event: &E) -> Result<Self, EncodeError> {
        let mut data = String::new();
        event.encode(&mut data)?;
        let name = (E::NAME != DEFAULT_NAME).then(|| {
            EventName::new(E::NAME).expect("event names are constants without line breaks")
        });
        Ok(Self { name, data })
    }

    /// The `event:` field, `None` for the default type.
    #[must_use]
    pub fn name(&self) -> Option<&EventName> {
        self.name.as_ref()
    }

    /// The `data` text.
    #[must_use]
    pub fn data(&self) -> &str {
        &self.data
    }

    /// A frame of this event; add its id (and a retry hint) before encoding it.
    pub fn frame(&self) -> EventFrame<'_> {
        let frame = EventFrame::new(&self.data);
        match &self.name {
            Some(name) => frame.event(name),
            None => frame,
        }
    }
}

/// The event that opens every stream (the original example's greeting), sent after the replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Welcome;

impl Event for Welcome {
    const NAME: &'static str = DEFAULT_NAME;

    fn encode(&self, out: &mut String) -> Result<(), EncodeError> {
        out.push_str(crate::names::WELCOME_TEXT);
        Ok(())
    }

    fn decode(data: &str) -> Result<Self, DecodeError> {
        if data == crate::names::WELCOME_TEXT {
            Ok(Self)
        } else {
            Err(DecodeError::Text {
                event: Self::NAME,
                expected: crate::names::WELCOME_TEXT,
            })
        }
    }
}

/// A text message, as the UI publishes to `messages`: a default `message` event whose data is
/// the text itself. (The welcome is a `message` too, so a listener for this type receives it.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message(pub String);

impl Event for Message {
    const NAME: &'static str = DEFAULT_NAME;

    fn encode(&self, out: &mut String) -> Result<(), EncodeError> {
        out.push_str(&self.0);
        Ok(())
    }

    fn decode(data: &str) -> Result<Self, DecodeError> {
        Ok(Self(data.to_owned()))
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sent before the live stream when a reconnecting client asked for events that history no
/// longer holds (or an id that is not ours): the client must re-fetch its state. No payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reset;

impl Event for Reset {
    const NAME: &'static str = "reset";

    fn encode(&self, _out: &mut String) -> Result<(), EncodeError> {
        Ok(())
    }

    /// Any data is accepted: the event itself is the news, and the data has never meant
    /// anything, so being strict would only break on a harmless change.
    fn decode(_data: &str) -> Result<Self, DecodeError> {
        Ok(Self)
    }
}

/// The clock's tick, sent once a second on the `clock` topic, as JSON.
impl Event for CurrentTime {
    const NAME: &'static str = "currentTime";

    fn encode(&self, out: &mut String) -> Result<(), EncodeError> {
        let json = serde_json::to_string(self).map_err(|source| EncodeError::Json {
            event: Self::NAME,
            source,
        })?;
        out.push_str(&json);
        Ok(())
    }

    fn decode(data: &str) -> Result<Self, DecodeError> {
        serde_json::from_str(data).map_err(|source| DecodeError::Json {
            event: Self::NAME,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::wire::{EventId, Parser};

    /// The bytes of `event` framed under id 7, parsed back as a browser would.
    fn round_trip<E: Event>(event: &E) -> (Vec<u8>, E) {
        let id = EventId::from_seq(7);
        let frame = Encoded::new(event).unwrap().frame().id(&id).to_vec();
        let parsed = Parser::default().parse_all(&frame).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].event, E::NAME);
        let back = E::decode_named(&parsed[0].event, &parsed[0].data)
            .expect("the name matches")
            .unwrap();
        (frame, back)
    }

    #[test]
    fn welcome_is_the_greeting_as_a_default_message() {
        let (frame, back) = round_trip(&Welcome);
        assert_eq!(frame, b"id: 7\ndata: hello from stream\n\n");
        assert_eq!(back, Welcome);
        assert!(Welcome::decode("hello").is_err());
    }

    #[test]
    fn message_is_its_text_without_an_event_line() {
        let text = Message("two\nlines".to_owned());
        let (frame, back) = round_trip(&text);
        assert_eq!(frame, b"id: 7\ndata: two\ndata: lines\n\n");
        assert_eq!(back, text);
    }

    #[test]
    fn reset_has_empty_data() {
        let (frame, back) = round_trip(&Reset);
        assert_eq!(frame, b"event: reset\nid: 7\ndata: \n\n");
        assert_eq!(back, Reset);
    }

    #[test]
    fn current_time_is_json() {
        let tick = CurrentTime {
            time: DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
        };
        let (frame, back) = round_trip(&tick);
        assert_eq!(
            frame,
            &b"event: currentTime\nid: 7\ndata: {\"time\":\"2023-11-14T22:13:20.123Z\"}\n\n"[..]
        );
        assert_eq!(back, tick);
        let err = CurrentTime::decode("{}").unwrap_err();
        assert!(err.to_string().starts_with("`currentTime` data"), "{err}");
    }

    #[test]
    fn another_name_is_not_decoded() {
        assert!(CurrentTime::decode_named(Reset::NAME, "").is_none());
        assert!(Reset::decode_named(CurrentTime::NAME, "").is_none());
    }

    #[test]
    fn every_name_is_a_valid_event_type_and_listed() {
        for name in crate::event::ALL {
            EventName::new(name).unwrap();
        }
        assert_eq!(
            crate::event::ALL,
            [Message::NAME, CurrentTime::NAME, Reset::NAME]
        );
        assert_eq!(Welcome::NAME, Message::NAME);
    }
}
