//! HTTP routes: the event stream, publishing, health and metrics. Each handler is small and delegates to
//! the hub.

mod events;
mod health;
mod publish;

use std::future::Future;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::web;

use crate::error::ApiError;

pub use events::events;
pub use health::{healthz, metrics, readyz};
pub use publish::publish;

/// What any unknown route or missing file answers: a JSON 404, like every other error.
pub fn not_found(
    req: ServiceRequest,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>> {
    let (req, _) = req.into_parts();
    let error = ApiError::NotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    };
    let response = actix_web::HttpResponse::from_error(error);
    std::future::ready(Ok(ServiceResponse::new(req, response)))
}

/// Registers every API route (static files are mounted separately, last).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(shared::names::EVENTS_PATH, web::get().to(events))
        .route(shared::names::PUBLISH_PATH, web::post().to(publish))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}
