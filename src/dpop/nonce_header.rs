//! Middleware handing out the current server nonce (RFC 9449 section 8.2) with every answer to a
//! request that uses DPoP, while nonces are required, so that clients keep theirs fresh.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::{Dpop, PROOF_HEADER};
use crate::clock::unix_now;

/// Adds `DPoP-Nonce` to answers to requests carrying a proof or a `DPoP` authorization.
pub async fn offer_nonce(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let uses_dpop = request.headers().contains_key(PROOF_HEADER)
        || request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"));
    let nonce = uses_dpop
        .then(|| request.app_data::<Data<Dpop>>())
        .flatten()
        .and_then(|dpop| dpop.nonce(unix_now()));
    let mut response = next.call(request).await?;
    let name = HeaderName::from_static("dpop-nonce");
    if let Some(nonce) = nonce
        && !response.headers().contains_key(&name)
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}
