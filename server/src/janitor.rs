//! The hub's housekeeping: a single task that ends streams history has passed (a reader that
//! stopped reading is never polled, so it cannot find out by itself), and expires history and
//! forgets idle topics on a timer, so memory held by topics nobody touches is bounded in time.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::metrics::Stats;

/// How often subscribers are checked for having fallen out of history: a stalled reader is cut
/// within this of its next event leaving history. A look at each subscriber, nothing per event.
pub(crate) const CUT_PERIOD: Duration = Duration::from_secs(1);
/// How often expired history is swept.
pub(crate) const SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// Cuts and sweeps until `shutdown` is cancelled.
pub(crate) async fn run(hub: Arc<Hub>, stats: Arc<Stats>, shutdown: CancellationToken) {
    let mut cuts = tokio::time::interval(CUT_PERIOD);
    cuts.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sweeps = tokio::time::interval(SWEEP_PERIOD);
    sweeps.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = cuts.tick() => stats.cut_behind(hub.cut_behind()),
            _ = sweeps.tick() => hub.sweep(),
        }
    }
}
