//! The body of one SSE response: the hub's prelude, then live frames coalesced into as few
//! chunks as are ready, heartbeats while idle, and an end when the hub closes its queue.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::hub::{Hub, SubscriberGuard, Subscription};

/// The most bytes gathered into one chunk from a backlog; past it the rest waits for the next
/// poll, so one chunk never holds a whole 64-event backlog of large events in a second copy.
const MAX_CHUNK: usize = 64 * 1024;

/// A counted open stream; dropping it frees its place under the connection limit.
#[derive(Debug)]
pub struct ConnectionPermit {
    hub: Arc<Hub>,
}

impl ConnectionPermit {
    /// Takes a place under `max` open streams, or `None` when all are taken.
    #[must_use]
    pub fn try_acquire(hub: &Arc<Hub>, max: usize) -> Option<Self> {
        hub.stats().try_open_connection(max).then(|| Self {
            hub: Arc::clone(hub),
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.hub.stats().close_connection();
    }
}

/// The response body stream of one subscriber.
#[derive(Debug)]
pub struct EventStream {
    prelude: Option<Bytes>,
    receiver: mpsc::Receiver<Bytes>,
    /// Fires at the earliest moment a heartbeat could be due. Traffic does not touch it (a timer
    /// reset per event costs a timer-wheel update per delivery); when it fires, it checks
    /// `last_traffic` and either sends the heartbeat or re-arms for the true deadline.
    heartbeat: Pin<Box<Sleep>>,
    heartbeat_every: Duration,
    last_traffic: Instant,
    retry_frame: Bytes,
    heartbeat_frame: Bytes,
    done: bool,
    // Dropped with the stream, when the client goes away: unregister, then free the place.
    _guard: SubscriberGuard,
    _permit: ConnectionPermit,
}

impl EventStream {
    /// Streams `subscription` until the client leaves or the hub closes its queue (it fell
    /// behind, or the server is draining).
    #[must_use]
    pub fn new(
        subscription: Subscription,
        permit: ConnectionPermit,
        hub: &Hub,
        heartbeat_every: Duration,
    ) -> Self {
        Self {
            prelude: Some(subscription.prelude),
            receiver: subscription.receiver,
            heartbeat: Box::pin(tokio::time::sleep(heartbeat_every)),
            heartbeat_every,
            last_traffic: Instant::now(),
            retry_frame: hub.retry_frame(),
            heartbeat_frame: hub.heartbeat_frame(),
            done: false,
            _guard: subscription.guard,
            _permit: permit,
        }
    }

    fn traffic(&mut self) {
        self.last_traffic = Instant::now();
    }

    /// Whether a heartbeat is due now; if not, re-arms the timer for when it will be.
    fn poll_heartbeat(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.heartbeat.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_traffic + self.heartbeat_every;
            if Instant::now() >= due {
                return true;
            }
            // There was traffic since the timer was armed: wait out the rest of the interval
            // (the loop polls the re-armed timer so that it registers this task's waker).
            self.heartbeat.as_mut().reset(due);
        }
    }

    /// Everything queued now, as one chunk (up to [`MAX_CHUNK`]).
    fn coalesce(&mut self, first: Bytes) -> Bytes {
        let Ok(second) = self.receiver.try_recv() else {
            return first;
        };
        let mut chunk = BytesMut::with_capacity((first.len() + second.len()).max(4096));
        chunk.extend_from_slice(&first);
        chunk.extend_from_slice(&second);
        while chunk.len() < MAX_CHUNK {
            match self.receiver.try_recv() {
                Ok(frame) => chunk.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        chunk.freeze()
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(prelude) = this.prelude.take() {
            this.traffic();
            return Poll::Ready(Some(Ok(prelude)));
        }
        match this.receiver.poll_recv(cx) {
            Poll::Ready(Some(first)) => {
                let chunk = this.coalesce(first);
                this.traffic();
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(None) => {
                // The hub cut us (we fell behind, or the server drains): tell the browser when
                // to come back.
                this.done = true;
                return Poll::Ready(Some(Ok(this.retry_frame.clone())));
            }
            Poll::Pending => {}
        }
        if this.poll_heartbeat(cx) {
            this.traffic();
            let next = this.last_traffic + this.heartbeat_every;
            this.heartbeat.as_mut().reset(next);
            return Poll::Ready(Some(Ok(this.heartbeat_frame.clone())));
        }
        Poll::Pending
    }
}
