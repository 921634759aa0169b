//! Request bodies arrive in full within `--body-timeout` of their head, or the answer is 408 and
//! the connection closes. A body the route did not read is read and dropped under the same
//! deadline before the answer goes, so that no body, read or not, sized or chunked, can hold a
//! connection open by trickling in.
//!
//! Why the chunked case needs care: actix-http closes a connection whose sized body was left
//! unread (after a short linger), but reads an unread *chunked* body to its end to keep the
//! connection, with no time limit. So when a chunked body is late, its reading goes on behind
//! the answer for [`LINGER`], and then the answer's body fails on purpose, which makes actix-http
//! drop the connection.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::future::{Future as _, poll_fn};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage as _, HttpResponse};
use futures_util::{Stream, StreamExt as _};
use tokio::time::{Instant, Sleep, sleep, sleep_until};

use crate::error::ApiError;

/// A body a route did not read is read and dropped up to this much, so that its connection can
/// serve a next request; past it, closing the connection is cheaper than reading on.
const DRAIN_LIMIT: usize = 64 * 1024;
/// How long the rest of a late chunked body is still read (and dropped) behind the answer before
/// the connection is cut: time for the answer to reach the client, as actix-http gives an unread
/// sized body (its `client_disconnect_timeout`, 1 s).
const LINGER: Duration = Duration::from_secs(1);

/// The time a request body may take, from its head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeout(pub Duration);

/// How a request frames its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Sized,
    Chunked,
}

/// The middleware.
///
/// # Errors
/// Whatever the wrapped service returns.
pub(crate) async fn middleware(
    BodyTimeout(timeout): BodyTimeout,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(framing) = framing(req.headers()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let deadline = Instant::now() + timeout;
    let peer = req.peer_addr().map(|addr| addr.ip());
    let body = Rc::new(RefCell::new(Body {
        payload: req.take_payload(),
        ended: false,
    }));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Deadline {
            body: Rc::clone(&body),
            timer: Box::pin(sleep_until(deadline)),
            timeout,
        }),
    });

    let answered = next.call(req).await;
    // A route that answered with an error has refused the request: the client need not send
    // the rest of its body (a 413 goes out before a huge body is uploaded). A route that
    // answered otherwise gets the body's rest read under the deadline first, so the connection
    // can carry on.
    let refused = answered
        .as_ref()
        .map_or(true, |response| is_refusal(response.status()));
    let wait_until = if refused { Instant::now() } else { deadline };
    let drained = drain(&body, wait_until).await;
    let response = answered?.map_into_boxed_body();
    let response = match drained {
        Drained::Ended => return Ok(response),
        Drained::Late if !refused => {
            let (req, _) = response.into_parts();
            let late = HttpResponse::from_error(ApiError::BodyTimeout { timeout });
            ServiceResponse::new(req, late)
        }
        Drained::Late | Drained::TooLong => response,
    };
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        crate::log_limit::warn_limited!(
            peer = %peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
            "request body not complete within {} ms; answered 408 and closing",
            timeout.as_millis()
        );
    }
    Ok(close(response, body, framing))
}

/// Whether an answer refuses the request (an error status).
fn is_refusal(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// The framing of a request's body, or `None` when it has none.
fn framing(headers: &header::HeaderMap) -> Option<Framing> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        // actix-http refuses any transfer coding but `chunked` before routing.
        return Some(Framing::Chunked);
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())?;
    (length > 0).then_some(Framing::Sized)
}

/// The request's payload, shared between the route (through [`Deadline`]) and the middleware,
/// which reads what the route left once it has answered.
struct Body {
    payload: Payload,
    ended: bool,
}

impl Body {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, PayloadError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = ready!(self.payload.poll_next_unpin(cx));
        // After an error the body is broken for good: actix-http has given up on it.
        self.ended = !matches!(next, Some(Ok(_)));
        Poll::Ready(next)
    }
}

/// What the route reads: the body, failing with `TimedOut` once the deadline has passed.
struct Deadline {
    body: Rc<RefCell<Body>>,
    timer: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(next) = self.body.borrow_mut().poll_chunk(cx) {
            return Poll::Ready(next);
        }
        ready!(self.timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "request body not complete within {} ms",
                self.timeout.as_millis()
            ),
        )))))
    }
}

/// How reading what the route left of a body ended (by a deadline that may already be past:
/// then only what has arrived is read).
#[derive(Debug, PartialEq, Eq)]
enum Drained {
    /// The body is whole (or broken, which actix-http deals with): the connection is sound.
    Ended,
    /// The deadline came first.
    Late,
    /// More than [`DRAIN_LIMIT`] was left.
    TooLong,
}

async fn drain(body: &RefCell<Body>, deadline: Instant) -> Drained {
    let mut dropped = 0;
    loop {
        let chunk =
            tokio::time::timeout_at(deadline, poll_fn(|cx| body.borrow_mut().poll_chunk(cx))).await;
        match chunk {
            Err(_) => return Drained::Late,
            Ok(Some(Ok(bytes))) => {
                dropped += bytes.len();
                if dropped > DRAIN_LIMIT {
                    return Drained::TooLong;
                }
            }
            Ok(_) => return Drained::Ended,
        }
    }
}

/// Marks `response` as the connection's last and makes sure the connection does close.
fn close(
    mut response: ServiceResponse<BoxBody>,
    body: Rc<RefCell<Body>>,
    framing: Framing,
) -> ServiceResponse<BoxBody> {
    response
        .response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    match framing {
        // Dropping the unfinished sized body is enough: actix-http then closes after the answer.
        Framing::Sized => response,
        Framing::Chunked => response.map_body(|_, answer| {
            BoxBody::new(Linger {
                answer,
                answered: false,
                body,
                cut: Box::pin(sleep(LINGER)),
            })
        }),
    }
}

/// An answer's body followed by the rest of the request's chunked body, read and dropped; if
/// that does not end within [`LINGER`], this body fails so that actix-http drops the connection.
struct Linger {
    answer: BoxBody,
    answered: bool,
    body: Rc<RefCell<Body>>,
    cut: Pin<Box<Sleep>>,
}

impl MessageBody for Linger {
    type Error = Box<dyn StdError>;

    fn size(&self) -> BodySize {
        self.answer.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = &mut *self;
        if !this.answered {
            match ready!(Pin::new(&mut this.answer).poll_next(cx)) {
                Some(chunk) => return Poll::Ready(Some(chunk)),
                None => this.answered = true,
            }
        }
        loop {
            match this.body.borrow_mut().poll_chunk(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(_) => return Poll::Ready(None),
                Poll::Pending => break,
            }
        }
        ready!(this.cut.as_mut().poll(cx));
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request body still unfinished after the answer; closing",
        )
        .into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_follows_the_headers() {
        let mut headers = header::HeaderMap::new();
        assert_eq!(framing(&headers), None);
        headers.insert(
            header::CONTENT_LENGTH,
            header::HeaderValue::from_static("0"),
        );
        assert_eq!(framing(&headers), None);
        headers.insert(
            header::CONTENT_LENGTH,
            header::HeaderValue::from_static("12"),
        );
        assert_eq!(framing(&headers), Some(Framing::Sized));
        headers.insert(
            header::TRANSFER_ENCODING,
            header::HeaderValue::from_static("chunked"),
        );
        assert_eq!(framing(&headers), Some(Framing::Chunked));
    }
}
