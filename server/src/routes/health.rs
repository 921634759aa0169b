//! Liveness, readiness and metrics.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::hub::log::Health;
use crate::state::ServerState;

/// Liveness: the process answers.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: false while draining for shutdown, and while the event log is unavailable.
pub(crate) async fn readyz(app: web::Data<ServerState>) -> HttpResponse {
    let not_ready = |error: String| {
        HttpResponse::ServiceUnavailable().json(shared::payload::ErrorBody { error })
    };
    if app.shutdown.is_cancelled() {
        not_ready("draining for shutdown".to_owned())
    } else if let Health::Down(reason) = app.hub.health() {
        not_ready(format!("the event log is unavailable ({reason})"))
    } else {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    }
}

/// Prometheus text format.
pub(crate) async fn metrics(app: web::Data<ServerState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(app.stats.render(
            app.hub.subscriber_count(),
            app.hub.census(),
            app.hub.health(),
        ))
}
