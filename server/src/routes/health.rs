//! Liveness, readiness and metrics.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::state::ServerState;

/// Liveness: the process answers.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: false while draining for shutdown.
pub(crate) async fn readyz(app: web::Data<ServerState>) -> HttpResponse {
    if app.shutdown.is_cancelled() {
        HttpResponse::ServiceUnavailable().json(shared::payload::ErrorBody {
            error: "draining for shutdown".to_owned(),
        })
    } else {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    }
}

/// Prometheus text format.
pub(crate) async fn metrics(app: web::Data<ServerState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(
            app.stats
                .render(app.hub.subscriber_count(), app.hub.census()),
        )
}
