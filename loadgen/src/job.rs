//! What every task of one loadgen process shares: the run's configuration, the signal that ends
//! it, and the tally its tasks count into.

use tokio_util::sync::CancellationToken;

use crate::config::RunConfig;
use crate::counters::Tally;

/// One process's share of a run, as its subscriber and publisher tasks see it.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) config: RunConfig,
    /// Cancelled when the run ends: every subscriber stops at once.
    pub(crate) stop: CancellationToken,
    pub(crate) tally: Tally,
}

impl Job {
    pub(crate) fn new(config: RunConfig) -> Self {
        Self {
            config,
            stop: CancellationToken::new(),
            tally: Tally::default(),
        }
    }
}
