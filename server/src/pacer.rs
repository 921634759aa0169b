//! Per-worker pacing of stream writes: streams that have just written wait here, off the run
//! queue, and are let go in small batches once their interval has passed.
//!
//! Why a queue of its own: a stream that waited on a timer of its own would rejoin the worker's
//! run queue the moment its timer fired. Under load every stream's timer has fired, so the run
//! queue holds every stream, and a publish request that becomes readable waits behind all of
//! them: one publish per connection per round, however long the round. Here, at most
//! [`BATCH`] streams are let go at a time, then the pacer steps to the back of the run queue:
//! publishers get a turn every batch, so more events are waiting when a stream's turn comes,
//! and each write carries more of them.
//!
//! Streams arrive two ways: a stream queues itself ([`wait`]), or a publish, on any thread,
//! hands a resting stream's waker to its pacer's [`Inbox`] instead of waking it: the stream is
//! then polled once, to write, rather than once to queue here and once more to write.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use tokio::time::{Instant, Sleep};

/// Streams let go before the pacer lets everything else on the worker run.
const BATCH: usize = 32;

#[derive(Debug, Default)]
struct Waiting {
    /// Oldest first; `not_before` grows along the queue but for streams due at once.
    streams: VecDeque<(Instant, Waker)>,
    /// The pacer task's waker while it waits for a stream to arrive.
    idle: Option<Waker>,
}

/// Where other threads hand streams to one worker's pacer.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    arrivals: Mutex<Vec<(Instant, Waker)>>,
    pacer: AtomicWaker,
}

impl Inbox {
    /// Queues `waker` at this pacer, to be woken no earlier than `not_before`.
    pub(crate) fn push(&self, not_before: Instant, waker: Waker) {
        self.arrivals
            .lock()
            // A push cannot panic halfway: the list stays whole.
            .unwrap_or_else(PoisonError::into_inner)
            .push((not_before, waker));
        self.pacer.wake();
    }

    /// Streams handed over and not yet taken by the pacer.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn drain_into(&self, streams: &mut VecDeque<(Instant, Waker)>) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
        streams.extend(arrivals.drain(..));
    }
}

/// One worker's pacer: its queue, and its inbox for other threads.
#[derive(Debug, Clone)]
struct Handle {
    waiting: Rc<RefCell<Waiting>>,
    inbox: Arc<Inbox>,
}

thread_local! {
    /// This worker thread's pacer, started by the first stream that needs it.
    static PACER: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Has `waker` woken no earlier than `not_before`, in its turn. Returns `false` where there is
/// no worker to pace on (not on an actix worker thread); the caller then writes unpaced.
pub(crate) fn wait(not_before: Instant, waker: &Waker) -> bool {
    let Some(pacer) = pacer() else {
        return false;
    };
    let mut waiting = pacer.waiting.borrow_mut();
    waiting.streams.push_back((not_before, waker.clone()));
    if let Some(idle) = waiting.idle.take() {
        idle.wake();
    }
    true
}

/// This worker's inbox, where a publish on any thread can queue a stream of this worker;
/// `None` off a worker thread.
pub(crate) fn inbox() -> Option<Arc<Inbox>> {
    pacer().map(|pacer| pacer.inbox)
}

/// How many streams wait at this worker's pacer: the worker's busy streams. Zero off a worker
/// or before its first paced write.
pub(crate) fn crowd() -> usize {
    PACER.with(|cell| {
        cell.borrow()
            .as_ref()
            .map_or(0, |pacer| pacer.waiting.borrow().streams.len())
    })
}

fn pacer() -> Option<Handle> {
    PACER.with(|cell| {
        let mut cell = cell.borrow_mut();
        if let Some(pacer) = &*cell {
            return Some(pacer.clone());
        }
        // Streams are polled by actix workers, each a thread running its tasks on a local set;
        // elsewhere there is nothing to spawn the pacer on.
        actix_rt::Arbiter::try_current()?;
        let pacer = Handle {
            waiting: Rc::new(RefCell::new(Waiting::default())),
            inbox: Arc::new(Inbox::default()),
        };
        tokio::task::spawn_local(Pacer {
            waiting: Rc::clone(&pacer.waiting),
            inbox: Arc::clone(&pacer.inbox),
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
        });
        *cell = Some(pacer.clone());
        Some(pacer)
    })
}

/// The task that lets waiting streams go.
struct Pacer {
    waiting: Rc<RefCell<Waiting>>,
    inbox: Arc<Inbox>,
    timer: Pin<Box<Sleep>>,
}

impl Future for Pacer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let now = Instant::now();
        let mut released = 0;
        let mut waiting = this.waiting.borrow_mut();
        // Registered before draining: an arrival after the drain wakes this task again.
        this.inbox.pacer.register(cx.waker());
        this.inbox.drain_into(&mut waiting.streams);
        while released < BATCH {
            let Some(&(not_before, _)) = waiting.streams.front() else {
                waiting.idle = Some(cx.waker().clone());
                return Poll::Pending;
            };
            if not_before > now {
                // Nothing is due yet: sleep until the oldest is (a stream arriving meanwhile
                // is due later still). A timer that has already fired means it is due.
                if this.timer.deadline() != not_before {
                    this.timer.as_mut().reset(not_before);
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            if let Some((_, stream)) = waiting.streams.pop_front() {
                stream.wake();
                released += 1;
            }
        }
        // A batch went: step behind it and whatever else is ready (publishers among them).
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;

    /// Registers with the pacer on its first poll; done when woken, noting when.
    struct Waiter {
        not_before: Instant,
        registered: bool,
        woken_at: Rc<Cell<Option<Instant>>>,
    }

    impl Future for Waiter {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.registered {
                self.woken_at.set(Some(Instant::now()));
                return Poll::Ready(());
            }
            assert!(wait(self.not_before, cx.waker()), "on a worker thread");
            self.registered = true;
            Poll::Pending
        }
    }

    /// Hands itself to this worker's inbox from another thread on its first poll.
    struct Handed {
        not_before: Instant,
        handed: bool,
    }

    impl Future for Handed {
        type Output = Instant;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
            if self.handed {
                return Poll::Ready(Instant::now());
            }
            let inbox = inbox().expect("on a worker thread");
            let (waker, not_before) = (cx.waker().clone(), self.not_before);
            std::thread::spawn(move || inbox.push(not_before, waker))
                .join()
                .expect("the pushing thread");
            self.handed = true;
            Poll::Pending
        }
    }

    #[actix_web::test]
    async fn a_stream_handed_over_from_another_thread_is_let_go_in_its_time() {
        let not_before = Instant::now() + Duration::from_millis(20);
        let task = actix_web::rt::spawn(Handed {
            not_before,
            handed: false,
        });
        let woken_at = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("let go")
            .unwrap();
        assert!(
            woken_at + Duration::from_millis(1) >= not_before,
            "woken before its time"
        );
    }

    #[actix_web::test]
    async fn every_waiting_stream_is_let_go_and_none_before_its_time() {
        let start = Instant::now();
        let mut waiters = Vec::new();
        // More than a batch at each of three moments, registered in time order as streams do.
        for step in 0..3u32 {
            for _ in 0..BATCH + 5 {
                let woken_at = Rc::new(Cell::new(None));
                let not_before = start + Duration::from_millis(20) * step;
                let task = actix_web::rt::spawn(Waiter {
                    not_before,
                    registered: false,
                    woken_at: Rc::clone(&woken_at),
                });
                waiters.push((not_before, woken_at, task));
            }
        }
        for (not_before, woken_at, task) in waiters {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("let go")
                .unwrap();
            let woken_at = woken_at.get().unwrap();
            assert!(woken_at >= not_before, "woken before its time");
        }
    }
}
