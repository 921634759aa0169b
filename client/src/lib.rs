//! Herald's browser client: subscribes to the server's event stream and shows the connection
//! state, the server's clock and a log of received events; a topic picker chooses what to
//! subscribe to and a form publishes messages. A page opened with a [`token`] in its URL also
//! reads, and may publish to, the demo's private topic.
//!
//! The parts follow todomvc's split: [`decode`] turns browser events into [`state::AppEvent`]s,
//! [`state`] is plain Rust, [`view`] renders it, and [`subscription`] owns the `EventSource` and
//! its closures. [`App`] ties state and view together; [`Client`] owns the live subscription and
//! replaces it when the [`picker`] changes the topics; [`publish`] sends the form's messages.
//! [`Page`] holds the client and the controls' [`listener`]s for as long as the page lives.

pub mod decode;
pub mod listener;
pub mod picker;
pub mod publish;
pub mod state;
pub mod subscription;
pub mod token;
pub mod view;

use std::cell::RefCell;
use std::rc::Rc;

use shared::events::{Message, Reset};
use shared::payload::CurrentTime;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::Element;

use crate::decode::Shown;
use crate::picker::Picker;
use crate::state::{AppEvent, LOCKED, PageState, Payload, Publish};
use crate::subscription::{Delivered, Subscription};
use crate::token::Token;
use crate::view::View;

/// The state and the view it renders into.
#[derive(Debug)]
pub struct App {
    /// A `RefCell` because event handlers share the app; borrows never outlive `handle`.
    state: RefCell<PageState>,
    view: View,
}

impl App {
    /// A fresh app for a page without a token, rendering into `view`, already rendered once
    /// (showing `connecting`).
    ///
    /// # Errors
    /// When the first render fails.
    pub fn new(view: View) -> Result<Rc<Self>, JsValue> {
        Self::with_state(view, PageState::new())
    }

    /// An app starting from `state` (e.g. [`PageState::with_token`]), already rendered once.
    ///
    /// # Errors
    /// When the first render fails.
    pub fn with_state(view: View, state: PageState) -> Result<Rc<Self>, JsValue> {
        let app = Self {
            state: RefCell::new(state),
            view,
        };
        app.view.render(&app.state.borrow())?;
        Ok(Rc::new(app))
    }

    /// Applies one event and re-renders. Failures are logged, not returned: this runs inside
    /// browser callbacks, where an error has nowhere else to go.
    pub fn handle(&self, event: AppEvent) {
        if let AppEvent::Received(received) = &event {
            match &received.payload {
                Payload::Reset => web_sys::console::info_1(&JsValue::from_str(
                    "herald: the server could not replay missed events (reset)",
                )),
                Payload::Malformed(reason) => web_sys::console::warn_1(&JsValue::from_str(
                    &format!("herald: undecodable {} event: {reason}", received.event),
                )),
                Payload::Text | Payload::Tick(_) => {}
            }
        }
        let mut state = self.state.borrow_mut();
        state.apply(event);
        if let Err(err) = self.view.render(&state) {
            web_sys::console::error_2(&JsValue::from_str("herald: render failed"), &err);
        }
    }

    /// A copy of the current state (for tests and for features that read it).
    #[must_use]
    pub fn state(&self) -> PageState {
        self.state.borrow().clone()
    }

    /// The chosen topics, without copying the rest of the state.
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        self.state.borrow().topics().map(str::to_owned).collect()
    }

    /// Whether the stream must present the page's token (see [`PageState::needs_token`]).
    #[must_use]
    pub fn needs_token(&self) -> bool {
        self.state.borrow().needs_token()
    }

    /// The view, for the controls that read and clear its text fields.
    #[must_use]
    pub fn view(&self) -> &View {
        &self.view
    }
}

/// Opens a subscription to `url` whose events drive `app`.
///
/// # Errors
/// When the browser refuses the URL or a listener.
pub fn subscribe(app: &Rc<App>, url: &str) -> Result<Subscription, JsValue> {
    let on = |decoder: fn(&web_sys::Event) -> AppEvent| {
        let app = Rc::clone(app);
        move |event: web_sys::Event| app.handle(decoder(&event))
    };
    Subscription::builder(url)
        .with_credentials(true)
        .on_open(on(decode::open))
        .on_error(on(decode::error))
        .on(on_received::<Message>(app))
        .on(on_received::<CurrentTime>(app))
        .on(on_received::<Reset>(app))
        .open()
}

/// A listener for Herald events of type `E` that drives `app`.
fn on_received<E: Shown>(app: &Rc<App>) -> impl FnMut(Delivered<E>) + 'static {
    let app = Rc::clone(app);
    move |event| app.handle(AppEvent::Received(decode::delivered(&event)))
}

/// Where the server's event stream and publish API are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The event stream, without a query.
    pub events: String,
    /// The publish API.
    pub publish: String,
}

impl Endpoints {
    /// The page's own origin: the page is served by the server itself, or by `trunk serve`,
    /// which proxies both paths.
    #[must_use]
    pub fn same_origin() -> Self {
        Self::at("")
    }

    /// A server at `base` (`http://host:port`), for pages served from elsewhere such as the
    /// browser tests' runner; the server must allow that origin (`--allow-origin`).
    #[must_use]
    pub fn at(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            events: format!("{base}{}", shared::names::EVENTS_PATH),
            publish: format!("{base}{}", shared::names::PUBLISH_PATH),
        }
    }
}

/// The running client: the app, where its server is, the page's token if it has one, and its
/// current subscription, if any.
///
/// Shared as an `Rc` with the futures of in-flight publishes; the subscription sits in a
/// `RefCell` because the picker replaces it from event handlers.
#[derive(Debug)]
pub struct Client {
    app: Rc<App>,
    endpoints: Endpoints,
    /// Kept here, not in the state: the state is plain data, cloned and printed freely.
    token: Option<Token>,
    subscription: RefCell<Option<Subscription>>,
}

impl Client {
    /// A client for `app` talking to `endpoints`, without a token, not subscribed yet.
    #[must_use]
    pub fn new(app: Rc<App>, endpoints: Endpoints) -> Rc<Self> {
        Self::with_token(app, endpoints, None)
    }

    /// A client presenting `token` to read and publish the private topic (`app`'s state should
    /// then come from [`PageState::with_token`]), not subscribed yet.
    #[must_use]
    pub fn with_token(app: Rc<App>, endpoints: Endpoints, token: Option<Token>) -> Rc<Self> {
        Rc::new(Self {
            app,
            endpoints,
            token,
            subscription: RefCell::new(None),
        })
    }

    /// The app this client drives.
    #[must_use]
    pub fn app(&self) -> &Rc<App> {
        &self.app
    }

    /// The open subscription's `EventSource` (its resolved `url`, its `readyState`), if any.
    #[must_use]
    pub fn source(&self) -> Option<web_sys::EventSource> {
        self.subscription
            .borrow()
            .as_ref()
            .map(|subscription| subscription.source().clone())
    }

    /// Subscribes to `url`, closing any previous subscription first.
    ///
    /// # Errors
    /// When the browser refuses the URL or a listener; the old subscription is closed anyway.
    pub fn subscribe(&self, url: &str) -> Result<(), JsValue> {
        // Close the old stream before opening the next: browsers allow only six HTTP/1.1
        // connections per origin, and two streams at once would also log events twice.
        self.subscription.replace(None);
        self.app.handle(AppEvent::Connecting);
        let subscription = subscribe(&self.app, url)?;
        self.subscription.replace(Some(subscription));
        Ok(())
    }

    /// Subscribes to the topics chosen in the state; with none chosen, just closes the stream
    /// (`/events` without topics would mean the server's defaults, not nothing).
    ///
    /// # Errors
    /// As [`Self::subscribe`].
    pub fn subscribe_to_chosen(&self) -> Result<(), JsValue> {
        let topics = self.app.topics();
        if topics.is_empty() {
            self.unsubscribe();
            return Ok(());
        }
        let token = self.token.as_ref().filter(|_| self.app.needs_token());
        let url = picker::stream_url(
            &self.endpoints.events,
            topics.iter().map(String::as_str),
            token,
        )?;
        self.subscribe(&url)
    }

    /// Closes the subscription, if any, and shows `closed`.
    pub fn unsubscribe(&self) {
        if self.subscription.replace(None).is_some() {
            self.app.handle(AppEvent::Closed);
        }
    }

    /// Applies a picker event and, when it changed the chosen topics, re-subscribes. Errors are
    /// logged: this runs in a browser callback.
    pub fn change_topics(&self, event: AppEvent) {
        let before = self.app.topics();
        self.app.handle(event);
        if self.app.topics() == before {
            return;
        }
        if let Err(err) = self.subscribe_to_chosen() {
            web_sys::console::error_2(&JsValue::from_str("herald: cannot subscribe"), &err);
            self.app.handle(AppEvent::Failed { closed: true });
        }
    }

    /// Publishes `text` in the background, on the `messages` topic or, when `private`, with the
    /// page's token on the private topic; shows progress and errors in the form, whose field is
    /// cleared once the server accepted it.
    pub fn publish(self: &Rc<Self>, text: String, private: bool) {
        if *self.app.state.borrow().publish() == Publish::Sending {
            return;
        }
        // The box is disabled without a token; this guards against anything else ticking it.
        let bearer = match (private, &self.token) {
            (false, _) => None,
            (true, Some(token)) => Some(token.clone()),
            (true, None) => {
                self.app.handle(AppEvent::PublishFailed(LOCKED.to_owned()));
                return;
            }
        };
        self.app.handle(AppEvent::PublishSending);
        // A strong reference: the answer must reach the state even if the page is torn down
        // meanwhile (it then only updates detached elements).
        let client = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            match publish::send(&client.endpoints.publish, &text, bearer.as_ref()).await {
                Ok(_id) => {
                    client.app.handle(AppEvent::PublishSent);
                    // Only if unchanged: what was typed while sending is the next message.
                    let view = client.app.view();
                    if view.publish_input_value() == text {
                        view.clear_publish_input();
                    }
                }
                Err(reason) => client.app.handle(AppEvent::PublishFailed(reason)),
            }
        });
    }
}

/// Everything the page keeps alive: the client and its controls' listeners. Dropping it removes
/// the listeners and, once no publish is in flight, closes the stream.
#[derive(Debug)]
pub struct Page {
    client: Rc<Client>,
    _picker: Picker,
    _form: publish::Form,
}

impl Page {
    /// Mounts the client into `root`, binds the picker and form, and subscribes to the chosen
    /// (at first, the default) topics at `endpoints`, without a token.
    ///
    /// # Errors
    /// When mounting, a listener or the subscription fails.
    pub fn start(root: &Element, endpoints: Endpoints) -> Result<Self, JsValue> {
        Self::start_with_token(root, endpoints, None)
    }

    /// [`Self::start`] for a page holding `token`: the private topic is unlocked and chosen,
    /// and the stream presents the token.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub fn start_with_token(
        root: &Element,
        endpoints: Endpoints,
        token: Option<Token>,
    ) -> Result<Self, JsValue> {
        let state = if token.is_some() {
            PageState::with_token()
        } else {
            PageState::new()
        };
        let app = App::with_state(View::mount(root)?, state)?;
        let client = Client::with_token(app, endpoints, token);
        let picker = Picker::bind(&client)?;
        let form = publish::Form::bind(&client)?;
        client.subscribe_to_chosen()?;
        Ok(Self {
            client,
            _picker: picker,
            _form: form,
        })
    }

    /// The page's client.
    #[must_use]
    pub fn client(&self) -> &Rc<Client> {
        &self.client
    }
}

thread_local! {
    /// The page. It must outlive `start`, which returns at once, and live as long as the page:
    /// holding it here (rather than `forget`ting it) keeps the subscription and the controls'
    /// listeners droppable.
    static PAGE: RefCell<Option<Page>> = const { RefCell::new(None) };
}

/// Entry point, run by the generated JS once the module is instantiated.
///
/// # Errors
/// When the page has no document or body, or the stream cannot be opened; the error reaches the
/// browser console.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    console_error_panic_hook::set_once();
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or_else(|| JsValue::from_str("no document: herald runs in a browser window"))?;
    // Mount into `#app` when the page has one, else straight into `<body>`.
    let root = match document.get_element_by_id("app") {
        Some(root) => root,
        None => document
            .body()
            .ok_or_else(|| JsValue::from_str("the page has no <body>"))?
            .into(),
    };
    // `?authorization=TOKEN` on the page's URL (as `cargo xtask run` prints) unlocks the private
    // topic; without one, the page reads public topics only.
    let page = Page::start_with_token(&root, Endpoints::same_origin(), Token::from_page())?;
    PAGE.with(|cell| *cell.borrow_mut() = Some(page));
    Ok(())
}
