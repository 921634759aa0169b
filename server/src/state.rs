//! What every request handler shares: the hub and the settings handlers need.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::PublishPolicy;
use crate::hub::Hub;
use crate::ratelimit::RateLimiter;

/// Shared application state, one per server (handed to actix as `web::Data`).
#[derive(Debug)]
pub struct AppState {
    /// The hub every stream and publish goes through.
    pub hub: Arc<Hub>,
    /// Idle time after which a stream gets a heartbeat.
    pub heartbeat: Duration,
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
