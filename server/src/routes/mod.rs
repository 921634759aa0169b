//! HTTP routes: the event stream, publishing, health and metrics. Each handler is small and delegates to
//! the hub.

mod events;
mod health;
mod publish;

use actix_web::web;

pub use events::events;
pub use health::{healthz, metrics, readyz};
pub use publish::publish;

/// Registers every API route (static files are mounted separately, last).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(shared::names::EVENTS_PATH, web::get().to(events))
        .route(shared::names::PUBLISH_PATH, web::post().to(publish))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}
