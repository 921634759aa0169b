//! The idiomatic axum SSE broadcast server, as a baseline for Herald: one
//! `tokio::sync::broadcast` channel, `Sse` with `KeepAlive`, nothing tuned.
//! `baseline-axum [ADDR]` serves `GET /events` (the stream) and `POST /publish` (the body is the
//! data); worker threads follow `TOKIO_WORKER_THREADS`, as for any `#[tokio::main]`.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures_util::Stream;
use tokio::sync::broadcast;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

/// Events a subscriber may lag behind before it skips some: Herald's `--client-buffer 1024`.
const CAPACITY: usize = 1024;

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3100".to_owned())
        .parse()
        .expect("the first argument is an address such as 127.0.0.1:3100");
    let (sender, _) = broadcast::channel::<String>(CAPACITY);
    let app = Router::new()
        .route("/events", get(events))
        .route("/publish", post(publish))
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("cannot bind");
    println!("listening on http://{addr}");
    axum::serve(listener, app).await.expect("the server failed");
}

async fn events(
    State(sender): State<broadcast::Sender<String>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // A lagging subscriber skips what it missed: the idiom, and why loadgen counts losses.
    let stream = BroadcastStream::new(sender.subscribe())
        .filter_map(Result::ok)
        .map(|data| Ok(Event::default().data(data)));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn publish(State(sender): State<broadcast::Sender<String>>, data: String) -> &'static str {
    // No subscribers is not an error for a publisher.
    let _ = sender.send(data);
    "ok"
}
