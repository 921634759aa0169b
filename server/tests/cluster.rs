//! Many nodes on one Redis (`--redis-url`), against a real `redis-server`: one order of ids,
//! `Last-Event-ID` on any node, idempotency keys cluster-wide, each event crossing Redis once
//! per node, a partition and a Redis restarted empty survived, one clock tick a second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::redis::{RedisServer, Relay};
use common::{EventReader, PATIENCE, Publisher, TestServer, request};
use shared::names::WELCOME_TEXT;
use shared::wire::ParsedEvent;

const TOKEN: &str = "cluster-token";

fn node(redis_url: &str, extra: &[&str]) -> TestServer {
    let mut flags = vec!["--redis-url", redis_url, "--publish-token", TOKEN];
    flags.extend_from_slice(extra);
    TestServer::start(&flags)
}

/// The next `count` published events (not the welcome, not other event types).
async fn messages(stream: &mut EventReader, count: usize) -> Vec<ParsedEvent> {
    let mut got = Vec::new();
    while got.len() < count {
        let event = tokio::time::timeout(PATIENCE, stream.next_event())
            .await
            .expect("an event in time")
            .expect("stream open");
        if event.data != WELCOME_TEXT && event.event == shared::event::MESSAGE {
            got.push(event);
        }
    }
    got
}

async fn welcome(stream: &mut EventReader) {
    loop {
        let event = stream.next_event().await.expect("stream open");
        if event.data == WELCOME_TEXT {
            return;
        }
    }
}

fn ids(events: &[ParsedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|event| event.id.parse().unwrap())
        .collect()
}

fn data(events: &[ParsedEvent]) -> Vec<&str> {
    events.iter().map(|event| event.data.as_str()).collect()
}

#[tokio::test]
async fn nodes_share_one_order_and_a_client_resumes_on_either() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis.url(), &[]), node(&redis.url(), &[]));
    let mut on_b = EventReader::open(b.addr, "/events?topic=x&topic=y", &[]).await;
    welcome(&mut on_b).await;
    let mut to_a = Publisher::connect(a.addr, Some(TOKEN)).await;
    let mut to_b = Publisher::connect(b.addr, Some(TOKEN)).await;
    let mut sent = Vec::new();
    for n in 0..20 {
        sent.push(format!("x{n}"));
        to_a.publish("x", &format!("x{n}")).await;
        sent.push(format!("y{n}"));
        to_b.publish("y", &format!("y{n}")).await;
    }
    let got = messages(&mut on_b, 40).await;
    assert_eq!(data(&got), sent, "every event, in the order accepted");
    assert!(
        ids(&got).windows(2).all(|pair| pair[0] < pair[1]),
        "one order of ids"
    );

    // Resumed on the other node from the middle: exactly the rest, then the welcome, then live.
    let last = got[19].id.clone();
    let mut on_a = EventReader::open(
        a.addr,
        "/events?topic=x&topic=y",
        &[("Last-Event-ID", &last)],
    )
    .await;
    let replayed = messages(&mut on_a, 20).await;
    assert_eq!(data(&replayed), sent[20..]);
    assert_eq!(on_a.next_event().await.unwrap().data, WELCOME_TEXT);
    let live = to_b.publish("x", "live").await;
    assert_eq!(messages(&mut on_a, 1).await[0].id, live);
    assert_eq!(messages(&mut on_b, 1).await[0].id, live);
}

#[tokio::test]
async fn a_node_started_later_replays_from_redis_and_resets_past_history() {
    let redis = RedisServer::start();
    let a = node(&redis.url(), &["--history", "4"]);
    let mut to_a = Publisher::connect(a.addr, Some(TOKEN)).await;
    let mut sent = Vec::new();
    for n in 0..6 {
        sent.push(to_a.publish("h", &format!("h{n}")).await);
    }
    let late = node(&redis.url(), &["--history", "4"]);
    let covered = [("Last-Event-ID", sent[2].as_str())];
    let mut stream = EventReader::open(late.addr, "/events?topic=h", &covered).await;
    assert_eq!(data(&messages(&mut stream, 3).await), ["h3", "h4", "h5"]);

    let passed = [("Last-Event-ID", sent[0].as_str())];
    let mut stream = EventReader::open(late.addr, "/events?topic=h", &passed).await;
    let first = stream.next_event().await.unwrap();
    assert_eq!(
        first.event,
        shared::event::RESET,
        "history (4) no longer covers it"
    );
}

#[tokio::test]
async fn an_idempotency_key_holds_on_every_node() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis.url(), &[]), node(&redis.url(), &[]));
    let mut stream = EventReader::open(a.addr, "/events?topic=k", &[]).await;
    welcome(&mut stream).await;
    let body = serde_json::json!({ "topic": "k", "data": "once", "id": "order-17" }).to_string();
    let mut ids = Vec::new();
    for addr in [a.addr, b.addr, a.addr] {
        let mut publisher = Publisher::connect(addr, Some(TOKEN)).await;
        let response = publisher.post("application/json", &body).await;
        assert_eq!(response.head.status(), 200, "{}", response.body_text());
        ids.push(response.json()["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "one event: {ids:?}");
    let after = Publisher::connect(b.addr, Some(TOKEN))
        .await
        .publish("k", "next")
        .await;
    let got = messages(&mut stream, 2).await;
    assert_eq!(data(&got), ["once", "next"]);
    assert_eq!(got[1].id, after);
}

#[tokio::test]
async fn an_event_crosses_redis_once_per_node_not_once_per_subscriber() {
    const SUBSCRIBERS: usize = 200;
    const EVENTS: usize = 50;
    let redis = RedisServer::start();
    let (a, b) = (node(&redis.url(), &[]), node(&redis.url(), &[]));
    let mut streams = Vec::new();
    for n in 0..SUBSCRIBERS {
        let addr = if n % 2 == 0 { a.addr } else { b.addr };
        let mut stream = EventReader::open(addr, "/events?topic=f", &[]).await;
        welcome(&mut stream).await;
        streams.push(stream);
    }
    let before = redis.command_calls();
    let mut publisher = Publisher::connect(a.addr, Some(TOKEN)).await;
    for n in 0..EVENTS {
        publisher.publish("f", &n.to_string()).await;
    }
    for stream in &mut streams {
        assert_eq!(messages(stream, EVENTS).await.len(), EVENTS);
    }
    let after = redis.command_calls();
    let calls = |name: &str| after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0);
    // Per event: one append (a script); per node, at most one read of the log, which takes
    // whatever is new. (Commands that scripts run count too, so only these two tell.) The
    // clocks add a tick a second each.
    let reads = calls("xread");
    let scripts = calls("evalsha") + calls("eval");
    assert!(
        reads <= (2 * EVENTS + 10) as u64 && scripts <= (EVENTS + 20) as u64,
        "{reads} reads and {scripts} scripts for {EVENTS} events to {SUBSCRIBERS} subscribers on 2 nodes"
    );
}

#[tokio::test]
async fn a_node_cut_off_from_redis_keeps_its_streams_and_catches_up_when_back() {
    let redis = RedisServer::start();
    let relay = Relay::start(redis.addr()).await;
    let cut_off = node(&relay.url(), &["--heartbeat", "200ms"]);
    let other = node(&redis.url(), &[]);
    let mut stream = EventReader::open(cut_off.addr, "/events?topic=p", &[]).await;
    welcome(&mut stream).await;
    let mut to_other = Publisher::connect(other.addr, Some(TOKEN)).await;
    to_other.publish("p", "before").await;
    assert_eq!(data(&messages(&mut stream, 1).await), ["before"]);

    relay.cut();
    wait_ready(&cut_off, 503).await;
    let mut to_cut_off = Publisher::connect(cut_off.addr, Some(TOKEN)).await;
    let body = serde_json::json!({ "topic": "p", "data": "refused" }).to_string();
    let refused = to_cut_off.post("application/json", &body).await;
    assert_eq!(refused.head.status(), 503);
    assert!(refused.head.header("retry-after").is_some());
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
    let metrics = request(cut_off.addr, "GET", "/metrics", &[], "")
        .await
        .body_text();
    assert!(metrics.contains("herald_log_up 0"), "{metrics}");
    assert!(metrics.contains("herald_log_down{reason="), "{metrics}");
    // A browser arriving now is told to come back later (any status but 200 would make it
    // give up for good).
    let accept = [("Accept", "text/event-stream")];
    let newcomer = request(cut_off.addr, "GET", "/events?topic=p", &accept, "").await;
    assert_eq!(newcomer.head.status(), 200);
    assert!(
        newcomer.body_text().starts_with("retry:"),
        "{}",
        newcomer.body_text()
    );
    let other_client = request(cut_off.addr, "GET", "/events?topic=p", &[], "").await;
    assert_eq!(other_client.head.status(), 503);
    assert!(other_client.head.header("retry-after").is_some());

    // Meanwhile the other node goes on; the open stream sees heartbeats only.
    let meanwhile = [
        to_other.publish("p", "m1").await,
        to_other.publish("p", "m2").await,
    ];
    // And the log stream lets them go (as it does past its length when a node stays away
    // long): the node must find them in the topic's own history.
    let trimmed: u64 = redis
        .command(redis::cmd("XTRIM").arg("herald:log").arg("MAXLEN").arg(0))
        .unwrap();
    assert!(trimmed >= 3, "the log held `before`, m1 and m2: {trimmed}");
    relay.restore();
    let back = Instant::now();
    wait_ready(&cut_off, 200).await;
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "back in {:?}",
        back.elapsed()
    );
    let got = messages(&mut stream, 2).await;
    assert_eq!(ids(&got), meanwhile.map(|id| id.parse::<u64>().unwrap()));
    let after = to_cut_off.publish("p", "after").await;
    let got = messages(&mut stream, 1).await;
    assert_eq!(got[0].id, after, "nothing twice, nothing missing");
}

#[tokio::test]
async fn a_redis_restarted_empty_ends_streams_and_resuming_clients_get_reset() {
    let redis = RedisServer::start();
    let server = node(&redis.url(), &[]);
    let mut stream = EventReader::open(server.addr, "/events?topic=r", &[]).await;
    welcome(&mut stream).await;
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let seen = publisher.publish("r", "r1").await;
    assert_eq!(messages(&mut stream, 1).await[0].id, seen);

    let port = redis.stop();
    let _fresh = RedisServer::start_on(port);
    // The node finds a log it never saw: the open stream ends (its events may be gone) ...
    while tokio::time::timeout(PATIENCE, stream.next_event())
        .await
        .expect("the stream ends in time")
        .is_some()
    {}
    // ... and a client resuming with its last id is told to start over, never replayed wrong.
    wait_ready(&server, 200).await;
    let resume = [("Last-Event-ID", seen.as_str())];
    let mut again = EventReader::open(server.addr, "/events?topic=r", &resume).await;
    assert_eq!(
        again.next_event().await.unwrap().event,
        shared::event::RESET
    );
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let fresh = publisher.publish("r", "r2").await;
    assert!(fresh.parse::<u64>().unwrap() > seen.parse::<u64>().unwrap());
    assert_eq!(messages(&mut again, 1).await[0].id, fresh);
}

#[tokio::test]
async fn each_clock_subscriber_gets_one_tick_a_second_whatever_the_nodes() {
    let redis = RedisServer::start();
    let nodes = [
        node(&redis.url(), &[]),
        node(&redis.url(), &[]),
        node(&redis.url(), &[]),
    ];
    let mut stream = EventReader::open(nodes[0].addr, "/events?topic=clock", &[]).await;
    let mut seconds = Vec::new();
    while seconds.len() < 4 {
        let tick = stream.next_named(shared::event::CURRENT_TIME).await;
        let payload: serde_json::Value = serde_json::from_str(&tick.data).unwrap();
        let time = payload["time"].as_str().unwrap().to_owned();
        seconds.push(time[..19].to_owned());
    }
    assert!(
        seconds.windows(2).all(|pair| pair[0] < pair[1]),
        "one tick per second from three nodes: {seconds:?}"
    );
}

async fn wait_ready(server: &TestServer, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = request(server.addr, "GET", "/readyz", &[], "").await;
        if response.head.status() == status {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz never answered {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_bad_redis_url_or_no_redis_exits_2_with_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for (url, says) in [
        ("not a url".to_owned(), "--redis-url"),
        (format!("redis://{closed}"), "cannot reach Redis"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--dist",
                "/nonexistent",
                "--redis-url",
                &url,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("error"))
            .collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(says), "{stderr}");
    }
}

#[tokio::test]
async fn private_events_keep_their_audience_across_nodes_live_and_replayed() {
    const SECRET: &str = "the cluster's jwt secret";
    let grant = common::jwt::hs256(
        &serde_json::json!({ "mercure": { "subscribe": ["s"] } }),
        SECRET.as_bytes(),
    );
    let redis = RedisServer::start();
    let a = node(&redis.url(), &["--jwt-secret", SECRET]);
    let b = node(&redis.url(), &["--jwt-secret", SECRET]);
    let bearer = format!("Bearer {grant}");
    let granted = [("Authorization", bearer.as_str())];
    let mut anonymous = EventReader::open(b.addr, "/events?topic=s", &[]).await;
    let mut entitled = EventReader::open(b.addr, "/events?topic=s", &granted).await;
    welcome(&mut anonymous).await;
    welcome(&mut entitled).await;
    let mut to_a = Publisher::connect(a.addr, Some(TOKEN)).await;
    let first = to_a.publish("s", "public").await;
    let private = to_a
        .post(
            "application/x-www-form-urlencoded",
            "topic=s&data=secret&private=on",
        )
        .await;
    assert_eq!(private.head.status(), 200, "{}", private.body_text());
    to_a.publish("s", "end").await;
    assert_eq!(data(&messages(&mut anonymous, 2).await), ["public", "end"]);
    assert_eq!(
        data(&messages(&mut entitled, 3).await),
        ["public", "secret", "end"]
    );

    // A node that never saw the topic fills its window from Redis: the same audience.
    let late = node(&redis.url(), &["--jwt-secret", SECRET]);
    let resume = [("Last-Event-ID", first.as_str())];
    let mut anonymous = EventReader::open(late.addr, "/events?topic=s", &resume).await;
    assert_eq!(data(&messages(&mut anonymous, 1).await), ["end"]);
    let resume_granted = [("Last-Event-ID", first.as_str()), granted[0]];
    let mut entitled = EventReader::open(late.addr, "/events?topic=s", &resume_granted).await;
    assert_eq!(data(&messages(&mut entitled, 2).await), ["secret", "end"]);
}
