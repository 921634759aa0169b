//! Renders an [`AppState`] into the DOM: `#state`, `#clock` and the `#log` list.
//!
//! The view only writes; it never reads the DOM back into the state, so the state stays the one
//! source of truth and rendering is a function of it.

use wasm_bindgen::JsValue;
use web_sys::{Document, Element};

use crate::state::{AppState, Payload, Received};

/// Id of the element whose text is the connection state.
pub const STATE_ID: &str = "state";
/// Id of the element showing the latest clock tick.
pub const CLOCK_ID: &str = "clock";
/// Id of the list of received events.
pub const LOG_ID: &str = "log";

/// Handles to the elements the client renders into.
#[derive(Debug, Clone)]
pub struct View {
    document: Document,
    state: Element,
    clock: Element,
    log: Element,
}

impl View {
    /// Finds `#state`, `#clock` and `#log` inside `root`, creating (and appending to `root`) any
    /// that are missing, so the page's HTML may provide them or not.
    ///
    /// # Errors
    /// When `root` is not in a document, or the DOM refuses to create or append an element.
    pub fn mount(root: &Element) -> Result<Self, JsValue> {
        let document = root
            .owner_document()
            .ok_or_else(|| JsValue::from_str("the mount point is not in a document"))?;
        let state = find_or_create(&document, root, STATE_ID, "output")?;
        let clock = find_or_create(&document, root, CLOCK_ID, "time")?;
        let log = find_or_create(&document, root, LOG_ID, "ul")?;
        Ok(Self {
            document,
            state,
            clock,
            log,
        })
    }

    /// Makes the DOM show `state`.
    ///
    /// # Errors
    /// When the DOM refuses to create or append an element.
    pub fn render(&self, state: &AppState) -> Result<(), JsValue> {
        set_text(&self.state, state.connection().label());
        self.state
            .set_attribute("data-state", state.connection().label())?;
        set_text(&self.clock, &state.clock_text());
        if let Some(tick) = state.clock() {
            // Machine-readable twin of the text, for `<time>` and for anyone scraping the page.
            self.clock
                .set_attribute("datetime", &tick.time.to_rfc3339())?;
        }
        // The log is rebuilt whole: at most 100 small items once a second costs little, and it
        // cannot drift from the state the way an incremental patch could.
        set_text(&self.log, "");
        for received in state.log() {
            let item = self.entry(received)?;
            self.log.append_child(&item)?;
        }
        Ok(())
    }

    /// One `<li>`: event type, id and data, each in its own element for styling and tests.
    fn entry(&self, received: &Received) -> Result<Element, JsValue> {
        let item = self.document.create_element("li")?;
        item.set_class_name(payload_class(&received.payload));
        let id = if received.id.is_empty() {
            "—".to_owned()
        } else {
            format!("#{}", received.id)
        };
        let data = match &received.payload {
            Payload::Malformed(reason) => format!("{} ({reason})", received.data),
            _ => received.data.clone(),
        };
        for (class, text, tag) in [
            ("event", received.event.as_str(), "span"),
            ("id", id.as_str(), "span"),
            ("data", data.as_str(), "code"),
        ] {
            let part = self.document.create_element(tag)?;
            part.set_class_name(class);
            set_text(&part, text);
            item.append_child(&part)?;
        }
        Ok(item)
    }
}

/// A class per payload kind, so CSS can tell ticks, resets and errors apart.
fn payload_class(payload: &Payload) -> &'static str {
    match payload {
        Payload::Text => "is-text",
        Payload::Tick(_) => "is-tick",
        Payload::Reset => "is-reset",
        Payload::Malformed(_) => "is-malformed",
        Payload::Unknown => "is-unknown",
    }
}

fn set_text(element: &Element, text: &str) {
    element.set_text_content(Some(text));
}

fn find_or_create(
    document: &Document,
    root: &Element,
    id: &str,
    tag: &str,
) -> Result<Element, JsValue> {
    if let Some(found) = root.query_selector(&format!("#{id}"))? {
        return Ok(found);
    }
    let created = document.create_element(tag)?;
    created.set_id(id);
    root.append_child(&created)?;
    Ok(created)
}
