//! Herald's browser client: subscribes to the server's event stream and shows the connection
//! state, the server's clock and a log of received events.
//!
//! The parts follow todomvc's split: [`decode`] turns browser events into [`state::AppEvent`]s,
//! [`state`] is plain Rust, [`view`] renders it, and [`subscription`] owns the `EventSource` and
//! its closures. [`App`] ties state and view together; [`Client`] owns the live subscription so a
//! later topic picker can replace it.

pub mod decode;
pub mod state;
pub mod subscription;
pub mod view;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::state::{AppEvent, AppState, Payload};
use crate::subscription::Subscription;
use crate::view::View;

/// The state and the view it renders into.
#[derive(Debug)]
pub struct App {
    /// A `RefCell` because event handlers share the app; borrows never outlive `handle`.
    state: RefCell<AppState>,
    view: View,
}

impl App {
    /// A fresh app rendering into `view`, already rendered once (showing `connecting`).
    ///
    /// # Errors
    /// When the first render fails.
    pub fn new(view: View) -> Result<Rc<Self>, JsValue> {
        let app = Self {
            state: RefCell::new(AppState::new()),
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
                Payload::Text | Payload::Tick(_) | Payload::Unknown => {}
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
    pub fn state(&self) -> AppState {
        self.state.borrow().clone()
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
    let on_message = || {
        let app = Rc::clone(app);
        move |message: web_sys::MessageEvent| {
            app.handle(AppEvent::Received(decode::message(&message)));
        }
    };
    Subscription::builder(url)
        .with_credentials(true)
        .on_open(on(decode::open))
        .on_error(on(decode::error))
        .on_message(shared::event::MESSAGE, on_message())
        .on_message(shared::event::CURRENT_TIME, on_message())
        .on_message(shared::event::RESET, on_message())
        .open()
}

/// The running client: the app and its current subscription, if any.
#[derive(Debug)]
pub struct Client {
    app: Rc<App>,
    subscription: Option<Subscription>,
}

impl Client {
    /// A client for `app` that is not subscribed yet.
    #[must_use]
    pub fn new(app: Rc<App>) -> Self {
        Self {
            app,
            subscription: None,
        }
    }

    /// Subscribes to `url`, closing any previous subscription first.
    ///
    /// # Errors
    /// When the browser refuses the URL or a listener; the old subscription is closed anyway.
    pub fn subscribe(&mut self, url: &str) -> Result<(), JsValue> {
        // Close the old stream before opening the next: browsers allow only six HTTP/1.1
        // connections per origin, and two streams at once would also log events twice.
        self.subscription = None;
        self.app.handle(AppEvent::Connecting);
        self.subscription = Some(subscribe(&self.app, url)?);
        Ok(())
    }

    /// Closes the subscription, if any, and shows `closed`.
    pub fn unsubscribe(&mut self) {
        if self.subscription.take().is_some() {
            self.app.handle(AppEvent::Closed);
        }
    }
}

thread_local! {
    /// The page's client. It must outlive `start`, which returns at once, and live as long as the
    /// page: holding it here (rather than `forget`ting it) keeps the subscription droppable, so a
    /// topic picker can reach it and replace it.
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
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
    let app = App::new(View::mount(&root)?)?;
    let mut client = Client::new(app);
    // Same origin: the page is served by the server itself or by `trunk serve`, which proxies it.
    client.subscribe(shared::names::EVENTS_PATH)?;
    CLIENT.with(|cell| *cell.borrow_mut() = Some(client));
    Ok(())
}
