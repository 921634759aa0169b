//! Local fan-out: which streams wait on which topic, and waking them when the topic grows.
//!
//! A stream that has read everything lists itself on each of its topics and sleeps. A publish
//! appends once and then wakes whoever is listed on its topics, and unlists them: a stream that
//! is pacing (it wrote a moment ago) is not listed, so a burst costs it no wake-up per event. A
//! stream is listed at most once per topic, whatever the number of publishes meanwhile.
//!
//! A stream resting after a write (it may not write again before its pace is over) lists itself
//! with a [`Route`]: a publish then hands it to its worker's pacer rather than waking it, so it
//! is polled once, when it may write, instead of once to queue at the pacer and once to write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use shared::TopicName;
use tokio::time::Instant;

use crate::pacer::Inbox;

/// Where a publish sends a resting stream: to its worker's pacer, due at `not_before`, as long
/// as the publish comes before `horizon`.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) not_before: Instant,
    pub(crate) horizon: Instant,
}

/// What wakes one stream: shared by its listings on every topic it reads.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    waker: AtomicWaker,
    route: Mutex<Option<Route>>,
}

impl Signal {
    /// Wakes the stream, if it registered a waker.
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Has `waker` woken by the next [`Signal::wake`].
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// How the next publish reaches the stream: through `route`, or (`None`) by waking it.
    pub(crate) fn route(&self, route: Option<Route>) {
        *lock(&self.route) = route;
    }

    /// A publish reached the stream at `now`: hands it to its pacer when it is resting, wakes
    /// it otherwise.
    fn notify(&self, now: Instant) {
        let route = lock(&self.route);
        match &*route {
            Some(route) if now < route.horizon => {
                // Taken, not woken: the pacer wakes it. (`None` while the stream registers a
                // new waker: that registration then wakes it at once, so nothing is lost.)
                if let Some(waker) = self.waker.take() {
                    route.inbox.push(route.not_before, waker);
                }
            }
            _ => {
                drop(route);
                self.waker.wake();
            }
        }
    }
}

/// One stream's place on one topic's list.
#[derive(Debug)]
struct Listing {
    listed: AtomicBool,
    signal: Arc<Signal>,
}

/// The streams waiting on one topic.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    listed: Mutex<Vec<Arc<Listing>>>,
    /// A spare list, so that waking does not allocate: the woken list is swapped out under the
    /// lock and its allocation handed back afterwards.
    spare: Mutex<Vec<Arc<Listing>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing under these locks can panic halfway through a change.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Waiters {
    /// Wakes every stream listed (or hands it to its pacer) and unlists it.
    pub(crate) fn wake_all(&self) {
        let mut woken = std::mem::take(&mut *lock(&self.spare));
        std::mem::swap(&mut *lock(&self.listed), &mut woken);
        let now = Instant::now();
        for listing in woken.drain(..) {
            listing.listed.store(false, Ordering::Release);
            listing.signal.notify(now);
        }
        let mut spare = lock(&self.spare);
        if woken.capacity() > spare.capacity() {
            *spare = woken;
        }
    }

    fn list(&self, listing: &Arc<Listing>) {
        if !listing.listed.swap(true, Ordering::AcqRel) {
            lock(&self.listed).push(Arc::clone(listing));
        }
    }

    /// Drops listings of streams that are gone; run when the list outgrows its live readers.
    fn prune(&self, live: usize) {
        let mut listed = lock(&self.listed);
        if listed.len() > 2 * live + 16 {
            // A listing held only here (and by its signal's owner being gone) belongs to a
            // stream that ended while listed.
            listed.retain(|listing| Arc::strong_count(listing) > 1);
        }
    }
}

/// Every topic's waiters on this node.
#[derive(Debug, Default)]
pub(crate) struct Fanout {
    topics: Mutex<HashMap<TopicName, Arc<Waiters>>>,
}

impl Fanout {
    /// Wakes the streams waiting on `topics`.
    pub(crate) fn wake(&self, topics: &[TopicName]) {
        for name in topics {
            let waiters = lock(&self.topics).get(name).cloned();
            if let Some(waiters) = waiters {
                waiters.wake_all();
            }
        }
    }

    /// A stream's way onto the lists of `topics`, all waking `signal`.
    #[must_use]
    pub(crate) fn join(self: &Arc<Self>, topics: &[TopicName], signal: &Arc<Signal>) -> Membership {
        let mut map = lock(&self.topics);
        let places = topics
            .iter()
            .map(|name| Place {
                waiters: Arc::clone(map.entry(name.clone()).or_default()),
                listing: Arc::new(Listing {
                    listed: AtomicBool::new(false),
                    signal: Arc::clone(signal),
                }),
            })
            .collect();
        Membership {
            fanout: Arc::clone(self),
            topics: topics.to_vec(),
            places,
        }
    }

    /// Topics with waiters' lists.
    #[cfg(test)]
    pub(crate) fn topic_count(&self) -> usize {
        lock(&self.topics).len()
    }
}

#[derive(Debug)]
struct Place {
    waiters: Arc<Waiters>,
    listing: Arc<Listing>,
}

/// A stream's places on its topics' lists; leaving (dropping) forgets lists nobody holds.
#[derive(Debug)]
pub(crate) struct Membership {
    fanout: Arc<Fanout>,
    topics: Vec<TopicName>,
    places: Vec<Place>,
}

impl Membership {
    /// Lists the stream on every topic where it is not listed already.
    pub(crate) fn list(&self) {
        for place in &self.places {
            place.waiters.list(&place.listing);
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut map = lock(&self.fanout.topics);
        for (name, place) in self.topics.iter().zip(self.places.drain(..)) {
            drop(place.listing);
            // The map's reference plus this one: nobody else reads the topic.
            if Arc::strong_count(&place.waiters) == 2 {
                map.remove(name);
            } else {
                let live = Arc::strong_count(&place.waiters) - 2;
                place.waiters.prune(live);
            }
        }
    }
}

impl super::log::Arrivals for Fanout {
    fn arrived(&self, topics: &[TopicName]) {
        self.wake(topics);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn stream(fanout: &Arc<Fanout>, topics: &[&str]) -> (Arc<Counter>, Membership) {
        let counter = Arc::new(Counter::default());
        let signal = Arc::new(Signal::default());
        signal.register(&Waker::from(Arc::clone(&counter)));
        let membership = fanout.join(&TopicName::list(topics).unwrap(), &signal);
        (counter, membership)
    }

    fn wakes(counter: &Counter) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_listed_stream_is_woken_once_then_unlisted() {
        let fanout = Arc::new(Fanout::default());
        let (counter, membership) = stream(&fanout, &["a", "b"]);
        let a = TopicName::list(["a"]).unwrap();
        fanout.wake(&a);
        assert_eq!(
            wakes(&counter),
            0,
            "not listed: pacing streams are not woken"
        );
        membership.list();
        membership.list();
        fanout.wake(&a);
        fanout.wake(&a);
        assert_eq!(wakes(&counter), 1, "listed once, woken once");
    }

    #[test]
    fn a_resting_stream_is_handed_to_its_pacer_until_its_horizon_then_woken() {
        let fanout = Arc::new(Fanout::default());
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        let signal = Arc::new(Signal::default());
        let a = TopicName::list(["a"]).unwrap();
        let membership = fanout.join(&a, &signal);
        let inbox = Arc::new(Inbox::default());
        let now = Instant::now();
        let route = |horizon| Route {
            inbox: Arc::clone(&inbox),
            not_before: now,
            horizon,
        };

        signal.route(Some(route(now + std::time::Duration::from_secs(60))));
        signal.register(&waker);
        membership.list();
        fanout.wake(&a);
        assert_eq!(wakes(&counter), 0, "not woken: the pacer will");
        assert_eq!(inbox.len(), 1, "handed to the pacer");

        // Past its horizon, the route is stale: the stream is woken as an idle one.
        signal.route(Some(route(now)));
        signal.register(&waker);
        membership.list();
        fanout.wake(&a);
        assert_eq!(wakes(&counter), 1);
        assert_eq!(inbox.len(), 1);
    }

    #[test]
    fn lists_are_forgotten_with_their_last_member() {
        let fanout = Arc::new(Fanout::default());
        let (_, first) = stream(&fanout, &["a", "b"]);
        let (_, second) = stream(&fanout, &["b"]);
        assert_eq!(fanout.topic_count(), 2);
        drop(first);
        assert_eq!(fanout.topic_count(), 1);
        drop(second);
        assert_eq!(fanout.topic_count(), 0);
    }

    #[test]
    fn listings_of_gone_streams_do_not_pile_up() {
        let fanout = Arc::new(Fanout::default());
        let (_, keeper) = stream(&fanout, &["a"]);
        for _ in 0..1000 {
            let (_, passing) = stream(&fanout, &["a"]);
            passing.list();
        }
        let waiters = Arc::clone(&keeper.places[0].waiters);
        assert!(
            lock(&waiters.listed).len() <= 2 + 16,
            "pruned as streams leave"
        );
    }
}
