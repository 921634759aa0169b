//! The hub's housekeeping: a single task that expires history and forgets idle topics on a
//! timer, so that memory held by topics nobody touches is bounded in time, not only by count.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// How often the hub is swept.
pub const PERIOD: Duration = Duration::from_secs(30);

/// Sweeps the hub every [`PERIOD`] until `shutdown` is cancelled.
pub async fn run(hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => hub.sweep(),
        }
    }
}
