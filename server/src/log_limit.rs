//! Warnings caused by clients, rate-limited: each kind (each call site of [`warn_limited!`]) logs
//! at most [`PER_SECOND`] lines a second and counts what it held back, so a flood of bad
//! requests shows in the log as a few lines with a count instead of as the flood itself.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Lines one kind of warning may log per second: enough to see what is happening, too few to
/// fill a disk or bury other lines.
pub(crate) const PER_SECOND: u32 = 5;

/// The window the limit counts in.
const WINDOW: Duration = Duration::from_secs(1);

/// The budget of one kind of warning.
#[derive(Debug)]
pub(crate) struct LogLimit {
    per_window: u32,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimit {
    /// A budget of `per_second` lines a second.
    #[must_use]
    pub(crate) const fn new(per_second: u32) -> Self {
        Self {
            per_window: per_second,
            state: Mutex::new(Window {
                started: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether one more line may be logged at `now`: `Some(n)` with the `n` lines held back
    /// since the last one logged, or `None` (and it is counted) when over budget.
    pub(crate) fn admit(&self, now: Instant) -> Option<u64> {
        let mut window = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = window
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= WINDOW);
        if expired {
            window.started = Some(now);
            window.logged = 0;
        }
        if window.logged < self.per_window {
            window.logged += 1;
            Some(std::mem::take(&mut window.suppressed))
        } else {
            window.suppressed += 1;
            None
        }
    }
}

/// `tracing::warn!`, at most [`PER_SECOND`] times a second from this call site; each line logged
/// carries `suppressed`, the count held back since the previous one.
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMIT: $crate::log_limit::LogLimit =
            $crate::log_limit::LogLimit::new($crate::log_limit::PER_SECOND);
        if let Some(suppressed) = LIMIT.admit(::std::time::Instant::now()) {
            ::tracing::warn!(suppressed, $($arg)+);
        }
    }};
}
pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_a_second_and_the_rest_counted() {
        let limit = LogLimit::new(3);
        let start = Instant::now();
        let admitted: Vec<_> = (0..10).map(|_| limit.admit(start)).collect();
        assert_eq!(admitted[..3], [Some(0), Some(0), Some(0)]);
        assert!(admitted[3..].iter().all(Option::is_none));
        // Still the same second: still over budget, still counting.
        assert_eq!(limit.admit(start + Duration::from_millis(999)), None);
        // The next second: the first line says how many were held back.
        let later = start + Duration::from_secs(1);
        assert_eq!(limit.admit(later), Some(8));
        assert_eq!(limit.admit(later), Some(0));
    }

    #[test]
    fn kinds_have_separate_budgets() {
        let (first, second) = (LogLimit::new(1), LogLimit::new(1));
        let now = Instant::now();
        assert_eq!(first.admit(now), Some(0));
        assert_eq!(first.admit(now), None);
        assert_eq!(second.admit(now), Some(0));
    }
}
