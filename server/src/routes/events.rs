//! `GET /events`: opens a subscriber's event stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::wire::CONTENT_TYPE;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::stream::{ConnectionPermit, EventStream};
use crate::topics;

/// How long a client over the connection limit is asked to wait.
const BUSY_BACKOFF: Duration = Duration::from_secs(10);

/// Opens the event stream of the topics named by `?topic=` (or the defaults), resuming after
/// `Last-Event-ID` (or `?lastEventId=`) when given.
///
/// # Errors
/// 400 for an invalid topic; 401 for a token that fails a check; 503 with `Retry-After` over the connection limit for clients that
/// are not browsers (an `EventSource` instead gets a `200` that tells it to come back later,
/// because any other status makes it give up for good).
pub(crate) async fn events(
    req: HttpRequest,
    app: web::Data<ServerState>,
) -> Result<HttpResponse, ApiError> {
    let mut asked = Vec::new();
    let mut query_last_id = None;
    let mut query_token = None;
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match &*key {
            "topic" => asked.push(value.into_owned()),
            "lastEventId" => query_last_id = Some(value.into_owned()),
            "authorization" => query_token = Some(value.into_owned()),
            _ => {}
        }
    }
    let topics = topics::requested(asked)?;
    let grants = match (&app.jwt, presented_token(&req, query_token)) {
        (Some(jwt), Some(token)) => match jwt.verify(&token) {
            Ok(grants) => Some(grants),
            Err(why) => {
                app.stats.token_refused(why);
                return Err(ApiError::BadToken(why));
            }
        },
        // No token: anonymous, public events only. Without a key there is nothing to check a
        // token against, and nothing private to show.
        _ => None,
    };
    let expires = grants.as_ref().and_then(|grants| grants.expires).map(|at| {
        let left = at.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    // The header wins: it is what the browser sends on its own reconnects. Its bytes go to the
    // hub as they are: whatever is not an id of ours (any length, any bytes) gets `reset`.
    let header_last_id = req
        .headers()
        .get("last-event-id")
        .map(|value| value.as_bytes());
    let last_event_id = header_last_id
        .or(query_last_id.as_deref().map(str::as_bytes))
        .filter(|id| !id.is_empty());

    let busy = || ApiError::Busy {
        retry_after: BUSY_BACKOFF,
    };
    if app.shutdown.is_cancelled() {
        // Draining: send browsers elsewhere (or back later) the same way as when full.
        return over_limit(&req, BUSY_BACKOFF, busy());
    }
    let Some(permit) = ConnectionPermit::try_acquire(&app.stats, app.max_connections) else {
        return over_limit(&req, BUSY_BACKOFF, busy());
    };
    let readable = grants.map(|grants| Arc::new(grants.subscribe));
    let subscription = match app.hub.subscribe(&topics, last_event_id, readable).await {
        Ok(subscription) => subscription,
        Err(err) => return over_limit(&req, err.retry_after(), err.into()),
    };
    let stream = EventStream::new(
        subscription,
        permit,
        &app.hub,
        Arc::clone(&app.stats),
        app.timing,
    )
    .ending_at(expires);
    Ok(stream_response().streaming(stream))
}

/// The cookie a browser's `EventSource` carries its token in (Mercure's name).
const TOKEN_COOKIE: &str = "mercureAuthorization";

/// The subscriber's token, from the first place it is found: `Authorization: Bearer` (clients
/// that can set headers), the [`TOKEN_COOKIE`] cookie (browsers), `?authorization=` (pages on
/// other origins, which cannot use the cookie).
fn presented_token(req: &HttpRequest, query_token: Option<String>) -> Option<String> {
    let headers = req.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    let from_cookie = headers
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            let (name, value) = cookie.trim().split_once('=')?;
            (name == TOKEN_COOKIE).then(|| value.trim_matches('"').to_owned())
        });
    from_cookie
        .or(query_token)
        .filter(|token| !token.is_empty())
}

/// The head every event stream answer carries.
fn stream_response() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("x-accel-buffering", "no"));
    // `Connection` is actix-http's to write: HTTP/1.1 connections persist by default, and it
    // drops a handler's own `Connection` header, so none is set here.
    response
}

/// A full (or cut off) server's answer: `refusal` for most clients; for a browser's
/// `EventSource` (which gives up for good on any status but 200) a 200 that asks it to come
/// back after `backoff`.
fn over_limit(
    req: &HttpRequest,
    backoff: Duration,
    refusal: ApiError,
) -> Result<HttpResponse, ApiError> {
    let wants_stream = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains(CONTENT_TYPE));
    if !wants_stream {
        return Err(refusal);
    }
    let mut body = Vec::new();
    shared::wire::encode_retry(
        u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        &mut body,
    );
    Ok(stream_response().body(body))
}
