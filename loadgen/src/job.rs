//! What every task of one loadgen process shares: the run's configuration, how it connects, the
//! signal that ends it, and the tally its tasks count into.

use tokio_util::sync::CancellationToken;

use crate::config::RunConfig;
use crate::counters::Tally;
use crate::tls::Connector;

/// One process's share of a run, as its subscriber and publisher tasks see it.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) config: RunConfig,
    /// Plain TCP, or TLS trusting `--tls-ca`: made once, for every connection of the process.
    pub(crate) connector: Connector,
    /// Cancelled when the run ends: every subscriber stops at once.
    pub(crate) stop: CancellationToken,
    pub(crate) tally: Tally,
}

impl Job {
    /// The job of `config`; fails when its `--tls-ca` cannot be read or trusted.
    pub(crate) fn new(config: RunConfig) -> anyhow::Result<Self> {
        Ok(Self {
            connector: Connector::new(config.tls_ca.as_deref())?,
            config,
            stop: CancellationToken::new(),
            tally: Tally::default(),
        })
    }
}
