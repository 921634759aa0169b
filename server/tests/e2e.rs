//! End to end in a real browser: headless Chromium (driven through chromedriver) loads the UI
//! served by a real server and sees the live clock tick. Needs the built UI (`dist/`) and
//! chromedriver, so it is ignored by a plain `cargo test`; `cargo xtask test` builds the UI
//! and runs it with `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{PATIENCE, TestServer};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// Where `cargo xtask test` built the UI (override with `HERALD_E2E_DIST`).
fn dist() -> PathBuf {
    std::env::var_os("HERALD_E2E_DIST").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"),
        PathBuf::from,
    )
}

/// Screenshots land under the workspace's `target/`.
fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e")
}

/// A chromedriver process of our own, stopped by its PID when dropped.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Self {
        let program = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {program}: {err} (set CHROMEDRIVER)"));
        let driver = Self { child, port };
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    async fn browser(&self) -> Client {
        let profile =
            std::env::temp_dir().join(format!("herald-e2e-{}-{}", std::process::id(), self.port));
        let mut options = serde_json::json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1024,768",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if let Ok(binary) = std::env::var("CHROMIUM") {
            options["binary"] = binary.into();
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[tokio::test]
#[ignore = "needs the built UI and chromedriver: run by `cargo xtask test`"]
async fn the_page_shows_a_live_clock() {
    let dist = dist();
    assert!(
        dist.join("index.html").is_file(),
        "no UI at {}: run `cargo xtask test`, which builds it",
        dist.display()
    );
    let dist_arg = dist.display().to_string();
    let server = TestServer::start(&["--dist", &dist_arg]);
    let driver = Chromedriver::start();
    let browser = driver.browser().await;

    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, "#state", |state| state == "open").await;
    let first = wait_for_text(&browser, "#clock", |clock| !clock.trim().is_empty()).await;
    let second = wait_for_text(&browser, "#clock", |clock| clock != first).await;
    assert_ne!(first, second);
    let log = wait_for_text(&browser, "#log", |log| {
        log.contains(shared::names::WELCOME_TEXT)
    })
    .await;
    assert!(log.contains(shared::event::CURRENT_TIME), "{log}");

    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::create_dir_all(screenshot_dir()).unwrap();
    std::fs::write(screenshot_dir().join("clock.png"), png).unwrap();
    browser.close().await.unwrap();
}
