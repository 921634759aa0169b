//! The event stream against a real server: exact headers and frames, ids, the single clock,
//! HTTP versions, and that disconnecting clients release everything they held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Conn, EventReader, TestServer, request};
use shared::payload::CurrentTime;
use shared::{Event as _, event, names::WELCOME_TEXT};

#[tokio::test]
async fn stream_head_and_first_frames_are_exact() {
    let server = TestServer::start(&["--retry", "1500ms"]);
    let mut stream = EventReader::open(server.addr, "/events", &[]).await;

    let head = &stream.head;
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    assert_eq!(head.header("content-encoding"), Some("identity"));
    // HTTP/1.1 keeps the connection open by default; actix-http never writes `keep-alive`
    // on 1.1 (it drops a handler's `Connection` header), so what matters is: no `close`.
    assert_eq!(head.header("connection"), None);

    let first = String::from_utf8(stream.chunk().await.unwrap()).unwrap();
    let welcome_id: u64 = first
        .strip_prefix("retry: 1500\n\nid: ")
        .and_then(|rest| rest.strip_suffix(&format!("\ndata: {WELCOME_TEXT}\n\n")))
        .unwrap_or_else(|| panic!("unexpected first chunk {first:?}"))
        .parse()
        .unwrap();
    assert_eq!(stream.parser.retry(), Some(1500));

    let welcome = stream.next_event().await.unwrap();
    assert_eq!(welcome.event, event::MESSAGE);
    assert_eq!(welcome.data, WELCOME_TEXT);

    let tick = stream.next_named(event::CURRENT_TIME).await;
    let tick_id: u64 = tick.id.parse().unwrap();
    assert!(tick_id > welcome_id);
    let time = CurrentTime::decode(&tick.data).unwrap().time;
    let age = chrono::Utc::now() - time;
    assert!(age.num_seconds().abs() < 5, "tick time {time} is not now");
    let raw = String::from_utf8(stream.raw.clone()).unwrap();
    assert!(
        raw.contains(&format!(
            "event: currentTime\nid: {tick_id}\ndata: {}\n\n",
            tick.data
        )),
        "{raw:?}"
    );
}

#[tokio::test]
async fn ids_strictly_increase_and_ticks_come_every_second() {
    let server = TestServer::start(&[]);
    let mut stream = EventReader::open(server.addr, "/events?topic=clock", &[]).await;
    let mut ids = vec![
        stream
            .next_event()
            .await
            .unwrap()
            .id
            .parse::<u64>()
            .unwrap(),
    ];
    let mut times = Vec::new();
    for _ in 0..3 {
        let tick = stream.next_named(event::CURRENT_TIME).await;
        ids.push(tick.id.parse().unwrap());
        times.push(CurrentTime::decode(&tick.data).unwrap().time);
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!((500..=1500).contains(&gap), "ticks {gap} ms apart");
    }
}

#[tokio::test]
async fn one_clock_serves_every_client() {
    // A timer per connection would give each stream its own tick ids; one clock fanned out
    // gives every stream the very same event.
    let server = TestServer::start(&[]);
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(EventReader::open(server.addr, "/events?topic=clock", &[]).await);
    }
    // Every stream is registered once it has its welcome; the first tick each one sees may
    // differ, but the tick after the latest of those reaches every stream as the same event.
    let mut first_ticks = Vec::new();
    for stream in &mut streams {
        stream.next_event().await.unwrap(); // welcome
        let tick = stream.next_named(event::CURRENT_TIME).await;
        first_ticks.push(tick.id.parse::<u64>().unwrap());
    }
    let latest = *first_ticks.iter().max().unwrap();
    let mut shared_ticks = Vec::new();
    for stream in &mut streams {
        let mut id = 0;
        while id <= latest {
            id = stream
                .next_named(event::CURRENT_TIME)
                .await
                .id
                .parse()
                .unwrap();
        }
        shared_ticks.push(id);
    }
    shared_ticks.dedup();
    assert_eq!(
        shared_ticks.len(),
        1,
        "one tick event for all: {shared_ticks:?}"
    );
}

#[tokio::test]
async fn http_1_0_clients_are_told_keep_alive() {
    let server = TestServer::start(&[]);
    let mut conn = Conn::open(server.addr).await;
    conn.send(b"GET /events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let head = conn.read_head().await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    // HTTP/1.0 closes after each response unless told otherwise: the stream says it stays.
    assert_eq!(
        head.header("connection").map(str::to_ascii_lowercase),
        Some("keep-alive".to_owned())
    );
    // And it does stay: the welcome, then the clock's next tick, on this one connection.
    let tick = format!("event: {}\n", event::CURRENT_TIME);
    let mut body = Vec::new();
    while memchr::memmem::find(&body, tick.as_bytes()).is_none() {
        let more = if head.header("transfer-encoding") == Some("chunked") {
            conn.read_chunk().await
        } else {
            Some(conn.read_some().await)
        };
        body.extend(more.expect("the stream stays open"));
    }
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("retry: "), "{body:?}");
    let welcome = body.find(WELCOME_TEXT).expect("the welcome first");
    assert!(welcome < body.find(&tick).unwrap(), "{body:?}");
}

#[tokio::test]
async fn unknown_routes_and_bad_topics_get_json_errors() {
    let server = TestServer::start(&[]);
    let long = format!("/events?topic={}", "x".repeat(257));
    let response = request(server.addr, "GET", "/nowhere", &[], "").await;
    assert_eq!(response.head.status(), 404);
    assert_eq!(response.json()["error"], "nothing at GET /nowhere");
    // A known path asked with another method says which one it takes.
    for (method, path, allow) in [("POST", "/events", "GET"), ("GET", "/publish", "POST")] {
        let response = request(server.addr, method, path, &[], "").await;
        assert_eq!(response.head.status(), 405, "{method} {path}");
        assert_eq!(
            response.head.header("allow"),
            Some(allow),
            "{method} {path}"
        );
        assert_eq!(
            response.json()["error"],
            format!("{method} is not allowed on {path}; use {allow}")
        );
    }
    for path in ["/events?topic=", "/events?topic=a%0Ab", long.as_str()] {
        let response = request(server.addr, "GET", path, &[], "").await;
        assert_eq!(response.head.status(), 400, "{path}");
        assert!(response.json()["error"].as_str().unwrap().contains("topic"));
    }
}

#[tokio::test]
async fn a_thousand_dropped_clients_release_everything() {
    let server = TestServer::start(&[]);
    // The metrics request's own connection is the one counted when idle.
    let idle = server.metric("herald_tcp_connections").await;
    let mut streams = Vec::new();
    for _ in 0..1000 {
        let mut stream = EventReader::open(server.addr, "/events", &[]).await;
        // The prelude has arrived, so the server has registered this subscriber.
        stream.chunk().await.unwrap();
        streams.push(stream);
    }
    assert_eq!(server.metric("herald_subscribers").await, 1000);
    assert_eq!(server.metric("herald_connections").await, 1000);
    assert_eq!(server.metric("herald_tcp_connections").await, idle + 1000);
    drop(streams);
    server.wait_for_metric("herald_subscribers", 0).await;
    server.wait_for_metric("herald_connections", 0).await;
    // Every connection's task has ended (its extensions were dropped): none is left behind.
    server.wait_for_metric("herald_tcp_connections", idle).await;
}

#[tokio::test]
async fn shutdown_ends_every_stream() {
    let server = TestServer::start(&[]);
    let mut stream = EventReader::open(server.addr, "/events", &[]).await;
    stream.next_event().await.unwrap();
    server.stop();
    // The stream ends (the server closes it) instead of hanging on, and its last words tell
    // the browser when to reconnect (to this server once restarted, or to another).
    let mut last = Vec::new();
    while let Some(chunk) = stream.chunk().await {
        last = chunk;
    }
    assert_eq!(last, b"retry: 2000\n\n");
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start(&[]);
    let health = request(server.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(health.head.status(), 200);
    assert_eq!(health.json()["status"], "ok");
    let ready = request(server.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(ready.head.status(), 200);
}

#[tokio::test]
async fn the_ui_is_served_with_a_strict_policy_and_json_404s() {
    let dist = std::env::temp_dir().join(format!("herald-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<html><script type=\"module\">boot()</script></html>",
    )
    .unwrap();
    let dist_arg = dist.display().to_string();
    let server = TestServer::start(&["--dist", &dist_arg]);

    let page = request(server.addr, "GET", "/", &[], "").await;
    assert_eq!(page.head.status(), 200);
    assert!(page.body_text().contains("boot()"));
    let policy = page.head.header("content-security-policy").unwrap();
    assert!(
        policy.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-")
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(page.head.header("x-content-type-options"), Some("nosniff"));

    let missing = request(server.addr, "GET", "/missing.js", &[], "").await;
    assert_eq!(missing.head.status(), 404);
    assert_eq!(missing.json()["error"], "nothing at GET /missing.js");
    drop(server);
    std::fs::remove_dir_all(&dist).unwrap();
}
