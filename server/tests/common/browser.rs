//! Test support for the browser tests: a chromedriver of our own and headless Chromium
//! sessions from it, each with its own profile.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

use super::PATIENCE;

/// Screenshots land under the workspace's `target/`.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e")
}

/// A chromedriver process of our own, stopped by its PID when dropped.
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    pub fn start() -> Self {
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

    /// A new browser session: a page of its own, in a Chromium with its own profile (two
    /// Chromiums cannot share one).
    pub async fn browser(&self) -> Client {
        self.browser_with(&[]).await
    }

    /// [`Self::browser`] with extra Chromium flags.
    pub async fn browser_with(&self, flags: &[&str]) -> Client {
        static SESSIONS: AtomicUsize = AtomicUsize::new(0);
        let session = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!(
            "herald-e2e-{}-{}-{session}",
            std::process::id(),
            self.port
        ));
        let mut options = serde_json::json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1024,768",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if let Some(args) = options["args"].as_array_mut() {
            args.extend(flags.iter().map(|flag| serde_json::Value::from(*flag)));
        }
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

/// Saves what `browser` shows as `target/e2e/NAME`.
pub async fn save_screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::create_dir_all(screenshot_dir()).unwrap();
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}
