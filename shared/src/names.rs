//! Event type names and topic names, defined once so server and client cannot drift apart.
//!
//! A string literal naming an event anywhere outside this crate is a bug: use the types of
//! [`crate::events`], or these constants.

/// SSE event types (the `event:` field) that Herald sends, taken from the [`crate::events`]
/// types that pair each with its payload: send and listen through those types; these names are
/// for what only needs the name (a metric, a test reading raw frames).
pub mod event {
    use crate::events::{Event as _, Message, Reset};
    use crate::payload::CurrentTime;

    /// The default event type: the welcome and every published event without an explicit type.
    pub const MESSAGE: &str = Message::NAME;
    /// The clock's tick, sent once a second on the [`super::topic::CLOCK`] topic.
    pub const CURRENT_TIME: &str = CurrentTime::NAME;
    /// Sent before the live stream when a reconnecting client asked for events that history no
    /// longer holds (or an id that is not ours): the client must re-fetch its state.
    pub const RESET: &str = Reset::NAME;
    /// Every name above: what the workspace's tidy test refuses to see spelled elsewhere.
    pub const ALL: [&str; 3] = [MESSAGE, CURRENT_TIME, RESET];
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
