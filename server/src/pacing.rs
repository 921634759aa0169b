//! When a stream writes: the pacing state machine, pure (no clock, no I/O), so that every
//! transition is tested on its own.
//!
//! A write costs the kernel about the same whether it carries one event or twenty, so a stream
//! that has just written holds its next write back for `pace`; whatever arrives meanwhile goes
//! out in one write. An event arriving a little later (within [`REST`] paces of the write) still
//! goes through the pacer, due at once: under load, one round of writes to every subscriber
//! takes longer than `pace`, and a stream woken straight into the run queue by each publish
//! would write every event on its own, with publishers waiting behind the whole round. Through
//! the pacer, streams go in batches and publishers get a turn between them. Events further apart
//! than that are never delayed:
//!
//! ```text
//!            wrote (sparse)                        events arrive before `horizon`
//!   Ready ─────────────────▶ Resting{until, horizon} ─────────────────▶ Paced{max(until, now)}
//!     ▲  ◀──── `horizon` passes ────┘                                        │
//!     │                                                                      │
//!     └──── released by the pacer (events waiting: dense) ───────────────────┘
//!   Ready ── wrote (dense) ──▶ Paced{until}        a write cut short by its budget stays Ready
//! ```
//!
//! A resting stream waits for events as an idle one does (it is woken by the next publish); a
//! paced one waits off the run queue at the worker's pacer and is not woken by publishes.

use std::time::{Duration, Instant};

/// How many paces after a write an arriving event still goes through the pacer: long enough to
/// cover a round of writes to 10,000 subscribers on one core (~50–100 ms), short enough that a
/// stream quiet for longer writes its next event straight out.
pub(crate) const REST: u32 = 20;

/// Where a stream is between writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Writes as soon as there is something to write.
    Ready,
    /// Wrote a moment ago with nothing else waiting; an event arriving before `until` waits
    /// for it.
    Resting {
        /// When the stream may write again.
        until: Instant,
        /// Until when an arriving event goes through the pacer rather than straight out.
        horizon: Instant,
    },
    /// Waits at the pacer until `until`, events accumulating meanwhile.
    Paced {
        /// When the pacer lets the stream go.
        until: Instant,
    },
}

/// What a stream does when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write what is waiting.
    Write,
    /// Nothing to write: list on the topics and wait for a publish.
    WaitForEvents,
    /// Queue at the pacer until this instant (just entered [`Phase::Paced`]).
    JoinPacer(Instant),
    /// Already queued at the pacer: keep waiting.
    StayPaced,
}

/// A stream's pacing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    phase: Phase,
    pace: Duration,
    /// The last release from the pacer found events waiting: traffic is dense, so the next
    /// write goes straight back to the pacer.
    dense: bool,
}

impl Pacing {
    /// A stream that writes at most once per `pace` while events keep coming; zero never holds
    /// a write back.
    #[must_use]
    pub(crate) fn new(pace: Duration) -> Self {
        Self {
            phase: Phase::Ready,
            pace,
            dense: false,
        }
    }

    /// The current phase.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// The stream is polled at `now`; `pending` says whether events wait past its position.
    pub(crate) fn poll(&mut self, now: Instant, pending: bool) -> Step {
        match self.phase {
            Phase::Paced { until } if now < until => Step::StayPaced,
            Phase::Paced { .. } => {
                self.phase = Phase::Ready;
                self.dense = pending;
                if pending {
                    Step::Write
                } else {
                    Step::WaitForEvents
                }
            }
            Phase::Resting { until, horizon } if now < horizon => {
                if pending {
                    let until = until.max(now);
                    self.phase = Phase::Paced { until };
                    Step::JoinPacer(until)
                } else {
                    Step::WaitForEvents
                }
            }
            Phase::Resting { .. } | Phase::Ready => {
                self.phase = Phase::Ready;
                if pending {
                    Step::Write
                } else {
                    self.dense = false;
                    Step::WaitForEvents
                }
            }
        }
    }

    /// A write went out at `now`. `cut_short`: its budget ran out with events still waiting,
    /// which go out at once (the socket's own backpressure paces those). Returns the instant to
    /// queue at the pacer until, when the stream must do so now.
    pub(crate) fn wrote(&mut self, now: Instant, cut_short: bool) -> Option<Instant> {
        if cut_short || self.pace.is_zero() {
            self.phase = Phase::Ready;
            return None;
        }
        let until = now + self.pace;
        if self.dense {
            self.phase = Phase::Paced { until };
            Some(until)
        } else {
            self.phase = Phase::Resting {
                until,
                horizon: now + self.pace * REST,
            };
            None
        }
    }

    /// There is no pacer to wait at (not on a worker thread): write unpaced from now on.
    pub(crate) fn no_pacer(&mut self) {
        self.phase = Phase::Ready;
        self.pace = Duration::ZERO;
        self.dense = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACE: Duration = Duration::from_millis(5);

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn ready_writes_what_is_pending_and_waits_otherwise() {
        let now = Instant::now();
        let mut pacing = Pacing::new(PACE);
        assert_eq!(pacing.poll(now, false), Step::WaitForEvents);
        assert_eq!(pacing.poll(now, true), Step::Write);
        assert_eq!(pacing.phase(), Phase::Ready);
    }

    #[test]
    fn a_sparse_write_rests_and_an_event_after_the_rest_goes_out_at_once() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        assert_eq!(pacing.poll(start, true), Step::Write);
        assert_eq!(pacing.wrote(start, false), None, "sparse: no pacer");
        assert_eq!(
            pacing.phase(),
            Phase::Resting {
                until: at(start, 5),
                horizon: start + PACE * REST,
            }
        );
        assert_eq!(pacing.poll(at(start, 1), false), Step::WaitForEvents);
        let after_rest = start + PACE * REST + Duration::from_millis(1);
        assert_eq!(pacing.poll(after_rest, true), Step::Write);
        assert_eq!(pacing.phase(), Phase::Ready);
    }

    #[test]
    fn an_event_after_the_interval_but_within_the_rest_goes_through_the_pacer_due_at_once() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false);
        assert_eq!(
            pacing.poll(at(start, 8), true),
            Step::JoinPacer(at(start, 8))
        );
        assert_eq!(pacing.poll(at(start, 8), true), Step::Write);
    }

    #[test]
    fn an_event_while_resting_joins_the_pacer_and_its_release_is_dense() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false);
        assert_eq!(
            pacing.poll(at(start, 2), true),
            Step::JoinPacer(at(start, 5))
        );
        // Woken early (a stale listing): keep waiting, do not queue twice.
        assert_eq!(pacing.poll(at(start, 3), true), Step::StayPaced);
        assert_eq!(pacing.poll(at(start, 5), true), Step::Write);
        // Dense: the next write goes straight to the pacer.
        assert_eq!(pacing.wrote(at(start, 5), false), Some(at(start, 10)));
        assert_eq!(
            pacing.phase(),
            Phase::Paced {
                until: at(start, 10)
            }
        );
    }

    #[test]
    fn a_release_with_nothing_waiting_ends_dense_traffic() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false);
        pacing.poll(at(start, 1), true);
        assert_eq!(pacing.poll(at(start, 5), false), Step::WaitForEvents);
        assert_eq!(pacing.poll(at(start, 7), true), Step::Write);
        assert_eq!(pacing.wrote(at(start, 7), false), None, "sparse again");
    }

    #[test]
    fn a_write_cut_short_by_its_budget_is_followed_at_once() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        assert_eq!(pacing.wrote(start, true), None);
        assert_eq!(pacing.phase(), Phase::Ready);
        assert_eq!(pacing.poll(start, true), Step::Write);
    }

    #[test]
    fn zero_pace_and_no_pacer_never_hold_a_write_back() {
        let start = Instant::now();
        let mut pacing = Pacing::new(Duration::ZERO);
        pacing.poll(start, true);
        assert_eq!(pacing.wrote(start, false), None);
        assert_eq!(pacing.poll(start, true), Step::Write);

        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false);
        assert_eq!(
            pacing.poll(at(start, 1), true),
            Step::JoinPacer(at(start, 5))
        );
        pacing.no_pacer();
        assert_eq!(pacing.poll(at(start, 1), true), Step::Write);
        assert_eq!(pacing.wrote(at(start, 1), false), None);
        assert_eq!(pacing.poll(at(start, 1), true), Step::Write);
    }
}
