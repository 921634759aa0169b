//! Graceful drain, on the real binary with real signals: readiness goes first, accepting stops,
//! every stream ends with a `retry:` hint, publishes in flight finish, the process exits 0; a
//! second signal exits at once. Also: the lines that say why each stream closed.

mod common;

use std::time::Duration;

use common::process::ServerProcess;
use common::{Conn, EventReader, PATIENCE, Publisher};
use futures_util::future::join_all;
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "drain-token";
/// The longest drain timeout these servers get, and so the longest they may take to exit.
const DRAIN: Duration = Duration::from_secs(15);
/// What a finished stream ends with: the server's default `retry:` hint.
const RETRY_HINT: &[u8] = b"retry: 2000\n\n";

/// A request sent on `conn`, kept alive for the next.
fn keep_alive_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_drains_ten_thousand_streams_finishes_publishes_and_exits_zero() {
    const STREAMS: usize = 10_000;
    let mut server = ServerProcess::start(
        &[
            "--publish-token",
            TOKEN,
            "--open-rate",
            "1000000",
            "--drain-timeout",
            "15s",
            "--drain-notice",
            "5s",
        ],
        Some("info"),
    );
    let addr = server.addr;

    // 10,000 open streams, each read to its end by its own task.
    let mut readers = Vec::with_capacity(STREAMS);
    for batch in 0..STREAMS / 500 {
        let opened = join_all((0..500).map(|index| async move {
            let topic = format!("t{}", (batch * 500 + index) % 50);
            EventReader::open(addr, &format!("/events?topic={topic}"), &[]).await
        }))
        .await;
        for mut reader in opened {
            assert_eq!(reader.head.status(), 200);
            readers.push(tokio::spawn(async move {
                let mut tail = Vec::new();
                while let Some(chunk) = reader.conn.read_chunk().await {
                    tail = chunk;
                }
                tail
            }));
        }
    }
    // A monitor's keep-alive connection.
    let mut monitor = Conn::open(addr).await;
    monitor.send(&keep_alive_get("/readyz")).await;
    assert_eq!(monitor.read_response().await.head.status(), 200);
    let body = serde_json::json!({ "topic": "t1", "data": "sent while draining" }).to_string();
    let (first_half, second_half) = body.as_bytes().split_at(body.len() / 2);
    // Its connection is at a worker already (it answered a first request), so the publish's
    // head and half its body are the server's to read, not in the listener's queue.
    let mut in_flight = Conn::open(addr).await;
    in_flight.send(&keep_alive_get("/healthz")).await;
    assert_eq!(in_flight.read_response().await.head.status(), 200);
    in_flight
        .send(
            format!(
                "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    in_flight.send(first_half).await;

    server.signal("TERM");
    wait_for_line(&server, "draining").await;

    // Not ready from the moment the drain starts (and, while it gives notice, said).
    monitor.send(&keep_alive_get("/readyz")).await;
    let ready = monitor.read_response().await;
    assert_eq!(ready.head.status(), 503, "{}", ready.body_text());
    assert!(ready.body_text().contains("draining"));

    // Every stream ends, its last frame a `retry:` hint.
    for reader in readers {
        let tail = tokio::time::timeout(PATIENCE, reader)
            .await
            .expect("every stream ends")
            .unwrap();
        assert!(tail.ends_with(RETRY_HINT), "ended with {tail:?}");
    }
    // After the notice, no longer accepting.
    let deadline = tokio::time::Instant::now() + DRAIN;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The publish in flight all along finishes, and is accepted.
    in_flight.send(second_half).await;
    let published = in_flight.read_response().await;
    assert_eq!(published.head.status(), 200, "{}", published.body_text());
    assert!(published.json()["id"].is_string());

    let status = tokio::task::block_in_place(|| server.wait_exit(DRAIN + PATIENCE))
        .expect("exits within the drain timeout");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_without_waiting_for_the_drain() {
    let mut server = ServerProcess::start(
        &["--publish-token", TOKEN, "--drain-timeout", "10m"],
        Some("info"),
    );
    // A reader that never reads, with a tiny buffer that big events fill: its stream cannot
    // finish, so the drain would last the whole ten minutes.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = Conn::from_stream(socket.connect(server.addr).await.unwrap());
    stalled
        .send(b"GET /events?topic=bulk HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(stalled.read_head().await.status(), 200);
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let big = "b".repeat(60 * 1024);
    for _ in 0..100 {
        publisher.publish("bulk", &big).await;
    }

    server.signal("TERM");
    wait_for_line(&server, "draining").await;
    server.signal("INT");
    let status = tokio::task::block_in_place(|| server.wait_exit(PATIENCE))
        .expect("the second signal ends the process at once");
    assert_eq!(status.code(), Some(130), "cut short, not a clean exit");
    assert_eq!(server.lines_with("exiting without waiting").len(), 1);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stream_closing_says_how_long_it_lasted_and_why_in_json() {
    let mut server = ServerProcess::start(
        &["--publish-token", TOKEN, "--log-format", "json"],
        Some("warn,server=debug"),
    );
    let gone = EventReader::open(server.addr, "/events?topic=a", &[]).await;
    wait_for_line(&server, "stream opened").await;
    gone.conn.reset();
    let closed = wait_for_line(&server, "stream closed").await;
    assert_eq!(closed["fields"]["reason"], "client gone", "{closed}");
    assert!(closed["fields"]["duration_ms"].is_u64(), "{closed}");

    let mut drained = EventReader::open(server.addr, "/events?topic=a", &[]).await;
    server.signal("TERM");
    while drained.conn.read_chunk().await.is_some() {}
    let status = tokio::task::block_in_place(|| server.wait_exit(DRAIN + PATIENCE))
        .expect("exits after the drain");
    assert_eq!(status.code(), Some(0));
    let reasons: Vec<String> = server
        .lines_with("stream closed")
        .iter()
        .map(|line| json_line(line)["fields"]["reason"].to_string())
        .collect();
    assert_eq!(reasons, ["\"client gone\"", "\"drained\""]);
    // Every line the server wrote is one JSON object, its own address line aside.
    for line in server.lines_with("") {
        if !line.starts_with("Herald listening on") {
            json_line(&line);
        }
    }
}

fn json_line(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
}

/// Waits for the first line containing `text`; parsed as JSON when it is.
async fn wait_for_line(server: &ServerProcess, text: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(line) = server.lines_with(text).first() {
            return serde_json::from_str(line).unwrap_or(serde_json::Value::Null);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line with {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
