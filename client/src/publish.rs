//! Publishing from the page: the `POST /publish` request the form sends (to `messages`, or with
//! the page's token as a private event to the private topic), and reading the answer.
//!
//! What is sent and how an answer reads ([`request_body`], [`error_text`]) are pure functions,
//! tested natively; [`send`] only moves those strings through `window.fetch`, and [`Form`] is
//! the form's listener.

use std::rc::Rc;

use shared::events::Message;
use shared::payload::{ErrorBody, PublishRequest, PublishResponse};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, Headers, Request, RequestInit, Response};

use crate::Client;
use crate::listener::{Listener, SUBMIT};
use crate::state::PRIVATE_TOPIC;
use crate::token::Token;

/// The media type of the request body; the server also takes forms, but JSON carries any text.
pub const CONTENT_TYPE: &str = "application/json";

/// Shown when the form is submitted empty: the server would accept it, but an empty log line
/// helps nobody.
pub const EMPTY_MESSAGE: &str = "type a message first";

/// The JSON body publishing `text` as a `message` event: on the `messages` topic to everyone,
/// or, when `private`, on [`PRIVATE_TOPIC`] to its token holders only.
///
/// # Errors
/// [`EMPTY_MESSAGE`] when `text` is blank.
pub fn request_body(text: &str, private: bool) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(EMPTY_MESSAGE.to_owned());
    }
    let topic = if private {
        PRIVATE_TOPIC
    } else {
        shared::topic::MESSAGES
    };
    let request = PublishRequest {
        private,
        ..PublishRequest::typed(topic, &Message(text.to_owned()))
            .map_err(|err| format!("cannot encode the message: {err}"))?
    };
    serde_json::to_string(&request).map_err(|err| format!("cannot encode the message: {err}"))
}

/// What to show for a refused publish: the server's `{"error": ...}` when the body is one, else
/// the status and whatever text came (a proxy's error page, say).
#[must_use]
pub fn error_text(status: u16, body: &str) -> String {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => error,
        Err(_) => {
            let body = body.trim();
            if body.is_empty() {
                format!("the server answered {status}")
            } else {
                // Bounded: a whole HTML error page would swamp the form.
                let shown: String = body.chars().take(200).collect();
                format!("the server answered {status}: {shown}")
            }
        }
    }
}

/// Reads a successful answer's event id.
///
/// # Errors
/// When the body is not a [`PublishResponse`].
pub fn response_id(body: &str) -> Result<String, String> {
    serde_json::from_str::<PublishResponse>(body)
        .map(|response| response.id)
        .map_err(|err| format!("unexpected answer from the server: {err}"))
}

/// Posts `text` to the publish API at `url` and returns the event's id: publicly, or, given the
/// page's token, privately with that token as the bearer (`messages` is open and needs none;
/// the private topic needs a token whose `mercure.publish` grants it).
///
/// # Errors
/// A line for the page: the client's own check, a network failure, or the server's reason.
pub async fn send(url: &str, text: &str, private: Option<&Token>) -> Result<String, String> {
    let body = request_body(text, private.is_some())?;
    let (status, ok, answer) = fetch(url, &body, private)
        .await
        .map_err(|err| js_text(&err))?;
    if ok {
        response_id(&answer)
    } else {
        Err(error_text(status, &answer))
    }
}

/// One `fetch`, with `bearer` as its `Authorization` when given: the status, whether it is 2xx,
/// and the body as text.
async fn fetch(
    url: &str,
    body: &str,
    bearer: Option<&Token>,
) -> Result<(u16, bool, String), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window to fetch from"))?;
    let headers = Headers::new()?;
    headers.set("content-type", CONTENT_TYPE)?;
    if let Some(token) = bearer {
        headers.set("authorization", &format!("Bearer {}", token.as_str()))?;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    let request = Request::new_with_str_and_init(url, &init)?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await?
        .dyn_into()?;
    let answer = JsFuture::from(response.text()?).await?;
    Ok((
        response.status(),
        response.ok(),
        answer.as_string().unwrap_or_default(),
    ))
}

/// A JS exception as one line: a rejected `fetch` is a `TypeError` ("Failed to fetch").
fn js_text(value: &JsValue) -> String {
    let reason = value
        .dyn_ref::<js_sys::Error>()
        .map(|err| String::from(err.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"));
    format!("could not reach the server: {reason}")
}

/// The publish form's listener, removed when dropped; it holds the client weakly, like
/// [`crate::picker::Picker`].
#[derive(Debug)]
pub struct Form {
    _submit: Listener,
}

impl Form {
    /// Sends the typed message whenever `client`'s publish form is submitted, privately when its
    /// "private" box is ticked.
    ///
    /// # Errors
    /// When the browser refuses the listener.
    pub fn bind(client: &Rc<Client>) -> Result<Self, JsValue> {
        let weak = Rc::downgrade(client);
        let submit = Listener::new(
            client.app().view().publish_form(),
            SUBMIT,
            move |event: Event| {
                // Handled here: the browser must not navigate to the form's action.
                event.prevent_default();
                if let Some(client) = weak.upgrade() {
                    let view = client.app().view();
                    let (text, private) = (view.publish_input_value(), view.publish_private());
                    client.publish(text, private);
                }
            },
        )?;
        Ok(Self { _submit: submit })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn body_is_a_publish_request_to_messages() {
        let body = request_body("hi \"there\"\nline two", false).unwrap();
        let parsed: PublishRequest = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.topic, shared::topic::MESSAGES);
        assert_eq!(parsed.event, None);
        assert_eq!(
            parsed.data,
            Value::String("hi \"there\"\nline two".to_owned())
        );
        // Only the fields the server needs: the optional ones are left out, not sent as null.
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            serde_json::json!({"topic": "messages", "data": "hi \"there\"\nline two"})
        );
    }

    #[test]
    fn a_private_body_goes_to_the_private_topic_marked_private() {
        let body = request_body("for token holders", true).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            serde_json::json!({"topic": PRIVATE_TOPIC, "data": "for token holders", "private": true})
        );
    }

    #[test]
    fn blank_messages_are_not_sent() {
        for private in [false, true] {
            assert_eq!(request_body("", private), Err(EMPTY_MESSAGE.to_owned()));
            assert_eq!(request_body(" \t ", private), Err(EMPTY_MESSAGE.to_owned()));
        }
    }

    #[test]
    fn errors_show_the_servers_reason() {
        let body = serde_json::to_string(&ErrorBody {
            error: "too many publishes: retry in 1s".to_owned(),
        })
        .unwrap();
        assert_eq!(error_text(429, &body), "too many publishes: retry in 1s");
        assert_eq!(error_text(502, ""), "the server answered 502");
        assert_eq!(
            error_text(502, " Bad Gateway\n"),
            "the server answered 502: Bad Gateway"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            error_text(500, &long).len(),
            "the server answered 500: ".len() + 200
        );
    }

    #[test]
    fn success_reads_the_id() {
        assert_eq!(response_id(r#"{"id":"42"}"#), Ok("42".to_owned()));
        assert!(response_id("nope").is_err());
    }
}
