//! Describing a subscription before starting it: the server, topics, token, where to resume,
//! the typed handlers, and the bounds.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shared::wire::DEFAULT_MAX_EVENT_SIZE;
use shared::{Event, TopicName};

use crate::Error;
use crate::backoff::Backoff;
use crate::connection::{Progress, Target};
use crate::handlers::{Handlers, Received};
use crate::subscription::{Setup, Subscription};

/// Three heartbeats of Herald's default 15 s: a connection silent for longer is dead.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Events parsed but not yet handled, at most: past this the reading waits for the handlers
/// (and the server, seeing a slow reader, may cut the stream, which then resumes).
const DEFAULT_BUFFER: usize = 64;

/// Collects what a [`Subscription`] needs; start it with [`Builder::subscribe`].
#[must_use = "a builder does nothing until `subscribe` is called"]
pub struct Builder {
    url: String,
    topics: Vec<String>,
    token: Option<String>,
    last_event_id: String,
    handlers: Handlers,
    on_error: Option<crate::subscription::OnError>,
    backoff: Backoff,
    idle_timeout: Duration,
    max_event_size: usize,
    buffer: usize,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token: debug output ends up in logs.
        f.debug_struct("Builder")
            .field("url", &self.url)
            .field("topics", &self.topics)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("last_event_id", &self.last_event_id)
            .field("handlers", &self.handlers)
            .field("backoff", &self.backoff)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_event_size", &self.max_event_size)
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A subscription to the Herald server at `url`: its base (`http://host:port`, the stream
    /// being at `/events`) or the stream's own URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            topics: Vec::new(),
            token: None,
            last_event_id: String::new(),
            handlers: Handlers::default(),
            on_error: None,
            backoff: Backoff::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            buffer: DEFAULT_BUFFER,
        }
    }

    /// Adds a topic; without any, the server's defaults (`clock` and `messages`).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Sends `token` as `Authorization: Bearer`, for private topics.
    pub fn bearer(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Starts after the event with this id, as a reconnection would (a service restarting where
    /// it left off).
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self
    }

    /// Calls `handler` with every event of type `E`, decoded. Handlers run one at a time, in
    /// the stream's order; a slow one slows the reading, never the memory.
    pub fn on<E: Event + 'static>(
        mut self,
        handler: impl FnMut(Received<E>) + Send + 'static,
    ) -> Self {
        self.handlers.add(handler);
        self
    }

    /// Calls `handler` with every error the subscription recovers from (a dropped connection,
    /// an undecodable event); without one they are logged at WARN. The error that ends the
    /// subscription is returned by [`Subscription::closed`] instead.
    pub fn on_error(mut self, handler: impl FnMut(&Error) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(handler));
        self
    }

    /// How reconnection delays grow (the server's `retry:` replaces `backoff.base`).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Reconnects when nothing, not even a heartbeat, arrived for this long.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The largest line or event accepted, in bytes; a larger one drops the connection.
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// Events read but not yet handled, at most.
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events;
        self
    }

    /// Starts the subscription on the current tokio runtime.
    ///
    /// # Errors
    /// An invalid URL, topic or token; nothing is started then.
    pub fn subscribe(self) -> Result<Subscription, Error> {
        let uri = events_uri(&self.url, &self.topics)?;
        let authorization = self
            .token
            .map(|token| {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        Error::InvalidHeader {
                            header: "the bearer token",
                        }
                    })?;
                value.set_sensitive(true);
                Ok::<_, Error>(value)
            })
            .transpose()?;
        if HeaderValue::from_str(&self.last_event_id).is_err() {
            return Err(Error::InvalidHeader {
                header: "Last-Event-ID",
            });
        }
        let mut client = Client::builder(TokioExecutor::new());
        // A stream holds its connection for good: there is nothing to pool.
        client.pool_max_idle_per_host(0);
        Ok(Subscription::spawn(Setup {
            client: client.build_http::<Empty<Bytes>>(),
            target: Target {
                uri,
                authorization,
                idle_timeout: self.idle_timeout,
                max_event_size: self.max_event_size,
            },
            progress: Progress {
                last_event_id: self.last_event_id,
                retry: None,
            },
            backoff: self.backoff,
            buffer: self.buffer,
            handlers: self.handlers,
            on_error: self.on_error,
        }))
    }
}

/// The stream's URL: `url`, at `/events` when it names no path, with a `topic` per topic.
fn events_uri(url: &str, topics: &[String]) -> Result<Uri, Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match parsed.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(invalid("HTTPS is not supported yet; use http://")),
        _ => return Err(invalid("expected http://host:port")),
    }
    let authority = parsed
        .authority()
        .ok_or_else(|| invalid("no host"))?
        .as_str();
    let path = match parsed.path() {
        "" | "/" => shared::names::EVENTS_PATH,
        path => path,
    };
    let mut query = form_urlencoded::Serializer::new(parsed.query().unwrap_or_default().to_owned());
    for topic in topics {
        let topic = TopicName::new(topic.as_str())?;
        query.append_pair("topic", topic.as_str());
    }
    let query = query.finish();
    let full = if query.is_empty() {
        format!("http://{authority}{path}")
    } else {
        format!("http://{authority}{path}?{query}")
    };
    full.parse()
        .map_err(|_| invalid("not a URL once the topics are added"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(url: &str, topics: &[&str]) -> Result<String, Error> {
        let topics: Vec<String> = topics.iter().map(|&t| t.to_owned()).collect();
        events_uri(url, &topics).map(|uri| uri.to_string())
    }

    #[test]
    fn a_base_url_gets_the_events_path_and_topics() {
        assert_eq!(
            uri("http://127.0.0.1:3000", &[]).unwrap(),
            "http://127.0.0.1:3000/events"
        );
        assert_eq!(
            uri("http://h:1/", &["clock", "private/demo"]).unwrap(),
            "http://h:1/events?topic=clock&topic=private%2Fdemo"
        );
        assert_eq!(
            uri("http://h:1/sse?x=1", &["a"]).unwrap(),
            "http://h:1/sse?x=1&topic=a"
        );
    }

    #[test]
    fn bad_urls_and_topics_are_refused_before_connecting() {
        for url in ["nope", "ftp://h/", "https://h/"] {
            let err = uri(url, &[]).unwrap_err();
            assert!(
                err.is_fatal() && matches!(err, Error::InvalidUrl { .. }),
                "{err}"
            );
        }
        assert!(matches!(
            uri("http://h:1", &[""]),
            Err(Error::InvalidTopic(_))
        ));
    }

    #[test]
    fn the_token_is_not_shown() {
        let shown = format!("{:?}", Builder::new("http://h:1").bearer("secret"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
