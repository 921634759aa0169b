//! When to reconnect: exponential backoff from the server's `retry:` (or our own base), with
//! jitter, so that a crowd of clients cut at once by a restart does not come back at once.
//!
//! The delay of attempt `n` (from 0) is `base * 2^n`, capped, then drawn uniformly from its
//! upper half ("equal jitter"): never less than half the computed delay, so the server's
//! `retry:` is honoured as a floor in spirit, and never more than the cap.

use std::time::Duration;

/// How reconnection delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay when the server has not sent `retry:`. Herald always sends one.
    pub base: Duration,
    /// No delay is longer, whatever the attempt or the server's hint.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            // The browsers' default reconnection time is a few seconds; a service can afford to
            // be quicker on the first try, and the doubling protects the server after that.
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before reconnection attempt `attempt` (0 for the first after a drop), given
    /// the server's last `retry:` in milliseconds, with `unit` a random number in `[0, 1)`.
    #[must_use]
    pub fn delay(&self, attempt: u32, server_retry: Option<u64>, unit: f64) -> Duration {
        let base = server_retry.map_or(self.base, Duration::from_millis);
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        let full = base.saturating_mul(factor).min(self.max);
        let half = full / 2;
        half + (full - half).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// As [`Backoff::delay`], at least `floor` (a `Retry-After` the server sent with a 503 or
    /// a 429), itself capped.
    #[must_use]
    pub fn delay_at_least(
        &self,
        attempt: u32,
        server_retry: Option<u64>,
        floor: Option<Duration>,
        unit: f64,
    ) -> Duration {
        let delay = self.delay(attempt, server_retry, unit);
        floor.map_or(delay, |floor| delay.max(floor.min(self.max)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> Backoff {
        Backoff {
            base: 100 * MS,
            max: 2_000 * MS,
        }
    }

    #[test]
    fn doubles_per_attempt_up_to_the_cap() {
        let delays: Vec<_> = (0..7).map(|n| policy().delay(n, None, 1.0)).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1_600, 2_000, 2_000].map(|ms| ms * MS)
        );
        assert_eq!(policy().delay(u32::MAX, None, 1.0), 2_000 * MS);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let policy = policy();
        assert_eq!(policy.delay(2, None, 0.0), 200 * MS);
        assert_eq!(policy.delay(2, None, 0.5), 300 * MS);
        for _ in 0..1_000 {
            let delay = policy.delay(3, None, fastrand::f64());
            assert!((400 * MS..=800 * MS).contains(&delay), "{delay:?}");
        }
        // Out-of-range randomness cannot escape the bounds.
        assert_eq!(policy.delay(0, None, 7.0), 100 * MS);
        assert_eq!(policy.delay(0, None, -1.0), 50 * MS);
    }

    #[test]
    fn the_servers_retry_replaces_the_base() {
        assert_eq!(policy().delay(0, Some(300), 1.0), 300 * MS);
        assert_eq!(policy().delay(1, Some(300), 1.0), 600 * MS);
        assert_eq!(policy().delay(0, Some(0), 1.0), Duration::ZERO);
        // A huge hint is still capped.
        assert_eq!(policy().delay(0, Some(u64::MAX), 1.0), 2_000 * MS);
    }

    #[test]
    fn retry_after_is_a_floor_within_the_cap() {
        let floor = Some(1_500 * MS);
        assert_eq!(policy().delay_at_least(0, None, floor, 0.0), 1_500 * MS);
        assert_eq!(policy().delay_at_least(5, None, floor, 1.0), 2_000 * MS);
        let far = Some(Duration::from_secs(3_600));
        assert_eq!(policy().delay_at_least(0, None, far, 0.0), 2_000 * MS);
        assert_eq!(policy().delay_at_least(0, None, None, 1.0), 100 * MS);
    }
}
