//! The one clock of the server: a single task that publishes `currentTime` to the `clock` topic
//! every second, for all subscribers at once (never a timer per connection).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::Encoded;
use shared::TopicName;
use shared::payload::CurrentTime;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::hub::log::{Appended, NewEvent};
use crate::metrics::Stats;

/// The seed's period: one tick a second.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// The idempotency key of a tick, before its second since the epoch.
const CLOCK_KEY: &str = "herald-clock-";

/// Publishes a tick every [`PERIOD`] until `shutdown` is cancelled.
pub(crate) async fn run(hub: Arc<Hub>, stats: Arc<Stats>, shutdown: CancellationToken) {
    let topic = [TopicName::new(shared::topic::CLOCK).expect("a constant, valid topic name")];
    let mut ticks = tokio::time::interval(PERIOD);
    // After a stall, carry on from now rather than firing a burst of stale ticks.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let tick = CurrentTime { time: Utc::now() };
        // A timestamp always encodes; were it ever refused, skipping one tick is the answer.
        let encoded = match Encoded::new(&tick) {
            Ok(encoded) => encoded,
            Err(err) => {
                tracing::warn!(%err, "clock tick not encoded");
                continue;
            }
        };
        // Every node ticks; the key, the second itself, makes one of them the tick of that
        // second on a shared log, so a subscriber gets one `currentTime` a second however many
        // nodes there are.
        let key = format!("{CLOCK_KEY}{}", tick.time.timestamp());
        let event = NewEvent {
            key: Some(&key),
            ..NewEvent::typed(&topic, &encoded)
        };
        // Refused only while every topic place is taken or the shared log is unreachable:
        // this tick is then skipped.
        match hub.publish(&event).await {
            Ok(Appended::New(_)) => stats.published(),
            Ok(Appended::Repeated(_)) => {}
            Err(err) => tracing::debug!(%err, "clock tick skipped"),
        }
    }
}
