//! The native client (`native/`) against a real server: typed ticks and messages, a refusal
//! that ends the subscription, and resumption with `Last-Event-ID` after the connection is cut
//! under it, with no gap and no duplicate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{PATIENCE, Publisher, TestServer};
use native::{Backoff, Builder, Error, Received, State};
use shared::Event as _;
use shared::events::{Message, Welcome};
use shared::payload::{CurrentTime, PublishRequest};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

/// What the handlers saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Tick(String),
    Welcome(String),
    Message(String, String),
}

impl Seen {
    fn id(&self) -> &str {
        match self {
            Self::Tick(id) | Self::Welcome(id) | Self::Message(id, _) => id,
        }
    }
}

/// A TCP relay between the client and the server that can cut every connection through it, as
/// a server restart or a load balancer would, and records each request's head.
struct Relay {
    addr: SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    heads: Arc<Mutex<Vec<String>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let accept = tokio::spawn({
            let links = Arc::clone(&links);
            let heads = Arc::clone(&heads);
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let heads = Arc::clone(&heads);
                    let link = tokio::spawn(async move {
                        let mut head = Vec::new();
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            let mut buf = [0; 1024];
                            match inbound.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        heads
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&head).to_lowercase());
                        let mut outbound = TcpStream::connect(upstream).await.unwrap();
                        outbound.write_all(&head).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Self {
            addr,
            links,
            heads,
            accept,
        }
    }

    /// Closes every connection through the relay (both sockets are dropped).
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Publishes `text` as a typed [`Message`] to `messages` (an open topic) and returns its id.
async fn publish(publisher: &mut Publisher, text: &str) -> String {
    let request =
        PublishRequest::typed(shared::topic::MESSAGES, &Message(text.to_owned())).unwrap();
    let response = publisher
        .post(
            "application/json",
            &serde_json::to_string(&request).unwrap(),
        )
        .await;
    assert_eq!(response.head.status(), 200, "{}", response.body_text());
    response.json()["id"].as_str().unwrap().to_owned()
}

/// Receives until `want` holds of what was seen so far.
async fn until(
    events: &mut mpsc::UnboundedReceiver<Seen>,
    seen: &mut Vec<Seen>,
    want: impl Fn(&[Seen]) -> bool,
) {
    while !want(seen) {
        match timeout(PATIENCE, events.recv()).await {
            Ok(Some(event)) => seen.push(event),
            other => panic!("waited in vain ({other:?}); seen: {seen:?}"),
        }
    }
}

fn texts(seen: &[Seen]) -> Vec<&str> {
    seen.iter()
        .filter_map(|seen| match seen {
            Seen::Message(_, text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn receives_typed_events_and_resumes_after_a_cut_without_gap_or_duplicate() {
    // A short `retry:`, which the client takes as its backoff's base: were it ignored, the
    // builder's minute-long base would outlast every wait below.
    let server = TestServer::start(&["--retry", "50ms"]);
    let relay = Relay::start(server.addr).await;
    let (tx, mut events) = mpsc::unbounded_channel();
    let ticks = tx.clone();
    let welcomes = tx.clone();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let subscription = Builder::new(format!("http://{}", relay.addr))
        .topic(shared::topic::CLOCK)
        .topic(shared::topic::MESSAGES)
        .backoff(Backoff {
            base: MINUTE,
            max: MINUTE,
        })
        .on(move |tick: Received<CurrentTime>| {
            let _ = ticks.send(Seen::Tick(tick.id));
        })
        .on(move |welcome: Received<Welcome>| {
            let _ = welcomes.send(Seen::Welcome(welcome.id));
        })
        .on(move |message: Received<Message>| {
            // The welcome is a `message` too; it is recorded by its own type above.
            if Welcome::decode(&message.event.0).is_err() {
                let _ = tx.send(Seen::Message(message.id, message.event.0));
            }
        })
        .on_error({
            let errors = Arc::clone(&errors);
            move |err| errors.lock().unwrap().push(err.to_string())
        })
        .subscribe()
        .unwrap();
    let mut state = subscription.state();
    timeout(PATIENCE, state.wait_for(|state| *state == State::Open))
        .await
        .expect("the stream opens")
        .unwrap();

    let mut seen = Vec::new();
    until(&mut events, &mut seen, |seen| {
        seen.iter().any(|s| matches!(s, Seen::Welcome(_)))
            && seen.iter().any(|s| matches!(s, Seen::Tick(_)))
    })
    .await;

    let mut publisher = Publisher::connect(server.addr, None).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(publish(&mut publisher, &format!("before {n}")).await);
    }
    until(&mut events, &mut seen, |seen| texts(seen).len() == 5).await;

    // Cut under the client, and publish while it is away (or just back: either way nothing
    // may be missed or repeated).
    relay.cut();
    for n in 0..5 {
        ids.push(publish(&mut publisher, &format!("after {n}")).await);
    }
    until(&mut events, &mut seen, |seen| texts(seen).len() >= 10).await;
    // A tick after the last message: everything up to it has been handled.
    let last = ids.last().unwrap().clone();
    until(&mut events, &mut seen, |seen| {
        seen.iter().any(|s| matches!(s, Seen::Tick(id) if id.parse::<u64>().unwrap() > last.parse::<u64>().unwrap()))
    })
    .await;

    let expected: Vec<String> = (0..5)
        .map(|n| format!("before {n}"))
        .chain((0..5).map(|n| format!("after {n}")))
        .collect();
    assert_eq!(texts(&seen), expected, "no gap, no duplicate, in order");
    let message_ids: Vec<&str> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Message(..)))
        .map(Seen::id)
        .collect();
    assert_eq!(message_ids, ids);
    // Every event's id strictly increasing across the cut: nothing seen twice. (A welcome's id
    // is a mark of the position, not an event's.)
    let all: Vec<u64> = seen
        .iter()
        .filter(|s| !matches!(s, Seen::Welcome(_)))
        .map(|s| s.id().parse().unwrap())
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    // The second connection resumed from an id the client had received.
    let heads = relay.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(!heads[0].contains("last-event-id"), "{}", heads[0]);
    let resumed = heads[1]
        .lines()
        .find_map(|line| line.strip_prefix("last-event-id: "))
        .unwrap_or_else(|| panic!("no Last-Event-ID: {}", heads[1]))
        .trim()
        .to_owned();
    assert!(
        seen.iter().any(|s| s.id() == resumed),
        "resumed after {resumed}, not an id it received: {seen:?}"
    );
    // Reconnected after the server's 50 ms `retry:`, not after the builder's base.
    assert_eq!(
        errors.lock().unwrap().len(),
        1,
        "{:?}",
        errors.lock().unwrap()
    );
    assert_eq!(subscription.last_event_id(), seen.last().unwrap().id());

    subscription.close();
    timeout(PATIENCE, subscription.closed())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_refused_token_ends_the_subscription_with_the_servers_reason() {
    let server = TestServer::start(&["--jwt-secret", "native-client-test-secret-0123456789abcdef"]);
    let subscription = Builder::new(format!("http://{}", server.addr))
        .topic("private/x")
        .bearer("not-a-jwt")
        .on(|_: Received<Message>| panic!("nothing is delivered"))
        .subscribe()
        .unwrap();
    let mut state = subscription.state();
    let outcome = timeout(PATIENCE, subscription.closed()).await.unwrap();
    match outcome {
        Err(err @ Error::Refused { status, .. }) => {
            assert_eq!(status, 401, "{err}");
            assert!(err.is_fatal());
        }
        other => panic!("expected a 401 refusal, got {other:?}"),
    }
    assert_eq!(*state.borrow_and_update(), State::Closed);
}
