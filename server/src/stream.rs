//! The body of one SSE response: the prelude, then what lies past the subscriber's position in
//! its topics' logs, one bounded write at a time, paced under load, heartbeats while idle, and
//! an end (with a `retry:` hint) when the hub ends it.
//!
//! When to write is [`crate::pacing`]'s decision; this module only carries it out: reading,
//! listing on the topics to be woken by the next publish, or queueing at the worker's
//! [`pacer`].

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::hub::fanout::Route;
use crate::hub::subscriber::{End, Next, Subscriber};
use crate::hub::{Hub, Subscribed};
use crate::metrics::Stats;
use crate::pacer::{self, Inbox};
use crate::pacing::{Pacing, Step};

/// A counted open stream; dropping it frees its place under the connection limit.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    stats: Arc<Stats>,
}

impl ConnectionPermit {
    /// Takes a place under `max` open streams, or `None` when all are taken.
    #[must_use]
    pub(crate) fn try_acquire(stats: &Arc<Stats>, max: usize) -> Option<Self> {
        stats.try_open_connection(max).then(|| Self {
            stats: Arc::clone(stats),
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.stats.close_connection();
    }
}

/// Why a stream closed, as its closing log line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The client went away (or the connection failed) before the server ended the stream.
    ClientGone,
    /// History passed it: a reader too slow to keep up.
    CutAsSlow,
    /// The server is shutting down.
    Drained,
    /// Its token expired.
    TokenExpired,
}

impl Closed {
    fn reason(self) -> &'static str {
        match self {
            Self::ClientGone => "client gone",
            Self::CutAsSlow => "cut as slow",
            Self::Drained => "drained",
            Self::TokenExpired => "token expired",
        }
    }
}

impl From<End> for Closed {
    fn from(end: End) -> Self {
        match end {
            End::Behind => Self::CutAsSlow,
            End::Drain => Self::Drained,
        }
    }
}

/// How a stream times its writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Idle time after which a heartbeat comment is sent.
    pub(crate) heartbeat: Duration,
    /// Least time between two writes while events keep coming; zero writes every event at once.
    pub(crate) pace: Duration,
}

/// The response body stream of one subscriber.
#[derive(Debug)]
pub(crate) struct EventStream {
    prelude: Option<Bytes>,
    subscriber: Subscriber,
    pacing: Pacing,
    /// Fires at the earliest moment a heartbeat could be due. Traffic does not touch it (a
    /// timer reset per write costs a timer-wheel update per write); when it fires, it checks
    /// `last_traffic` and either sends the heartbeat or re-arms for the true deadline.
    heartbeat: Pin<Box<Sleep>>,
    heartbeat_every: Duration,
    last_traffic: Instant,
    stats: Arc<Stats>,
    retry_frame: Bytes,
    heartbeat_frame: Bytes,
    /// This worker's pacer inbox, looked up when the stream first rests.
    inbox: Option<Arc<Inbox>>,
    /// When the subscriber's token expires: the stream ends then, with a `retry:` hint, so
    /// that the browser comes back with a fresh token and replay covers the gap.
    expiry: Option<Pin<Box<Sleep>>>,
    done: bool,
    /// When it opened, and why it ended (until the server ends it: the client left).
    opened: Instant,
    closed: Closed,
    // Dropped with the stream, when the client goes away: frees the place.
    _permit: ConnectionPermit,
}

impl EventStream {
    /// Streams `subscription` until the client leaves or the hub ends it (it fell out of
    /// history, or the server is draining).
    #[must_use]
    pub(crate) fn new(
        subscription: Subscribed,
        permit: ConnectionPermit,
        hub: &Hub,
        stats: Arc<Stats>,
        timing: Timing,
    ) -> Self {
        tracing::debug!(
            topics = subscription.subscriber.member.topics.len(),
            "stream opened"
        );
        Self {
            prelude: Some(subscription.prelude),
            subscriber: subscription.subscriber,
            pacing: Pacing::new(timing.pace),
            heartbeat: Box::pin(tokio::time::sleep(timing.heartbeat)),
            heartbeat_every: timing.heartbeat,
            last_traffic: Instant::now(),
            stats,
            retry_frame: hub.retry_frame(),
            heartbeat_frame: hub.heartbeat_frame(),
            inbox: None,
            expiry: None,
            done: false,
            opened: Instant::now(),
            closed: Closed::ClientGone,
            _permit: permit,
        }
    }

    /// Ends the stream at `at` (its token's expiry), when given.
    #[must_use]
    pub(crate) fn ending_at(mut self, at: Option<Instant>) -> Self {
        self.expiry = at.map(|at| Box::pin(tokio::time::sleep_until(at)));
        self
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

    /// The last frame: when to come back.
    fn end(&mut self, why: End, first: bool) -> Bytes {
        if first && why == End::Behind {
            self.stats.cut_behind(1);
        }
        self.done = true;
        self.closed = why.into();
        self.retry_frame.clone()
    }

    /// A chunk read: counted, then pacing decides when the next may follow.
    fn wrote(&mut self, bytes: Bytes, events: usize, cut_short: bool, cx: &Context<'_>) -> Bytes {
        self.stats.delivered(events);
        self.last_traffic = Instant::now();
        if let Some(until) =
            self.pacing
                .wrote(self.last_traffic.into_std(), cut_short, pacer::crowd())
            && !pacer::wait(Instant::from_std(until), cx.waker())
        {
            self.pacing.no_pacer();
        }
        bytes
    }

    /// While resting, where a publish should send the stream: its worker's pacer.
    fn route(&mut self) -> Option<Route> {
        let (until, horizon) = self.pacing.resting()?;
        if self.inbox.is_none() {
            self.inbox = pacer::inbox();
        }
        Some(Route {
            inbox: Arc::clone(self.inbox.as_ref()?),
            not_before: Instant::from_std(until),
            horizon: Instant::from_std(horizon),
        })
    }

    /// Reads and, when there is nothing, lists the stream on its topics and reads once more
    /// (a publish between the two then still wakes it). `None`: wait.
    fn read(&mut self, cx: &Context<'_>) -> Option<Bytes> {
        let mut listed = false;
        loop {
            match self.subscriber.read() {
                Next::Chunk {
                    bytes,
                    events,
                    cut_short,
                } => return Some(self.wrote(bytes, events, cut_short, cx)),
                Next::End { why, first } => return Some(self.end(why, first)),
                Next::Nothing if listed => return None,
                Next::Nothing => {
                    self.subscriber.listen(cx.waker(), None);
                    listed = true;
                }
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        tracing::debug!(
            duration_ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX),
            reason = self.closed.reason(),
            "stream closed"
        );
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
            // The prelude goes out with the first read (the start of a replay, or the welcome)
            // in one chunk: a new stream is one write.
            this.last_traffic = Instant::now();
            let first = match this.subscriber.read() {
                Next::Chunk { bytes, events, .. } => {
                    this.stats.delivered(events);
                    bytes
                }
                Next::End { why, first } => this.end(why, first),
                Next::Nothing => Bytes::new(),
            };
            let mut chunk = BytesMut::with_capacity(prelude.len() + first.len());
            chunk.extend_from_slice(&prelude);
            chunk.extend_from_slice(&first);
            return Poll::Ready(Some(Ok(chunk.freeze())));
        }
        if let Some(expiry) = this.expiry.as_mut()
            && expiry.as_mut().poll(cx).is_ready()
        {
            this.done = true;
            this.closed = Closed::TokenExpired;
            return Poll::Ready(Some(Ok(this.retry_frame.clone())));
        }
        if let Some(why) = this.subscriber.ended() {
            return Poll::Ready(Some(Ok(this.end(why, false))));
        }
        loop {
            let pending = this.subscriber.pending();
            match this.pacing.poll(std::time::Instant::now(), pending) {
                Step::Write => match this.read(cx) {
                    Some(chunk) => return Poll::Ready(Some(Ok(chunk))),
                    None => break,
                },
                Step::WaitForEvents => {
                    let route = this.route();
                    this.subscriber.listen(cx.waker(), route);
                    // Listed first, then looked again: nothing published in between is missed.
                    if !this.subscriber.pending() {
                        break;
                    }
                }
                Step::JoinPacer(until) => {
                    if pacer::wait(Instant::from_std(until), cx.waker()) {
                        break;
                    }
                    this.pacing.no_pacer();
                }
                Step::StayPaced => break,
            }
        }
        if this.poll_heartbeat(cx) {
            this.last_traffic = Instant::now();
            let next = this.last_traffic + this.heartbeat_every;
            this.heartbeat.as_mut().reset(next);
            return Poll::Ready(Some(Ok(this.heartbeat_frame.clone())));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt as _, StreamExt as _};
    use shared::TopicName;

    use super::*;
    use crate::hub::log::NewEvent;
    use crate::hub::memory::{LogLimits, MemoryLog};

    fn hub() -> Arc<Hub> {
        let log = MemoryLog::new(LogLimits {
            history_len: 100,
            history_age: Duration::from_secs(60),
            history_bytes: usize::MAX,
            max_topics: 10,
        });
        Arc::new(Hub::new(Arc::new(log), 8, Duration::from_secs(2)))
    }

    fn stream(hub: &Arc<Hub>, topics: &[TopicName], pace: Duration) -> EventStream {
        let stats = Arc::new(Stats::default());
        let subscription = hub
            .subscribe(topics, None, None)
            .now_or_never()
            .unwrap()
            .unwrap();
        let permit = ConnectionPermit::try_acquire(&stats, 10).unwrap();
        let timing = Timing {
            heartbeat: Duration::from_secs(60),
            pace,
        };
        EventStream::new(subscription, permit, hub, stats, timing)
    }

    fn next(stream: &mut EventStream) -> Bytes {
        stream
            .next()
            .now_or_never()
            .expect("a chunk at once, not a wait")
            .unwrap()
            .unwrap()
    }

    /// Off an actix worker there is no pacer: a stream must still write every event at once.
    #[tokio::test]
    async fn without_a_pacer_every_event_is_written_unpaced() {
        let hub = hub();
        let topic = TopicName::list(["t"]).unwrap();
        let mut stream = stream(&hub, &topic, Duration::from_secs(60));
        let welcome = format!("data: {}\n\n", shared::names::WELCOME_TEXT);
        assert!(
            next(&mut stream).ends_with(welcome.as_bytes()),
            "prelude and welcome"
        );
        for data in ["one", "two", "three"] {
            hub.publish(&NewEvent::new(&topic, None, data))
                .now_or_never()
                .unwrap()
                .unwrap();
            let chunk = next(&mut stream);
            assert!(chunk.ends_with(format!("data: {data}\n\n").as_bytes()));
        }
    }
}
