//! HTTP routes: the event stream, publishing, health and metrics. Each handler is small and delegates to
//! the hub.

mod events;
mod health;
mod publish;

use std::future::Future;

use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{Route, web};

use crate::error::ApiError;

pub(crate) use events::events;
pub(crate) use health::{healthz, metrics, readyz};
pub(crate) use publish::publish;

/// What any unknown route or missing file answers: a JSON 404, like every other error.
pub(crate) fn not_found(
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

/// What a known path answers to a method it does not take: a JSON 405 listing the methods it
/// does take in `Allow`.
fn method_not_allowed(
    req: ServiceRequest,
    allow: &'static str,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>> {
    let (req, _) = req.into_parts();
    let error = ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        allow,
    };
    let response = actix_web::HttpResponse::from_error(error);
    std::future::ready(Ok(ServiceResponse::new(req, response)))
}

/// One path served by one method; any other method gets [`method_not_allowed`].
fn only(cfg: &mut web::ServiceConfig, path: &str, allow: &'static str, route: Route) {
    cfg.service(
        web::resource(path)
            .route(route)
            .default_service(fn_service(move |req| method_not_allowed(req, allow))),
    );
}

/// Registers every API route (static files are mounted separately, last).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    only(
        cfg,
        shared::names::EVENTS_PATH,
        "GET",
        web::get().to(events),
    );
    only(
        cfg,
        shared::names::PUBLISH_PATH,
        "POST",
        web::post().to(publish),
    );
    only(cfg, "/healthz", "GET", web::get().to(healthz));
    only(cfg, "/readyz", "GET", web::get().to(readyz));
    only(cfg, "/metrics", "GET", web::get().to(metrics));
}
