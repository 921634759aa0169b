//! The server-sent events wire format (WHATWG HTML, "Server-sent events"): validated field
//! values, an encoder that cannot produce a forged frame, and an incremental parser.

mod encode;
mod field;
mod parse;

pub use encode::{EventFrame, encode_comment, encode_retry};
pub use field::{Comment, EventId, EventName, FieldError};
pub use parse::{DEFAULT_MAX_EVENT_SIZE, ParseError, ParsedEvent, Parser};

/// The `Content-Type` of an event stream.
pub const CONTENT_TYPE: &str = "text/event-stream";
