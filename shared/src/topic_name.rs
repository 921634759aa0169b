//! Topic names as a validated type: the rules for what a topic may be called, written once for
//! the server (which refuses a bad one with 400) and the client (which refuses it in the picker).

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// Longest topic name, in bytes: long enough for URLs and paths, short enough to bound the keys
/// every topic costs the hub.
pub const MAX_TOPIC_LEN: usize = 256;

/// Most topics one stream subscribes to, or one publish names: each costs the hub a read per
/// wake-up (streams) or an append (publishes), so a request cannot make that cost unbounded.
pub const MAX_TOPICS: usize = 64;

/// Why a topic name, or a list of them, was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty.
    #[error("a topic name cannot be empty")]
    Empty,
    /// Longer than [`MAX_TOPIC_LEN`] bytes.
    #[error("a topic name is at most {MAX_TOPIC_LEN} bytes")]
    TooLong,
    /// Contains a control character (a newline, say), which no SSE field or URL should carry.
    #[error("a topic name cannot contain control characters")]
    Control,
    /// More than [`MAX_TOPICS`] distinct topics at once.
    #[error("at most {MAX_TOPICS} topics at once")]
    TooMany,
}

/// A valid topic name: 1–[`MAX_TOPIC_LEN`] bytes, no control characters. Cheap to clone (the
/// text is shared), so the server can key maps by it and hand it to every subscriber.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// Checks `name` against the rules.
    ///
    /// # Errors
    /// The first rule `name` breaks.
    pub fn new(name: &str) -> Result<Self, TopicError> {
        if name.is_empty() {
            Err(TopicError::Empty)
        } else if name.len() > MAX_TOPIC_LEN {
            Err(TopicError::TooLong)
        } else if name.chars().any(char::is_control) {
            Err(TopicError::Control)
        } else {
            Ok(Self(Arc::from(name)))
        }
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topics a subscriber gets when it names none ([`crate::topic::DEFAULTS`]).
    #[must_use]
    pub fn defaults() -> Vec<Self> {
        crate::topic::DEFAULTS
            .iter()
            .map(|name| Self(Arc::from(*name)))
            .collect()
    }

    /// Validates `names`, dropping repeats (first-seen order kept).
    ///
    /// # Errors
    /// The first invalid name's error, or [`TopicError::TooMany`] past [`MAX_TOPICS`] distinct
    /// names.
    pub fn list<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Vec<Self>, TopicError> {
        let mut topics: Vec<Self> = Vec::new();
        for name in names {
            let name = name.as_ref();
            if topics.iter().any(|known| known.as_str() == name) {
                continue;
            }
            if topics.len() == MAX_TOPICS {
                return Err(TopicError::TooMany);
            }
            topics.push(Self::new(name)?);
        }
        Ok(topics)
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules() {
        assert!(TopicName::new("clock").is_ok());
        assert!(TopicName::new(&"x".repeat(MAX_TOPIC_LEN)).is_ok());
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(
            TopicName::new(&"x".repeat(MAX_TOPIC_LEN + 1)),
            Err(TopicError::TooLong)
        );
        assert_eq!(TopicName::new("a\nb"), Err(TopicError::Control));
        assert_eq!(TopicName::new("a\u{7f}"), Err(TopicError::Control));
        // Multi-byte characters count in bytes.
        assert_eq!(
            TopicName::new(&"é".repeat(MAX_TOPIC_LEN / 2 + 1)),
            Err(TopicError::TooLong)
        );
    }

    #[test]
    fn lists_drop_repeats_and_are_bounded_by_distinct_names() {
        let names = TopicName::list(["b", "a", "b"]).unwrap();
        assert_eq!(
            names.iter().map(TopicName::as_str).collect::<Vec<_>>(),
            ["b", "a"]
        );
        let many: Vec<String> = (0..MAX_TOPICS).map(|n| n.to_string()).collect();
        let repeated = many.iter().chain(many.iter());
        assert_eq!(TopicName::list(repeated).unwrap().len(), MAX_TOPICS);
        let one_more = many.iter().map(String::as_str).chain(["extra"]);
        assert_eq!(TopicName::list(one_more), Err(TopicError::TooMany));
        assert_eq!(TopicName::list(["ok", ""]), Err(TopicError::Empty));
    }

    #[test]
    fn defaults_are_the_named_constants() {
        let defaults = TopicName::defaults();
        assert_eq!(
            defaults.iter().map(TopicName::as_str).collect::<Vec<_>>(),
            crate::topic::DEFAULTS
        );
    }
}
