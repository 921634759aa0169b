//! Patched in for Herald: the errors this dispatcher answers by itself, before any service sees
//! the request (a malformed request, a head too large, a head too slow, a payload out of
//! place), carry a one-line JSON reason, as every other error the server sends.

use bytes::Bytes;

use crate::{
    header::{HeaderValue, CONTENT_TYPE},
    Response, StatusCode,
};

/// `res` with a JSON content type, and its body: `{"error": "<reason>"}`.
pub(super) fn json_error(mut res: Response<()>) -> (Response<()>, Bytes) {
    let reason = match res.status() {
        StatusCode::BAD_REQUEST => "malformed request",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request head too large",
        StatusCode::REQUEST_TIMEOUT => "request head not received in time",
        StatusCode::INTERNAL_SERVER_ERROR => "request payload out of place",
        other => other.canonical_reason().unwrap_or("request refused"),
    };
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (res, Bytes::from(format!("{{\"error\":\"{reason}\"}}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dispatcher_error_is_json_with_its_reason() {
        let (res, body) = json_error(Response::with_body(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            (),
        ));
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(
            res.headers().get(CONTENT_TYPE).unwrap(),
            "application/json"
        );
        assert_eq!(&body[..], br#"{"error":"request head too large"}"#);
    }
}
