//! `loadgen origin`: the GRIP origin Pushpin proxies subscriptions to when it is benchmarked.
//! It answers `GET /events?topic=T` with `Grip-Hold: stream` and `Grip-Channel: T`, which tells
//! Pushpin to keep the client's response open as an event stream on channel `T`; publishing
//! then goes to Pushpin directly, never through here.
//!
//! One thread (the server's side of the bench is pinned to one core), keep-alive connections
//! (Pushpin's zurl reuses them), bounded in count and in request size.

use std::net::SocketAddrV4;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections served at once: zurl opens a few hundred at most while 256 subscribers connect
/// at once; a bound keeps a misbehaving client from holding every socket.
const MAX_CONNECTIONS: usize = 2048;
/// A request head larger than this is not a subscription; Pushpin's are about 400 bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Headers a request may carry; Pushpin forwards the client's few and adds two of its own.
const MAX_HEADERS: usize = 64;
/// Longest topic accepted: Herald's own bound on topic names.
const MAX_TOPIC: usize = 64;
/// The body every held stream starts with: an SSE comment, so that Pushpin sends the response
/// head to the client at once (it waits for body bytes otherwise), and clients ignore it.
const PRELUDE: &str = ":\n\n";

/// Serves on `bind` until the process is stopped (by `cargo xtask bench`, by its PID).
pub(crate) fn serve(bind: SocketAddrV4) -> anyhow::Result<()> {
    if !bind.ip().is_loopback() {
        bail!("the origin listens on loopback only, not {bind}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let gate = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = Arc::clone(&gate).acquire_owned().await?;
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, say: the next accept may succeed.
                    eprintln!("origin: accept failed: {err}");
                    continue;
                }
            };
            tokio::spawn(async move {
                if let Err(err) = connection(stream).await {
                    eprintln!("origin: {err:#}");
                }
                drop(permit);
            });
        }
    })
}

/// One keep-alive connection: answers requests until the peer closes it.
async fn connection(mut stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let (used, answer) = loop {
            match parse(&buf) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {}
                Err(err) => {
                    let answer = response(400, "malformed request head", None);
                    stream.write_all(&answer).await?;
                    return Err(err);
                }
            }
            if buf.len() > MAX_HEAD {
                stream
                    .write_all(&response(431, "request head too large", None))
                    .await?;
                return Ok(());
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        buf.drain(..used);
        stream.write_all(&answer).await?;
    }
}

/// The answer to the request at the start of `buf` and the bytes it took, or `None` while its
/// head is incomplete. Requests carry no body: only `GET` is answered with a hold.
fn parse(buf: &[u8]) -> anyhow::Result<Option<(usize, Vec<u8>)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let used = match request.parse(buf) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => bail!("malformed request head: {err}"),
    };
    let answer = match (request.method, request.path) {
        (Some("GET"), Some(path)) => match path.split_once('?') {
            Some(("/events", query)) => match topic(query) {
                Some(topic) => response(200, "", Some(topic)),
                None => response(400, "topic must be 1 to 64 of A-Z a-z 0-9 - _ .", None),
            },
            _ => response(404, "only /events?topic=T is served", None),
        },
        _ => response(405, "only GET is served", None),
    };
    Ok(Some((used, answer)))
}

/// The `topic` parameter of `query`, when it is a channel name Pushpin takes as is.
fn topic(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("topic="))
        .filter(|topic| {
            (1..=MAX_TOPIC).contains(&topic.len())
                && topic
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        })
}

/// A hold on `channel` (status 200), or an error with a one-line JSON body.
fn response(status: u16, error: &str, channel: Option<&str>) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    match channel {
        Some(channel) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
             Grip-Hold: stream\r\nGrip-Channel: {channel}\r\nContent-Length: {}\r\n\r\n{PRELUDE}",
            PRELUDE.len()
        ),
        None => {
            let body = format!("{{\"error\":\"{error}\"}}\n");
            format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
    }
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: &str) -> (usize, String) {
        let (used, answer) = parse(request.as_bytes())
            .expect("a well-formed head")
            .expect("a complete head");
        (used, String::from_utf8(answer).expect("answers are text"))
    }

    #[test]
    fn holds_a_subscription_on_its_topic() {
        let request = "GET /events?topic=bench HTTP/1.1\r\nHost: x\r\nGrip-Sig: y\r\n\r\n";
        let (used, answer) = answer(&format!("{request}GET /next"));
        assert_eq!(used, request.len());
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("\r\nGrip-Hold: stream\r\n"), "{answer}");
        assert!(answer.contains("\r\nGrip-Channel: bench\r\n"), "{answer}");
        assert!(answer.contains("\r\nContent-Type: text/event-stream\r\n"));
        assert!(
            answer.ends_with("\r\nContent-Length: 3\r\n\r\n:\n\n"),
            "{answer}"
        );
    }

    #[test]
    fn refuses_what_is_not_a_subscription() {
        let status = |request: &str| answer(request).1[9..12].to_owned();
        assert_eq!(status("GET /events?topic=a,b HTTP/1.1\r\n\r\n"), "400");
        assert_eq!(status("GET /events?other=1 HTTP/1.1\r\n\r\n"), "400");
        assert_eq!(status("GET /elsewhere HTTP/1.1\r\n\r\n"), "404");
        assert_eq!(status("POST /events?topic=a HTTP/1.1\r\n\r\n"), "405");
        let (_, answer) = answer("GET /events HTTP/1.1\r\n\r\n");
        assert!(answer.ends_with("{\"error\":\"only /events?topic=T is served\"}\n"));
        assert!(
            parse(b"GET /events?topic=a HTTP/1.1\r\n")
                .expect("valid so far")
                .is_none()
        );
        assert!(parse(b"\x01\x02 nonsense\r\n\r\n").is_err());
    }
}
