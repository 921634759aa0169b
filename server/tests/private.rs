//! Private events against a real server: on every path (live, replay after `Last-Event-ID`,
//! a subscription mixing public and private topics, `reset`, an idempotent re-publish) a
//! private event reaches only subscribers whose token's `mercure.subscribe` selects one of its
//! topics; every bad token is refused with 401, wherever it is presented; a stream ends when
//! its token expires.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::jwt::{bad_tokens, hs256, now};
use common::{EventReader, PATIENCE, Publisher, TestServer};
use serde_json::json;
use shared::names::WELCOME_TEXT;
use shared::wire::ParsedEvent;

const SECRET: &str = "a secret for the private stream tests";
const PUBLISHER: &str = "publisher-token";
const INBOX: &str = "https://example.com/users/alice/inbox";
const NEWS: &str = "news";

fn token(claims: &serde_json::Value) -> String {
    hs256(claims, SECRET.as_bytes())
}

fn reader_token(selectors: &[&str]) -> String {
    token(&json!({ "mercure": { "subscribe": selectors } }))
}

fn server(extra: &[&str]) -> TestServer {
    let mut flags = vec!["--jwt-secret", SECRET, "--publish-token", PUBLISHER];
    flags.extend_from_slice(extra);
    TestServer::start(&flags)
}

/// Who reads, with which token shown how, and what it must receive.
type Reader<'a> = (&'a str, Option<(&'a str, Via)>, &'a [&'a str]);

/// How a subscriber shows its token.
#[derive(Clone, Copy, Debug)]
enum Via {
    Header,
    Cookie,
    Query,
}

async fn open(
    server: &TestServer,
    token: Option<(&str, Via)>,
    last_id: Option<&str>,
) -> EventReader {
    let mut path = format!("/events?topic={NEWS}&topic={}", urlencode(INBOX));
    let mut headers: Vec<(&str, String)> = Vec::new();
    match token {
        Some((token, Via::Header)) => headers.push(("Authorization", format!("Bearer {token}"))),
        Some((token, Via::Cookie)) => {
            headers.push((
                "Cookie",
                format!("theme=dark; mercureAuthorization={token}"),
            ));
        }
        Some((token, Via::Query)) => path.push_str(&format!("&authorization={token}")),
        None => {}
    }
    if let Some(id) = last_id {
        headers.push(("Last-Event-ID", id.to_owned()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    EventReader::open(server.addr, &path, &headers).await
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Events up to and including the one whose data is `last`, leaving out the welcome.
async fn until(stream: &mut EventReader, last: &str) -> Vec<ParsedEvent> {
    let mut got = Vec::new();
    loop {
        let event = tokio::time::timeout(PATIENCE, stream.next_event())
            .await
            .expect("an event in time")
            .expect("stream open");
        if event.data == WELCOME_TEXT {
            continue;
        }
        let done = event.data == last;
        got.push(event);
        if done {
            return got;
        }
    }
}

fn data(events: &[ParsedEvent]) -> Vec<&str> {
    events.iter().map(|event| event.data.as_str()).collect()
}

async fn publish(
    publisher: &mut Publisher,
    topics: &[&str],
    data: &str,
    private: bool,
    key: Option<&str>,
) -> String {
    let mut body: String = topics
        .iter()
        .map(|topic| format!("topic={}&", urlencode(topic)))
        .collect();
    body.push_str(&format!("data={data}"));
    if private {
        body.push_str("&private=on");
    }
    if let Some(key) = key {
        body.push_str(&format!("&id={key}"));
    }
    let response = publisher
        .post("application/x-www-form-urlencoded", &body)
        .await;
    assert_eq!(response.head.status(), 200, "{}", response.body_text());
    response.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn private_events_reach_only_entitled_subscribers_live_and_on_replay() {
    let server = server(&[]);
    let alice = reader_token(&["https://example.com/users/alice/{box}"]);
    let bob = reader_token(&["https://example.com/users/bob/{box}", NEWS]);
    let everyone = reader_token(&["*"]);
    let readers: [Reader<'_>; 4] = [
        ("anonymous", None, &["n1", "n2", "public-on-inbox", "end"]),
        (
            "alice by header",
            Some((&alice, Via::Header)),
            &["n1", "p1", "n2", "p2", "both", "public-on-inbox", "end"],
        ),
        // `news` granted, but the private events' topics are not: granting is per event topic.
        (
            "bob by cookie",
            Some((&bob, Via::Cookie)),
            &["n1", "n2", "both", "public-on-inbox", "end"],
        ),
        (
            "all by query",
            Some((&everyone, Via::Query)),
            &["n1", "p1", "n2", "p2", "both", "public-on-inbox", "end"],
        ),
    ];
    let mut streams = Vec::new();
    for (_, token, _) in &readers {
        let mut stream = open(&server, *token, None).await;
        assert_eq!(stream.head.status(), 200);
        assert_eq!(stream.next_event().await.unwrap().data, WELCOME_TEXT);
        streams.push(stream);
    }
    let mut publisher = Publisher::connect(server.addr, Some(PUBLISHER)).await;
    let first = publish(&mut publisher, &[NEWS], "n1", false, None).await;
    publish(&mut publisher, &[INBOX], "p1", true, Some("p1-key")).await;
    publish(&mut publisher, &[NEWS], "n2", false, None).await;
    // Idempotent re-publish: nothing new, for anyone.
    publish(&mut publisher, &[INBOX], "p1", true, Some("p1-key")).await;
    publish(&mut publisher, &[INBOX], "p2", true, None).await;
    // Private on two topics: whoever may read either gets it, once.
    publish(&mut publisher, &[INBOX, NEWS], "both", true, None).await;
    publish(&mut publisher, &[INBOX], "public-on-inbox", false, None).await;
    publish(&mut publisher, &[NEWS], "end", false, None).await;

    for ((who, token, wanted), stream) in readers.iter().zip(&mut streams) {
        assert_eq!(data(&until(stream, "end").await), *wanted, "{who}, live");
        // The same, replayed after the first event.
        let mut again = open(&server, *token, Some(&first)).await;
        let events = until(&mut again, "end").await;
        let mut replayed = vec!["n1"];
        replayed.extend(data(&events));
        assert_eq!(replayed, *wanted, "{who}, replayed");
    }
}

#[tokio::test]
async fn a_reset_subscriber_gets_no_private_event_it_is_not_entitled_to() {
    let server = server(&["--history", "2"]);
    let mut publisher = Publisher::connect(server.addr, Some(PUBLISHER)).await;
    let old = publish(&mut publisher, &[NEWS], "old", false, None).await;
    for n in 0..3 {
        publish(&mut publisher, &[INBOX], &format!("secret{n}"), true, None).await;
    }
    let bob = reader_token(&[NEWS]);
    let mut stream = open(&server, Some((&bob, Via::Header)), Some(&old)).await;
    assert_eq!(
        stream.next_event().await.unwrap().event,
        shared::event::RESET
    );
    publish(&mut publisher, &[INBOX], "secret-live", true, None).await;
    publish(&mut publisher, &[NEWS], "end", false, None).await;
    assert_eq!(data(&until(&mut stream, "end").await), ["end"]);
}

#[tokio::test]
async fn every_bad_token_answers_401_wherever_it_is_presented() {
    let server = server(&[
        "--jwt-audience",
        "herald",
        "--jwt-issuer",
        "https://app.example",
    ]);
    let good =
        json!({ "mercure": { "subscribe": ["*"] }, "aud": "herald", "iss": "https://app.example" });
    let bad: Vec<String> = bad_tokens(&good, SECRET.as_bytes())
        .into_iter()
        .map(|(token, _)| token)
        .collect();
    for token in &bad {
        for via in [Via::Header, Via::Cookie, Via::Query] {
            let stream = open(&server, Some((token, via)), None).await;
            assert_eq!(stream.head.status(), 401, "{via:?} {token}");
        }
    }
    let ok = open(&server, Some((&token(&good), Via::Cookie)), None).await;
    assert_eq!(ok.head.status(), 200);
}

#[tokio::test]
async fn a_stream_ends_with_a_retry_hint_when_its_token_expires() {
    let server = server(&[]);
    let expiring = token(&json!({ "mercure": { "subscribe": ["*"] }, "exp": now() + 2 }));
    let mut stream = open(&server, Some((&expiring, Via::Cookie)), None).await;
    assert_eq!(stream.head.status(), 200);
    let (mut last, mut chunks) = (Vec::new(), 0);
    while let Some(chunk) = tokio::time::timeout(PATIENCE, stream.chunk())
        .await
        .expect("the stream ends in time")
    {
        last = chunk;
        chunks += 1;
    }
    assert!(chunks >= 2, "the prelude, then the hint");
    assert!(
        last.starts_with(b"retry:"),
        "{}",
        String::from_utf8_lossy(&last)
    );
}
