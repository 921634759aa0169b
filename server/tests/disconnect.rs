//! Clients that go away are released within a second, however they go: a FIN or a RST, while
//! idle on a stream, before their answer, or in the middle of their request. Heartbeats stay at
//! their 15 s default, so only the close itself can reveal the dead peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Conn, EventReader, PATIENCE, TestServer};
use tokio::time::Instant;

/// Idle streams closed at once: far more than one slip would need to show, far below the
/// open-file limit.
const STREAMS: usize = 200;

/// The requirement: a client gone is released within 1 s. The margin is for polling `/metrics`.
const RELEASE_BOUND: Duration = Duration::from_millis(1500);

const GAUGES: [&str; 3] = [
    "herald_subscribers",
    "herald_connections",
    "herald_tcp_connections",
];

/// Waits until nothing is held any more (the one TCP connection left is the `/metrics` request
/// itself), and returns how long that took from `closed`; panics after [`PATIENCE`].
async fn released_since(server: &TestServer, closed: Instant) -> Duration {
    loop {
        let held = server.metrics_of(&GAUGES).await;
        if held == [0, 0, 1] {
            return closed.elapsed();
        }
        assert!(
            closed.elapsed() < PATIENCE,
            "still held {held:?} ({GAUGES:?}) after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn open_idle_streams(server: &TestServer, count: usize) -> Vec<EventReader> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = EventReader::open(server.addr, "/events?topic=silent", &[]).await;
        assert_eq!(stream.head.status(), 200);
        stream.chunk().await.expect("the prelude");
        streams.push(stream);
    }
    server
        .wait_for_metric("herald_subscribers", count as u64)
        .await;
    streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_closed_with_a_fin_are_released_within_a_second() {
    let server = TestServer::start(&[]);
    let mut streams = open_idle_streams(&server, STREAMS).await;

    let closed = Instant::now();
    for stream in &mut streams {
        stream.conn.shutdown_write().await;
    }
    let took = released_since(&server, closed).await;
    assert!(took < RELEASE_BOUND, "released after {took:?}");
    // The server closed its side too: each client reads the end of its stream.
    for stream in &mut streams {
        stream.conn.wait_closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_closed_with_a_reset_are_released_within_a_second() {
    let server = TestServer::start(&[]);
    let streams = open_idle_streams(&server, STREAMS).await;

    let closed = Instant::now();
    for stream in streams {
        stream.conn.reset();
    }
    let took = released_since(&server, closed).await;
    assert!(took < RELEASE_BOUND, "released after {took:?}");
}

/// What a client may have sent when it goes: a request not yet answered, or half a request.
const UNANSWERED: [&[u8]; 4] = [
    // A whole stream request, closed before the answer is read.
    b"GET /events?topic=silent HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
    // Half a head.
    b"GET /events?topic=silent HTTP/1.1\r\nHo",
    // A publish whose body never comes.
    b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"to",
    // A chunked body cut in the middle of a chunk.
    b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{\"topic\"",
];

#[tokio::test]
async fn clients_gone_before_their_answer_are_released_within_a_second() {
    let server = TestServer::start(&[]);
    for reset in [false, true] {
        let mut conns = Vec::new();
        for request in UNANSWERED {
            for _ in 0..10 {
                let mut conn = Conn::open(server.addr).await;
                conn.send(request).await;
                conns.push(conn);
            }
        }
        // Every connection is accepted and counted before any goes.
        server
            .wait_for_metric("herald_tcp_connections", conns.len() as u64 + 1)
            .await;
        let closed = Instant::now();
        if reset {
            conns.into_iter().for_each(Conn::reset);
        } else {
            for conn in &mut conns {
                conn.shutdown_write().await;
            }
        }
        let took = released_since(&server, closed).await;
        assert!(
            took < RELEASE_BOUND,
            "released after {took:?} (reset: {reset})"
        );
    }
}
