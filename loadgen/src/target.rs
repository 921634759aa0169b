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
pub(crate) struct Publish<'a> {
    pub(crate) target: Target,
    pub(crate) addr: SocketAddrV4,
    pub(crate) topic: &'a str,
    /// Herald's publish token.
    pub(crate) token: &'a str,
}

impl Publish<'_> {
    /// The request that publishes one event carrying `data`.
    pub(crate) fn request(&self, data: &str) -> Vec<u8> {
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
        };
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            len = body.len()
        )
        .into_bytes()
    }
}
