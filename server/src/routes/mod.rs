//! HTTP routes: the event stream, health and metrics. Each handler is small and delegates to
//! the hub.

mod events;
mod health;

use actix_web::web;

pub use events::events;
pub use health::{healthz, metrics, readyz};

/// Registers every API route (static files are mounted separately, last).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(shared::names::EVENTS_PATH, web::get().to(events))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}
