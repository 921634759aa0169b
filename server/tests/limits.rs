//! Bounds against a real server: heartbeats on idle streams, the connection limit, and dead
//! clients released while idle. (Slow readers: `log.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Conn, EventReader, Publisher, TestServer, request};
use shared::names::WELCOME_TEXT;

const TOKEN: &str = "limits-token";

#[tokio::test]
async fn idle_streams_get_heartbeats_and_traffic_postpones_them() {
    let server = TestServer::start(&["--publish-token", TOKEN, "--heartbeat", "600ms"]);
    let mut stream = EventReader::open(server.addr, "/events?topic=quiet", &[]).await;
    stream.chunk().await.unwrap(); // the prelude
    assert_eq!(stream.chunk().await.unwrap(), b":\n\n");

    // Traffic every 100 ms keeps the heartbeat away.
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    for n in 0..12 {
        publisher.publish("quiet", &n.to_string()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut data = Vec::new();
    while data.len() < 12 {
        let chunk = stream.chunk().await.unwrap();
        assert_ne!(chunk, b":\n\n", "heartbeat despite traffic");
        let pending = &mut data;
        shared::wire::Parser::default()
            .feed(&chunk, &mut |event| pending.push(event))
            .unwrap();
    }
    // Silence again: the heartbeat comes back.
    assert_eq!(stream.chunk().await.unwrap(), b":\n\n");
}

#[tokio::test]
async fn over_the_connection_limit_browsers_are_told_to_retry_later() {
    let server = TestServer::start(&["--max-connections", "2"]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = EventReader::open(server.addr, "/events", &[]).await;
        stream.chunk().await.unwrap();
        held.push(stream);
    }
    // A browser (Accept: text/event-stream) gets a 200 it will retry after, not an error that
    // would make EventSource give up for good.
    let browser = request(
        server.addr,
        "GET",
        "/events",
        &[("Accept", "text/event-stream")],
        "",
    )
    .await;
    assert_eq!(browser.head.status(), 200);
    assert_eq!(
        browser.head.header("content-type"),
        Some("text/event-stream")
    );
    assert_eq!(browser.body_text(), "retry: 10000\n\n");
    // Anyone else gets 503 with Retry-After and a JSON reason.
    let other = request(server.addr, "GET", "/events", &[], "").await;
    assert_eq!(other.head.status(), 503);
    assert_eq!(other.head.header("retry-after"), Some("10"));
    assert!(other.json()["error"].as_str().unwrap().contains("retry"));
    assert_eq!(server.metric("herald_connections_rejected_total").await, 2);
    // A place freed is a place taken.
    held.pop();
    server.wait_for_metric("herald_connections", 1).await;
    let mut stream = EventReader::open(server.addr, "/events", &[]).await;
    assert_eq!(stream.next_event().await.unwrap().data, WELCOME_TEXT);
}

#[tokio::test]
async fn dropped_clients_are_released_within_one_heartbeat_while_idle() {
    // Long enough that one heartbeat and two are told apart despite a busy machine.
    const HEARTBEAT: Duration = Duration::from_secs(2);
    let server = TestServer::start(&["--heartbeat", "2s"]);
    let mut conns = Vec::new();
    for _ in 0..50 {
        let mut conn = Conn::open(server.addr).await;
        conn.send(b"GET /events?topic=silent HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        conn.read_head().await;
        conns.push(conn);
    }
    server.wait_for_metric("herald_subscribers", 50).await;
    // Half leave in order (FIN), half abort (RST).
    let dropped = std::time::Instant::now();
    for (n, conn) in conns.into_iter().enumerate() {
        if n % 2 == 0 {
            drop(conn);
        } else {
            conn.reset();
        }
    }
    // Nothing is published on `silent`: at the latest, the next heartbeat reveals the dead
    // peers, and that is due within one interval of the drop.
    server.wait_for_metric("herald_subscribers", 0).await;
    server.wait_for_metric("herald_connections", 0).await;
    let released = dropped.elapsed();
    assert!(
        released < HEARTBEAT + Duration::from_secs(1),
        "released {released:?} after the drop; the heartbeat is every {HEARTBEAT:?}"
    );
}

#[tokio::test]
async fn topics_beyond_the_limit_are_refused_with_a_reason() {
    // The clock's own topic takes one of the three places.
    let server = TestServer::start(&["--publish-token", TOKEN, "--max-topics", "3"]);
    server.wait_for_metric("herald_topics", 1).await;
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    publisher.publish("first", "1").await;
    publisher.publish("second", "2").await;
    let refused = publisher
        .post("application/json", r#"{"topic":"third","data":"3"}"#)
        .await;
    assert_eq!(refused.head.status(), 503);
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("too many topics (3)"),
        "{}",
        refused.body_text()
    );
    let refused = request(server.addr, "GET", "/events?topic=third", &[], "").await;
    assert_eq!(refused.head.status(), 503);
    // A browser is asked to come back later instead: any other status ends an EventSource.
    let browser = request(
        server.addr,
        "GET",
        "/events?topic=third",
        &[("Accept", "text/event-stream")],
        "",
    )
    .await;
    assert_eq!(browser.head.status(), 200);
    assert_eq!(browser.body_text(), "retry: 10000\n\n");
    // Known topics still work.
    publisher.publish("first", "again").await;
}
