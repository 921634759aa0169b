//! When a stream writes: the pacing state machine, pure (no clock, no I/O), so that every
//! transition is tested on its own.
//!
//! A write costs the kernel about the same whether it carries one event or twenty, so a stream
//! that has just written holds its next write back for `pace`; whatever arrives meanwhile goes
//! out in one write. For [`REST`] paces after a write the stream rests: it waits for events as
//! an idle one does, but a publish hands it to the worker's pacer instead of waking it (see
//! `hub::fanout::Route`), so under load streams go out in the pacer's batches, publishers get a
//! turn between them, and a stream is polled once per write rather than once per event. Events
//! further apart than that are never delayed:
//!
//! ```text
//!            wrote (sparse)                    event, pace not over: JoinPacer
//!   Ready ─────────────────▶ Resting{until, horizon} ─────────────────▶ Paced{until}
//!     ▲  ◀──── `horizon` passes ────┘   │ event after `until`                 │
//!     │                                 │ (through the pacer): Write, dense   │
//!     └─────────────────────────────────┴──── released by the pacer ──────────┘
//!   Ready ── wrote (dense) ──▶ Paced{until}        a write cut short by its budget stays Ready
//! ```
//!
//! A paced stream waits off the run queue at the worker's pacer and is not woken by publishes.
//! When many streams are busy at once, the pace stretches with their number (see
//! [`WRITES_PER_SEC`]): the worker's writes stay bounded and each carries more events.

use std::time::{Duration, Instant};

/// How many paces after a write an arriving event still goes through the pacer: long enough to
/// cover a round of writes to 10,000 subscribers on one core (~50–100 ms), short enough that a
/// stream quiet for longer writes its next event straight out.
pub(crate) const REST: u32 = 20;

/// The pacer's timer fires on a millisecond tick, so a release may come up to this much before
/// the instant asked for; such a release counts as on time (the stream is no longer queued).
const SLACK: Duration = Duration::from_millis(1);

/// Writes per second one worker spends on its busiest streams before their pace stretches. A
/// small write costs the kernel about the same as a large one (~0.5 µs on a core of its own,
/// ~2 µs when the server shares its cores with its clients), so a fixed pace over many busy
/// streams would spend a whole core on writes carrying an event or two each, while publishes
/// wait. Past this rate, the pace grows with the streams queued at the pacer (each of them
/// busy: they wrote less than a pace ago with more to come), so each write carries more.
pub(crate) const WRITES_PER_SEC: u32 = 25_000;

/// The pace of a stream with `crowd` busy streams around it: `pace`, or longer when that many
/// streams writing once a `pace` would pass [`WRITES_PER_SEC`]; never past what [`MAX_CROWD`]
/// gives.
fn stretched(pace: Duration, crowd: usize) -> Duration {
    let crowd = u32::try_from(crowd).unwrap_or(u32::MAX);
    let share = Duration::from_secs(1) / WRITES_PER_SEC * crowd.min(MAX_CROWD);
    pace.max(share)
}

/// The crowd past which the pace stops growing: 100 ms at [`WRITES_PER_SEC`].
const MAX_CROWD: u32 = WRITES_PER_SEC / 10;

fn due(now: Instant, until: Instant) -> bool {
    now + SLACK >= until
}

/// Where a stream is between writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Writes as soon as there is something to write.
    Ready,
    /// Wrote a moment ago with nothing else waiting; a publish before `horizon` hands the
    /// stream to the pacer, due at `until`.
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
            Phase::Paced { until } if !due(now, until) => Step::StayPaced,
            Phase::Paced { .. } => {
                self.phase = Phase::Ready;
                self.dense = pending;
                if pending {
                    Step::Write
                } else {
                    Step::WaitForEvents
                }
            }
            Phase::Resting { until, horizon } if now < horizon => match pending {
                false => Step::WaitForEvents,
                // Its pace is over: it came through the pacer (or could have), so it writes,
                // and traffic counts as dense.
                true if due(now, until) => {
                    self.phase = Phase::Ready;
                    self.dense = true;
                    Step::Write
                }
                true => {
                    self.phase = Phase::Paced { until };
                    Step::JoinPacer(until)
                }
            },
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

    /// While resting: when the stream may write again, and until when a publish should hand
    /// it to the pacer rather than wake it.
    #[must_use]
    pub(crate) fn resting(&self) -> Option<(Instant, Instant)> {
        match self.phase {
            Phase::Resting { until, horizon } => Some((until, horizon)),
            Phase::Ready | Phase::Paced { .. } => None,
        }
    }

    /// A write went out at `now`, with `crowd` streams queued at this worker's pacer.
    /// `cut_short`: its budget ran out with events still waiting, which go out at once (the
    /// socket's own backpressure paces those). Returns the instant to queue at the pacer until,
    /// when the stream must do so now.
    pub(crate) fn wrote(&mut self, now: Instant, cut_short: bool, crowd: usize) -> Option<Instant> {
        if cut_short || self.pace.is_zero() {
            self.phase = Phase::Ready;
            return None;
        }
        let until = now + stretched(self.pace, crowd);
        if self.dense {
            self.phase = Phase::Paced { until };
            Some(until)
        } else {
            self.phase = Phase::Resting {
                until,
                horizon: until.max(now + self.pace * REST),
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
        assert_eq!(pacing.wrote(start, false, 0), None, "sparse: no pacer");
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
    fn an_event_after_the_interval_but_within_the_rest_writes_as_dense_traffic() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false, 0);
        assert_eq!(
            pacing.resting(),
            Some((at(start, 5), start + PACE * REST)),
            "a publish now would hand it to the pacer"
        );
        // Released by the pacer (its pace is over): it writes, and the next write is paced.
        assert_eq!(pacing.poll(at(start, 8), true), Step::Write);
        assert_eq!(pacing.resting(), None);
        assert_eq!(pacing.wrote(at(start, 8), false, 0), Some(at(start, 13)));
    }

    #[test]
    fn a_release_within_the_timer_tick_counts_as_on_time() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false, 0);
        assert_eq!(
            pacing.poll(at(start, 1), true),
            Step::JoinPacer(at(start, 5))
        );
        let early = at(start, 5) - Duration::from_micros(300);
        assert_eq!(pacing.poll(early, true), Step::Write, "not left waiting");
    }

    #[test]
    fn an_event_while_resting_joins_the_pacer_and_its_release_is_dense() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false, 0);
        assert_eq!(
            pacing.poll(at(start, 2), true),
            Step::JoinPacer(at(start, 5))
        );
        // Woken early (a stale listing): keep waiting, do not queue twice.
        assert_eq!(pacing.poll(at(start, 3), true), Step::StayPaced);
        assert_eq!(pacing.poll(at(start, 5), true), Step::Write);
        // Dense: the next write goes straight to the pacer.
        assert_eq!(pacing.wrote(at(start, 5), false, 0), Some(at(start, 10)));
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
        pacing.wrote(start, false, 0);
        pacing.poll(at(start, 1), true);
        assert_eq!(pacing.poll(at(start, 5), false), Step::WaitForEvents);
        assert_eq!(pacing.poll(at(start, 7), true), Step::Write);
        assert_eq!(pacing.wrote(at(start, 7), false, 0), None, "sparse again");
    }

    #[test]
    fn a_write_cut_short_by_its_budget_is_followed_at_once() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        assert_eq!(pacing.wrote(start, true, 0), None);
        assert_eq!(pacing.phase(), Phase::Ready);
        assert_eq!(pacing.poll(start, true), Step::Write);
    }

    #[test]
    fn zero_pace_and_no_pacer_never_hold_a_write_back() {
        let start = Instant::now();
        let mut pacing = Pacing::new(Duration::ZERO);
        pacing.poll(start, true);
        assert_eq!(pacing.wrote(start, false, 0), None);
        assert_eq!(pacing.poll(start, true), Step::Write);

        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        pacing.wrote(start, false, 0);
        assert_eq!(
            pacing.poll(at(start, 1), true),
            Step::JoinPacer(at(start, 5))
        );
        pacing.no_pacer();
        assert_eq!(pacing.poll(at(start, 1), true), Step::Write);
        assert_eq!(pacing.wrote(at(start, 1), false, 0), None);
        assert_eq!(pacing.poll(at(start, 1), true), Step::Write);
    }

    #[test]
    fn a_crowded_worker_stretches_the_pace_and_only_up_to_its_bound() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        // 100 busy streams fit in 5 ms at 25,000 writes/s: the pace stays.
        assert_eq!(pacing.wrote(start, false, 100), None);
        assert_eq!(
            pacing.poll(at(start, 1), true),
            Step::JoinPacer(at(start, 5))
        );
        assert_eq!(pacing.poll(at(start, 5), true), Step::Write);
        // 500 need 20 ms; the stream is dense now, so it queues at once.
        assert_eq!(pacing.wrote(at(start, 5), false, 500), Some(at(start, 25)));
        assert_eq!(pacing.poll(at(start, 23), true), Step::StayPaced);
        assert_eq!(pacing.poll(at(start, 25), true), Step::Write);
        // However many there are, a stream waits at most 100 ms.
        assert_eq!(
            pacing.wrote(at(start, 25), false, 1_000_000),
            Some(at(start, 125))
        );
    }

    #[test]
    fn a_stretched_rest_keeps_events_at_the_pacer_until_the_pace_is_over() {
        let start = Instant::now();
        let mut pacing = Pacing::new(PACE);
        pacing.poll(start, true);
        // 2,000 busy streams: an 80 ms pace; an event at 50 ms waits for it at the pacer.
        assert_eq!(pacing.wrote(start, false, 2_000), None);
        assert_eq!(pacing.resting(), Some((at(start, 80), at(start, 100))));
        assert_eq!(
            pacing.poll(at(start, 50), true),
            Step::JoinPacer(at(start, 80))
        );
    }

    #[test]
    fn zero_pace_is_never_stretched() {
        let start = Instant::now();
        let mut pacing = Pacing::new(Duration::ZERO);
        pacing.poll(start, true);
        assert_eq!(pacing.wrote(start, false, 5_000), None);
        assert_eq!(pacing.poll(start, true), Step::Write);
    }
}
