//! CORS with credentials: an allow-list of origins, each echoed exactly, never `*`.
//!
//! Browsers refuse `Access-Control-Allow-Origin: *` on credentialed requests (an `EventSource`
//! opened `withCredentials`), so an allowed origin is echoed back with
//! `Access-Control-Allow-Credentials: true`, and every answer carries `Vary: Origin` so caches
//! never serve one origin's grant to another.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

use crate::error::ApiError;

/// Port of the development UI served by `trunk serve`.
pub(crate) const DEV_UI_PORT: u16 = 1234;
/// Headers a cross-origin page may send: the resume header and the publish API's.
const ALLOWED_HEADERS: &str = "Last-Event-ID, Content-Type, Authorization";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins allowed to make credentialed cross-origin requests.
#[derive(Debug, Clone)]
pub(crate) struct AllowedOrigins(Arc<HashSet<String>>);

impl AllowedOrigins {
    /// The server's own origin under `scheme` (as `127.0.0.1` and `localhost`), the
    /// development UI's (always `http`), and `extra`. Trailing slashes are ignored: browsers
    /// never send one.
    #[must_use]
    pub(crate) fn new(scheme: &str, local: SocketAddr, extra: &[String]) -> Self {
        let mut origins = HashSet::new();
        for (scheme, port) in [(scheme, local.port()), ("http", DEV_UI_PORT)] {
            origins.insert(format!("{scheme}://127.0.0.1:{port}"));
            origins.insert(format!("{scheme}://localhost:{port}"));
        }
        if !local.ip().is_loopback() && !local.ip().is_unspecified() {
            origins.insert(format!("{scheme}://{local}"));
        }
        origins.extend(
            extra
                .iter()
                .map(|origin| origin.trim_end_matches('/').to_owned()),
        );
        Self(Arc::new(origins))
    }

    /// Whether `origin` may read responses with credentials.
    #[must_use]
    pub(crate) fn allows(&self, origin: &str) -> bool {
        self.0.contains(origin)
    }
}

/// The middleware: answers preflights itself and adds the grant to allowed origins' answers.
///
/// # Errors
/// Whatever the wrapped service returns.
pub(crate) async fn middleware(
    origins: AllowedOrigins,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let allowed = origin.as_deref().filter(|origin| origins.allows(origin));

    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if is_preflight {
        let response = match allowed {
            Some(_) => HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
                .finish(),
            None => HttpResponse::from_error(ApiError::OriginNotAllowed),
        };
        req.into_response(response)
    } else {
        next.call(req).await?.map_into_boxed_body()
    };

    let headers = response.headers_mut();
    headers.append(header::VARY, header::HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        // The origin came from a valid header value and is in the allow-list.
        if let Ok(value) = header::HeaderValue::from_str(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                header::HeaderValue::from_static("true"),
            );
        }
    }
    Ok(response)
}
