//! `POST /publish` against a real server: formats, validation, auth, limits, and that an
//! accepted event reaches every live subscriber of its topics and no one else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EventReader, Publisher, TestServer};
use shared::event;

const TOKEN: &str = "test-token";

fn server(extra: &[&str]) -> TestServer {
    let mut flags = vec!["--publish-token", TOKEN];
    flags.extend_from_slice(extra);
    TestServer::start(&flags)
}

async fn next_data(stream: &mut EventReader) -> shared::wire::ParsedEvent {
    loop {
        let event = stream.next_event().await.expect("open stream");
        if event.data != shared::names::WELCOME_TEXT {
            return event;
        }
    }
}

#[tokio::test]
async fn json_publish_reaches_subscribers_of_that_topic_only() {
    let server = server(&[]);
    let mut news = EventReader::open(server.addr, "/events?topic=news", &[]).await;
    let mut both = EventReader::open(server.addr, "/events?topic=news&topic=sport", &[]).await;
    let mut sport = EventReader::open(server.addr, "/events?topic=sport", &[]).await;
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;

    let body = r#"{"topic":"news","event":"headline","data":"line one\r\nline two"}"#;
    let answer = publisher.post("application/json", body).await;
    assert_eq!(answer.head.status(), 200);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    let sport_id = publisher.publish("sport", "goal").await;

    for stream in [&mut news, &mut both] {
        let got = next_data(stream).await;
        assert_eq!(
            (got.event.as_str(), got.data.as_str()),
            ("headline", "line one\nline two")
        );
        assert_eq!(got.id, id);
    }
    assert!(String::from_utf8_lossy(&news.raw).contains("data: line one\ndata: line two\n"));
    assert_eq!(next_data(&mut both).await.id, sport_id);
    // The sport stream's first event is sport's: it never saw the news.
    assert_eq!(next_data(&mut sport).await.data, "goal");
}

#[tokio::test]
async fn form_publish_with_mercure_fields_and_several_topics() {
    let server = server(&[]);
    let mut both = EventReader::open(server.addr, "/events?topic=a&topic=b", &[]).await;
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let answer = publisher
        .post(
            "application/x-www-form-urlencoded",
            "topic=a&topic=b&data=x%0Ay&type=update&id=key-1&retry=4000",
        )
        .await;
    assert_eq!(answer.head.status(), 200, "{}", answer.body_text());
    let got = next_data(&mut both).await;
    assert_eq!((got.event.as_str(), got.data.as_str()), ("update", "x\ny"));
    assert_eq!(both.parser.retry(), Some(4000));
    // Published to both topics, delivered once: the next event is the next publish.
    let next = publisher.publish("b", "after").await;
    assert_eq!(next_data(&mut both).await.id, next);
}

#[tokio::test]
async fn a_repeated_publisher_id_is_not_delivered_twice() {
    let server = server(&[]);
    let mut stream = EventReader::open(server.addr, "/events?topic=t", &[]).await;
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let body = r#"{"topic":"t","data":"once","id":"order-17"}"#;
    let first = publisher.post("application/json", body).await.json();
    let again = publisher.post("application/json", body).await.json();
    assert_eq!(first["id"], again["id"]);
    let marker = publisher.publish("t", "marker").await;
    assert_eq!(next_data(&mut stream).await.data, "once");
    assert_eq!(next_data(&mut stream).await.id, marker);
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_a_json_reason() {
    let server = server(&["--max-body", "1024"]);
    let mut with_token = Publisher::connect(server.addr, Some(TOKEN)).await;
    let big = "x".repeat(1025);
    let cases: Vec<(&str, String, u16)> = vec![
        ("application/json", "{".into(), 400),
        ("application/json", r#"{"topic":"t"}"#.into(), 400),
        ("application/json", r#"{"topic":"","data":1}"#.into(), 400),
        (
            "application/json",
            r#"{"topic":"t","data":1,"event":"a\nb"}"#.into(),
            400,
        ),
        (
            "application/json",
            r#"{"topic":"t","data":1,"event":""}"#.into(),
            400,
        ),
        (
            "application/json",
            r#"{"topic":"t","data":1,"id":"a\rb"}"#.into(),
            400,
        ),
        (
            "application/json",
            r#"{"topic":"t","data":1,"id":"a\u0000b"}"#.into(),
            400,
        ),
        (
            "application/json",
            r#"{"topic":"t","data":1,"extra":1}"#.into(),
            400,
        ),
        (
            "application/json",
            format!(r#"{{"topic":"t","data":"{big}"}}"#),
            413,
        ),
        (
            "application/json",
            r#"{"topic":"clock","data":1}"#.into(),
            403,
        ),
        ("application/x-www-form-urlencoded", "topic=t".into(), 400),
        (
            "application/x-www-form-urlencoded",
            "topic=t&data=1&retry=soon".into(),
            400,
        ),
        ("text/plain", "hello".into(), 415),
    ];
    for (content_type, body, status) in cases {
        let answer = with_token.post(content_type, &body).await;
        assert_eq!(
            answer.head.status(),
            status,
            "{body}: {}",
            answer.body_text()
        );
        let reason = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
    }
    // A body far past the limit is refused from its Content-Length, before it is sent.
    let mut conn = common::Conn::open(server.addr).await;
    let head = format!(
        "POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    );
    conn.send(head.as_bytes()).await;
    assert_eq!(conn.read_head().await.status(), 413);

    let mut anonymous = Publisher::connect(server.addr, None).await;
    let answer = anonymous
        .post("application/json", r#"{"topic":"t","data":1}"#)
        .await;
    assert_eq!(answer.head.status(), 401);
    let mut wrong = Publisher::connect(server.addr, Some("nope")).await;
    let answer = wrong
        .post("application/json", r#"{"topic":"messages","data":1}"#)
        .await;
    assert_eq!(answer.head.status(), 401);

    // Nothing accepted was lost along the way: the server still publishes.
    with_token.publish("t", "still fine").await;
}

#[tokio::test]
async fn open_topics_need_no_token_but_are_rate_limited() {
    let server = server(&["--open-rate", "2"]);
    let mut stream = EventReader::open(server.addr, "/events?topic=messages", &[]).await;
    let mut anonymous = Publisher::connect(server.addr, None).await;
    let body = r#"{"topic":"messages","data":"hi"}"#;
    // Publish until refused. The bucket holds a burst of twice the rate (4) and refills at 2 a
    // second, so however long the requests take, at least 4 and at most 4 plus the refill over
    // the time taken are accepted before the first 429.
    let started = std::time::Instant::now();
    let mut accepted: u64 = 0;
    let limited = loop {
        let answer = anonymous.post("application/json", body).await;
        match answer.head.status() {
            200 => accepted += 1,
            429 => break answer,
            other => panic!("unexpected {other}"),
        }
        assert!(
            accepted < 100,
            "never rate limited after {accepted} publishes"
        );
    };
    let refill = (2.0 * started.elapsed().as_secs_f64()).floor() as u64;
    assert!(
        (4..=4 + refill).contains(&accepted),
        "{accepted} accepted before the first 429; a burst of 4 plus {refill} refilled allowed"
    );
    let retry_after: u64 = limited.head.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    for _ in 0..accepted {
        assert_eq!(next_data(&mut stream).await.data, "hi");
    }
    // With the token the limit does not apply; and the refused publish was never delivered:
    // what follows the accepted ones is the first with the token.
    let mut with_token = Publisher::connect(server.addr, Some(TOKEN)).await;
    for _ in 0..10 {
        with_token.publish("messages", "tok").await;
    }
    let next = next_data(&mut stream).await;
    assert_eq!(
        (next.event.as_str(), next.data.as_str()),
        (event::MESSAGE, "tok")
    );
}
