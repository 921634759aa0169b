//! No client can hold connections without end: the number of TCP connections is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Conn, EventReader, TestServer};
use tokio::time::Instant;

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
