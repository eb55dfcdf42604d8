//! DPoP at authd's protected resources (RFC 9449 section 7): a bound token only with the `DPoP`
//! scheme and a proof from its key; an unbound one only as `Bearer`.

use actix_web::HttpRequest;

use super::Dpop;
use crate::error::ApiError;
use crate::tokens::AccessClaims;

/// How the access token was presented (`Authorization: <scheme> <token>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750.
    Bearer,
    /// RFC 9449 section 7.1.
    Dpop,
}

impl Scheme {
    /// The scheme named `name` (case-insensitive), if authd accepts it.
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("bearer") {
            Some(Scheme::Bearer)
        } else if name.eq_ignore_ascii_case("dpop") {
            Some(Scheme::Dpop)
        } else {
            None
        }
    }
}

/// The refusal of a token presented with the `DPoP` scheme, or of a bound one presented as
/// `Bearer`: a `DPoP` challenge with `invalid_token`.
pub fn invalid_token(description: &str) -> ApiError {
    ApiError::Dpop {
        error: "invalid_token",
        description: description.to_owned(),
        nonce: None,
    }
}

/// Checks that the live token `claims` (of `token`) was presented as its binding requires, and
/// for a bound token that the request's proof is valid, from the token's key, and new here.
pub fn confirm_presentation(
    request: &HttpRequest,
    dpop: &Dpop,
    scheme: Scheme,
    token: &str,
    claims: &AccessClaims,
    now: i64,
) -> Result<(), ApiError> {
    match (scheme, &claims.cnf) {
        (Scheme::Bearer, None) => Ok(()),
        // Section 7.1: a bound token is never honoured as a bearer token.
        (Scheme::Bearer, Some(_)) => Err(invalid_token(
            "this access token is DPoP-bound: present it with the DPoP scheme and a proof",
        )),
        (Scheme::Dpop, None) => Err(invalid_token(
            "this access token is not DPoP-bound: present it as a Bearer token",
        )),
        (Scheme::Dpop, Some(confirmation)) => {
            let proof = dpop.check_resource_request(request, token, now)?;
            // Section 4.3 check 12: the proof's key is the one the token is bound to.
            if proof.jkt != confirmation.jkt {
                return Err(super::DpopError::InvalidProof(
                    "the DPoP proof is not made with the access token's key",
                )
                .into());
            }
            dpop.remember_resource_proof(&proof, now)?;
            Ok(())
        }
    }
}
