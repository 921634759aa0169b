//! The typed handlers of a subscription, kept by event name: each decodes the data through its
//! `shared::Event` type, so a handler is only ever called with its own type's payload.

use std::collections::HashMap;
use std::fmt;

use shared::Event;
use shared::wire::ParsedEvent;

use crate::Error;

/// An event of type `E` as received: its id and its decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<E> {
    /// The event's id (what a reconnection resumes after).
    pub id: String,
    /// The payload.
    pub event: E,
}

/// A handler with its type erased: decodes, then calls the typed handler.
type Erased = Box<dyn FnMut(&ParsedEvent) -> Result<(), shared::DecodeError> + Send>;

/// Every handler, by the event name it listens for.
#[derive(Default)]
pub(crate) struct Handlers {
    by_name: HashMap<&'static str, Vec<Erased>>,
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("Handlers").field("names", &names).finish()
    }
}

impl Handlers {
    /// Adds `handler` for events of type `E`.
    pub(crate) fn add<E: Event + 'static>(
        &mut self,
        mut handler: impl FnMut(Received<E>) + Send + 'static,
    ) {
        self.by_name
            .entry(E::NAME)
            .or_default()
            .push(Box::new(move |parsed: &ParsedEvent| {
                let event = E::decode(&parsed.data)?;
                handler(Received {
                    id: parsed.id.clone(),
                    event,
                });
                Ok(())
            }));
    }

    /// Hands `parsed` to every handler of its name, in the order they were added. Events nobody
    /// listens for are skipped.
    ///
    /// Several types can share a name (the welcome and text messages are both `message`): an
    /// event is undecodable only when no handler of its name could decode it.
    ///
    /// # Errors
    /// [`Error::Decode`] with the first handler's reason when none could decode it.
    pub(crate) fn dispatch(&mut self, parsed: &ParsedEvent) -> Result<(), Error> {
        let Some(handlers) = self.by_name.get_mut(parsed.event.as_str()) else {
            return Ok(());
        };
        let mut first_error = None;
        let mut decoded = false;
        for handler in handlers {
            match handler(parsed) {
                Ok(()) => decoded = true,
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(source) if !decoded => Err(Error::Decode {
                id: parsed.id.clone(),
                source,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use shared::events::{Message, Reset, Welcome};
    use shared::payload::CurrentTime;

    use super::*;

    fn parsed(event: &str, id: &str, data: &str) -> ParsedEvent {
        ParsedEvent {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.to_owned(),
        }
    }

    #[test]
    fn each_handler_gets_its_own_type_only() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut handlers = Handlers::default();
        let log = Arc::clone(&seen);
        handlers.add(move |m: Received<Message>| log.lock().unwrap().push(format!("m{}", m.id)));
        let log = Arc::clone(&seen);
        handlers.add(move |r: Received<Reset>| log.lock().unwrap().push(format!("r{}", r.id)));
        handlers
            .dispatch(&parsed(shared::event::MESSAGE, "1", "hi"))
            .unwrap();
        handlers
            .dispatch(&parsed(shared::event::RESET, "2", ""))
            .unwrap();
        // Nobody listens for ticks here: skipped, not an error.
        handlers
            .dispatch(&parsed(shared::event::CURRENT_TIME, "3", "{}"))
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), ["m1", "r2"]);
    }

    #[test]
    fn undecodable_data_is_an_error_naming_the_id() {
        let mut handlers = Handlers::default();
        handlers.add(|_: Received<CurrentTime>| panic!("not with bad data"));
        let err = handlers
            .dispatch(&parsed(shared::event::CURRENT_TIME, "9", "nope"))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Decode { id, .. } if id == "9"),
            "{err}"
        );
    }

    #[test]
    fn a_name_shared_by_types_is_fine_when_one_decodes() {
        let mut handlers = Handlers::default();
        handlers.add(|_: Received<Welcome>| {});
        handlers.add(|_: Received<Message>| {});
        handlers
            .dispatch(&parsed(shared::event::MESSAGE, "1", "not the welcome"))
            .unwrap();
    }
}
