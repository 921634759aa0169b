//! What Herald's server and browser client agree on: event and topic names, payload types, and
//! the server-sent events wire format (a spec-exact encoder and an incremental parser).
//!
//! This crate compiles for native targets and for `wasm32-unknown-unknown`; it has no async
//! runtime and no I/O, so both sides can depend on it.

pub mod names;
pub mod payload;
pub mod topic_name;
pub mod wire;

pub use names::{event, topic};
pub use topic_name::{TopicError, TopicName};
