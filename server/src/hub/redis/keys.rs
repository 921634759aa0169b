//! The names of the shared log's keys in Redis, all under one prefix.

use shared::TopicName;

/// The epoch: when this log began, in Redis's milliseconds. Gone when Redis lost its data.
pub(crate) const EPOCH: &str = "herald:epoch";
/// Every event, in the one order of ids.
pub(crate) const LOG: &str = "herald:log";
/// The id of the newest entry in [`LOG`].
pub(crate) const LAST: &str = "herald:last";

/// A topic's history.
pub(crate) fn topic(topic: &TopicName) -> String {
    format!("herald:topic:{}", topic.as_str())
}

/// The id of the event last published to `topic` with idempotency key `key`. A topic
/// has no control characters, so the newline keeps every pair apart.
pub(crate) fn marker(topic: &TopicName, key: &str) -> String {
    format!("herald:key:{}\n{key}", topic.as_str())
}
