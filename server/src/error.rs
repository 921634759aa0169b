//! API errors: each maps to its HTTP status and a one-line JSON reason, `{"error": "…"}`.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use shared::payload::ErrorBody;

use crate::hub::log::LogError;

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route or file at this path.
    #[error("nothing at {method} {path}")]
    NotFound {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// A preflight from an origin not on the allow-list.
    #[error("origin not allowed; start the server with --allow-origin to allow it")]
    OriginNotAllowed,
    /// A malformed request: bad JSON, a missing or invalid field.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or a token that is not configured.
    #[error("publishing to this topic needs Authorization: Bearer <token>")]
    Unauthorized,
    /// A topic the caller may not publish to.
    #[error("{0}")]
    Forbidden(String),
    /// A body in a format the route does not take.
    #[error("send application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    /// A body above `--max-body`.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Too many requests from one client.
    #[error("too many publishes; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The hub holds all the topics it may.
    #[error(transparent)]
    Hub(#[from] LogError),
    /// Over the connection limit (non-browser clients).
    #[error("too many open streams; retry after {} s", retry_after.as_secs().max(1))]
    Busy {
        /// When the client may try again.
        retry_after: Duration,
    },
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } | Self::Hub(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::RateLimited { retry_after } | Self::Busy { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)));
            }
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}
