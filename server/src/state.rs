//! What every request handler shares: the hub and the settings handlers need.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::PublishPolicy;
use crate::hub::Hub;
use crate::jwt::Verifier;
use crate::metrics::Stats;
use crate::ratelimit::RateLimiter;
use crate::stream::Timing;

/// Shared application state, one per server (handed to actix as `web::Data`).
#[derive(Debug)]
pub(crate) struct ServerState {
    /// The hub every stream and publish goes through.
    pub(crate) hub: Arc<Hub>,
    /// What the server counts, for `/metrics`.
    pub(crate) stats: Arc<Stats>,
    /// When streams write: heartbeats, pacing.
    pub(crate) timing: Timing,
    /// Open streams allowed at once.
    pub(crate) max_connections: usize,
    /// Who may publish where.
    pub(crate) policy: PublishPolicy,
    /// Checks subscribers' (and publishers') JWTs, when configured.
    pub(crate) jwt: Option<Arc<Verifier>>,
    /// The rate limit on open topics.
    pub(crate) limiter: RateLimiter,
    /// Largest `data` a publish may carry, in bytes.
    pub(crate) max_body: usize,
    /// Cancelled when the server starts draining; every stream ends then.
    pub(crate) shutdown: CancellationToken,
}
