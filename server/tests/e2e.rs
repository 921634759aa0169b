//! End to end in a real browser: headless Chromium (driven through chromedriver) loads the UI
//! served by a real server, sees the live clock tick, sees a message sent from one page's form
//! reach every open page, and sees private events reach the page opened with a token and never
//! the one opened without. Needs the built UI (`dist/`) and chromedriver, so it is ignored by a
//! plain `cargo test`; `cargo xtask test` builds the UI and runs it with `--include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::browser::{Chromedriver, save_screenshot};
use common::jwt::{hs256, now};
use common::{PATIENCE, TestServer};
use fantoccini::{Client, Locator};

/// Where `cargo xtask test` built the UI (override with `HERALD_E2E_DIST`).
fn dist() -> PathBuf {
    std::env::var_os("HERALD_E2E_DIST").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"),
        PathBuf::from,
    )
}

async fn text_of(browser: &Client, selector: &str) -> String {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|err| panic!("{selector} not on the page: {err}"))
        .text()
        .await
        .unwrap()
}

/// Polls until `selector`'s text satisfies `ready`, returning it.
async fn wait_for_text(browser: &Client, selector: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let text = text_of(browser, selector).await;
        if ready(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{selector} stayed {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until `#clock` holds a tick from the server (its `datetime`) later than `after`;
/// returns the tick and the text shown with it.
async fn wait_for_tick(browser: &Client, after: Option<DateTime<Utc>>) -> (DateTime<Utc>, String) {
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let clock = browser.find(Locator::Css("#clock")).await.unwrap();
        let tick = tick_of(&clock).await;
        let shown = clock.text().await.unwrap();
        // The same tick before and after reading the text: the text is that tick's.
        if let Some(tick) = tick
            && after.is_none_or(|after| tick > after)
            && tick_of(&clock).await == Some(tick)
        {
            return (tick, shown);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "#clock showed no tick after {after:?}: {tick:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tick an element's `datetime` attribute holds.
async fn tick_of(element: &fantoccini::elements::Element) -> Option<DateTime<Utc>> {
    let text = element.attr("datetime").await.unwrap()?;
    let time = DateTime::parse_from_rfc3339(&text).ok()?;
    Some(time.with_timezone(&Utc))
}

/// A server for the built UI, which must exist.
fn ui_server() -> TestServer {
    ui_server_with(&[])
}

/// [`ui_server`] with extra flags.
fn ui_server_with(flags: &[&str]) -> TestServer {
    let dist = dist();
    assert!(
        dist.join("index.html").is_file(),
        "no UI at {}: run `cargo xtask test`, which builds it",
        dist.display()
    );
    let dist_arg = dist.display().to_string();
    let mut args = vec!["--dist", &dist_arg];
    args.extend_from_slice(flags);
    TestServer::start(&args)
}

/// Loads the UI in `browser` and waits until its stream is open.
async fn open_ui(browser: &Client, server: &TestServer) {
    open_ui_at(browser, server, "/").await;
}

/// Loads the UI at `path` (which may carry a query) and waits until its stream is open.
async fn open_ui_at(browser: &Client, server: &TestServer, path: &str) {
    browser.goto(&server.url(path)).await.unwrap();
    wait_for_text(browser, "#state", |state| state == "open").await;
}

/// A text no earlier run or other test can have sent.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what} {nanos}")
}

/// Saves what `browser` shows as `target/e2e/<name>`.
#[tokio::test]
#[ignore = "needs the built UI and chromedriver: run by `cargo xtask test`"]
async fn the_page_shows_a_live_clock() {
    let server = ui_server();
    let driver = Chromedriver::start();
    let browser = driver.browser().await;

    open_ui(&browser, &server).await;
    // Two real ticks, the second later than the first: the placeholder giving way to the first
    // tick is not yet a clock that runs.
    let (first, first_shown) = wait_for_tick(&browser, None).await;
    let (second, second_shown) = wait_for_tick(&browser, Some(first)).await;
    assert!(second > first, "{second} after {first}");
    // What a person sees moves with the ticks.
    for (tick, shown) in [(first, first_shown), (second, second_shown)] {
        assert_eq!(shown, tick.format("%H:%M:%S UTC").to_string());
    }
    let log = wait_for_text(&browser, "#log", |log| {
        log.contains(shared::names::WELCOME_TEXT)
    })
    .await;
    assert!(log.contains(shared::event::CURRENT_TIME), "{log}");

    save_screenshot(&browser, "clock.png").await;
    browser.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the built UI and chromedriver: run by `cargo xtask test`"]
async fn a_message_sent_from_one_tab_appears_live_in_every_tab() {
    let server = ui_server();
    let driver = Chromedriver::start();
    let one = driver.browser().await;
    let two = driver.browser().await;
    open_ui(&one, &server).await;
    open_ui(&two, &server).await;
    assert_eq!(text_of(&two, "#topics").await, "clock, messages");

    // Unique per run, so a message from an earlier run (or the other test) cannot satisfy it.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let text = format!("hello from tab one {nanos}");
    let field = one.find(Locator::Css("#publish-input")).await.unwrap();
    field.send_keys(&text).await.unwrap();
    one.find(Locator::Css("#publish-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Live on both pages: the sender's own stream and the other page's.
    for browser in [&one, &two] {
        wait_for_text(browser, "#log", |log| log.contains(&text)).await;
    }
    // The sender's form empties once the server accepted the message (which may be a moment
    // after the stream delivered it), and shows no error.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while field
        .prop("value")
        .await
        .unwrap()
        .is_some_and(|value| !value.is_empty())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publish field was never cleared; error: {:?}",
            text_of(&one, "#publish-error").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(text_of(&one, "#publish-error").await, "");

    save_screenshot(&two, "message-in-second-tab.png").await;
    one.close().await.unwrap();
    two.close().await.unwrap();
}

/// The private-topic test's server secret (HS256).
const JWT_SECRET: &str = "a secret for the private topic in the browser";

/// Publishes `data` from the test itself as a Mercure form (`topic` repeated), with `bearer`
/// when given, and asserts the server accepted it.
async fn publish(
    server: &TestServer,
    bearer: Option<&str>,
    topics: &[&str],
    data: &str,
    private: bool,
) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for topic in topics {
        form.append_pair("topic", topic);
    }
    form.append_pair("data", data);
    if private {
        form.append_pair("private", "on");
    }
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(authorization) = &authorization {
        headers.push(("Authorization", authorization));
    }
    let response = common::request(server.addr, "POST", "/publish", &headers, &form.finish()).await;
    assert_eq!(response.head.status(), 200, "{}", response.body_text());
}

/// Whether `selector` is a ticked, enabled checkbox (`ticked`, `enabled`).
async fn checkbox_state(browser: &Client, selector: &str) -> (bool, bool) {
    let checkbox = browser.find(Locator::Css(selector)).await.unwrap();
    (
        checkbox.is_selected().await.unwrap(),
        checkbox.is_enabled().await.unwrap(),
    )
}

#[tokio::test]
#[ignore = "needs the built UI and chromedriver: run by `cargo xtask test`"]
async fn a_private_event_reaches_the_page_with_a_token_and_never_the_page_without() {
    let server = ui_server_with(&["--jwt-secret", JWT_SECRET]);
    let driver = Chromedriver::start();
    let entitled = driver.browser().await;
    let anonymous = driver.browser().await;

    // Without a token the page works as ever, and shows the private topic locked, by name.
    open_ui(&anonymous, &server).await;
    assert_eq!(text_of(&anonymous, "#topics").await, "clock, messages");
    let locked = anonymous
        .find(Locator::Css("#topic-list input[data-private]"))
        .await
        .unwrap();
    assert_eq!(
        locked.attr("data-private").await.unwrap().as_deref(),
        Some("locked")
    );
    let topic = locked
        .attr("value")
        .await
        .unwrap()
        .expect("the private topic's name");
    let private_box = "#topic-list input[data-private]";
    assert_eq!(
        checkbox_state(&anonymous, private_box).await,
        (false, false)
    );
    assert_eq!(
        checkbox_state(&anonymous, "#publish-private").await,
        (false, false)
    );

    // With a token in its URL (what `cargo xtask run` prints): the topic is read and may be
    // published to.
    let page_token = hs256(
        &serde_json::json!({
            "mercure": { "subscribe": [&topic], "publish": [&topic] },
            "exp": now() + 3600,
        }),
        JWT_SECRET.as_bytes(),
    );
    open_ui_at(&entitled, &server, &format!("/?authorization={page_token}")).await;
    assert_eq!(
        text_of(&entitled, "#topics").await,
        format!("clock, messages, {topic}")
    );
    assert_eq!(checkbox_state(&entitled, private_box).await, (true, true));

    // A private event on the private topic and on `messages`, which the anonymous page reads:
    // only the token decides who gets it.
    let publisher = hs256(
        &serde_json::json!({
            "mercure": { "publish": [&topic, shared::topic::MESSAGES] },
            "exp": now() + 3600,
        }),
        JWT_SECRET.as_bytes(),
    );
    let private_text = unique("private from the test");
    publish(
        &server,
        Some(&publisher),
        &[&topic, shared::topic::MESSAGES],
        &private_text,
        true,
    )
    .await;
    wait_for_text(&entitled, "#log", |log| log.contains(&private_text)).await;

    // A private message sent from the entitled page's form, "private" ticked.
    let form_text = unique("private from the form");
    entitled
        .find(Locator::Css("#publish-input"))
        .await
        .unwrap()
        .send_keys(&form_text)
        .await
        .unwrap();
    for control in ["#publish-private", "#publish-send"] {
        entitled
            .find(Locator::Css(control))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    wait_for_text(&entitled, "#log", |log| log.contains(&form_text)).await;
    assert_eq!(text_of(&entitled, "#publish-error").await, "");

    // The negative, proved: a public event published after both reaches both pages; a stream
    // delivers in order, so the anonymous page would have had the private ones by now.
    let public_text = unique("public after the private ones");
    publish(
        &server,
        None,
        &[shared::topic::MESSAGES],
        &public_text,
        false,
    )
    .await;
    wait_for_text(&entitled, "#log", |log| log.contains(&public_text)).await;
    let log = wait_for_text(&anonymous, "#log", |log| log.contains(&public_text)).await;
    assert!(!log.contains(&private_text), "{log}");
    assert!(!log.contains(&form_text), "{log}");
    assert_eq!(text_of(&anonymous, "#state").await, "open");

    save_screenshot(&entitled, "private-topic-with-token.png").await;
    save_screenshot(&anonymous, "private-topic-locked.png").await;
    entitled.close().await.unwrap();
    anonymous.close().await.unwrap();
}
