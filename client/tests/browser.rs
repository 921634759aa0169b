//! Browser tests: the view rendering into a real DOM (including the topic picker with its locked
//! or unlocked private topic, and the publish form, driven by real clicks), and a real
//! `EventSource` (through [`Subscription`]) receiving events from a real Herald server, including
//! a message published from the form.
//!
//! The live tests need `HERALD_TEST_SERVER_URL` at compile time (e.g. `http://127.0.0.1:38123`),
//! pointing at a server that answers CORS for the test runner's origin; `cargo xtask` sets it up.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use chrono::DateTime;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, EventSource, HtmlButtonElement, HtmlElement, HtmlInputElement};

use client::decode::Shown;
use client::picker::events_url;
use client::publish::EMPTY_MESSAGE;
use client::state::{AppEvent, LOG_CAPACITY, PRIVATE_TOPIC, Payload, Received};
use client::subscription::{Delivered, Subscription};
use client::token::Token;
use client::view::View;
use client::{App, Endpoints, Page, decode};
use shared::events::Message;
use shared::names::{EVENTS_PATH, WELCOME_TEXT};
use shared::payload::CurrentTime;
use shared::topic;
use shared::{Encoded, event};

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
    let tick = CurrentTime {
        time: DateTime::from_timestamp(secs, 0).expect("valid timestamp"),
    };
    let encoded = Encoded::new(&tick).expect("a tick encodes");
    AppEvent::Received(decode::received::<CurrentTime>(id, encoded.data()))
}

fn message(id: &str, data: &str) -> AppEvent {
    AppEvent::Received(decode::received::<Message>(id, data))
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

fn input(root: &Element, selector: &str) -> HtmlInputElement {
    find(root, selector).dyn_into().expect("an <input>")
}

fn click(root: &Element, selector: &str) {
    find(root, selector)
        .dyn_into::<HtmlElement>()
        .expect("an HTML element")
        .click();
}

/// The picker's checkboxes as (topic, ticked), in order.
fn checkboxes(root: &Element) -> Vec<(String, bool)> {
    let found = root
        .query_selector_all("#topic-list input[type=checkbox]")
        .expect("valid selector");
    (0..found.length())
        .filter_map(|index| found.item(index))
        .map(|node| node.dyn_into::<HtmlInputElement>().expect("an <input>"))
        .map(|checkbox| (checkbox.value(), checkbox.checked()))
        .collect()
}

fn owned(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs
        .iter()
        .map(|(name, ticked)| ((*name).to_owned(), *ticked))
        .collect()
}

#[wasm_bindgen_test]
fn renders_the_topic_picker_and_the_publish_form() {
    let root = container();
    let app = App::new(View::mount(&root).expect("mount")).expect("first render");

    // Created, since the container had none: the default topics, each ticked, and the private
    // one, locked without a token.
    assert_eq!(text_of(&find(&root, "#topics")), "clock, messages");
    assert_eq!(
        checkboxes(&root),
        owned(&[
            (topic::CLOCK, true),
            (topic::MESSAGES, true),
            (PRIVATE_TOPIC, false)
        ])
    );
    let locked = input(&root, "#topic-list input[data-private=locked]");
    assert_eq!(locked.value(), PRIVATE_TOPIC);
    assert!(locked.disabled());
    let private = input(&root, "#publish-private");
    assert_eq!(private.type_(), "checkbox");
    assert!(private.disabled());
    assert_eq!(find(&root, "#topic-picker").tag_name(), "FORM");
    assert_eq!(input(&root, "#topic-input").type_(), "text");
    assert_eq!(find(&root, "#publish").tag_name(), "FORM");
    assert_eq!(input(&root, "#publish-input").type_(), "text");
    assert_eq!(text_of(&find(&root, "#publish-send")), "Send");
    assert_eq!(text_of(&find(&root, "#publish-error")), "");

    app.handle(AppEvent::TopicChosen {
        topic: topic::CLOCK.to_owned(),
        chosen: false,
    });
    app.handle(AppEvent::TopicAdded("news/uk".to_owned()));
    assert_eq!(text_of(&find(&root, "#topics")), "messages, news/uk");
    assert_eq!(
        checkboxes(&root),
        owned(&[
            (topic::CLOCK, false),
            (topic::MESSAGES, true),
            (PRIVATE_TOPIC, false),
            ("news/uk", true)
        ])
    );
    assert_eq!(text_of(&find(&root, "#topic-error")), "");
    app.handle(AppEvent::TopicAdded("a\nb".to_owned()));
    assert!(
        text_of(&find(&root, "#topic-error")).contains("control characters"),
        "{}",
        text_of(&find(&root, "#topic-error"))
    );

    // The send button waits for the answer; a failure shows the reason until the next send.
    let send: HtmlButtonElement = find(&root, "#publish-send").dyn_into().expect("a <button>");
    app.handle(AppEvent::PublishSending);
    assert!(send.disabled());
    app.handle(AppEvent::PublishFailed("too many publishes".to_owned()));
    assert!(!send.disabled());
    assert_eq!(
        text_of(&find(&root, "#publish-error")),
        "too many publishes"
    );
    app.handle(AppEvent::PublishSending);
    app.handle(AppEvent::PublishSent);
    assert_eq!(text_of(&find(&root, "#publish-error")), "");

    // A published message shows its text in the log.
    app.handle(message("7", "hello everyone"));
    let newest = find(&root, "#log > li:first-child");
    assert_eq!(newest.class_name(), "is-text");
    assert_eq!(text_of(&find(&newest, ".data")), "hello everyone");
    root.remove();
}

#[wasm_bindgen_test]
fn events_url_encodes_each_topic() {
    assert_eq!(events_url("/events", []).expect("url"), "/events");
    assert_eq!(
        events_url("/events", [topic::CLOCK, topic::MESSAGES]).expect("url"),
        "/events?topic=clock&topic=messages"
    );
    assert_eq!(
        events_url("http://h:1/events", ["a&b=c", "news/ü x", "#1"]).expect("url"),
        "http://h:1/events?topic=a%26b%3Dc&topic=news%2F%C3%BC+x&topic=%231"
    );
}

#[wasm_bindgen_test]
fn the_picker_resubscribes_and_dropping_the_page_detaches_it() {
    let root = container();
    // Never answered: these checks only read the URL each `EventSource` was opened with.
    let page = Page::start(&root, Endpoints::at("/herald-test-never-served")).expect("start");
    let client = page.client();
    let url = |client: &client::Client| client.source().map(|source| source.url());
    let first = client.source().expect("subscribed at start");
    assert!(
        first
            .url()
            .ends_with("/herald-test-never-served/events?topic=clock&topic=messages"),
        "{}",
        first.url()
    );

    // Unticking a box re-subscribes, closing the old stream.
    click(&root, "#topic-list input[value=clock]");
    assert_eq!(first.ready_state(), EventSource::CLOSED);
    assert!(
        url(client)
            .expect("subscribed")
            .ends_with("/events?topic=messages"),
        "{:?}",
        url(client)
    );
    assert_eq!(text_of(&find(&root, "#topics")), "messages");

    // A typed topic is added, ticked, URL-encoded, and the field emptied.
    input(&root, "#topic-input").set_value(" news & views/ü ");
    click(&root, "#topic-add");
    assert!(
        url(client)
            .expect("subscribed")
            .ends_with("/events?topic=messages&topic=news+%26+views%2F%C3%BC"),
        "{:?}",
        url(client)
    );
    assert_eq!(input(&root, "#topic-input").value(), "");
    assert_eq!(text_of(&find(&root, "#topics")), "messages, news & views/ü");

    // A refused name keeps the field (to fix it) and the subscription.
    let before = client.source().expect("subscribed");
    input(&root, "#topic-input").set_value("   ");
    click(&root, "#topic-add");
    assert_eq!(input(&root, "#topic-input").value(), "   ");
    assert_ne!(text_of(&find(&root, "#topic-error")), "");
    assert_ne!(before.ready_state(), EventSource::CLOSED);

    // No topic at all: no stream (an `/events` without topics would mean the defaults).
    click(&root, "#topic-list input[value=messages]");
    click(&root, "#topic-list input[value=\"news & views/ü\"]");
    assert!(client.source().is_none());
    assert_eq!(before.ready_state(), EventSource::CLOSED);
    assert_eq!(text_of(&find(&root, "#topics")), "none");
    assert_eq!(text_of(&find(&root, "#state")), "closed");

    // Dropping the page removes the listeners: a click no longer reaches the client.
    click(&root, "#topic-list input[value=clock]");
    let source = client.source().expect("subscribed again");
    drop(page);
    assert_eq!(source.ready_state(), EventSource::CLOSED);
    click(&root, "#topic-list input[value=messages]");
    assert_eq!(text_of(&find(&root, "#topics")), "clock");
    root.remove();
}

#[wasm_bindgen_test]
fn a_page_with_a_token_presents_it_only_for_the_private_topic() {
    let root = container();
    let page = Page::start_with_token(
        &root,
        Endpoints::at("/herald-test-never-served"),
        Token::new("a.b.c"),
    )
    .expect("start");
    let client = page.client();
    let url = || {
        client
            .source()
            .map(|source| source.url())
            .unwrap_or_default()
    };
    assert!(
        url().ends_with(
            "/events?topic=clock&topic=messages&topic=private%2Fdemo&authorization=a.b.c"
        ),
        "{}",
        url()
    );
    let unlocked = input(&root, "#topic-list input[data-private=unlocked]");
    assert!(unlocked.checked() && !unlocked.disabled());
    assert!(!input(&root, "#publish-private").disabled());

    // Public topics alone need no token, so none is sent (an expired one would cost a 401).
    click(&root, "#topic-list input[data-private]");
    assert!(
        url().ends_with("/events?topic=clock&topic=messages"),
        "{}",
        url()
    );
    click(&root, "#topic-list input[data-private]");
    assert!(url().ends_with("&authorization=a.b.c"), "{}", url());
    drop(page);
    root.remove();
}

#[wasm_bindgen_test]
fn a_page_without_a_token_cannot_tick_the_private_topic() {
    let root = container();
    let page = Page::start(&root, Endpoints::at("/herald-test-never-served")).expect("start");
    let first = page.client().source().expect("subscribed at start");
    // A disabled box ignores clicks: the stream stays as it was, without the private topic.
    click(&root, "#topic-list input[data-private]");
    assert_ne!(first.ready_state(), EventSource::CLOSED);
    assert!(
        first.url().ends_with("/events?topic=clock&topic=messages"),
        "{}",
        first.url()
    );
    // Typing its name is refused with the reason.
    input(&root, "#topic-input").set_value(PRIVATE_TOPIC);
    click(&root, "#topic-add");
    assert_eq!(text_of(&find(&root, "#topic-error")), client::state::LOCKED);
    assert_ne!(first.ready_state(), EventSource::CLOSED);
    drop(page);
    root.remove();
}

#[wasm_bindgen_test]
fn dropping_a_subscription_closes_its_event_source() {
    // Any URL will do: the check happens synchronously, before the request can be answered.
    let subscription = Subscription::builder("/herald-test-never-served")
        .on(|_: Delivered<Message>| {})
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

/// The live server's base URL, fixed when the tests were compiled.
fn live_server() -> &'static str {
    let Some(base) = option_env!("HERALD_TEST_SERVER_URL") else {
        panic!(
            "HERALD_TEST_SERVER_URL was not set when this test was compiled: start a Herald server \
             that allows the test runner's origin and build the tests with \
             HERALD_TEST_SERVER_URL=http://127.0.0.1:<port> (cargo xtask does both)"
        );
    };
    base
}

/// Resolves after `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .expect("a window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .expect("setTimeout");
    });
    JsFuture::from(promise)
        .await
        .expect("a timer never rejects");
}

/// Polls `ready` until it holds, failing after [`LIVE_TIMEOUT_MS`] with `what` and `state()`.
async fn wait_until(what: &str, ready: impl Fn() -> bool, state: impl Fn() -> String) {
    let step = 50;
    for _ in 0..LIVE_TIMEOUT_MS / step {
        if ready() {
            return;
        }
        sleep(step).await;
    }
    panic!("{what} within {LIVE_TIMEOUT_MS} ms; page: {}", state());
}

#[wasm_bindgen_test]
async fn a_message_published_from_the_form_comes_back_on_the_stream() {
    let root = container();
    let page = Page::start(&root, Endpoints::at(live_server())).expect("start");
    let shown = || {
        format!(
            "state {:?}, error {:?}, log {:?}",
            text_of(&find(&root, "#state")),
            text_of(&find(&root, "#publish-error")),
            text_of(&find(&root, "#log"))
        )
    };
    wait_until(
        "the stream never opened",
        || text_of(&find(&root, "#state")) == "open",
        shown,
    )
    .await;

    // An empty message is refused by the page itself, and the reason shown.
    click(&root, "#publish-send");
    wait_until(
        "no error for an empty message",
        || text_of(&find(&root, "#publish-error")) == EMPTY_MESSAGE,
        shown,
    )
    .await;

    let text = format!("from the browser test {}", js_sys::Date::now());
    input(&root, "#publish-input").set_value(&text);
    click(&root, "#publish-send");
    let logged = || {
        let log = root
            .query_selector_all("#log .data")
            .expect("valid selector");
        (0..log.length())
            .filter_map(|index| log.item(index)?.text_content())
            .any(|data| data == text)
    };
    wait_until("the published message never arrived", logged, shown).await;
    wait_until(
        "the field was not cleared after the publish",
        || input(&root, "#publish-input").value().is_empty(),
        shown,
    )
    .await;
    assert_eq!(text_of(&find(&root, "#publish-error")), "");
    drop(page);
    root.remove();
}

#[wasm_bindgen_test]
async fn receives_welcome_then_a_current_time_from_a_live_server() {
    let base = live_server();
    let url = format!("{}{EVENTS_PATH}", base.trim_end_matches('/'));

    let received: Rc<RefCell<Vec<Received>>> = Rc::default();
    let first_tick = deferred();
    fn record<E: Shown>(
        received: &Rc<RefCell<Vec<Received>>>,
    ) -> impl FnMut(Delivered<E>) + use<E> {
        let received = Rc::clone(received);
        move |event| received.borrow_mut().push(decode::delivered(&event))
    }
    let subscription = Subscription::builder(url.clone())
        .with_credentials(true)
        .on(record::<Message>(&received))
        .on({
            let mut record = record::<CurrentTime>(&received);
            let resolve = first_tick.resolve.clone();
            move |tick| {
                record(tick);
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
