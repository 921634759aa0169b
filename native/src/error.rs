//! What can go wrong, as one error type: a few end the subscription for good (the server refused
//! us, or we were misconfigured); the rest are reported and followed by a reconnection.

use std::time::Duration;

use shared::DecodeError;
use shared::wire::ParseError;

/// An error of the native client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server URL could not be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A topic name that the server would refuse.
    #[error("invalid topic: {0}")]
    InvalidTopic(#[from] shared::TopicError),
    /// A header value (the token, the starting `Last-Event-ID`) that HTTP cannot carry.
    #[error("{header} cannot be sent: it contains characters not allowed in an HTTP header")]
    InvalidHeader {
        /// Which header.
        header: &'static str,
    },
    /// Connecting or sending the request failed; retried.
    #[error("cannot reach the server: {0}")]
    Connect(#[source] hyper_util::client::legacy::Error),
    /// The server answered with a status that a retry cannot fix (400, 401, 403, 404...):
    /// ends the subscription.
    #[error("the server refused the stream with {status}: {body}")]
    Refused {
        /// The status.
        status: http::StatusCode,
        /// The start of the answer's body (Herald's `{"error": ...}`).
        body: String,
    },
    /// The server is busy or unavailable (429, 5xx); retried, after `retry_after` if it said.
    #[error("the server is unavailable ({status}), retrying")]
    Unavailable {
        /// The status.
        status: http::StatusCode,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The answer is not an event stream: the URL points at something else. Ends the
    /// subscription.
    #[error("the server answered {content_type:?}, not text/event-stream")]
    NotAnEventStream {
        /// The `Content-Type` that came.
        content_type: String,
    },
    /// Reading the stream failed (the connection dropped); retried.
    #[error("the stream broke: {0}")]
    Stream(#[source] hyper::Error),
    /// Nothing arrived, not even a heartbeat, for this long: the peer is presumed dead; retried.
    #[error("nothing received for {0:?}: the connection is presumed dead")]
    Idle(Duration),
    /// The server ended the stream (a restart, a drain, a slow reader cut); retried.
    #[error("the server ended the stream")]
    Ended,
    /// An event or line larger than the configured bound; the connection is dropped and retried.
    #[error("the stream sent {0}")]
    TooLarge(#[from] ParseError),
    /// An event whose data is not its type's payload; reported, the event skipped.
    #[error("undecodable event (id {id:?}): {source}")]
    Decode {
        /// The event's id.
        id: String,
        /// Why it did not decode.
        source: DecodeError,
    },
}

impl Error {
    /// Whether the subscription ends on this error rather than reconnecting.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::InvalidUrl { .. }
                | Self::InvalidTopic(_)
                | Self::InvalidHeader { .. }
                | Self::Refused { .. }
                | Self::NotAnEventStream { .. }
        )
    }
}
