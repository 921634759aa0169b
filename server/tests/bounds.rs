//! No client can hold connections without end: the number of TCP connections is bounded, and a
//! request body that does not arrive in time is answered 408 and its connection closed, whether
//! the route reads the body or not, sized or chunked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Conn, EventReader, PATIENCE, TestServer};
use tokio::time::Instant;

/// The body timeout in these tests: short, so they are quick, and far above a loopback round
/// trip, so a complete body is never late.
const BODY_TIMEOUT: &str = "400ms";
const BODY_TIMEOUT_MS: u64 = 400;

/// One request on a keep-alive connection, answered in full.
async fn ask(conn: &mut Conn, path: &str) -> common::Response {
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    conn.read_response().await
}

async fn tcp_connections(probe: &mut Conn) -> u64 {
    let response = ask(probe, "/metrics").await;
    response
        .body_text()
        .lines()
        .find_map(|line| line.strip_prefix("herald_tcp_connections ")?.parse().ok())
        .expect("herald_tcp_connections")
}

#[tokio::test]
async fn connections_past_the_tcp_limit_wait_until_one_closes() {
    // Two workers with two connections each.
    let server = TestServer::start(&[
        "--max-tcp-connections",
        "4",
        "--max-connections",
        "3",
        "--workers",
        "2",
    ]);
    let mut probe = Conn::open(server.addr).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = EventReader::open(server.addr, "/events?topic=held", &[]).await;
        stream.chunk().await.unwrap();
        streams.push(stream);
    }
    assert_eq!(tcp_connections(&mut probe).await, 4);

    // A fifth: the kernel completes its handshake, but the server does not take it. (Its
    // request keeps the connection alive, so a server that took it would count it.)
    let mut waiting = Conn::open(server.addr).await;
    waiting
        .send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    // Showing that something does *not* happen needs a window: a few dozen round trips on the
    // probe, long enough for an accepted connection to be answered many times over.
    let window = Instant::now();
    while window.elapsed() < Duration::from_millis(200) {
        assert_eq!(tcp_connections(&mut probe).await, 4);
    }

    // A place freed is a place taken.
    drop(streams.pop());
    let answer = waiting.read_response().await;
    assert_eq!(answer.head.status(), 200);
    assert_eq!(answer.json()["status"], "ok");
}

/// A request head, and the first byte of a body that never comes.
fn stalled(method: &str, path: &str, chunked: bool) -> String {
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n\r\n5\r\n{"
    } else {
        "Content-Length: 40\r\n\r\n{"
    };
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}")
}

#[tokio::test]
async fn a_late_body_is_answered_408_and_its_connection_closed() {
    let server = TestServer::start(&["--publish-token", "t", "--body-timeout", BODY_TIMEOUT]);
    // /publish reads its body; /healthz ignores it, but a connection with half a body on it
    // cannot carry on either.
    for (method, path) in [("POST", "/publish"), ("GET", "/healthz")] {
        for chunked in [false, true] {
            let mut conn = Conn::open(server.addr).await;
            let sent = Instant::now();
            conn.send(stalled(method, path, chunked).as_bytes()).await;
            let answer = conn.read_response().await;
            let took = sent.elapsed();
            let case = format!("{method} {path} (chunked: {chunked})");
            assert_eq!(answer.head.status(), 408, "{case}");
            assert_eq!(answer.head.header("connection"), Some("close"), "{case}");
            assert_eq!(
                answer.head.header("content-type"),
                Some("application/json"),
                "{case}"
            );
            assert_eq!(
                answer.json()["error"],
                format!("request body not complete within {BODY_TIMEOUT_MS} ms"),
                "{case}"
            );
            assert!(
                took >= Duration::from_millis(BODY_TIMEOUT_MS),
                "{case}: {took:?}"
            );
            // And the server lets go of the connection, though the client never finishes.
            conn.wait_closed().await;
        }
    }
    // Nothing is held afterwards (the one connection left is the metrics request's own).
    server.wait_for_metric("herald_tcp_connections", 1).await;
}

#[tokio::test]
async fn a_refused_request_is_answered_without_waiting_for_its_body() {
    // A body timeout far beyond the test's patience: an answer that waited for the body would
    // not come in time.
    let server = TestServer::start(&["--publish-token", "t", "--body-timeout", "1h"]);
    // Refusals that do not need the body: a method the route does not take, no such route.
    for (method, path, status) in [
        ("POST", "/healthz", 405),
        ("PATCH", "/events", 405),
        ("POST", "/nowhere", 404),
    ] {
        for chunked in [false, true] {
            let case = format!("{method} {path} (chunked: {chunked})");
            let mut conn = Conn::open(server.addr).await;
            conn.send(stalled(method, path, chunked).as_bytes()).await;
            let answer = conn.read_response().await;
            assert_eq!(answer.head.status(), status, "{case}");
            assert_eq!(answer.head.header("connection"), Some("close"), "{case}");
            assert!(answer.json()["error"].is_string(), "{case}");
            conn.wait_closed().await;
        }
    }
    server.wait_for_metric("herald_tcp_connections", 1).await;
}

#[tokio::test]
async fn a_body_trickling_in_is_late_even_while_bytes_keep_coming() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let server = TestServer::start(&["--publish-token", "t", "--body-timeout", BODY_TIMEOUT]);
    let (mut reader, mut writer) = tokio::net::TcpStream::connect(server.addr)
        .await
        .unwrap()
        .into_split();
    writer
        .write_all(stalled("POST", "/publish", true).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    // A byte every 50 ms: never idle for long, never done. It stops when the server hangs up.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer.write_all(b"1\r\n \r\n").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(PATIENCE, reader.read(&mut chunk))
            .await
            .expect("the server hung up within PATIENCE");
        match read {
            Ok(0) | Err(_) => break,
            Ok(read) => answer.extend_from_slice(&chunk[..read]),
        }
    }
    // Cut after the timeout (and the answer's linger), however many bytes kept coming.
    assert!(started.elapsed() >= Duration::from_millis(BODY_TIMEOUT_MS));
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.ends_with("\"}"), "{answer}");
    trickle.abort();
    server.wait_for_metric("herald_tcp_connections", 1).await;
}

#[tokio::test]
async fn a_whole_body_a_route_ignores_keeps_the_connection_usable() {
    let server = TestServer::start(&["--body-timeout", BODY_TIMEOUT]);
    let mut conn = Conn::open(server.addr).await;
    for framing in [
        "Content-Length: 2\r\n\r\n{}",
        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ] {
        conn.send(format!("PUT /healthz HTTP/1.1\r\nHost: x\r\n{framing}").as_bytes())
            .await;
        let refused = conn.read_response().await;
        assert_eq!(refused.head.status(), 405);
        assert_eq!(refused.head.header("allow"), Some("GET"));
        assert_ne!(refused.head.header("connection"), Some("close"));
        // The same connection serves the next request.
        assert_eq!(ask(&mut conn, "/healthz").await.head.status(), 200);
    }
}
