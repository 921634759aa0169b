//! Field values that are valid by construction: an event type, an id or a comment that could
//! break out of its line (and so forge another field or event) cannot be built.

use std::fmt;

/// Why a field value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// CR or LF would end the line early and let the rest be read as another field.
    #[error("{field} must not contain a line break (CR or LF)")]
    LineBreak {
        /// Which field was refused.
        field: &'static str,
    },
    /// Browsers ignore an `id` containing NUL; we refuse it (and in event types, for symmetry).
    #[error("{field} must not contain a NUL character")]
    Nul {
        /// Which field was refused.
        field: &'static str,
    },
    /// An empty `event:` is read as the default type, so it could not round-trip.
    #[error("event type must not be empty")]
    EmptyEventName,
}

fn check(field: &'static str, value: &str, refuse_nul: bool) -> Result<(), FieldError> {
    match value
        .bytes()
        .find(|b| matches!(b, b'\r' | b'\n') || (refuse_nul && *b == 0))
    {
        Some(0) => Err(FieldError::Nul { field }),
        Some(_) => Err(FieldError::LineBreak { field }),
        None => Ok(()),
    }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The validated text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = FieldError;
            fn try_from(value: &str) -> Result<Self, FieldError> {
                Self::new(value)
            }
        }
    };
}

/// An SSE event type (`event:` field): non-empty, no CR, LF or NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName(String);

impl EventName {
    /// Validates an event type.
    ///
    /// # Errors
    /// When `value` is empty or contains CR, LF or NUL.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        if value.is_empty() {
            return Err(FieldError::EmptyEventName);
        }
        check("event type", &value, true)?;
        Ok(Self(value))
    }
}
string_newtype!(EventName);

/// An SSE event id (`id:` field): no CR, LF or NUL. Empty is allowed: it resets the client's
/// last event id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// Validates an event id.
    ///
    /// # Errors
    /// When `value` contains CR, LF or NUL.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        check("event id", &value, true)?;
        Ok(Self(value))
    }

    /// The id of a hub sequence number: its decimal text, valid by construction.
    #[must_use]
    pub fn from_seq(seq: u64) -> Self {
        Self(seq.to_string())
    }
}
string_newtype!(EventId);

/// The text of a comment line (`:` …), used for heartbeats: no CR or LF.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comment(String);

impl Comment {
    /// Validates a comment.
    ///
    /// # Errors
    /// When `value` contains CR or LF.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        check("comment", &value, false)?;
        Ok(Self(value))
    }
}
string_newtype!(Comment);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_nul_cannot_be_constructed() {
        for bad in ["a\nb", "a\rb", "a\r\nb", "\n", "\r"] {
            assert_eq!(
                EventName::new(bad),
                Err(FieldError::LineBreak {
                    field: "event type"
                })
            );
            assert_eq!(
                EventId::new(bad),
                Err(FieldError::LineBreak { field: "event id" })
            );
            assert_eq!(
                Comment::new(bad),
                Err(FieldError::LineBreak { field: "comment" })
            );
        }
        assert_eq!(
            EventId::new("a\0b"),
            Err(FieldError::Nul { field: "event id" })
        );
        assert_eq!(
            EventName::new("a\0"),
            Err(FieldError::Nul {
                field: "event type"
            })
        );
        assert!(Comment::new("a\0b").is_ok());
    }

    #[test]
    fn ordinary_values_are_accepted() {
        assert_eq!(
            EventName::new("currentTime").unwrap().as_str(),
            "currentTime"
        );
        assert_eq!(EventId::new("").unwrap().as_str(), "");
        assert_eq!(EventId::from_seq(42).as_str(), "42");
        assert_eq!(EventName::new(""), Err(FieldError::EmptyEventName));
        assert_eq!(EventName::new(" spaced ").unwrap().as_str(), " spaced ");
    }
}
