//! Renders a [`PageState`] into the DOM: `#state`, `#topics`, `#clock`, the `#log` list, the
//! topic picker (the private topic marked as such, and locked without a token) and the publish
//! form.
//!
//! The view only writes state into the DOM; it never reads the DOM back into the state, so the
//! state stays the one source of truth and rendering is a function of it. The one exception is
//! the publish form's fields, whose values the controls read when a form is submitted (and
//! which the view clears once that value has been used).

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, HtmlButtonElement, HtmlInputElement};

use crate::state::{LOCKED, PRIVATE_TOPIC, PageState, Payload, Publish, Received};

/// Id of the element whose text is the connection state.
pub const STATE_ID: &str = "state";
/// Id of the element listing the topics the stream subscribes to.
pub const TOPICS_ID: &str = "topics";
/// Id of the element showing the latest clock tick.
pub const CLOCK_ID: &str = "clock";
/// Id of the list of received events.
pub const LOG_ID: &str = "log";
/// Id of the topic picker's `<form>`.
pub const TOPIC_FORM_ID: &str = "topic-picker";
/// Id of the element holding one checkbox per offered topic.
pub const TOPIC_LIST_ID: &str = "topic-list";
/// Id of the text field for another topic's name.
pub const TOPIC_INPUT_ID: &str = "topic-input";
/// Id of the button adding the typed topic.
pub const TOPIC_BUTTON_ID: &str = "topic-add";
/// Id of the element saying why a typed topic was refused.
pub const TOPIC_ERROR_ID: &str = "topic-error";
/// Id of the publish `<form>`.
pub const PUBLISH_FORM_ID: &str = "publish";
/// Id of the publish form's text field.
pub const PUBLISH_INPUT_ID: &str = "publish-input";
/// Id of the publish form's "private" checkbox.
pub const PUBLISH_PRIVATE_ID: &str = "publish-private";
/// Id of the publish form's send button.
pub const PUBLISH_BUTTON_ID: &str = "publish-send";
/// Id of the element showing why the last publish failed.
pub const PUBLISH_ERROR_ID: &str = "publish-error";

/// Handles to the elements the client renders into.
#[derive(Debug, Clone)]
pub struct View {
    document: Document,
    state: Element,
    topics: Element,
    clock: Element,
    log: Element,
    topic_form: Element,
    topic_list: Element,
    topic_input: HtmlInputElement,
    topic_error: Element,
    publish_form: Element,
    publish_input: HtmlInputElement,
    publish_private: HtmlInputElement,
    publish_button: HtmlButtonElement,
    publish_error: Element,
}

impl View {
    /// Finds the client's elements (`#state`, `#clock`, `#log`, the picker and the form, ids
    /// above) inside `root`, creating (and appending to `root`) any that are missing, so the
    /// page's HTML may provide them or not.
    ///
    /// # Errors
    /// When `root` is not in a document, the DOM refuses to create or append an element, or an
    /// element the page provides has the wrong tag (a text field that is not an `<input>`).
    pub fn mount(root: &Element) -> Result<Self, JsValue> {
        let document = root
            .owner_document()
            .ok_or_else(|| JsValue::from_str("the mount point is not in a document"))?;
        let find =
            |parent: &Element, id: &str, tag: &str| find_or_create(&document, parent, id, tag);
        let state = find(root, STATE_ID, "output")?;
        let topics = find(root, TOPICS_ID, "output")?;
        let clock = find(root, CLOCK_ID, "time")?;

        let topic_form = find(root, TOPIC_FORM_ID, "form")?;
        let topic_list = find(&topic_form, TOPIC_LIST_ID, "div")?;
        let topic_input = text_field(
            &find(&topic_form, TOPIC_INPUT_ID, "input")?,
            "another topic",
        )?;
        button(&find(&topic_form, TOPIC_BUTTON_ID, "button")?, "Add")?;
        let topic_error = find(&topic_form, TOPIC_ERROR_ID, "output")?;

        let publish_form = find(root, PUBLISH_FORM_ID, "form")?;
        let publish_input = text_field(
            &find(&publish_form, PUBLISH_INPUT_ID, "input")?,
            "a message",
        )?;
        let publish_private = checkbox(&document, &publish_form, PUBLISH_PRIVATE_ID, "private")?;
        let publish_button = button(&find(&publish_form, PUBLISH_BUTTON_ID, "button")?, "Send")?;
        let publish_error = find(&publish_form, PUBLISH_ERROR_ID, "output")?;

        let log = find(root, LOG_ID, "ul")?;
        Ok(Self {
            document,
            state,
            topics,
            clock,
            log,
            topic_form,
            topic_list,
            topic_input,
            topic_error,
            publish_form,
            publish_input,
            publish_private,
            publish_button,
            publish_error,
        })
    }

    /// The topic picker's form, whose `submit` adds the typed topic.
    #[must_use]
    pub fn topic_form(&self) -> &Element {
        &self.topic_form
    }

    /// The element holding the topic checkboxes; their `change` events bubble to it.
    #[must_use]
    pub fn topic_list(&self) -> &Element {
        &self.topic_list
    }

    /// The publish form, whose `submit` sends the typed message.
    #[must_use]
    pub fn publish_form(&self) -> &Element {
        &self.publish_form
    }

    /// What is typed in the topic field.
    #[must_use]
    pub fn topic_input_value(&self) -> String {
        self.topic_input.value()
    }

    /// Empties the topic field, once its topic was added.
    pub fn clear_topic_input(&self) {
        self.topic_input.set_value("");
    }

    /// What is typed in the publish field.
    #[must_use]
    pub fn publish_input_value(&self) -> String {
        self.publish_input.value()
    }

    /// Whether the message is to be sent privately: the box is ticked, and enabled (it is
    /// disabled on a page without a token).
    #[must_use]
    pub fn publish_private(&self) -> bool {
        self.publish_private.checked() && !self.publish_private.disabled()
    }

    /// Empties the publish field, once its message was published.
    pub fn clear_publish_input(&self) {
        self.publish_input.set_value("");
    }

    /// Makes the DOM show `state`.
    ///
    /// # Errors
    /// When the DOM refuses to create or append an element.
    pub fn render(&self, state: &PageState) -> Result<(), JsValue> {
        set_text(&self.state, state.connection().label());
        self.state
            .set_attribute("data-state", state.connection().label())?;
        set_text(&self.topics, &state.topics_text());
        self.render_picker(state)?;
        let (sending, publish_error) = match state.publish() {
            Publish::Idle => (false, ""),
            Publish::Sending => (true, ""),
            Publish::Failed(reason) => (false, reason.as_str()),
        };
        // One send at a time: a disabled default button also stops Enter from submitting again.
        self.publish_button.set_disabled(sending);
        let locked = !state.has_token();
        self.publish_private.set_disabled(locked);
        if locked {
            self.publish_private.set_checked(false);
        }
        self.publish_private.set_title(&if locked {
            LOCKED.to_owned()
        } else {
            format!("send to “{PRIVATE_TOPIC}” as a private event: only token holders get it")
        });
        set_text(&self.publish_error, publish_error);
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

    /// One checkbox per offered topic, ticked when chosen, and the picker's error.
    fn render_picker(&self, state: &PageState) -> Result<(), JsValue> {
        set_text(&self.topic_error, state.topic_error().unwrap_or_default());
        let found = self.topic_list.query_selector_all("input[type=checkbox]")?;
        let mut boxes: Vec<HtmlInputElement> = (0..found.length())
            .filter_map(|index| found.item(index)?.dyn_into().ok())
            .collect();
        let same_topics = boxes.len() == state.topic_choices().len()
            && boxes
                .iter()
                .zip(state.topic_choices())
                .all(|(checkbox, choice)| checkbox.value() == choice.name);
        // Rebuilt only when the offered topics change (rarely): rebuilding on every tick would
        // drop the keyboard focus of someone tabbing through the boxes.
        if !same_topics {
            set_text(&self.topic_list, "");
            boxes.clear();
            for choice in state.topic_choices() {
                let label = self.document.create_element("label")?;
                let checkbox: HtmlInputElement = self
                    .document
                    .create_element("input")?
                    .dyn_into()
                    .map_err(|_| JsValue::from_str("<input> is not an HtmlInputElement"))?;
                checkbox.set_type("checkbox");
                checkbox.set_name("topic");
                checkbox.set_value(&choice.name);
                label.append_child(&checkbox)?;
                label.append_child(&self.document.create_text_node(&choice.name))?;
                if choice.private {
                    self.mark_private(&label, &checkbox, state.has_token())?;
                }
                self.topic_list.append_child(&label)?;
                boxes.push(checkbox);
            }
        }
        for (checkbox, choice) in boxes.iter().zip(state.topic_choices()) {
            checkbox.set_checked(choice.chosen);
            checkbox.set_disabled(choice.private && !state.has_token());
        }
        Ok(())
    }

    /// Labels a private topic's checkbox as such, saying whether this page may read it:
    /// `data-private` is `unlocked` or `locked`, for CSS and tests; the title says how to unlock.
    fn mark_private(
        &self,
        label: &Element,
        checkbox: &HtmlInputElement,
        has_token: bool,
    ) -> Result<(), JsValue> {
        let (access, badge, title) = if has_token {
            (
                "unlocked",
                "private",
                "private events: only pages with a token for this topic get them",
            )
        } else {
            ("locked", "private · locked", LOCKED)
        };
        checkbox.set_attribute("data-private", access)?;
        label.set_attribute("title", title)?;
        let part = self.document.create_element("small")?;
        part.set_class_name("badge");
        set_text(&part, badge);
        label.append_child(&part)?;
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
    }
}

/// `field` as a text `<input>`, given a placeholder (and accessible name) when it has none.
fn text_field(field: &Element, placeholder: &str) -> Result<HtmlInputElement, JsValue> {
    let id = field.id();
    let input: HtmlInputElement = field
        .clone()
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("#{id} must be an <input>")))?;
    if !input.has_attribute("placeholder") {
        input.set_placeholder(placeholder);
        input.set_attribute("aria-label", placeholder)?;
    }
    Ok(input)
}

/// The checkbox `#id` inside `form`; created, in a `<label>` reading `label`, when the page has
/// none.
fn checkbox(
    document: &Document,
    form: &Element,
    id: &str,
    label: &str,
) -> Result<HtmlInputElement, JsValue> {
    let found = match form.query_selector(&format!("#{id}"))? {
        Some(found) => found,
        None => {
            let wrapper = document.create_element("label")?;
            let created = document.create_element("input")?;
            created.set_id(id);
            created.set_attribute("type", "checkbox")?;
            wrapper.append_child(&created)?;
            wrapper.append_child(&document.create_text_node(&format!(" {label}")))?;
            form.append_child(&wrapper)?;
            created
        }
    };
    let input: HtmlInputElement = found
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("#{id} must be an <input>")))?;
    if input.type_() != "checkbox" {
        return Err(JsValue::from_str(&format!("#{id} must be a checkbox")));
    }
    Ok(input)
}

/// `element` as a submit `<button>`, labelled `label` when it has no text of its own.
fn button(element: &Element, label: &str) -> Result<HtmlButtonElement, JsValue> {
    let id = element.id();
    let button: HtmlButtonElement = element
        .clone()
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("#{id} must be a <button>")))?;
    if button.text_content().unwrap_or_default().is_empty() {
        button.set_type("submit");
        set_text(&button, label);
    }
    Ok(button)
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
