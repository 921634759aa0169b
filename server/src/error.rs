//! API errors: each maps to its HTTP status and a one-line JSON reason, `{"error": "…"}`.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use shared::payload::ErrorBody;

use crate::hub::log::LogError;
use crate::jwt::Refusal;

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No route or file at this path.
    #[error("nothing at {method} {}", shown(path))]
    NotFound {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// A route that exists, asked with a method it does not take.
    #[error("{method} is not allowed on {}; use {allow}", shown(path))]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The methods the route takes, as the `Allow` header lists them.
        allow: &'static str,
    },
    /// A request body that did not arrive in full within `--body-timeout`.
    #[error("request body not complete within {} ms", timeout.as_millis())]
    BodyTimeout {
        /// The configured limit.
        timeout: Duration,
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
    /// A JWT that failed a check (never taken for no token).
    #[error("invalid token: {0}")]
    BadToken(Refusal),
    /// Over the connection limit (non-browser clients).
    #[error("too many open streams; retry after {} s", retry_after.as_secs().max(1))]
    Busy {
        /// When the client may try again.
        retry_after: Duration,
    },
}

/// Most of a request path an error repeats: enough to recognise it, while a client sending a
/// path of tens of kilobytes does not get it echoed back whole.
const SHOWN_PATH: usize = 128;

/// `path` as an error message shows it: cut to [`SHOWN_PATH`] bytes (at a character boundary).
pub(crate) fn shown(path: &str) -> String {
    if path.len() <= SHOWN_PATH {
        return path.to_owned();
    }
    let mut end = SHOWN_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::BadToken(_) => StatusCode::UNAUTHORIZED,
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
            Self::Hub(err) => {
                response.insert_header((header::RETRY_AFTER, err.retry_after().as_secs().max(1)));
            }
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::BadToken(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#));
            }
            Self::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, *allow));
            }
            Self::BodyTimeout { .. } => {
                // The rest of the body may still be on its way: the connection cannot be reused.
                response.force_close();
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_in_messages() {
        let error = ApiError::NotFound {
            method: "GET".to_owned(),
            path: format!("/{}", "é".repeat(10_000)),
        };
        let message = error.to_string();
        assert!(message.len() < SHOWN_PATH + 32, "{message}");
        assert!(message.ends_with('…'));
        let short = ApiError::NotFound {
            method: "GET".to_owned(),
            path: "/nowhere".to_owned(),
        };
        assert_eq!(short.to_string(), "nothing at GET /nowhere");
    }
}
