//! Event type names and topic names, defined once so server and client cannot drift apart.
//!
//! A string literal naming an event anywhere outside this crate is a bug: use these constants.

/// SSE event types (the `event:` field) that Herald sends.
pub mod event {
    /// The default event type: the welcome and every published event without an explicit type.
    pub const MESSAGE: &str = "message";
    /// The clock's tick, sent once a second on the [`super::topic::CLOCK`] topic.
    pub const CURRENT_TIME: &str = "currentTime";
    /// Sent before the live stream when a reconnecting client asked for events that history no
    /// longer holds (or an id that is not ours): the client must re-fetch its state.
    pub const RESET: &str = "reset";
}

/// Topic names that Herald itself uses.
pub mod topic {
    /// The built-in topic on which the server publishes a [`super::event::CURRENT_TIME`] each second.
    pub const CLOCK: &str = "clock";
    /// The chat-like topic the UI publishes to; open to unauthenticated publishers by default.
    pub const MESSAGES: &str = "messages";
    /// What a subscriber gets when it names no topic.
    pub const DEFAULTS: [&str; 2] = [CLOCK, MESSAGES];
}

/// The text of the welcome event that opens every stream (the original example's greeting).
pub const WELCOME_TEXT: &str = "hello from stream";

/// The HTTP path of the event stream.
pub const EVENTS_PATH: &str = "/events";
/// The HTTP path of the publish API.
pub const PUBLISH_PATH: &str = "/publish";
