//! History and `Last-Event-ID` against a real server: exact replay with no gap and no
//! duplicate at the seam (while a publisher runs flat out), and `reset` when history cannot
//! cover what the client missed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EventReader, Publisher, TestServer};
use shared::event;
use shared::names::WELCOME_TEXT;

const TOKEN: &str = "replay-token";

async fn data_events(stream: &mut EventReader, count: usize) -> Vec<shared::wire::ParsedEvent> {
    let mut got = Vec::new();
    while got.len() < count {
        let event = stream.next_event().await.expect("stream open");
        if event.data != WELCOME_TEXT {
            got.push(event);
        }
    }
    got
}

#[tokio::test]
async fn last_event_id_replays_exactly_the_missed_events_of_subscribed_topics() {
    let server = TestServer::start(&["--publish-token", TOKEN]);
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let mut first = EventReader::open(server.addr, "/events?topic=a&topic=b", &[]).await;
    let a1 = publisher.publish("a", "a1").await;
    data_events(&mut first, 1).await;
    drop(first);
    publisher.publish("other", "not subscribed").await;
    publisher.publish("b", "b1").await;
    publisher.publish("a", "a2").await;

    // By header: exactly what was missed on the subscribed topics, then the welcome, then live.
    let headers = [("Last-Event-ID", a1.as_str())];
    let mut again = EventReader::open(server.addr, "/events?topic=a&topic=b", &headers).await;
    let replayed = data_events(&mut again, 2).await;
    let data: Vec<&str> = replayed.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["b1", "a2"]);
    assert_eq!(again.next_event().await.unwrap().data, WELCOME_TEXT);
    let live = publisher.publish("b", "live").await;
    assert_eq!(data_events(&mut again, 1).await[0].id, live);

    // By query parameter (a first connect that resumes), the same, now including `live`.
    let path = format!("/events?topic=a&topic=b&lastEventId={a1}");
    let mut by_query = EventReader::open(server.addr, &path, &[]).await;
    let replayed = data_events(&mut by_query, 3).await;
    let data: Vec<&str> = replayed.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["b1", "a2", "live"]);
    assert_eq!(by_query.next_event().await.unwrap().data, WELCOME_TEXT);
}

#[tokio::test]
async fn unknown_or_evicted_ids_get_reset_first() {
    let server = TestServer::start(&["--publish-token", TOKEN, "--history", "5"]);
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    // The id of each event, by its data: ids are increasing but not consecutive (the clock's
    // ticks and every welcome take ids from the same sequence).
    let mut ids = Vec::new();
    for n in 0..=20 {
        ids.push(publisher.publish("t", &n.to_string()).await);
    }
    let oldest = ids[0].clone();
    let newest_kept: u64 = ids[20].parse().unwrap();
    for last_id in [
        oldest.as_str(),
        "not-ours",
        "1",
        &(newest_kept + 1_000).to_string(),
    ] {
        let mut stream = EventReader::open(
            server.addr,
            "/events?topic=t",
            &[("Last-Event-ID", last_id)],
        )
        .await;
        let first = stream.next_event().await.unwrap();
        assert_eq!(first.event, event::RESET, "after {last_id}");
        // Then the welcome and live, with no replay.
        assert_eq!(stream.next_event().await.unwrap().data, WELCOME_TEXT);
    }
    // An id still inside history replays what followed it, exactly, without reset.
    let mut stream = EventReader::open(
        server.addr,
        "/events?topic=t",
        &[("Last-Event-ID", &ids[18])],
    )
    .await;
    let replayed = data_events(&mut stream, 2).await;
    let replayed: Vec<(&str, &str)> = replayed
        .iter()
        .map(|event| (event.id.as_str(), event.data.as_str()))
        .collect();
    assert_eq!(
        replayed,
        [(ids[19].as_str(), "19"), (ids[20].as_str(), "20")]
    );
    assert_eq!(stream.next_event().await.unwrap().data, WELCOME_TEXT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_under_a_full_speed_publisher_loses_and_repeats_nothing() {
    const TOTAL: usize = 3000;
    let server = TestServer::start(&["--publish-token", TOKEN, "--history", "10000"]);
    let addr = server.addr;
    // Subscribed before the first publish, so the very first event is live, not missed.
    let mut stream = EventReader::open(addr, "/events?topic=firehose", &[]).await;
    stream.chunk().await.unwrap();
    let publishing = tokio::spawn(async move {
        let mut publisher = Publisher::connect(addr, Some(TOKEN)).await;
        for seq in 0..TOTAL {
            publisher.publish("firehose", &seq.to_string()).await;
        }
    });

    let mut seen: Vec<usize> = Vec::with_capacity(TOTAL);
    let mut last_id = String::new();
    let mut reconnects = 0;
    // Whether the current stream was opened by a reconnect while the publisher still ran.
    let mut resumed_under_load = false;
    // Such reconnects whose stream then carried events from both sides of the seam: replayed
    // ones (published before its welcome's id) and live ones (after it).
    let mut seams_under_load = 0;
    loop {
        // Read a varying share of events, then drop the connection mid-stream.
        let quota = 150 + reconnects * 37;
        let mut read = 0;
        let mut welcome_id: Option<u64> = None;
        let mut data_ids: Vec<u64> = Vec::new();
        while read < quota && seen.len() < TOTAL {
            let event = stream.next_event().await.expect("stream open");
            assert_ne!(event.event, event::RESET, "history covers everything here");
            if event.data == WELCOME_TEXT {
                welcome_id = Some(event.id.parse().unwrap());
                continue;
            }
            seen.push(event.data.parse().unwrap());
            data_ids.push(event.id.parse().unwrap());
            last_id = event.id;
            read += 1;
        }
        if resumed_under_load
            && let Some(welcome) = welcome_id
            && data_ids.iter().any(|&id| id < welcome)
            && data_ids.iter().any(|&id| id > welcome)
        {
            seams_under_load += 1;
        }
        if seen.len() == TOTAL {
            break;
        }
        reconnects += 1;
        resumed_under_load = !publishing.is_finished();
        stream = EventReader::open(
            addr,
            "/events?topic=firehose",
            &[("Last-Event-ID", &last_id)],
        )
        .await;
    }
    publishing.await.unwrap();
    assert!(
        seams_under_load > 0,
        "none of {reconnects} reconnects crossed the seam from replay to live while the \
         publisher ran: the seam was not tested"
    );
    let expected: Vec<usize> = (0..TOTAL).collect();
    assert_eq!(seen, expected, "every event once, in order");
}
