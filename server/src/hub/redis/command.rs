//! One script run on the shared connection, and what its failure means for the log: one of a
//! fixed few reasons, since each is also a metric label.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{ScriptInvocation, Value};

use crate::hub::log::LogError;

/// Longest wait for Redis to answer one command before the log counts as unavailable.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `script` on `connection` (a clone of the shared one), within [`TIMEOUT`].
pub(crate) async fn run(
    mut connection: ConnectionManager,
    script: &ScriptInvocation<'_>,
) -> Result<Value, LogError> {
    match tokio::time::timeout(TIMEOUT, script.invoke_async(&mut connection)).await {
        Err(_) => Err(unavailable("redis timed out")),
        Ok(Err(err)) => Err(classify(&err)),
        Ok(Ok(value)) => Ok(value),
    }
}

/// The log is unavailable for `reason`.
pub(crate) fn unavailable(reason: &'static str) -> LogError {
    LogError::Unavailable { reason }
}

/// The reason for a failed command.
pub(crate) fn classify(err: &redis::RedisError) -> LogError {
    if err.code() == Some("HERALD_EPOCH") {
        return unavailable("redis lost its data");
    }
    if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
        return unavailable("redis unreachable");
    }
    tracing::warn!(%err, "redis refused a command");
    unavailable("redis refused a command")
}
