//! Browser tests: the view rendering into a real DOM, and a real `EventSource` (through
//! [`Subscription`]) receiving events from a real Herald server.
//!
//! The live test needs `HERALD_TEST_SERVER_URL` at compile time (e.g. `http://127.0.0.1:38123`),
//! pointing at a server that answers CORS for the test runner's origin; `cargo xtask` sets it up.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use chrono::DateTime;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, EventSource};

use client::state::{AppEvent, LOG_CAPACITY, Payload, Received};
use client::subscription::Subscription;
use client::view::View;
use client::{App, decode};
use shared::event;
use shared::names::{EVENTS_PATH, WELCOME_TEXT};
use shared::payload::CurrentTime;

wasm_bindgen_test_configure!(run_in_browser);

/// How long the live test waits for the welcome and the first tick: the clock ticks every second,
/// so this is generous even on a loaded two-core machine, yet fails well before the runner's
/// own timeout with a message saying what was missing.
const LIVE_TIMEOUT_MS: i32 = 15_000;

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("tests run in a browser window")
}

/// A fresh, attached container, so each test mounts its own `#state`/`#clock`/`#log`.
fn container() -> Element {
    let document = document();
    let root = document.create_element("div").expect("create div");
    document
        .body()
        .expect("the test page has a body")
        .append_child(&root)
        .expect("attach container");
    root
}

fn find(root: &Element, selector: &str) -> Element {
    root.query_selector(selector)
        .expect("valid selector")
        .unwrap_or_else(|| panic!("no element matches {selector}"))
}

fn text_of(element: &Element) -> String {
    element.text_content().unwrap_or_default()
}

fn tick(secs: i64, id: &str) -> AppEvent {
    let data = CurrentTime {
        time: DateTime::from_timestamp(secs, 0).expect("valid timestamp"),
    }
    .to_data();
    AppEvent::Received(decode::received(event::CURRENT_TIME, id, &data))
}

fn message(id: &str, data: &str) -> AppEvent {
    AppEvent::Received(decode::received(event::MESSAGE, id, data))
}

#[wasm_bindgen_test]
fn renders_state_clock_and_log_into_the_dom() {
    let root = container();
    let app = App::new(View::mount(&root).expect("mount")).expect("first render");

    assert_eq!(text_of(&find(&root, "#state")), "connecting");
    assert_eq!(text_of(&find(&root, "#clock")), "--:--:-- UTC");
    assert_eq!(find(&root, "#log").child_element_count(), 0);

    app.handle(AppEvent::Opened);
    app.handle(message("1", WELCOME_TEXT));
    app.handle(tick(1_700_000_000, "2"));
    assert_eq!(text_of(&find(&root, "#state")), "open");
    assert_eq!(text_of(&find(&root, "#clock")), "22:13:20 UTC");
    assert_eq!(
        find(&root, "#clock").get_attribute("datetime").as_deref(),
        Some("2023-11-14T22:13:20+00:00")
    );

    // Newest first: the tick (id 2) above the welcome (id 1), each showing type, id and data.
    let newest = find(&root, "#log > li:first-child");
    assert_eq!(text_of(&find(&newest, ".event")), event::CURRENT_TIME);
    assert_eq!(text_of(&find(&newest, ".id")), "#2");
    assert!(text_of(&find(&newest, ".data")).contains("2023-11-14T22:13:20"));
    let oldest = find(&root, "#log > li:last-child");
    assert_eq!(text_of(&find(&oldest, ".event")), event::MESSAGE);
    assert_eq!(text_of(&find(&oldest, ".id")), "#1");
    assert_eq!(text_of(&find(&oldest, ".data")), WELCOME_TEXT);

    // The clock follows every tick.
    app.handle(tick(1_700_000_001, "3"));
    assert_eq!(text_of(&find(&root, "#clock")), "22:13:21 UTC");

    // An error while open means the browser is retrying; a closed source means it gave up.
    app.handle(AppEvent::Failed { closed: false });
    assert_eq!(text_of(&find(&root, "#state")), "reconnecting");
    app.handle(AppEvent::Failed { closed: true });
    assert_eq!(text_of(&find(&root, "#state")), "closed");

    root.remove();
}

#[wasm_bindgen_test]
fn log_keeps_only_the_newest_hundred() {
    let root = container();
    let app = App::new(View::mount(&root).expect("mount")).expect("first render");
    let total = LOG_CAPACITY + 20;
    for i in 0..total {
        app.handle(message(&i.to_string(), &format!("event {i}")));
    }
    let log = find(&root, "#log");
    assert_eq!(log.child_element_count() as usize, LOG_CAPACITY);
    let newest = find(&root, "#log > li:first-child");
    assert_eq!(text_of(&find(&newest, ".id")), format!("#{}", total - 1));
    let oldest = find(&root, "#log > li:last-child");
    assert_eq!(
        text_of(&find(&oldest, ".id")),
        format!("#{}", total - LOG_CAPACITY)
    );
    root.remove();
}

#[wasm_bindgen_test]
fn uses_elements_the_page_already_has() {
    let root = container();
    root.set_inner_html(r#"<p>State: <b id="state"></b></p><ol id="log"></ol>"#);
    let app = App::new(View::mount(&root).expect("mount")).expect("first render");
    app.handle(message("1", "x"));
    assert_eq!(find(&root, "#state").tag_name(), "B");
    assert_eq!(text_of(&find(&root, "#state")), "open");
    assert_eq!(find(&root, "ol#log").child_element_count(), 1);
    // The missing clock was created.
    assert_eq!(text_of(&find(&root, "#clock")), "--:--:-- UTC");
    root.remove();
}

#[wasm_bindgen_test]
fn dropping_a_subscription_closes_its_event_source() {
    // Any URL will do: the check happens synchronously, before the request can be answered.
    let subscription = Subscription::builder("/herald-test-never-served")
        .on_message(event::MESSAGE, |_| {})
        .open()
        .expect("open EventSource");
    let source = subscription.source().clone();
    assert_eq!(source.ready_state(), EventSource::CONNECTING);
    drop(subscription);
    assert_eq!(source.ready_state(), EventSource::CLOSED);
}

/// A promise and the functions settling it, for turning callbacks into something to `await`.
struct Deferred {
    promise: Promise,
    resolve: Function,
    reject: Function,
}

fn deferred() -> Deferred {
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    // The executor runs synchronously inside `new Promise`.
    let (resolve, reject) = settle.expect("the Promise executor ran");
    Deferred {
        promise,
        resolve,
        reject,
    }
}

/// `promise`, or a rejection with `message` after `ms` milliseconds.
fn with_timeout(promise: &Promise, ms: i32, message: &str) -> Promise {
    let timeout = Promise::new(&mut |_, reject| {
        // `reject` itself is the timer callback, so no Rust closure has to outlive this call.
        web_sys::window()
            .expect("a window")
            .set_timeout_with_callback_and_timeout_and_arguments_1(
                &reject,
                ms,
                &JsValue::from_str(message),
            )
            .expect("setTimeout");
    });
    Promise::race(&Array::of2(promise, &timeout))
}

#[wasm_bindgen_test]
async fn receives_welcome_then_a_current_time_from_a_live_server() {
    let Some(base) = option_env!("HERALD_TEST_SERVER_URL") else {
        panic!(
            "HERALD_TEST_SERVER_URL was not set when this test was compiled: start a Herald server \
             that allows the test runner's origin and build the tests with \
             HERALD_TEST_SERVER_URL=http://127.0.0.1:<port> (cargo xtask does both)"
        );
    };
    let url = format!("{}{EVENTS_PATH}", base.trim_end_matches('/'));

    let received: Rc<RefCell<Vec<Received>>> = Rc::default();
    let first_tick = deferred();
    let record = |received: &Rc<RefCell<Vec<Received>>>| {
        let received = Rc::clone(received);
        move |message: web_sys::MessageEvent| received.borrow_mut().push(decode::message(&message))
    };
    let subscription = Subscription::builder(url.clone())
        .with_credentials(true)
        .on_message(event::MESSAGE, record(&received))
        .on_message(event::CURRENT_TIME, {
            let record = record(&received);
            let resolve = first_tick.resolve.clone();
            move |message| {
                record(message);
                let _ = resolve.call0(&JsValue::NULL);
            }
        })
        .on_error({
            let reject = first_tick.reject.clone();
            let url = url.clone();
            move |event| {
                // CLOSED means the browser gave up (refused connection, CORS, non-200): fail now
                // instead of waiting for the timeout.
                if let AppEvent::Failed { closed: true } = decode::error(&event) {
                    let _ = reject.call1(
                        &JsValue::NULL,
                        &JsValue::from_str(&format!(
                            "EventSource to {url} failed for good: is the server running, and \
                             does it allow this page's origin with credentials?"
                        )),
                    );
                }
            }
        })
        .open()
        .expect("open EventSource");

    let outcome = JsFuture::from(with_timeout(
        &first_tick.promise,
        LIVE_TIMEOUT_MS,
        &format!("no currentTime event from {url} within {LIVE_TIMEOUT_MS} ms"),
    ))
    .await;
    if let Err(reason) = outcome {
        panic!(
            "{}; received so far: {:?}",
            reason.as_string().unwrap_or_default(),
            received.borrow()
        );
    }
    assert_eq!(subscription.source().ready_state(), EventSource::OPEN);
    drop(subscription);

    let received = received.borrow();
    let welcome = received
        .iter()
        .position(|r| r.event == event::MESSAGE && r.data == WELCOME_TEXT)
        .unwrap_or_else(|| panic!("no welcome message before the first tick: {received:?}"));
    let tick = received
        .iter()
        .position(|r| r.event == event::CURRENT_TIME)
        .expect("the promise resolved on a tick");
    assert!(welcome < tick, "welcome must come first: {received:?}");
    assert!(
        matches!(received[tick].payload, Payload::Tick(_)),
        "currentTime did not decode: {:?}",
        received[tick]
    );
}
