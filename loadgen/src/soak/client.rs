//! The clients the soak checks are made of: an event stream that can be closed by FIN or by
//! RST and resumed with `Last-Event-ID`, a publisher on one keep-alive connection, and a
//! `/metrics` reader. Built on loadgen's own HTTP pieces and `shared`'s SSE parser.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context as _, bail};
use shared::names::WELCOME_TEXT;
use shared::wire::{ParsedEvent, Parser};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpSocket, TcpStream};

use crate::http::{Dechunker, Framing, HttpConn};

/// Source addresses the clients spread over (127.0.0.2 and up): tens of thousands of short
/// connections, many ending in `TIME_WAIT`, would otherwise exhaust one address pair's ports.
const SOURCES: usize = 16;
/// Bound on one event on the wire; the soak's events are at most a few KiB.
const MAX_EVENT: usize = 64 * 1024;
/// Bound on a response body read whole (a publish answer, the metrics page).
const MAX_BODY: usize = 1024 * 1024;
/// Bound on one request and its whole answer (a publish, the metrics page): a server that
/// stalls fails the check instead of hanging it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// The orderly close: our side's FIN (`shutdown(SHUT_WR)`), then the socket is released.
    Fin,
    /// The abortive close: `SO_LINGER` 0, so closing sends RST, as a crashed or killed client.
    Rst,
}

impl Close {
    /// FIN for even numbers, RST for odd ones: any run alternates the two.
    pub(crate) fn alternate(n: usize) -> Self {
        if n.is_multiple_of(2) {
            Self::Fin
        } else {
            Self::Rst
        }
    }
}

/// A TCP connection to `addr` from client `index`'s source address, optionally with a receive
/// buffer of `recv_buffer` bytes (set before connecting, so the window starts that small).
pub(crate) async fn connect(
    addr: SocketAddrV4,
    index: usize,
    recv_buffer: Option<u32>,
) -> anyhow::Result<TcpStream> {
    let octet = 2 + u8::try_from(index % SOURCES).context("a source octet fits a byte")?;
    let source = Ipv4Addr::new(127, 0, 0, octet);
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))
        .with_context(|| format!("cannot bind a socket to {source}"))?;
    let stream = socket
        .connect(SocketAddr::V4(addr))
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The request that opens `topic`'s event stream, resuming after `last_id` when given.
pub(crate) fn subscribe_request(topic: &str, last_id: Option<&str>) -> Vec<u8> {
    let mut request = format!(
        "GET {}?topic={topic} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n",
        shared::names::EVENTS_PATH
    );
    if let Some(id) = last_id {
        request.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// An open event stream, parsed into events as they arrive.
#[derive(Debug)]
pub(crate) struct EventStream {
    conn: HttpConn,
    framing: Framing,
    dechunker: Dechunker,
    parser: Parser,
    pending: VecDeque<ParsedEvent>,
    /// The last event id of the events handed out: the parser's runs ahead by what is still
    /// pending, which the caller has not seen.
    last_event_id: String,
    /// The chunked body ended (the server ended the stream).
    ended: bool,
    /// Bytes read since the last event handed out: not zero on a quiet stream means they are
    /// an event not yet complete (or one this client failed to parse).
    bytes_since_event: u64,
}

impl EventStream {
    /// Opens `topic`'s stream as client `index`, resuming after `last_id` when given.
    pub(crate) async fn open(
        addr: SocketAddrV4,
        index: usize,
        topic: &str,
        last_id: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut stream = connect(addr, index, None).await?;
        stream.write_all(&subscribe_request(topic, last_id)).await?;
        let mut stream = Self::requested(stream).await?;
        // As a browser's last event id buffer, the id survives the reconnect: a stream dropped
        // again before it hands out an event resumes from the same place, not from nothing.
        if stream.last_event_id.is_empty()
            && let Some(id) = last_id
        {
            id.clone_into(&mut stream.last_event_id);
        }
        Ok(stream)
    }

    /// Opens `topic`'s stream as client `index` and reads up to its welcome (replayed events
    /// and a reset come before it), so the subscription is live on the server when this returns.
    pub(crate) async fn welcomed(
        addr: SocketAddrV4,
        index: usize,
        topic: &str,
    ) -> anyhow::Result<Self> {
        let mut stream = Self::open(addr, index, topic, None).await?;
        while let Some(event) = stream.next_event().await? {
            if event.data == WELCOME_TEXT {
                return Ok(stream);
            }
        }
        bail!("the stream ended before its welcome")
    }

    /// The stream on a connection whose request was sent: reads the head and what follows.
    pub(crate) async fn requested(stream: TcpStream) -> anyhow::Result<Self> {
        let mut conn = HttpConn::new(stream);
        let head = conn.read_head().await?;
        if head.status != 200 {
            bail!("subscribe answered {}", head.status);
        }
        let mut stream = Self {
            conn,
            framing: head.framing,
            dechunker: Dechunker::default(),
            parser: Parser::new(MAX_EVENT),
            pending: VecDeque::new(),
            last_event_id: String::new(),
            ended: false,
            bytes_since_event: 0,
        };
        // Body bytes that came with the head.
        let early = std::mem::take(&mut stream.conn.buf);
        stream.feed(&early)?;
        Ok(stream)
    }

    /// The next event; `None` once the server ended the stream or closed the connection.
    pub(crate) async fn next_event(&mut self) -> anyhow::Result<Option<ParsedEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last_event_id.clone_from(&event.id);
                self.bytes_since_event = 0;
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            self.conn.buf.clear();
            // A reset by the server ends the stream as surely as its FIN.
            if !self.conn.fill().await.unwrap_or(false) {
                return Ok(None);
            }
            let bytes = std::mem::take(&mut self.conn.buf);
            self.bytes_since_event += bytes.len() as u64;
            self.feed(&bytes)?;
            self.conn.buf = bytes;
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let pending = &mut self.pending;
        let mut emit = |event| pending.push_back(event);
        match self.framing {
            Framing::Chunked => {
                let parser = &mut self.parser;
                let mut result = Ok(());
                self.dechunker.feed(bytes, &mut |body| {
                    if result.is_ok() {
                        result = parser.feed(body, &mut emit);
                    }
                })?;
                result?;
                self.ended = self.dechunker.is_done();
            }
            Framing::Length(_) | Framing::UntilClose => self.parser.feed(bytes, &mut emit)?,
        }
        Ok(())
    }

    /// Bytes read since the last event handed out.
    pub(crate) fn bytes_since_event(&self) -> u64 {
        self.bytes_since_event
    }

    /// The id a browser would send on reconnecting: that of the last event handed out.
    pub(crate) fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Leaves the way `how` says.
    pub(crate) async fn close(self, how: Close) {
        close(self.conn.stream, how).await;
    }
}

/// Closes `stream` by FIN or RST. Errors are of no interest: the connection is going anyway.
pub(crate) async fn close(mut stream: TcpStream, how: Close) {
    match how {
        Close::Fin => {
            let _ = stream.shutdown().await;
        }
        Close::Rst => {
            let _ = stream.set_zero_linger();
        }
    }
    drop(stream);
}

/// A publisher on one keep-alive connection, reconnecting when the server closes it.
#[derive(Debug)]
pub(crate) struct Publisher {
    addr: SocketAddrV4,
    token: String,
    conn: Option<HttpConn>,
}

impl Publisher {
    pub(crate) fn new(addr: SocketAddrV4, token: &str) -> Self {
        Self {
            addr,
            token: token.to_owned(),
            conn: None,
        }
    }

    /// Publishes `data` to `topic` and returns the event's id.
    ///
    /// # Errors
    /// Any status but 200, or a connection that failed.
    pub(crate) async fn publish(&mut self, topic: &str, data: &str) -> anyhow::Result<u64> {
        let body = serde_json::json!({ "topic": topic, "data": data }).to_string();
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            shared::names::PUBLISH_PATH,
            self.token,
            body.len()
        );
        let conn = match &mut self.conn {
            Some(conn) => conn,
            slot => {
                let connecting = TcpStream::connect(self.addr);
                let stream = tokio::time::timeout(ANSWER_TIMEOUT, connecting)
                    .await
                    .context("no connection within the answer timeout")??;
                stream.set_nodelay(true)?;
                slot.insert(HttpConn::new(stream))
            }
        };
        let answer = exchange(conn, request.as_bytes()).await;
        let (status, close, body) = match answer {
            Ok(answer) => answer,
            Err(err) => {
                self.conn = None;
                return Err(err);
            }
        };
        if close {
            self.conn = None;
        }
        if status != 200 {
            bail!(
                "publish answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).context("a publish answer is JSON")?;
        answer["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("a publish answer carries a numeric id")
    }
}

/// Sends `request` and reads the whole answer: status, whether the server closes the
/// connection after it, and the body.
async fn exchange(conn: &mut HttpConn, request: &[u8]) -> anyhow::Result<(u16, bool, Vec<u8>)> {
    tokio::time::timeout(ANSWER_TIMEOUT, exchange_now(conn, request))
        .await
        .with_context(|| format!("no whole answer within {ANSWER_TIMEOUT:?}"))?
}

async fn exchange_now(conn: &mut HttpConn, request: &[u8]) -> anyhow::Result<(u16, bool, Vec<u8>)> {
    conn.write_all(request).await?;
    let head = conn.read_head().await?;
    let body = match head.framing {
        Framing::Length(len) => {
            if len > MAX_BODY {
                bail!("a body of {len} bytes is not one of ours");
            }
            while conn.buf.len() < len {
                if !conn.fill().await? {
                    bail!("the server closed the connection inside a body");
                }
            }
            conn.buf.drain(..len).collect()
        }
        Framing::Chunked => {
            let mut body = Vec::new();
            let mut decoder = Dechunker::default();
            loop {
                let used = decoder.feed(&conn.buf, &mut |bytes| body.extend_from_slice(bytes))?;
                conn.buf.drain(..used);
                if decoder.is_done() {
                    break;
                }
                if body.len() > MAX_BODY || !conn.fill().await? {
                    bail!("a chunked body too long or cut short");
                }
            }
            body
        }
        Framing::UntilClose => {
            while conn.fill().await? {
                if conn.buf.len() > MAX_BODY {
                    bail!("a body longer than {MAX_BODY} bytes");
                }
            }
            std::mem::take(&mut conn.buf)
        }
    };
    Ok((head.status, head.close, body))
}

/// One value of the server's `/metrics`, read on a connection of its own.
pub(crate) async fn metric(addr: SocketAddrV4, name: &str) -> anyhow::Result<u64> {
    let stream = TcpStream::connect(addr).await?;
    let mut conn = HttpConn::new(stream);
    let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let (status, _, body) = exchange(&mut conn, request.as_bytes()).await?;
    if status != 200 {
        bail!("GET /metrics answered {status}");
    }
    let text = String::from_utf8(body).context("the metrics page is UTF-8")?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("no metric {name}"))
}
