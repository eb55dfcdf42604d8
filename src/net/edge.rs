//! The one middleware every request passes through, outermost first: the access log, the request
//! metrics, CORS, DPoP nonces, the body deadline. Each lives in its own module as a step before
//! the handler and one after it; this composes them in one future. Five `from_fn` layers cost
//! two boxed futures apiece per request, several microseconds of the client_credentials grant's
//! budget (BENCHMARKS.md).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::access_log::log_request;
use super::body_deadline::BodyDeadline;
use super::cors::Cors;
use crate::dpop::{nonce_to_offer, offer_nonce};
use crate::metrics::count_request;

/// Runs the edge steps around the handler.
pub async fn edge(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // One clock for the log line and the histogram.
    let started = Instant::now();
    let response = match Cors::check(&request).await {
        Cors::Preflight(answer) => request.into_response(answer),
        cors => {
            let nonce = nonce_to_offer(&request);
            let deadline = BodyDeadline::arm(&mut request);
            // Innermost, so a 408 still gets the nonce, the CORS headers, a metric and a line.
            let mut response = BodyDeadline::settle(deadline, next.call(request).await)?;
            // RFC 9449 section 8.2: a fresh DPoP nonce with every DPoP answer.
            offer_nonce(nonce, response.headers_mut());
            cors.finish(response.headers_mut());
            response
        }
    };
    let took = started.elapsed();
    count_request(&response, took);
    log_request(&response, took);
    Ok(response)
}
