//! The servers under test and their request shapes: how each one is subscribed to and
//! published to, byte for byte. Everything else in a run is the same whatever the server.

use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};

/// The server under test decides the request shapes; each is started by `cargo xtask bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub(crate) enum Target {
    /// Herald: `POST /publish` with a JSON body and a bearer token.
    Herald,
    /// bench/baseline-axum: `POST /publish`, the raw body is the data.
    Axum,
    /// Nchan (bench/nchan/nginx.conf): `POST /publish?topic=bench`, the raw body is the data.
    Nchan,
    /// Pushpin (bench/pushpin/), subscribed through its proxy port, whose GRIP origin
    /// (`loadgen origin`) holds every request as a stream on the channel named by `topic`;
    /// published with `POST /publish/` on its handler's port (`--publish-addr`), a JSON list of
    /// items whose `http-stream` content is the SSE event.
    Pushpin,
}

/// The request that opens one SSE subscription to `topic` (the same for every server).
pub(crate) fn subscribe_request(addr: SocketAddrV4, topic: &str) -> Vec<u8> {
    format!(
        "GET /events?topic={topic} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
         Cache-Control: no-cache\r\n\r\n"
    )
    .into_bytes()
}

/// Where and how to publish.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublishRoute<'a> {
    pub(crate) target: Target,
    pub(crate) addr: SocketAddrV4,
    pub(crate) topic: &'a str,
    /// Herald's publish token.
    pub(crate) token: &'a str,
}

impl PublishRoute<'_> {
    /// The request that publishes one event carrying `data`, with SSE id `id` where the server
    /// leaves the event's text to the publisher (Pushpin).
    pub(crate) fn request(&self, id: Option<u64>, data: &str) -> Vec<u8> {
        let Self {
            target,
            addr,
            topic,
            token,
        } = *self;
        let (path, content_type, auth, body) = match target {
            Target::Herald => (
                "/publish".to_owned(),
                "application/json",
                format!("Authorization: Bearer {token}\r\n"),
                // Our data never needs JSON escapes: digits, spaces, `x`.
                format!(r#"{{"topic":"{topic}","data":"{data}"}}"#),
            ),
            Target::Axum => (
                "/publish".to_owned(),
                "text/plain",
                String::new(),
                data.to_owned(),
            ),
            Target::Nchan => (
                format!("/publish?topic={topic}"),
                "text/plain",
                String::new(),
                data.to_owned(),
            ),
            Target::Pushpin => {
                let id = id.map_or_else(String::new, |id| format!("id: {id}\\n"));
                (
                    "/publish/".to_owned(),
                    "application/json",
                    String::new(),
                    // The event as the subscriber reads it, JSON-escaped (`\n`); our data and
                    // topics never need other escapes.
                    format!(
                        r#"{{"items":[{{"channel":"{topic}","formats":{{"http-stream":{{"content":"event: message\n{id}data: {data}\n\n"}}}}}}]}}"#
                    ),
                )
            }
        };
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            len = body.len()
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(target: Target) -> PublishRoute<'static> {
        PublishRoute {
            target,
            addr: SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 5561),
            topic: "bench",
            token: "T",
        }
    }

    /// The head and the body of a request, the body's length checked against its header.
    fn split(request: &[u8]) -> (String, String) {
        let text = String::from_utf8(request.to_vec()).expect("requests are text");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("a Content-Length");
        assert_eq!(length.parse::<usize>().expect("a number"), body.len());
        (head.to_owned(), body.to_owned())
    }

    #[test]
    fn pushpin_gets_a_json_item_carrying_the_whole_event() {
        let (head, body) = split(&publish(Target::Pushpin).request(Some(7), "7 123 xx"));
        assert!(head.starts_with("POST /publish/ HTTP/1.1\r\n"), "{head}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        let item = &json["items"][0];
        assert_eq!(item["channel"], "bench");
        assert_eq!(
            item["formats"]["http-stream"]["content"],
            "event: message\nid: 7\ndata: 7 123 xx\n\n"
        );
        let (_, warm) = split(&publish(Target::Pushpin).request(None, "warm"));
        let json: serde_json::Value = serde_json::from_str(&warm).expect("valid JSON");
        assert_eq!(
            json["items"][0]["formats"]["http-stream"]["content"],
            "event: message\ndata: warm\n\n"
        );
    }

    #[test]
    fn herald_gets_json_and_its_token_and_the_others_the_raw_data() {
        let (head, body) = split(&publish(Target::Herald).request(Some(1), "1 2 x"));
        assert!(head.contains("Authorization: Bearer T\r\n"), "{head}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(json["topic"], "bench");
        assert_eq!(json["data"], "1 2 x");
        let (head, body) = split(&publish(Target::Nchan).request(Some(1), "1 2 x"));
        assert!(
            head.starts_with("POST /publish?topic=bench HTTP/1.1"),
            "{head}"
        );
        assert_eq!(body, "1 2 x");
        let (head, body) = split(&publish(Target::Axum).request(Some(1), "1 2 x"));
        assert!(head.starts_with("POST /publish HTTP/1.1"), "{head}");
        assert_eq!(body, "1 2 x");
    }
}
