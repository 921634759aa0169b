//! The body of one SSE response: the hub's prelude, then live frames coalesced into as few
//! chunks as are ready, paced under load, heartbeats while idle, and an end when the hub closes
//! its queue.
//!
//! Pacing: a write costs the kernel about the same whether it carries one event or twenty, so
//! a stream that has just written does not write again for `pace`; whatever arrives meanwhile
//! goes out in one chunk when the worker's [`pacer`] lets the stream go (or at once when the
//! backlog reaches half the queue's bound). Streams whose events come further apart than `pace`
//! are never delayed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::hub::queue::{Receiver, Taken};
use crate::hub::{Hub, SubscriberGuard, Subscription};
use crate::pacer;

/// The most bytes gathered into one chunk from a backlog; past it the rest waits for the next
/// poll, so one chunk never holds a whole backlog of large events in a second copy.
const MAX_CHUNK: usize = 64 * 1024;
/// Capacity of the taken-frames buffer kept between writes; a larger one, left by a rare big
/// backlog, is given back so that idle streams stay small.
const KEPT_CAPACITY: usize = 64;

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

/// How a stream times its writes.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Idle time after which a heartbeat comment is sent.
    pub heartbeat: Duration,
    /// Least time between two writes while events keep coming; zero writes every event at once.
    pub pace: Duration,
}

/// The response body stream of one subscriber.
#[derive(Debug)]
pub struct EventStream {
    prelude: Option<Bytes>,
    receiver: Receiver,
    /// Frames taken from the queue and not yet written.
    taken: VecDeque<Bytes>,
    /// Fires at the earliest moment a heartbeat could be due. Traffic does not touch it (a
    /// timer reset per event costs a timer-wheel update per delivery); when it fires, it checks
    /// `last_traffic` and either sends the heartbeat or re-arms for the true deadline.
    heartbeat: Pin<Box<Sleep>>,
    timing: Timing,
    last_traffic: Instant,
    /// Set after a write: until then, new frames wait (unless urgent), and the worker's
    /// [`pacer`] wakes the stream when it is its turn.
    paced_until: Option<Instant>,
    /// Whether this pacing interval is in the pacer's queue. A stream whose last interval
    /// ended with frames waiting joins at once (more are surely coming); otherwise only when a
    /// frame arrives within the interval, so sparse streams cost no wake-up per write.
    in_pacer: bool,
    /// The last write ended a pacing interval that had frames waiting: traffic is dense.
    dense: bool,
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
        timing: Timing,
    ) -> Self {
        Self {
            prelude: Some(subscription.prelude),
            receiver: subscription.receiver,
            taken: VecDeque::new(),
            heartbeat: Box::pin(tokio::time::sleep(timing.heartbeat)),
            timing,
            last_traffic: Instant::now(),
            paced_until: None,
            in_pacer: false,
            dense: false,
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
            let due = self.last_traffic + self.timing.heartbeat;
            if Instant::now() >= due {
                return true;
            }
            // There was traffic since the timer was armed: wait out the rest of the interval
            // (the loop polls the re-armed timer so that it registers this task's waker).
            self.heartbeat.as_mut().reset(due);
        }
    }

    /// Whether the stream is still waiting out its pacing interval: the pacer wakes it when
    /// the interval is over, or the queue when its backlog turns urgent first.
    fn still_pacing(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(until) = self.paced_until else {
            self.dense = false;
            return false;
        };
        if Instant::now() < until && !self.receiver.is_urgent() {
            if self.in_pacer {
                return true;
            }
            if self.receiver.has_frames(cx) {
                // The first frame of a sparse stream's interval: wait for the pacer now, or,
                // with no pacer on this thread, write it at once.
                return self.join_pacer(until, cx);
            }
            // Nothing but the heartbeat timer may wake a sparse stream now, so it must be
            // registered; if it has fired, the heartbeat logic below re-arms it.
            if self.heartbeat.as_mut().poll(cx).is_pending() {
                return true;
            }
        }
        self.paced_until = None;
        self.in_pacer = false;
        self.dense = true;
        false
    }

    /// After a write: hold the next one back for `pace`.
    fn start_pacing(&mut self, cx: &Context<'_>) {
        if self.timing.pace.is_zero() {
            return;
        }
        let until = self.last_traffic + self.timing.pace;
        self.paced_until = Some(until);
        self.in_pacer = false;
        if self.dense {
            // Without a pacer on this thread the stream simply writes unpaced.
            let _ = self.join_pacer(until, cx);
        }
    }

    /// Queues the stream at the pacer until `until`; `false` (and no pacing) where this thread
    /// has no pacer.
    fn join_pacer(&mut self, until: Instant, cx: &Context<'_>) -> bool {
        if pacer::wait(until, cx.waker()) {
            self.in_pacer = true;
            self.receiver.pace(cx);
            return true;
        }
        self.paced_until = None;
        false
    }

    /// The taken frames as one chunk (up to [`MAX_CHUNK`]); the rest stays taken.
    fn chunk(&mut self) -> Bytes {
        if self.taken.len() == 1 {
            let only = self.taken.pop_front().unwrap_or_default();
            self.trim();
            return only;
        }
        let wanted: usize = self.taken.iter().map(Bytes::len).sum();
        let mut chunk = BytesMut::with_capacity(wanted.min(MAX_CHUNK));
        while chunk.len() < MAX_CHUNK {
            let Some(frame) = self.taken.pop_front() else {
                break;
            };
            chunk.extend_from_slice(&frame);
        }
        self.trim();
        chunk.freeze()
    }

    fn trim(&mut self) {
        if self.taken.is_empty() && self.taken.capacity() > KEPT_CAPACITY {
            self.taken = VecDeque::new();
        }
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
        if !this.taken.is_empty() {
            // The rest of a backlog larger than one chunk.
            return Poll::Ready(Some(Ok(this.chunk())));
        }
        if this.still_pacing(cx) {
            return Poll::Pending;
        }
        match this.receiver.poll_take(cx, &mut this.taken) {
            Poll::Ready(Taken::Frames) => {
                let chunk = this.chunk();
                this.traffic();
                this.start_pacing(cx);
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(Taken::Closed) => {
                // The hub cut us (we fell behind, or the server drains): tell the browser when
                // to come back.
                this.done = true;
                return Poll::Ready(Some(Ok(this.retry_frame.clone())));
            }
            Poll::Pending => {}
        }
        if this.poll_heartbeat(cx) {
            this.traffic();
            let next = this.last_traffic + this.timing.heartbeat;
            this.heartbeat.as_mut().reset(next);
            return Poll::Ready(Some(Ok(this.heartbeat_frame.clone())));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{FutureExt as _, StreamExt as _};

    use super::*;
    use crate::hub::{HubConfig, Publication};

    /// Off an actix worker there is no pacer: a stream must still write every event.
    #[tokio::test]
    async fn without_a_pacer_every_event_is_written_unpaced() {
        let hub = Arc::new(Hub::new(HubConfig {
            history_len: 10,
            history_age: Duration::from_secs(60),
            client_buffer: 8,
            retry: Duration::from_secs(2),
            max_topics: 10,
        }));
        let subscription = hub.subscribe(&["t".to_owned()], None).unwrap();
        let permit = ConnectionPermit::try_acquire(&hub, 10).unwrap();
        let timing = Timing {
            heartbeat: Duration::from_secs(60),
            pace: Duration::from_secs(60),
        };
        let mut stream = EventStream::new(subscription, permit, &hub, timing);
        // Each chunk must be ready at once: a stream that returned `Pending` here would have
        // left no waker behind, and waited for its heartbeat.
        let mut next = || {
            stream
                .next()
                .now_or_never()
                .expect("a chunk at once, not a wait for the pace")
                .unwrap()
                .unwrap()
        };
        next(); // the prelude
        for data in ["one", "two", "three"] {
            hub.publish(&Publication::new(&["t"], None, data)).unwrap();
            let chunk = next();
            assert!(chunk.ends_with(format!("data: {data}\n\n").as_bytes()));
        }
    }
}
