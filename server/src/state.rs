//! What every request handler shares: the hub and the settings handlers need.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::PublishPolicy;
use crate::hub::Hub;
use crate::metrics::Stats;
use crate::ratelimit::RateLimiter;
use crate::stream::Timing;

/// Shared application state, one per server (handed to actix as `web::Data`).
#[derive(Debug)]
pub struct ServerState {
    /// The hub every stream and publish goes through.
    pub hub: Arc<Hub>,
    /// What the server counts, for `/metrics`.
    pub stats: Arc<Stats>,
    /// When streams write: heartbeats, pacing.
    pub timing: Timing,
    /// Open streams allowed at once.
    pub max_connections: usize,
    /// Who may publish where.
    pub policy: PublishPolicy,
    /// The rate limit on open topics.
    pub limiter: RateLimiter,
    /// Largest `data` a publish may carry, in bytes.
    pub max_body: usize,
    /// Cancelled when the server starts draining; every stream ends then.
    pub shutdown: CancellationToken,
}
