//! Every error answer is `{"error": "…"}`, whoever wrote it: our routes already answer so, and
//! this middleware rewrites the plain-text errors of actix-web and actix-files (a path that
//! cannot name a file, a method a file does not take) into the same form, keeping their status
//! and headers.

use actix_web::body::{BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use shared::payload::ErrorBody;

/// Most of an error body read back to reuse its text: actix's reasons are a line; anything
/// longer is replaced by the status's own reason instead of being buffered.
const REASON_LIMIT: usize = 512;
/// Methods actix-files serves; its 405 answers do not say so themselves.
const FILE_METHODS: &str = "GET, HEAD";

/// The middleware: passes JSON and successful answers through, rewrites the rest.
///
/// # Errors
/// An error from the wrapped service comes back as one whose answer is JSON too.
pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = match next.call(req).await {
        Ok(response) => response,
        // Handlers' errors are answers already; this is for a failing middleware.
        Err(err) => return Err(JsonError::from(&err).into()),
    };
    if !needs_rewrite(response.status(), response.headers()) {
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let status = response.status();
    let (head, body) = response.into_parts();
    let lacks_allow =
        status == StatusCode::METHOD_NOT_ALLOWED && !head.headers().contains_key(header::ALLOW);
    let reason = if lacks_allow {
        // actix-files' 405, whose text says nothing useful: say what would do.
        format!(
            "{} is not allowed on {}; use {FILE_METHODS}",
            req.method(),
            crate::error::shown(req.path())
        )
    } else {
        match to_bytes_limited(body, REASON_LIMIT).await {
            Ok(Ok(bytes)) => one_line(&bytes),
            _ => None,
        }
        .unwrap_or_else(|| canonical_reason(status))
    };

    let mut rewritten = HttpResponse::build(status);
    for (name, value) in head.headers() {
        if ![
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ]
        .contains(name)
        {
            rewritten.append_header((name.clone(), value.clone()));
        }
    }
    if lacks_allow {
        rewritten.insert_header((header::ALLOW, FILE_METHODS));
    }
    let mut rewritten = rewritten.json(ErrorBody { error: reason });
    rewritten
        .head_mut()
        .set_connection_type(head.head().connection_type());
    Ok(ServiceResponse::new(req, rewritten))
}

/// Whether an answer is an error that is not JSON yet.
fn needs_rewrite(status: StatusCode, headers: &header::HeaderMap) -> bool {
    let is_error = status.is_client_error() || status.is_server_error();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        });
    is_error && !is_json
}

/// An error body's text if it is one short printable line (actix's reasons are).
fn one_line(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    (!text.is_empty() && !text.chars().any(char::is_control)).then(|| text.to_owned())
}

fn canonical_reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_ascii_lowercase()
}

/// An error from inside the app, answered as JSON with its own status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct JsonError {
    status: StatusCode,
    message: String,
}

impl From<&actix_web::Error> for JsonError {
    fn from(err: &actix_web::Error) -> Self {
        let status = err.as_response_error().status_code();
        let message =
            one_line(err.to_string().as_bytes()).unwrap_or_else(|| canonical_reason(status));
        Self { status, message }
    }
}

impl ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            error: self.message.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_json_errors_are_rewritten() {
        let mut headers = header::HeaderMap::new();
        assert!(needs_rewrite(StatusCode::BAD_REQUEST, &headers));
        assert!(!needs_rewrite(StatusCode::OK, &headers));
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        assert!(needs_rewrite(StatusCode::METHOD_NOT_ALLOWED, &headers));
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(!needs_rewrite(StatusCode::SERVICE_UNAVAILABLE, &headers));
    }

    #[test]
    fn a_reason_is_one_printable_line_or_none() {
        assert_eq!(
            one_line(b"segment contained invalid character ('/')\n").as_deref(),
            Some("segment contained invalid character ('/')")
        );
        assert_eq!(one_line(b"two\nlines"), None);
        assert_eq!(one_line(b"  "), None);
        assert_eq!(one_line(&[0xff, 0xfe]), None);
        assert_eq!(canonical_reason(StatusCode::URI_TOO_LONG), "uri too long");
    }
}
