//! A deadline for request bodies: actix's `client_request_timeout` covers the head only, so a
//! client could otherwise trickle a declared body one byte at a time for as long as it likes.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use tokio::time::{Instant, Sleep, sleep_until};

use crate::config::Settings;
use crate::error::OAuthError;

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} s")]
pub struct BodyTimeout(u64);

impl ResponseError for BodyTimeout {
    fn status_code(&self) -> StatusCode {
        StatusCode::REQUEST_TIMEOUT
    }

    // RFC 6749 section 5.2 has no timeout code: `invalid_request` in the JSON shape of every
    // other error, with 408 (RFC 9110 section 15.5.9).
    fn error_response(&self) -> HttpResponse {
        let mut response = OAuthError::invalid_request(self.to_string()).error_response();
        *response.status_mut() = self.status_code();
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        response
    }
}

/// The unread rest of a payload whose deadline passed; `None` while the deadline holds.
type Leftover = Rc<RefCell<Option<Payload>>>;

/// A request body under its deadline: a request whose body is not complete
/// `server.request_body_timeout_secs` after its head arrived ends with 408, and the connection
/// closed (see `net::edge`).
pub struct BodyDeadline {
    seconds: u64,
    leftover: Leftover,
}

impl BodyDeadline {
    /// Puts the body of `request`, if it has one, under the deadline.
    pub fn arm(request: &mut ServiceRequest) -> Option<Self> {
        let seconds = request
            .app_data::<Data<Settings>>()
            .map(|settings| settings.server.request_body_timeout_secs)?;
        let payload = request.take_payload();
        if matches!(payload, Payload::None) {
            request.set_payload(payload);
            return None;
        }
        let leftover = Leftover::default();
        let stream = DeadlineStream {
            inner: payload,
            deadline: Instant::now() + Duration::from_secs(seconds),
            timer: None,
            leftover: leftover.clone(),
        };
        request.set_payload(Payload::Stream {
            payload: Box::pin(stream),
        });
        Some(Self { seconds, leftover })
    }

    /// The handler's answer, or the 408 when the deadline passed while it read the body.
    pub fn settle<B: MessageBody + 'static>(
        deadline: Option<Self>,
        result: Result<ServiceResponse<B>, actix_web::Error>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let Some((seconds, unread)) =
            deadline.and_then(|armed| Some((armed.seconds, armed.leftover.take()?)))
        else {
            return Ok(result?.map_into_boxed_body());
        };
        match result {
            Ok(response) => Ok(response
                .error_response(BodyTimeout(seconds))
                .map_body(|_, body| ClosingBody {
                    body,
                    _unread: unread,
                })
                .map_into_boxed_body()),
            Err(_) => Err(BodyTimeout(seconds).into()),
        }
    }
}

/// The 408's body. It holds the unread payload until the answer is sent: actix closes a
/// connection whose payload is still unread then, but would keep reading a chunked one it had
/// been told to discard, for as long as the client kept trickling it.
struct ClosingBody {
    body: BoxBody,
    _unread: Payload,
}

impl MessageBody for ClosingBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// The request's payload, failing once the deadline has passed.
struct DeadlineStream {
    inner: Payload,
    deadline: Instant,
    // Created on the first wait only: most bodies arrive with the head and never need a timer.
    timer: Option<Pin<Box<Sleep>>>,
    leftover: Leftover,
}

impl futures_core::Stream for DeadlineStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let unread = std::mem::replace(&mut self.inner, Payload::None);
        *self.leftover.borrow_mut() = Some(unread);
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "request body deadline passed",
        )))))
    }
}
