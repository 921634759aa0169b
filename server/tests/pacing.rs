//! Paced streams against a real server: a burst goes out in a few writes with nothing lost or
//! reordered, and a backlog larger than one write follows in bounded writes at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EventReader, Publisher, TestServer};
use shared::names::WELCOME_TEXT;

const TOKEN: &str = "pacing-token";

/// Reads `stream` until `count` events of type `message` arrived; returns their data and how
/// many chunks carried them.
async fn read_messages(stream: &mut EventReader, count: usize) -> (Vec<String>, usize) {
    let mut data = Vec::new();
    let mut chunks = 0;
    while data.len() < count {
        let chunk = stream.chunk().await.expect("the stream stays open");
        let mut parsed = Vec::new();
        shared::wire::Parser::default()
            .feed(&chunk, &mut |event| parsed.push(event))
            .unwrap();
        chunks += 1;
        data.extend(
            parsed
                .into_iter()
                .filter(|event| event.event == shared::event::MESSAGE)
                .map(|event| event.data),
        );
    }
    (data, chunks)
}

#[tokio::test]
async fn a_burst_reaches_a_paced_stream_in_few_writes_whole_and_in_order() {
    const BURST: usize = 40;
    let server = TestServer::start(&["--publish-token", TOKEN, "--pace", "300ms"]);
    let mut stream = EventReader::open(server.addr, "/events?topic=burst", &[]).await;
    stream.chunk().await.unwrap(); // the prelude
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;

    // The first event after a quiet spell goes out on its own.
    publisher.publish("burst", "first").await;
    let (first, chunks) = read_messages(&mut stream, 1).await;
    assert_eq!((first.as_slice(), chunks), (&["first".to_owned()][..], 1));

    // The stream just wrote, so the burst waits out the interval and leaves together.
    for n in 0..BURST {
        publisher.publish("burst", &n.to_string()).await;
    }
    let (burst, chunks) = read_messages(&mut stream, BURST).await;
    let expected: Vec<String> = (0..BURST).map(|n| n.to_string()).collect();
    assert_eq!(burst, expected);
    assert!(
        chunks < BURST / 2,
        "{BURST} events took {chunks} writes: pacing did not coalesce"
    );
}

#[tokio::test]
async fn a_backlog_larger_than_one_write_goes_out_in_bounded_writes_back_to_back() {
    // At most 2 events per write and a 1 s interval: if each of the 15 writes waited an
    // interval, the replay would take 14 s or more; back to back it takes milliseconds, so
    // half of that is a bound no healthy run comes near.
    const BACKLOG: usize = 30;
    const PER_WRITE: usize = 2;
    const BOUND: std::time::Duration = std::time::Duration::from_secs(7);
    let server = TestServer::start(&[
        "--publish-token",
        TOKEN,
        "--pace",
        "1s",
        "--client-buffer",
        &PER_WRITE.to_string(),
        "--workers",
        "1",
    ]);
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let before = publisher.publish("backlog", "before").await;
    for n in 0..BACKLOG {
        publisher.publish("backlog", &n.to_string()).await;
    }
    // Resuming replays the backlog: one write's worth at a time, each write right after the
    // last (the socket's own backpressure paces a replay, not the interval).
    let mut stream = EventReader::open(
        server.addr,
        "/events?topic=backlog",
        &[("Last-Event-ID", &before)],
    )
    .await;
    let mut backlog = Vec::new();
    let mut writes = 0;
    tokio::time::timeout(BOUND, async {
        while backlog.len() < BACKLOG {
            let (data, chunks) = read_messages(&mut stream, 1).await;
            writes += chunks;
            let data: Vec<String> = data.into_iter().filter(|d| d != WELCOME_TEXT).collect();
            assert!(data.len() <= PER_WRITE, "a write of {} events", data.len());
            backlog.extend(data);
        }
    })
    .await
    .expect("the writes of a backlog follow each other, not one interval apart");
    let expected: Vec<String> = (0..BACKLOG).map(|n| n.to_string()).collect();
    assert_eq!(backlog, expected);
    assert!(writes >= BACKLOG.div_ceil(PER_WRITE));
    assert_eq!(server.metric("herald_slow_clients_cut_total").await, 0);
}
