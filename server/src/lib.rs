//! Herald's server: an SSE hub on actix-web. [`run`] serves on a pre-bound listener until its
//! shutdown future completes; `main.rs` only parses flags, binds and calls it, and tests call
//! the same function on `127.0.0.1:0`.

mod auth;
mod body_deadline;
mod clock;
mod config;
mod cors;
mod csp;
mod error;
mod hub;
mod janitor;
mod json_errors;
mod jwt;
mod log_limit;
mod metrics;
mod pacer;
mod pacing;
mod ratelimit;
mod routes;
mod selector;
mod state;
mod stream;
mod tls;
mod topics;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_files::Files;
use actix_web::dev::fn_service;
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;

pub use config::{Config, LogFormat};
use hub::Hub;
use hub::log::EventLog;
use hub::memory::{LogLimits, MemoryLog};
use hub::redis::RedisLog;
use metrics::Stats;
use state::ServerState;

/// Pending connections the kernel may queue while workers accept: room for a reconnect storm.
const ACCEPT_BACKLOG: u32 = 4096;

/// Why [`run`] could not serve.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listener could not be used, or the server failed to start.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// `--redis-url` is wrong, or Redis did not answer at start: a configuration to fix.
    #[error("{0}")]
    Log(String),
    /// A flag that cannot work (a JWT key file that is not one, say).
    #[error("{0}")]
    Config(String),
}

/// Serves Herald on `listener` until `shutdown` completes, then drains: every stream ends,
/// and connections still open after `config.drain_timeout` are dropped.
///
/// # Errors
/// [`RunError::Log`] when `--redis-url` is wrong or Redis cannot be reached at start;
/// [`RunError::Io`] when the listener cannot be used or the server fails to start.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let local = listener.local_addr()?;
    let tls = config.tls().map_err(RunError::Config)?;
    let jwt = config
        .jwt_verifier()
        .map_err(RunError::Config)?
        .map(Arc::new);
    let draining = CancellationToken::new();
    let limits = LogLimits {
        history_len: config.history,
        history_age: config.history_age,
        history_bytes: config.history_bytes,
        max_topics: config.max_topics,
    };
    let log: Arc<dyn EventLog> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisLog::connect(url, limits)
                .await
                .map_err(|err| RunError::Log(err.to_string()))?,
        ),
        None => Arc::new(MemoryLog::new(limits)),
    };
    let hub = Arc::new(Hub::new(log, config.client_buffer, config.retry));
    let stats = Arc::new(Stats::default());
    let clock = tokio::spawn(clock::run(
        Arc::clone(&hub),
        Arc::clone(&stats),
        draining.clone(),
    ));
    let janitor = tokio::spawn(janitor::run(
        Arc::clone(&hub),
        Arc::clone(&stats),
        draining.clone(),
    ));
    let draining_hub = Arc::clone(&hub);
    let counted = Arc::clone(&stats);

    let state = web::Data::new(ServerState {
        hub,
        stats,
        timing: stream::Timing {
            heartbeat: config.heartbeat,
            pace: config.pace,
        },
        max_connections: config.max_connections(),
        policy: auth::PublishPolicy::new(&config.publish_tokens, &config.open_topics, jwt.clone()),
        jwt,
        limiter: ratelimit::RateLimiter::new(config.open_rate, config.open_rate * 2.0),
        max_body: config.max_body,
        shutdown: draining.clone(),
    });
    let origins = cors::AllowedOrigins::new(config.scheme(), local, &config.allow_origins);
    let policy = csp::policy_for(&config.dist);
    let dist = config.dist.clone();
    let body_timeout = body_deadline::BodyTimeout(config.body_timeout);
    let mut server = HttpServer::new(move || {
        let origins = origins.clone();
        App::new()
            .app_data(state.clone())
            .app_data(body_timeout)
            .wrap(from_fn(json_errors::middleware))
            .wrap(from_fn(move |req, next| {
                body_deadline::middleware(body_timeout, req, next)
            }))
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, policy.clone()))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "no-referrer")),
            )
            .wrap(from_fn(move |req, next| {
                cors::middleware(origins.clone(), req, next)
            }))
            .configure(routes::configure)
            .configure(|cfg| {
                // Without a built UI the API still serves; `main` warns about it once.
                if dist.is_dir() {
                    cfg.service(
                        Files::new("/", &dist)
                            .index_file("index.html")
                            .default_handler(fn_service(routes::not_found)),
                    );
                }
            })
            .default_service(fn_service(routes::not_found))
    })
    .on_connect(move |_, extensions| {
        extensions.insert(metrics::TcpConnectionGuard::new(&counted));
    })
    .backlog(ACCEPT_BACKLOG)
    // Per worker; shared out so that all workers together stay under the open-file limit.
    .max_connections(config.max_tcp_connections_per_worker())
    // A client that closes its sending side is gone: release its stream at once rather than
    // at the next heartbeat (which a half-closed socket would even accept).
    .h1_allow_half_closed(false)
    // What is left of the drain after the notice, for connections to finish.
    .shutdown_timeout(
        config
            .drain_timeout
            .saturating_sub(config.drain_notice)
            .as_secs()
            .max(1),
    )
    .disable_signals();
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();

    let handle = server.handle();
    let notice = config.drain_notice;
    tokio::spawn(async move {
        shutdown.await;
        draining.cancel();
        draining_hub.close_all();
        // Said once readiness is already false and every stream is told to end.
        tracing::info!(notice = ?notice, "draining");
        tokio::time::sleep(notice).await;
        handle.stop(true).await;
    });
    let served = server.await;
    clock.abort();
    janitor.abort();
    Ok(served?)
}
