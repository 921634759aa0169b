//! Herald's native client, for tokio services: subscribe to a Herald server and get its events
//! as `shared`'s types, with the browser's `EventSource` promises kept and bounded.
//!
//! - Typed: [`Builder::on`] takes a handler per [`shared::Event`] type; the name it listens for
//!   and the payload it decodes come from that type.
//! - Reconnecting: after a drop, it waits with exponential backoff and jitter ([`Backoff`]),
//!   starting from the server's `retry:`, and at least a 503's `Retry-After`.
//! - Resuming: every reconnection sends `Last-Event-ID`, so the server replays what was missed,
//!   with no gap and no duplicate (or sends `reset` when history no longer covers it).
//! - Bounded: a line or event larger than [`Builder::max_event_size`] drops the connection;
//!   events wait for the handlers in a channel of [`Builder::buffer`] places.
//! - Observable: [`Subscription::state`] follows the connection; recoverable errors go to
//!   [`Builder::on_error`], the fatal one to [`Subscription::closed`].
//!
//! ```no_run
//! # async fn example() -> Result<(), native::Error> {
//! use shared::payload::CurrentTime;
//!
//! let subscription = native::Builder::new("http://127.0.0.1:3000")
//!     .topic(shared::topic::CLOCK)
//!     .on(|tick: native::Received<CurrentTime>| println!("{}", tick.event.time))
//!     .subscribe()?;
//! subscription.closed().await
//! # }
//! ```
//!
//! Plain HTTP only for now (put TLS in front, or on the same host).

mod backoff;
mod builder;
mod connection;
mod error;
mod handlers;
mod subscription;

pub use backoff::Backoff;
pub use builder::Builder;
pub use error::Error;
pub use handlers::Received;
pub use subscription::{State, Subscription};
