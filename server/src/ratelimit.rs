//! A per-client token bucket for unauthenticated publishes to open topics.
//!
//! A client is an IPv4 address or an IPv6 /64 (one host usually holds a whole /64, so counting
//! its addresses apart would give it billions of buckets). The table is bounded; when it is
//! full the client seen least recently is forgotten, so a newcomer always gets a bucket: a crowd
//! of addresses can make the limiter forget, never make it refuse everyone.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Clients tracked at once: a bucket is a few dozen bytes, so the table stays under a megabyte.
const MAX_CLIENTS: usize = 10_000;

/// The bits of an IPv6 address that name its network: a /64.
const IPV6_NETWORK: u128 = !0 << 64;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Allows `rate` publishes a second per client, in bursts of up to `burst`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    table: Mutex<Table>,
}

impl RateLimiter {
    /// A limiter of `rate` per second with bursts of `burst`.
    #[must_use]
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self::with_capacity(rate, burst, MAX_CLIENTS)
    }

    fn with_capacity(rate: f64, burst: f64, capacity: usize) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            table: Mutex::new(Table::new(capacity)),
        }
    }

    /// Takes one token for `client`, or says how long until one is available.
    ///
    /// # Errors
    /// The wait until the next publish would be allowed.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = Bucket {
            tokens: self.burst,
            at: now,
        };
        let bucket = table.touch(client_key(client), fresh);
        *bucket = refill(*bucket, self.rate, self.burst, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// Who a bucket belongs to: an IPv4 address (also when written IPv4-mapped in IPv6), or the /64
/// an IPv6 address belongs to.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & IPV6_NETWORK)),
    }
}

fn refill(bucket: Bucket, rate: f64, burst: f64, now: Instant) -> Bucket {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    Bucket {
        tokens: (bucket.tokens + elapsed * rate).min(burst),
        at: now,
    }
}

/// Buckets by client, with the order they were last seen in.
///
/// The order is a queue of `(client, stamp)`, one pushed per look-up; an entry is current when
/// its stamp is the client's latest. Evicting pops stale entries until it finds a current one:
/// the least recently seen client. Each entry is pushed once and popped at most once, so this
/// costs O(1) amortized, and the queue is compacted when stale entries pile up.
#[derive(Debug)]
struct Table {
    capacity: usize,
    buckets: HashMap<IpAddr, (Bucket, u64)>,
    order: VecDeque<(IpAddr, u64)>,
    stamp: u64,
}

impl Table {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            buckets: HashMap::new(),
            order: VecDeque::new(),
            stamp: 0,
        }
    }

    /// The bucket of `client`, made `fresh` if it has none, and marked as seen last.
    fn touch(&mut self, client: IpAddr, fresh: Bucket) -> &mut Bucket {
        if !self.buckets.contains_key(&client) {
            while self.buckets.len() >= self.capacity {
                self.evict_least_recent();
            }
        }
        self.stamp += 1;
        let stamp = self.stamp;
        self.order.push_back((client, stamp));
        // Stale entries past the live ones: drop them all, O(queue) once per `capacity` pushes.
        if self.order.len() > 2 * self.capacity {
            let buckets = &self.buckets;
            self.order.retain(|(key, seen)| {
                (*key, *seen) == (client, stamp)
                    || buckets.get(key).is_some_and(|(_, latest)| latest == seen)
            });
        }
        let entry = self.buckets.entry(client).or_insert((fresh, stamp));
        entry.1 = stamp;
        &mut entry.0
    }

    fn evict_least_recent(&mut self) {
        while let Some((client, seen)) = self.order.pop_front() {
            if self
                .buckets
                .get(&client)
                .is_some_and(|(_, latest)| *latest == seen)
            {
                self.buckets.remove(&client);
                return;
            }
        }
        // Unreachable while every bucket has its current entry in the queue; clearing keeps
        // the table bounded even if that ever broke.
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// A limiter whose buckets hold one token and practically never refill.
    fn strict(capacity: usize) -> RateLimiter {
        RateLimiter::with_capacity(1e-9, 1.0, capacity)
    }

    #[test]
    fn bursts_then_refills() {
        let limiter = RateLimiter::new(2.0, 3.0);
        let client = ip("127.0.0.1");
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(client, start).is_ok());
        }
        let wait = limiter.check(client, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limiter
                .check(client, start + Duration::from_millis(500))
                .is_ok()
        );
        assert!(limiter.check(ip("127.0.0.2"), start).is_ok());
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client() {
        let limiter = strict(100);
        let now = Instant::now();
        assert!(limiter.check(ip("2001:db8:1:2::1"), now).is_ok());
        // Another address in the same /64: the same, spent, bucket.
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), now).is_err());
        // The next /64 is another client.
        assert!(limiter.check(ip("2001:db8:1:3::1"), now).is_ok());
        // IPv4, written plainly or IPv4-mapped, is one client per address.
        assert!(limiter.check(ip("192.0.2.7"), now).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.7"), now).is_err());
        assert!(limiter.check(ip("192.0.2.8"), now).is_ok());
    }

    #[test]
    fn a_full_table_forgets_the_least_recently_seen_first() {
        let limiter = strict(3);
        let now = Instant::now();
        for client in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            assert!(limiter.check(ip(client), now).is_ok());
        }
        // Seen again (and refused): now the most recent.
        assert!(limiter.check(ip("10.0.0.1"), now).is_err());
        // A fourth client pushes out the least recent, .2, whose spent bucket is forgotten.
        assert!(limiter.check(ip("10.0.0.4"), now).is_ok());
        assert!(limiter.check(ip("10.0.0.2"), now).is_ok());
        // That pushed out .3; .1 and .4 are still remembered, and still spent.
        assert!(limiter.check(ip("10.0.0.1"), now).is_err());
        assert!(limiter.check(ip("10.0.0.4"), now).is_err());
        assert!(limiter.check(ip("10.0.0.3"), now).is_ok());
    }

    #[test]
    fn a_full_table_never_refuses_a_newcomer() {
        let limiter = strict(100);
        let now = Instant::now();
        for n in 0..100u32 {
            assert!(limiter.check(IpAddr::from(n.to_be_bytes()), now).is_ok());
        }
        // Every tracked client is spent; thousands of new ones still get their first publish.
        for n in 1000..6000u32 {
            assert!(
                limiter.check(IpAddr::from(n.to_be_bytes()), now).is_ok(),
                "client {n} refused"
            );
        }
    }

    #[test]
    fn the_table_and_its_queue_stay_bounded() {
        let limiter = strict(50);
        let now = Instant::now();
        for round in 0..20_000u32 {
            // A few regulars seen over and over, and a stream of passers-by.
            let _ = limiter.check(IpAddr::from((round % 7).to_be_bytes()), now);
            let _ = limiter.check(IpAddr::from((1000 + round).to_be_bytes()), now);
        }
        let table = limiter.table.lock().unwrap();
        assert_eq!(table.buckets.len(), 50);
        assert!(table.order.len() <= 2 * 50 + 1, "{}", table.order.len());
        // Every bucket still has its current entry, so eviction stays exact.
        for (client, (_, latest)) in &table.buckets {
            assert!(table.order.contains(&(*client, *latest)));
        }
    }
}
