//! Paced streams against a real server: a burst goes out in a few writes with nothing lost or
//! reordered, and a backlog that grows urgent is written before the interval ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EventReader, Publisher, TestServer};

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
async fn an_urgent_backlog_is_written_before_the_interval_ends() {
    // A bound of 8 and an interval far longer than the test: without an early write at half
    // the bound, the ninth event of the burst would find the queue full and cut the stream.
    const BURST: usize = 30;
    let server = TestServer::start(&[
        "--publish-token",
        TOKEN,
        "--pace",
        "1s",
        "--client-buffer",
        "8",
        "--workers",
        "1",
    ]);
    let mut stream = EventReader::open(server.addr, "/events?topic=urgent", &[]).await;
    stream.chunk().await.unwrap(); // the prelude
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    publisher.publish("urgent", "first").await;
    read_messages(&mut stream, 1).await;

    for n in 0..BURST {
        publisher.publish("urgent", &n.to_string()).await;
    }
    let (burst, _) = read_messages(&mut stream, BURST).await;
    let expected: Vec<String> = (0..BURST).map(|n| n.to_string()).collect();
    assert_eq!(burst, expected);
    assert_eq!(server.metric("herald_slow_clients_cut_total").await, 0);
}
