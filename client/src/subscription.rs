//! An `EventSource` that owns its listeners: dropping a [`Subscription`] removes every listener
//! and closes the connection.
//!
//! Modelled on gloo-net's `EventSourceSubscription`: the Rust closures live exactly as long as the
//! subscription, so nothing is leaked with `Closure::forget` and no callback can fire into freed
//! state. Changing what the page listens to (another topic, say) is: drop the old subscription,
//! open a new one.

use std::fmt;
use std::marker::PhantomData;

use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventSource, EventSourceInit, MessageEvent};

use shared::{DecodeError, Event as HeraldEvent};

/// The event `EventSource` fires when a connection is established (first or after a retry).
///
/// `open` and `error` belong to the `EventSource` API, not to Herald's stream, so they are named
/// here rather than in `shared::event`.
pub const OPEN: &str = "open";
/// The event `EventSource` fires when a connection fails or drops; see `readyState` for whether
/// the browser will retry.
pub const ERROR: &str = "error";

/// An event of type `E` as the `EventSource` delivered it: its id and raw data, decoded only
/// through `E`, so a handler cannot read one event type's data as another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered<E> {
    /// The event's id (`lastEventId`); empty when the server sent none.
    pub id: String,
    /// The raw `data`, multi-line data already joined by the browser.
    pub data: String,
    kind: PhantomData<fn() -> E>,
}

impl<E: HeraldEvent> Delivered<E> {
    /// An event of type `E` with `id` and `data` (as a test or a replay would deliver it).
    #[must_use]
    pub fn new(id: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            data: data.into(),
            kind: PhantomData,
        }
    }

    fn from_message(message: &MessageEvent) -> Self {
        // An EventSource's data is always a string; anything else would be a browser bug, and
        // showing it empty is kinder than panicking.
        Self::new(
            message.last_event_id(),
            message.data().as_string().unwrap_or_default(),
        )
    }

    /// The payload, decoded by `E`.
    ///
    /// # Errors
    /// When the data is not `E`'s payload.
    pub fn decode(&self) -> Result<E, DecodeError> {
        E::decode(&self.data)
    }
}

/// A boxed handler, as stored before the `EventSource` exists.
type Handler = Box<dyn FnMut(Event)>;

/// Collects the URL, options and handlers of a [`Subscription`] before opening it.
#[must_use = "a builder does nothing until `open` is called"]
pub struct SubscriptionBuilder {
    url: String,
    with_credentials: bool,
    handlers: Vec<(String, Handler)>,
}

impl fmt::Debug for SubscriptionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionBuilder")
            .field("url", &self.url)
            .field("with_credentials", &self.with_credentials)
            .field(
                "events",
                &self
                    .handlers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SubscriptionBuilder {
    /// Sends cookies (and HTTP auth) with the stream request, also cross-origin; the server must
    /// then answer CORS with `Access-Control-Allow-Credentials: true` and an exact origin.
    pub fn with_credentials(mut self, with_credentials: bool) -> Self {
        self.with_credentials = with_credentials;
        self
    }

    /// Calls `handler` for every event of type `event_type` ([`OPEN`], [`ERROR`], or an SSE event
    /// type). Several handlers for one type run in the order they were added.
    fn on_event(mut self, event_type: &str, handler: impl FnMut(Event) + 'static) -> Self {
        self.handlers
            .push((event_type.to_owned(), Box::new(handler)));
        self
    }

    /// Calls `handler` on every [`OPEN`].
    pub fn on_open(self, handler: impl FnMut(Event) + 'static) -> Self {
        self.on_event(OPEN, handler)
    }

    /// Calls `handler` on every [`ERROR`].
    pub fn on_error(self, handler: impl FnMut(Event) + 'static) -> Self {
        self.on_event(ERROR, handler)
    }

    /// Calls `handler` for every event of Herald's type `E` (listening for [`shared::Event::NAME`]),
    /// with its id and data. Several handlers for one type run in the order they were added.
    pub fn on<E: HeraldEvent + 'static>(
        self,
        mut handler: impl FnMut(Delivered<E>) + 'static,
    ) -> Self {
        self.on_message(E::NAME, move |message| {
            handler(Delivered::from_message(&message));
        })
    }

    /// Like [`Self::on_event`] for SSE event types, whose events are `MessageEvent`s carrying
    /// `data` and `lastEventId`.
    fn on_message(self, event_type: &str, mut handler: impl FnMut(MessageEvent) + 'static) -> Self {
        self.on_event(event_type, move |event| {
            match event.dyn_into::<MessageEvent>() {
                Ok(message) => handler(message),
                // Only a page script dispatching a synthetic event could get here.
                Err(other) => web_sys::console::warn_2(
                    &JsValue::from_str("herald: ignoring a non-MessageEvent"),
                    &other,
                ),
            }
        })
    }

    /// Opens the `EventSource` and attaches every handler.
    ///
    /// # Errors
    /// When the browser rejects the URL (`SyntaxError`) or refuses a listener.
    pub fn open(self) -> Result<Subscription, JsValue> {
        let init = EventSourceInit::new();
        init.set_with_credentials(self.with_credentials);
        let source = EventSource::new_with_event_source_init_dict(&self.url, &init)?;
        // Built before the listeners are added so that, if adding one fails, `Drop` still removes
        // those already added and closes the source. Events are dispatched from tasks, so none
        // can be missed between `new` and the listeners below.
        let mut subscription = Subscription {
            source,
            listeners: Vec::with_capacity(self.handlers.len()),
        };
        for (event_type, handler) in self.handlers {
            let closure = Closure::<dyn FnMut(Event)>::new(handler);
            subscription
                .source
                .add_event_listener_with_callback(&event_type, closure.as_ref().unchecked_ref())?;
            subscription.listeners.push(AddedListener {
                event_type,
                closure,
            });
        }
        Ok(subscription)
    }
}

/// An open `EventSource` together with the closures listening on it.
///
/// Dropping it removes the listeners and closes the connection, so the browser stops
/// reconnecting and the server sees the client go.
#[must_use = "dropping a Subscription closes it at once"]
#[derive(Debug)]
pub struct Subscription {
    source: EventSource,
    listeners: Vec<AddedListener>,
}

/// One added listener: what `removeEventListener` needs, and the closure JS calls into.
#[derive(Debug)]
struct AddedListener {
    event_type: String,
    closure: Closure<dyn FnMut(Event)>,
}

impl Subscription {
    /// Starts describing a subscription to `url` (relative URLs resolve against the page).
    pub fn builder(url: impl Into<String>) -> SubscriptionBuilder {
        SubscriptionBuilder {
            url: url.into(),
            with_credentials: false,
            handlers: Vec::new(),
        }
    }

    /// The underlying `EventSource`, e.g. to read its `readyState` or resolved `url`.
    #[must_use]
    pub fn source(&self) -> &EventSource {
        &self.source
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for AddedListener {
            event_type,
            closure,
        } in &self.listeners
        {
            // Removing a listener we added cannot meaningfully fail; if it did, `close` below still
            // guarantees no further events, so the closure being freed is never called.
            let _ = self
                .source
                .remove_event_listener_with_callback(event_type, closure.as_ref().unchecked_ref());
        }
        self.source.close();
    }
}
