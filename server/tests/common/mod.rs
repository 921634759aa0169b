//! Test support: a real server on `127.0.0.1:0` in its own thread, and a raw HTTP/1.1 client
//! that reads exact bytes (de-chunking the body) and parses frames with `shared`'s parser.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser as _;
use server::Config;
use shared::wire::{ParsedEvent, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub mod browser;
pub mod jwt;
pub mod process;
pub mod redis;
pub mod tls;

/// Upper bound on any single wait in these tests: generous, since a failure shows as a timeout.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running server; dropping it shuts the server down and waits for it.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with these extra flags (on top of `--bind 127.0.0.1:0`).
    pub fn start(flags: &[&str]) -> Self {
        let mut args = vec!["server"];
        if !flags.contains(&"--dist") {
            args.extend(["--dist", "/nonexistent"]);
        }
        // Tests stop their servers all the time; no load balancer needs notice here.
        if !flags.contains(&"--drain-notice") {
            args.extend(["--drain-notice", "0s"]);
        }
        args.extend_from_slice(flags);
        let config = Config::try_parse_from(args).expect("valid test flags");
        config.validate().expect("valid test config");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new()
                .block_on(server::run(listener, config, async {
                    let _ = stopped.await;
                }))
                .expect("server ran");
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts down and waits until `run` has returned.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread");
        }
    }

    /// One metric's value from `GET /metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        *self
            .metrics()
            .await
            .get(name)
            .unwrap_or_else(|| panic!("metric {name} missing"))
    }

    /// Every metric's value from one `GET /metrics`, so that several are read at one moment.
    pub async fn metrics(&self) -> std::collections::HashMap<String, u64> {
        let response = request(self.addr, "GET", "/metrics", &[], "").await;
        response
            .body_text()
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.split_once(' ')?;
                Some((name.to_owned(), value.trim().parse().ok()?))
            })
            .collect()
    }

    /// Several metrics' values from one `GET /metrics`, in the order asked.
    pub async fn metrics_of(&self, names: &[&str]) -> Vec<u64> {
        let response = request(self.addr, "GET", "/metrics", &[], "").await;
        let text = response.body_text();
        names
            .iter()
            .map(|name| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                    .unwrap_or_else(|| panic!("metric {name} missing"))
            })
            .collect()
    }

    /// Waits until a metric reads `want`, or panics after [`PATIENCE`].
    pub async fn wait_for_metric(&self, name: &str, want: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let got = self.metric(name).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} stayed at {got}, wanted {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A response head: the status line and headers, names lower-cased.
#[derive(Debug, Clone)]
pub struct Head {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("status code")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// A whole (non-streaming) response.
#[derive(Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("Connection: close\r\n\r\n");
    text.push_str(body);
    text.into_bytes()
}

/// Sends one request on a fresh connection and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut conn = Conn::open(addr).await;
    conn.send(&request_bytes(method, path, headers, body)).await;
    let head = conn.read_head().await;
    let body = conn.read_body_to_end(&head).await;
    Response { head, body }
}

/// A raw connection with a read buffer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    /// A connection opened elsewhere (with socket options of its own).
    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Closes the sending side (a FIN) and keeps the socket open for reading.
    pub async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.expect("shutdown");
    }

    /// Closes the connection with a reset (RST) instead of a FIN.
    pub fn reset(self) {
        // A zero linger never blocks: the close sends a RST at once.
        self.stream.set_zero_linger().expect("SO_LINGER 0");
        drop(self);
    }

    /// Whether the server has closed the connection: reads (and drops) what is left until the
    /// end, or panics after [`PATIENCE`].
    pub async fn wait_closed(&mut self) {
        self.buf.clear();
        while self.fill().await {
            self.buf.clear();
        }
    }

    /// Everything left until the server closes the connection.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// Reads one whole response (not a stream: the body must end).
    pub async fn read_response(&mut self) -> Response {
        let head = self.read_head().await;
        let body = self.read_body_to_end(&head).await;
        Response { head, body }
    }

    /// Reads more bytes into the buffer; `false` at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("server answered in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..read]);
        read > 0
    }

    /// The raw bytes that arrive next (those already buffered first); panics at the end of
    /// the stream.
    pub async fn read_some(&mut self) -> Vec<u8> {
        if self.buf.is_empty() {
            assert!(self.fill().await, "connection closed");
        }
        std::mem::take(&mut self.buf)
    }

    pub async fn read_head(&mut self) -> Head {
        loop {
            if let Some(end) = memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                let text = String::from_utf8(self.buf[..end].to_vec()).expect("ascii head");
                self.buf.drain(..end + 4);
                let mut lines = text.split("\r\n");
                let status_line = lines.next().unwrap_or_default().to_owned();
                let headers = lines
                    .filter_map(|line| line.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                return Head {
                    status_line,
                    headers,
                };
            }
            assert!(self.fill().await, "connection closed before the head");
        }
    }

    /// The next chunk of a chunked body; `None` at its end (or when the connection closes).
    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(line_end) = memchr::memmem::find(&self.buf, b"\r\n") {
                let size_text = std::str::from_utf8(&self.buf[..line_end]).expect("chunk size");
                let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
                let need = line_end + 2 + size + 2;
                while self.buf.len() < need {
                    if !self.fill().await {
                        return None;
                    }
                }
                let data = self.buf[line_end + 2..line_end + 2 + size].to_vec();
                self.buf.drain(..need);
                return if size == 0 { None } else { Some(data) };
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn read_body_to_end(&mut self, head: &Head) -> Vec<u8> {
        if head.header("transfer-encoding") == Some("chunked") {
            let mut body = Vec::new();
            while let Some(chunk) = self.read_chunk().await {
                body.extend_from_slice(&chunk);
            }
            return body;
        }
        let length: usize = head
            .header("content-length")
            .map_or(0, |len| len.parse().expect("content-length"));
        while self.buf.len() < length {
            assert!(self.fill().await, "body cut short");
        }
        self.buf.drain(..length).collect()
    }
}

/// How much of a stream's body [`EventReader`] keeps verbatim.
pub const RAW_KEPT: usize = 64 * 1024;

/// An open event stream: its head, and its body parsed into events.
pub struct EventReader {
    pub head: Head,
    pub conn: Conn,
    pub parser: Parser,
    /// The first [`RAW_KEPT`] bytes of the body, for tests that check exact frames.
    pub raw: Vec<u8>,
    pending: std::collections::VecDeque<ParsedEvent>,
}

impl EventReader {
    /// Opens `GET path` with extra request headers.
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut conn = Conn::open(addr).await;
        let mut text =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        conn.send(text.as_bytes()).await;
        let head = conn.read_head().await;
        Self {
            head,
            conn,
            parser: Parser::default(),
            raw: Vec::new(),
            pending: Default::default(),
        }
    }

    /// The next raw body chunk, also fed to the parser.
    pub async fn chunk(&mut self) -> Option<Vec<u8>> {
        let chunk = self.conn.read_chunk().await?;
        let room = RAW_KEPT.saturating_sub(self.raw.len());
        self.raw.extend_from_slice(&chunk[..room.min(chunk.len())]);
        let pending = &mut self.pending;
        self.parser
            .feed(&chunk, &mut |event| pending.push_back(event))
            .expect("well-formed stream");
        Some(chunk)
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next_event(&mut self) -> Option<ParsedEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            self.chunk().await?;
        }
    }

    /// The next event of type `name`, skipping others.
    pub async fn next_named(&mut self, name: &str) -> ParsedEvent {
        loop {
            let event = self.next_event().await.expect("stream still open");
            if event.event == name {
                return event;
            }
        }
    }
}

/// A publisher on one keep-alive connection.
pub struct Publisher {
    conn: Conn,
    token: Option<String>,
}

impl Publisher {
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> Self {
        Self {
            conn: Conn::open(addr).await,
            token: token.map(str::to_owned),
        }
    }

    /// Posts a body with this content type and returns the response.
    pub async fn post(&mut self, content_type: &str, body: &str) -> Response {
        let mut text = format!(
            "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = &self.token {
            text.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(body);
        self.conn.send(text.as_bytes()).await;
        let head = self.conn.read_head().await;
        let body = self.conn.read_body_to_end(&head).await;
        Response { head, body }
    }

    /// Publishes JSON `data` text to `topic` and returns the event id.
    pub async fn publish(&mut self, topic: &str, data: &str) -> String {
        let body = serde_json::json!({ "topic": topic, "data": data }).to_string();
        let response = self.post("application/json", &body).await;
        assert_eq!(response.head.status(), 200, "{}", response.body_text());
        response.json()["id"].as_str().unwrap().to_owned()
    }
}
