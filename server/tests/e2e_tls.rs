//! Past the six-connection limit in a real browser: headless Chromium loads a page over HTTPS
//! (a certificate made in the test; errors ignored, as it is self-signed) that opens twelve
//! `EventSource`s. Over HTTP/1.1 the seventh would wait for a free connection; over HTTP/2 all
//! twelve open and receive a published event. Ignored by a plain `cargo test` (it needs
//! chromedriver); `cargo xtask test` runs it with `--include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::PATIENCE;
use common::browser::{Chromedriver, save_screenshot};
use common::process::ServerProcess;
use common::tls::{Certificate, publish};
use fantoccini::{Client, Locator};

const TOKEN: &str = "e2e-tls-token";
const SOURCES: usize = 12;

/// The page: twelve `EventSource`s on one topic, and a line saying how many are open, how many
/// received the event, and the protocol the page itself came over.
fn page() -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Twelve streams</title></head>
<body>
<h1>{SOURCES} EventSources, one page</h1>
<p id="status">starting</p>
<ol id="sources"></ol>
<script>
const opened = new Set(), received = new Set();
const list = document.getElementById("sources");
const status = document.getElementById("status");
const protocol = performance.getEntriesByType("navigation")[0].nextHopProtocol;
function show() {{
  status.textContent = `open=${{opened.size}} received=${{received.size}} protocol=${{protocol}}`;
}}
for (let i = 0; i < {SOURCES}; i++) {{
  const item = document.createElement("li");
  item.textContent = `source ${{i}}: connecting`;
  list.appendChild(item);
  const source = new EventSource("/events?topic=room");
  source.onopen = () => {{ opened.add(i); item.textContent = `source ${{i}}: open`; show(); }};
  source.onmessage = (event) => {{
    if (event.data === "hello, twelve") {{
      received.add(i);
      item.textContent = `source ${{i}}: received "${{event.data}}"`;
      show();
    }}
  }};
}}
show();
</script>
</body></html>
"#
    )
}

async fn status(browser: &Client) -> String {
    browser
        .find(Locator::Css("#status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls `#status` until it says `want`.
async fn wait_for_status(browser: &Client, want: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let shown = status(browser).await;
        if shown == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status stayed {shown:?}, waiting for {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromedriver: run by `cargo xtask test`"]
async fn twelve_event_sources_in_one_page_all_open_and_receive_over_https() {
    let cert = Certificate::new("e2e-tls");
    let dist = std::env::temp_dir().join(format!("herald-e2e-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), page()).unwrap();
    let mut flags = cert.flags();
    flags.extend(["--dist".to_owned(), dist.display().to_string()]);
    flags.extend(["--publish-token".to_owned(), TOKEN.to_owned()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = ServerProcess::start(&flags, Some("warn"));
    let base = format!("https://127.0.0.1:{}", server.addr.port());

    let driver = Chromedriver::start();
    let browser = driver.browser_with(&["--ignore-certificate-errors"]).await;
    browser.goto(&format!("{base}/")).await.unwrap();
    wait_for_status(&browser, &format!("open={SOURCES} received=0 protocol=h2")).await;

    let mut publisher = cert.h2(server.addr, 1 << 20).await;
    publish(&mut publisher, &base, TOKEN, "room", "hello, twelve").await;
    wait_for_status(
        &browser,
        &format!("open={SOURCES} received={SOURCES} protocol=h2"),
    )
    .await;
    save_screenshot(&browser, "tls-twelve-event-sources.png").await;
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dist);
}
