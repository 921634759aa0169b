//! Serde payload types carried in event data and in the HTTP API's JSON bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{EncodeError, Encoded, Event};

/// The data of a [`crate::event::CURRENT_TIME`] event (its [`crate::Event`] impl is in
/// [`crate::events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentTime {
    /// The server's clock, in UTC, when the tick was published.
    pub time: DateTime<Utc>,
}

/// The JSON body of `POST /publish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The topic the event goes to.
    pub topic: String,
    /// The SSE event type; `message` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Any JSON; a JSON string is sent as its text, anything else as its JSON encoding.
    pub data: serde_json::Value,
    /// The publisher's own key for this event, making retries safe: publishing the same `id`
    /// to the same topic again, while the first is still in history, delivers nothing new and
    /// answers the first event's id. Subscribers always see the hub's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A reconnection time (ms) to send to subscribers along with this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
    /// Only for subscribers whose token grants its topic (`mercure.subscribe`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

impl PublishRequest {
    /// A request publishing `event` to `topic`, under its type's name and with its encoded
    /// payload (as text, which the server sends as is), so the two cannot be mismatched.
    ///
    /// # Errors
    /// When the payload cannot be encoded.
    pub fn typed<E: Event>(topic: impl Into<String>, event: &E) -> Result<Self, EncodeError> {
        let encoded = Encoded::new(event)?;
        Ok(Self {
            topic: topic.into(),
            event: encoded.name().map(|name| name.as_str().to_owned()),
            data: serde_json::Value::String(encoded.data().to_owned()),
            id: None,
            retry: None,
            private: false,
        })
    }
}

/// The answer to a successful publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The id the event was given; subscribers see it in the `id:` field.
    pub id: String,
}

/// The body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One line a person can act on.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_request_pairs_the_name_with_the_encoded_payload() {
        let tick = CurrentTime {
            time: DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
        };
        let request = PublishRequest::typed("clock", &tick).unwrap();
        assert_eq!(request.event.as_deref(), Some(crate::event::CURRENT_TIME));
        assert_eq!(request.data, r#"{"time":"2023-11-14T22:13:20.123Z"}"#);
        // The default type goes without a name, as the UI has always sent it.
        let text = PublishRequest::typed("messages", &crate::events::Message("hi".into())).unwrap();
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            r#"{"topic":"messages","data":"hi"}"#
        );
    }

    #[test]
    fn publish_request_rejects_unknown_fields() {
        let err = serde_json::from_str::<PublishRequest>(r#"{"topic":"a","data":1,"x":2}"#);
        assert!(err.is_err());
    }
}
