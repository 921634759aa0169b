//! A subscriber's queue: bounded, shared between the hub (senders) and one stream (receiver),
//! and able to hold back wake-ups while its stream paces its writes.
//!
//! Why not `tokio::sync::mpsc`: that channel allocates a block of slots per queue up front
//! (about a kilobyte per idle connection) and wakes its receiver on every send. This one
//! allocates only when something is queued, and a pacing stream (one that wrote a moment ago)
//! is not woken per event: it comes back on its own timer and takes the whole backlog in one
//! write, unless the backlog reaches half the bound first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue holds its bound: the subscriber fell behind.
    Full,
    /// The stream is gone.
    Closed,
}

#[derive(Debug)]
struct Inner {
    frames: VecDeque<Bytes>,
    /// The stream's waker, while it waits for frames (or, pacing, for an urgent backlog).
    waker: Option<Waker>,
    /// Set while the stream paces: a send wakes it only once the backlog is urgent.
    pacing: bool,
    /// Live senders; the queue closes when the last one goes.
    senders: usize,
    /// No sender is left, or the receiver is gone.
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    bound: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section below leaves `Inner` consistent at each step, so a panic in
        // one (there is no code that can panic in them) would not leave it half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Backlog at which a pacing stream is woken anyway, so pacing never gets anyone cut.
    fn urgent(&self) -> usize {
        self.bound.div_ceil(2)
    }
}

/// The hub's end of a queue. Clones share it; the queue closes when the last clone is dropped.
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

/// The stream's end of a queue.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
}

/// A queue holding at most `bound` frames (at least one).
#[must_use]
pub fn queue(bound: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            frames: VecDeque::new(),
            waker: None,
            pacing: false,
            senders: 1,
            closed: false,
        }),
        bound: bound.max(1),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

impl Sender {
    /// Queues `frame` unless the queue is full or closed; never waits.
    ///
    /// # Errors
    /// [`SendError::Full`] when the subscriber has `bound` frames pending,
    /// [`SendError::Closed`] when its stream is gone.
    pub fn try_send(&self, frame: Bytes) -> Result<(), SendError> {
        let waker = {
            let mut inner = self.shared.lock();
            if inner.closed {
                return Err(SendError::Closed);
            }
            if inner.frames.len() >= self.shared.bound {
                return Err(SendError::Full);
            }
            inner.frames.push_back(frame);
            if inner.pacing && inner.frames.len() < self.shared.urgent() {
                None
            } else {
                inner.waker.take()
            }
        };
        // Woken outside the lock: the stream may run on another thread and lock at once.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.shared.lock();
            inner.senders -= 1;
            if inner.senders > 0 {
                return;
            }
            inner.closed = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// What [`Receiver::poll_take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Frames were moved into the caller's buffer.
    Frames,
    /// Nothing is queued and nothing will be: every sender is gone.
    Closed,
}

impl Receiver {
    /// Moves every queued frame into `into` (which must be empty; its allocation is swapped
    /// in, so steady traffic allocates nothing). With nothing queued, registers `cx` to be
    /// woken by the next frame, or by the queue closing, and stops pacing.
    pub fn poll_take(&self, cx: &Context<'_>, into: &mut VecDeque<Bytes>) -> Poll<Taken> {
        debug_assert!(into.is_empty(), "the caller's buffer is drained first");
        let mut inner = self.shared.lock();
        if !inner.frames.is_empty() {
            std::mem::swap(&mut inner.frames, into);
            return Poll::Ready(Taken::Frames);
        }
        if inner.closed {
            return Poll::Ready(Taken::Closed);
        }
        watch(&mut inner, cx);
        Poll::Pending
    }

    /// Starts pacing: sends stop waking `cx` until the backlog is urgent or the queue closes.
    /// The worker's pacer brings the stream back, which then calls [`Receiver::poll_take`].
    pub fn pace(&self, cx: &Context<'_>) {
        let mut inner = self.shared.lock();
        inner.pacing = true;
        register(&mut inner.waker, cx);
    }

    /// Whether anything is queued; if not, registers `cx` to be woken by the next frame.
    pub fn has_frames(&self, cx: &Context<'_>) -> bool {
        let mut inner = self.shared.lock();
        if !inner.frames.is_empty() || inner.closed {
            return true;
        }
        watch(&mut inner, cx);
        false
    }

    /// Whether enough is queued that a pacing stream should write now, or the queue closed.
    #[must_use]
    pub fn is_urgent(&self) -> bool {
        let inner = self.shared.lock();
        inner.closed || inner.frames.len() >= self.shared.urgent()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.closed = true;
        // Frames nobody will read are let go now, not when the hub drops its senders.
        inner.frames = VecDeque::new();
        inner.waker = None;
    }
}

/// Ends pacing and has the next frame (or the queue closing) wake `cx`.
fn watch(inner: &mut Inner, cx: &Context<'_>) {
    inner.pacing = false;
    register(&mut inner.waker, cx);
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A receiver under test with the waker it registers.
    struct Probe {
        counter: Arc<Counter>,
        waker: Waker,
        receiver: Receiver,
        taken: VecDeque<Bytes>,
    }

    impl Probe {
        fn new(receiver: Receiver) -> Self {
            let counter = Arc::new(Counter::default());
            let waker = Waker::from(Arc::clone(&counter));
            Self {
                counter,
                waker,
                receiver,
                taken: VecDeque::new(),
            }
        }

        fn wakes(&self) -> usize {
            self.counter.0.load(Ordering::SeqCst)
        }

        /// Polls the queue into a fresh buffer; what was taken before is let go.
        fn take(&mut self) -> Poll<Taken> {
            self.taken.clear();
            let cx = Context::from_waker(&self.waker);
            self.receiver.poll_take(&cx, &mut self.taken)
        }

        fn pace(&self) {
            self.receiver.pace(&Context::from_waker(&self.waker));
        }
    }

    fn frame(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn frames_come_out_in_order_and_wake_a_waiting_receiver_once() {
        let (sender, receiver) = queue(8);
        let mut probe = Probe::new(receiver);
        assert_eq!(probe.take(), Poll::Pending);
        sender.try_send(frame("a")).unwrap();
        sender.try_send(frame("b")).unwrap();
        assert_eq!(probe.wakes(), 1, "one wake for a burst");
        assert_eq!(probe.take(), Poll::Ready(Taken::Frames));
        assert_eq!(probe.taken, [frame("a"), frame("b")]);
    }

    #[test]
    fn a_full_queue_refuses_and_a_dropped_receiver_closes_it() {
        let (sender, receiver) = queue(2);
        sender.try_send(frame("a")).unwrap();
        sender.try_send(frame("b")).unwrap();
        assert_eq!(sender.try_send(frame("c")), Err(SendError::Full));
        drop(receiver);
        assert_eq!(sender.try_send(frame("d")), Err(SendError::Closed));
    }

    #[test]
    fn the_queue_closes_with_its_last_sender_after_the_frames_are_taken() {
        let (sender, receiver) = queue(4);
        let mut probe = Probe::new(receiver);
        let second = sender.clone();
        sender.try_send(frame("a")).unwrap();
        drop(sender);
        assert_eq!(probe.take(), Poll::Ready(Taken::Frames));
        assert_eq!(probe.take(), Poll::Pending);
        drop(second);
        assert_eq!(probe.wakes(), 1, "closing wakes");
        assert_eq!(probe.take(), Poll::Ready(Taken::Closed));
    }

    #[test]
    fn a_pacing_receiver_is_woken_only_when_the_backlog_is_urgent() {
        let (sender, receiver) = queue(4);
        let mut probe = Probe::new(receiver);
        probe.pace();
        sender.try_send(frame("a")).unwrap();
        assert_eq!(probe.wakes(), 0);
        assert!(!probe.receiver.is_urgent());
        sender.try_send(frame("b")).unwrap();
        assert_eq!(probe.wakes(), 1, "half the bound is urgent");
        assert!(probe.receiver.is_urgent());
        // Taking and finding nothing more ends pacing: the next frame wakes at once.
        assert_eq!(probe.take(), Poll::Ready(Taken::Frames));
        assert_eq!(probe.take(), Poll::Pending);
        sender.try_send(frame("c")).unwrap();
        assert_eq!(probe.wakes(), 2);
    }

    #[test]
    fn has_frames_registers_a_sparse_receiver_for_the_next_frame() {
        let (sender, receiver) = queue(4);
        let probe = Probe::new(receiver);
        probe.pace();
        let cx = Context::from_waker(&probe.waker);
        assert!(!probe.receiver.has_frames(&cx));
        sender.try_send(frame("a")).unwrap();
        assert_eq!(
            probe.wakes(),
            1,
            "not pacing any more: the first frame wakes"
        );
        assert!(probe.receiver.has_frames(&cx));
    }
}
