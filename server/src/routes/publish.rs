//! `POST /publish`: one event to one or more topics, as JSON or as a Mercure-style form.

use std::time::Instant;

use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use shared::payload::{PublishRequest, PublishResponse};
use shared::wire::{EventId, EventName};

use crate::auth::Access;
use crate::body_deadline::BodyTimeout;
use crate::error::ApiError;
use crate::hub::log::{Appended, NewEvent};
use crate::state::ServerState;
use crate::topics;

/// Room in a body for everything around `data`: field names, other fields, JSON escapes.
const BODY_OVERHEAD: usize = 16 * 1024;

/// A publish, whichever format it came in.
#[derive(Debug, Default)]
struct Incoming {
    topics: Vec<String>,
    event: Option<String>,
    data: String,
    id: Option<String>,
    retry: Option<u64>,
    private: bool,
}

/// Publishes one event and answers its id.
///
/// # Errors
/// 400 bad fields, 401 missing or wrong token, 403 reserved topic or one a JWT does not grant, 413 data above
/// `--max-body`, 415 unknown body format, 429 over the open-topic rate limit.
pub(crate) async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<ServerState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, app.max_body + BODY_OVERHEAD, app.max_body).await?;
    let incoming = parse(&req, &body)?;
    if incoming.data.len() > app.max_body {
        return Err(ApiError::TooLarge {
            limit: app.max_body,
        });
    }
    if incoming.topics.is_empty() {
        return Err(ApiError::BadRequest("topic is required".to_owned()));
    }
    let topic_names = topics::named(&incoming.topics)?;
    let event = incoming
        .event
        .map(EventName::new)
        .transpose()
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let key = incoming
        .id
        .map(EventId::new)
        .transpose()
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;

    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let access = app
        .policy
        .authorize(authorization, &topic_names)
        .inspect_err(|err| {
            if let ApiError::BadToken(why) = err {
                app.stats.token_refused(*why);
            }
        })?;
    // Only a connection over TCP has a peer address; every one we accept does.
    if let (Access::Open, Some(peer)) = (access, req.peer_addr()) {
        app.limiter
            .check(peer.ip(), Instant::now())
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    }

    let appended = app
        .hub
        .publish(&NewEvent {
            topics: &topic_names,
            event: event.as_ref(),
            data: &incoming.data,
            retry: incoming.retry,
            key: key.as_ref().map(EventId::as_str),
            private: incoming.private,
        })
        .await?;
    if let Appended::New(_) = appended {
        app.stats.published();
    }
    Ok(HttpResponse::Ok().json(PublishResponse {
        id: appended.id().to_string(),
    }))
}

/// Reads the body, refusing it as soon as it passes `limit` bytes, or once it is later than
/// `--body-timeout` (the body deadline middleware fails the payload then).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    max_data: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = ApiError::TooLarge { limit: max_data };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| body_error(req, err))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn body_error(req: &HttpRequest, err: PayloadError) -> ApiError {
    match (&err, req.app_data::<BodyTimeout>()) {
        (PayloadError::Io(io), Some(&BodyTimeout(timeout)))
            if io.kind() == std::io::ErrorKind::TimedOut =>
        {
            ApiError::BodyTimeout { timeout }
        }
        _ => ApiError::BadRequest(format!("reading the body: {err}")),
    }
}

fn parse(req: &HttpRequest, body: &[u8]) -> Result<Incoming, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => parse_json(body),
        "application/x-www-form-urlencoded" => parse_form(body),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

fn parse_json(body: &[u8]) -> Result<Incoming, ApiError> {
    let request: PublishRequest = serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))?;
    let data = match request.data {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    Ok(Incoming {
        topics: vec![request.topic],
        event: request.event,
        data,
        id: request.id,
        retry: request.retry,
        private: request.private,
    })
}

/// Mercure's field names: `topic` (repeatable), `data`, `type`, `id`, `retry`, `private` (set
/// to anything: private).
fn parse_form(body: &[u8]) -> Result<Incoming, ApiError> {
    let mut incoming = Incoming::default();
    let mut saw_data = false;
    for (key, value) in form_urlencoded::parse(body) {
        match &*key {
            "topic" => incoming.topics.push(value.into_owned()),
            "data" => {
                saw_data = true;
                incoming.data = value.into_owned();
            }
            "type" => incoming.event = Some(value.into_owned()),
            "id" => incoming.id = Some(value.into_owned()),
            "retry" => {
                let millis = value.parse().map_err(|_| {
                    ApiError::BadRequest("retry must be a whole number of milliseconds".to_owned())
                })?;
                incoming.retry = Some(millis);
            }
            "private" => incoming.private = true,
            // Anything else carries nothing Herald acts on.
            _ => {}
        }
    }
    if !saw_data {
        return Err(ApiError::BadRequest("data is required".to_owned()));
    }
    Ok(incoming)
}
