//! The topic picker: which `/events` URL a set of topics (and the page's token, for a private
//! one) means, and the listeners that turn ticking a checkbox or adding a name into a
//! re-subscription.

use std::rc::{Rc, Weak};

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, HtmlInputElement, UrlSearchParams};

use crate::Client;
use crate::listener::{CHANGE, Listener, SUBMIT};
use crate::state::AppEvent;
use crate::token::{self, Token};

/// The query parameter naming one topic; repeated for several (`server/src/routes/events.rs`).
pub const TOPIC_PARAM: &str = "topic";

/// `base` with one `topic=` parameter per topic, each URL-encoded by the browser.
///
/// # Errors
/// When the browser cannot create a `URLSearchParams` (it always can).
pub fn events_url<'a>(
    base: &str,
    topics: impl IntoIterator<Item = &'a str>,
) -> Result<String, JsValue> {
    stream_url(base, topics, None)
}

/// [`events_url`], presenting `token` as `?authorization=` when given: an `EventSource` cannot
/// set an `Authorization` header, and the cookie is for pages whose app server sets it.
///
/// # Errors
/// As [`events_url`].
pub fn stream_url<'a>(
    base: &str,
    topics: impl IntoIterator<Item = &'a str>,
    token: Option<&Token>,
) -> Result<String, JsValue> {
    let params = UrlSearchParams::new()?;
    for topic in topics {
        params.append(TOPIC_PARAM, topic);
    }
    if let Some(token) = token {
        params.append(token::PARAM, token.as_str());
    }
    let query = String::from(params.to_string());
    Ok(if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    })
}

/// The picker's listeners, removed when dropped.
///
/// They hold the client weakly: the client does not own them, the page does (next to the
/// client), and a strong reference here would keep a dropped page's stream open.
#[derive(Debug)]
pub struct Picker {
    _checkboxes: Listener,
    _add: Listener,
}

impl Picker {
    /// Listens to `client`'s picker: a ticked or cleared checkbox, and the "add topic" form.
    ///
    /// # Errors
    /// When the browser refuses a listener.
    pub fn bind(client: &Rc<Client>) -> Result<Self, JsValue> {
        let view = client.app().view();
        let checkboxes = Listener::new(view.topic_list(), CHANGE, {
            let client = Rc::downgrade(client);
            // One listener on the list rather than one per box: boxes come and go with the
            // offered topics, and `change` bubbles.
            move |event: Event| {
                let Some(checkbox) = event
                    .target()
                    .and_then(|target| target.dyn_into::<HtmlInputElement>().ok())
                else {
                    return;
                };
                with(&client, |client| {
                    client.change_topics(AppEvent::TopicChosen {
                        topic: checkbox.value(),
                        chosen: checkbox.checked(),
                    });
                });
            }
        })?;
        let add = Listener::new(view.topic_form(), SUBMIT, {
            let client = Rc::downgrade(client);
            move |event: Event| {
                // Handled here: the browser must not navigate to the form's action.
                event.prevent_default();
                with(&client, |client| {
                    let name = client.app().view().topic_input_value();
                    client.change_topics(AppEvent::TopicAdded(name));
                    if client.app().state().topic_error().is_none() {
                        client.app().view().clear_topic_input();
                    }
                });
            }
        })?;
        Ok(Self {
            _checkboxes: checkboxes,
            _add: add,
        })
    }
}

/// Runs `f` on the client if it is still alive (a late event after the page dropped it is a
/// no-op).
fn with(client: &Weak<Client>, f: impl FnOnce(&Rc<Client>)) {
    if let Some(client) = client.upgrade() {
        f(&client);
    }
}
