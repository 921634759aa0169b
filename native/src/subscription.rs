//! A running subscription: the loop that connects, reads, and reconnects after a backoff
//! resuming with `Last-Event-ID`, the handle that observes and ends it, and its states.

use std::time::Duration;

use shared::wire::ParsedEvent;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::backoff::Backoff;
use crate::connection::{self, HttpClient, Progress, Target};
use crate::handlers::Handlers;

/// Where a subscription is in its life; watch it with [`Subscription::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Opening a connection; `attempt` counts the tries since the last one that delivered
    /// events (0 for the first).
    Connecting {
        /// Tries since events last arrived.
        attempt: u32,
    },
    /// The server accepted the stream: events flow.
    Open,
    /// The connection dropped or was refused for now; reconnecting after `delay`.
    Waiting {
        /// The backoff chosen for this attempt.
        delay: Duration,
    },
    /// Ended for good: closed by us, or by an error a retry cannot fix.
    Closed,
}

/// What goes from the reading side to the handlers, in order.
#[derive(Debug)]
pub(crate) enum Item {
    /// An event to dispatch.
    Event(ParsedEvent),
    /// An error to report.
    Error(Error),
}

/// The error callback.
pub(crate) type OnError = Box<dyn FnMut(&Error) + Send>;

/// Everything the running loop needs, from the builder.
pub(crate) struct Setup {
    pub(crate) client: HttpClient,
    pub(crate) target: Target,
    pub(crate) progress: Progress,
    pub(crate) backoff: Backoff,
    pub(crate) buffer: usize,
    pub(crate) handlers: Handlers,
    pub(crate) on_error: Option<OnError>,
}

/// A running subscription. Dropping it ends the stream, as [`Subscription::close`] does.
#[derive(Debug)]
#[must_use = "dropping a Subscription closes it at once"]
pub struct Subscription {
    state: watch::Receiver<State>,
    last_event_id: watch::Receiver<String>,
    cancel: CancellationToken,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl Subscription {
    pub(crate) fn spawn(setup: Setup) -> Self {
        let (state_tx, state) = watch::channel(State::Connecting { attempt: 0 });
        let (id_tx, last_event_id) = watch::channel(setup.progress.last_event_id.clone());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(setup, state_tx, id_tx, cancel.clone()));
        Self {
            state,
            last_event_id,
            cancel,
            task: Some(task),
        }
    }

    /// The connection state, to watch for changes (`changed().await`) or read now.
    #[must_use]
    pub fn state(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// The id of the last event handled: where the stream would resume.
    #[must_use]
    pub fn last_event_id(&self) -> String {
        self.last_event_id.borrow().clone()
    }

    /// Ends the stream; [`Subscription::closed`] then returns `Ok`.
    pub fn close(&self) {
        self.cancel.cancel();
    }

    /// Waits until the subscription ends: after [`Subscription::close`], or on an error a retry
    /// cannot fix, which it returns.
    ///
    /// # Errors
    /// The fatal error ([`Error::is_fatal`]) that ended it.
    pub async fn closed(mut self) -> Result<(), Error> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(outcome) => outcome,
            // A handler panicked: carry its panic on rather than pretend all went well.
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // Cancelled only by the runtime shutting down: nothing runs any more.
            Err(_) => Ok(()),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The reading loop and the handlers, side by side in one task, joined by a bounded channel.
async fn run(
    setup: Setup,
    state: watch::Sender<State>,
    last_event_id: watch::Sender<String>,
    cancel: CancellationToken,
) -> Result<(), Error> {
    let Setup {
        client,
        target,
        mut progress,
        backoff,
        buffer,
        mut handlers,
        mut on_error,
    } = setup;
    let (items, mut received) = mpsc::channel(buffer.max(1));
    let reading = async move {
        let outcome = connect_loop(&client, &target, &mut progress, backoff, &state, &items).await;
        state.send_replace(State::Closed);
        outcome
    };
    let dispatching = async move {
        while let Some(item) = received.recv().await {
            let error = match item {
                Item::Event(event) => {
                    let id = event.id.clone();
                    let outcome = handlers.dispatch(&event);
                    if !id.is_empty() {
                        last_event_id.send_replace(id);
                    }
                    match outcome {
                        Ok(()) => continue,
                        Err(err) => err,
                    }
                }
                Item::Error(err) => err,
            };
            match on_error.as_mut() {
                Some(on_error) => on_error(&error),
                None => tracing::warn!(%error, "herald subscription"),
            }
        }
    };
    let (outcome, ()) = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        both = async { tokio::join!(reading, dispatching) } => both,
    };
    outcome
}

/// Connects, reads, and reconnects until a fatal error; the caller stops it by dropping it.
async fn connect_loop(
    client: &HttpClient,
    target: &Target,
    progress: &mut Progress,
    backoff: Backoff,
    state: &watch::Sender<State>,
    items: &mpsc::Sender<Item>,
) -> Result<(), Error> {
    let mut attempt = 0u32;
    loop {
        state.send_replace(State::Connecting { attempt });
        let (error, retry_after) = match connection::open(client, target, progress).await {
            Ok(body) => {
                state.send_replace(State::Open);
                let (error, received) = connection::read(body, target, progress, items).await;
                // A connection that delivered events worked: start the backoff over. One
                // that was only opened and closed (a server over its limit) still backs off.
                if received {
                    attempt = 0;
                }
                (error, None)
            }
            Err(Error::Unavailable {
                status,
                retry_after,
            }) => (
                Error::Unavailable {
                    status,
                    retry_after,
                },
                retry_after,
            ),
            Err(error) => (error, None),
        };
        if error.is_fatal() {
            // Returned from `Subscription::closed`, not reported: the caller learns it there.
            return Err(error);
        }
        let delay = backoff.delay_at_least(attempt, progress.retry, retry_after, fastrand::f64());
        attempt = attempt.saturating_add(1);
        if items.send(Item::Error(error)).await.is_err() {
            return Ok(());
        }
        state.send_replace(State::Waiting { delay });
        tokio::time::sleep(delay).await;
    }
}
