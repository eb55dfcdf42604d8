//! Hands out the current server nonce (RFC 9449 section 8.2) with every answer to a request that
//! uses DPoP, while nonces are required, so that clients keep theirs fresh (see `net::edge`).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Data;

use super::{Dpop, PROOF_HEADER};
use crate::clock::unix_now;

/// The nonce to offer with the answer to `request`: one while nonces are required and the request
/// carries a proof or a `DPoP` authorization, else `None`.
pub fn nonce_to_offer(request: &ServiceRequest) -> Option<String> {
    let uses_dpop = request.headers().contains_key(PROOF_HEADER)
        || request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"));
    uses_dpop
        .then(|| request.app_data::<Data<Dpop>>())
        .flatten()
        .and_then(|dpop| dpop.nonce(unix_now()))
}

/// Adds `DPoP-Nonce: nonce` to an answer that does not name one already.
pub fn offer_nonce(nonce: Option<String>, headers: &mut HeaderMap) {
    let name = HeaderName::from_static("dpop-nonce");
    if let Some(nonce) = nonce
        && !headers.contains_key(&name)
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        headers.insert(name, value);
    }
}
