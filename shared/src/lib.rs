//! What Herald's server and its clients agree on: the events (one type each, carrying its name and
//! payload encoding), topic names, payload types, and the server-sent events wire format (a
//! spec-exact encoder and an incremental parser).
//!
//! This crate compiles for native targets and for `wasm32-unknown-unknown`; it has no async
//! runtime and no I/O, so both sides can depend on it.

pub mod events;
pub mod names;
pub mod payload;
pub mod topic_name;
pub mod wire;

pub use events::{DecodeError, EncodeError, Encoded, Event};
pub use names::{event, topic};
pub use topic_name::{TopicError, TopicName};
