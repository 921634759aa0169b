//! One HTTP connection to the event stream: the request (token, `Last-Event-ID`), what the
//! answer's status means, and reading the body through `shared`'s incremental parser into a
//! bounded channel.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use shared::wire::{CONTENT_TYPE as EVENT_STREAM, Parser};
use tokio::sync::mpsc;

use crate::Error;
use crate::subscription::Item;

/// The HTTP client: plain HTTP/1.1, one connection per stream.
pub(crate) type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// How much of a refusal's body is kept for the error message: Herald's `{"error": ...}` is a
/// line; a proxy's HTML page is cut.
const REFUSAL_BODY_LIMIT: usize = 1024;
/// How long a refusal's body may take to arrive before the error is reported without it.
const REFUSAL_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// What every connection of a subscription sends.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The stream's URL, topics in its query.
    pub(crate) uri: Uri,
    /// `Bearer <token>`, when there is one.
    pub(crate) authorization: Option<HeaderValue>,
    /// A connection on which nothing arrives for this long is presumed dead.
    pub(crate) idle_timeout: Duration,
    /// The parser's bound on one line or event.
    pub(crate) max_event_size: usize,
}

/// What a connection left behind for the next one.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// The last event id received, sent as `Last-Event-ID` on reconnection.
    pub(crate) last_event_id: String,
    /// The server's last `retry:`, in milliseconds.
    pub(crate) retry: Option<u64>,
}

/// Opens the stream, resuming after `progress.last_event_id`.
///
/// # Errors
/// As the variants of [`Error`] say: a refusal, an unreachable server, not an event stream.
pub(crate) async fn open(
    client: &HttpClient,
    target: &Target,
    progress: &Progress,
) -> Result<Incoming, Error> {
    let mut request = http::Request::get(target.uri.clone())
        .header(ACCEPT, EVENT_STREAM)
        .header(CACHE_CONTROL, "no-cache");
    if let Some(authorization) = &target.authorization {
        request = request.header(AUTHORIZATION, authorization.clone());
    }
    if !progress.last_event_id.is_empty() {
        match HeaderValue::from_bytes(progress.last_event_id.as_bytes()) {
            Ok(id) => request = request.header("last-event-id", id),
            // Another server's id with control characters: resuming is impossible, but a
            // fresh stream is better than none.
            Err(_) => tracing::warn!("last event id not sendable as a header; not resuming"),
        }
    }
    let request = request
        .body(Empty::new())
        .map_err(|_| Error::InvalidHeader {
            header: "the request",
        })?;
    let response = client.request(request).await.map_err(Error::Connect)?;
    let status = response.status();
    if status == StatusCode::OK {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with(EVENT_STREAM) {
            return Err(Error::NotAnEventStream {
                content_type: content_type.to_owned(),
            });
        }
        return Ok(response.into_body());
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Error::Unavailable {
            status,
            retry_after,
        });
    }
    let body = refusal_body(response.into_body()).await;
    Err(Error::Refused { status, body })
}

/// The start of a refusal's body, as text.
async fn refusal_body(mut body: Incoming) -> String {
    let mut kept = Vec::new();
    let read = async {
        while kept.len() < REFUSAL_BODY_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        kept.extend_from_slice(data);
                    }
                }
                _ => break,
            }
        }
    };
    // A body that never comes is not worth waiting for: the status says enough.
    let _ = tokio::time::timeout(REFUSAL_BODY_TIMEOUT, read).await;
    kept.truncate(REFUSAL_BODY_LIMIT);
    String::from_utf8_lossy(&kept).trim().to_owned()
}

/// Reads `body` until it ends or fails, sending each event to `events` and recording the last
/// id and `retry:` in `progress` as they pass. Returns why it stopped and whether any event was
/// received.
pub(crate) async fn read(
    mut body: Incoming,
    target: &Target,
    progress: &mut Progress,
    events: &mpsc::Sender<Item>,
) -> (Error, bool) {
    let mut parser = Parser::new(target.max_event_size);
    let mut received = false;
    let mut batch = Vec::new();
    loop {
        let frame = match tokio::time::timeout(target.idle_timeout, body.frame()).await {
            Err(_) => return (Error::Idle(target.idle_timeout), received),
            Ok(None) => return (Error::Ended, received),
            Ok(Some(Err(err))) => return (Error::Stream(err), received),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            // Trailers: nothing for us.
            continue;
        };
        let parsed = parser.feed(&data, &mut |event| batch.push(event));
        if parser.retry().is_some() {
            progress.retry = parser.retry();
        }
        for event in batch.drain(..) {
            received = true;
            // Herald gives every event an id; an event without one leaves the position as is.
            if !event.id.is_empty() {
                progress.last_event_id.clone_from(&event.id);
            }
            // The channel is bounded: a slow handler holds the reading here, and so the socket,
            // instead of letting events pile up in memory.
            if events.send(Item::Event(event)).await.is_err() {
                return (Error::Ended, received);
            }
        }
        if let Err(err) = parsed {
            return (Error::TooLarge(err), received);
        }
    }
}
