//! Serde payload types carried in event data and in the HTTP API's JSON bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The data of a [`crate::event::CURRENT_TIME`] event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentTime {
    /// The server's clock, in UTC, when the tick was published.
    pub time: DateTime<Utc>,
}

impl CurrentTime {
    /// Encodes the payload as the JSON text sent in the event's `data`.
    #[must_use]
    pub fn to_data(&self) -> String {
        // Serialising a struct of one timestamp cannot fail: no map keys, no I/O.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes the `data` of a received event.
    ///
    /// # Errors
    /// When `data` is not the JSON this type encodes to.
    pub fn from_data(data: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(data)
    }
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
    fn current_time_round_trips_through_event_data() {
        let tick = CurrentTime {
            time: DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
        };
        let data = tick.to_data();
        assert_eq!(data, r#"{"time":"2023-11-14T22:13:20.123Z"}"#);
        assert_eq!(CurrentTime::from_data(&data).unwrap(), tick);
    }

    #[test]
    fn publish_request_rejects_unknown_fields() {
        let err = serde_json::from_str::<PublishRequest>(r#"{"topic":"a","data":1,"x":2}"#);
        assert!(err.is_err());
    }
}
