//! A DOM event listener that owns its closure: dropping a [`Listener`] removes it.
//!
//! The same idea as [`crate::subscription::Subscription`] for page controls (the topic picker,
//! the publish form): the closure lives exactly as long as the value holding it, so nothing is
//! leaked with `Closure::forget` and dropping the page's client detaches every control.

use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventTarget};

/// The event an `<input>` fires when its committed value (or a checkbox's `checked`) changes.
///
/// DOM event names, like `open` and `error` in `subscription`, are the browser's, not Herald's
/// stream's, so they are named here rather than in `shared::event`.
pub const CHANGE: &str = "change";
/// The event a `<form>` fires when submitted (button click or Enter in a field).
pub const SUBMIT: &str = "submit";

/// One listener added to `target`, removed again on drop.
#[must_use = "dropping a Listener removes it at once"]
#[derive(Debug)]
pub struct Listener {
    target: EventTarget,
    event_type: &'static str,
    closure: Closure<dyn FnMut(Event)>,
}

impl Listener {
    /// Calls `handler` for every `event_type` event reaching `target`.
    ///
    /// # Errors
    /// When the browser refuses the listener.
    pub fn new(
        target: &EventTarget,
        event_type: &'static str,
        handler: impl FnMut(Event) + 'static,
    ) -> Result<Self, JsValue> {
        let closure = Closure::<dyn FnMut(Event)>::new(handler);
        target.add_event_listener_with_callback(event_type, closure.as_ref().unchecked_ref())?;
        Ok(Self {
            target: target.clone(),
            event_type,
            closure,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Removing a listener we added cannot meaningfully fail; were it to, the browser would
        // call a freed closure and throw, which is loud rather than silently wrong.
        let _ = self.target.remove_event_listener_with_callback(
            self.event_type,
            self.closure.as_ref().unchecked_ref(),
        );
    }
}
