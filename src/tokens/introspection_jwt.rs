//! JWT introspection responses (RFC 9701): the introspection answer, signed by authd for the
//! resource server that asked, so that it can keep or forward proof of what authd said.

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::TokenService;

/// The media type a caller asks for, and gets, a signed answer in (RFC 9701 section 4).
pub const INTROSPECTION_JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The JWT `typ` of a signed answer (RFC 9701 section 5).
const INTROSPECTION_JWT_TYPE: &str = "token-introspection+jwt";

#[derive(Serialize)]
struct IntrospectionJwtClaims<'a, T: Serialize> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    token_introspection: &'a T,
}

/// Whether an `Accept` header asks for a signed answer: the RFC 9701 media type is listed
/// (parameters aside) with a non-zero weight.
pub fn accepts_introspection_jwt(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default();
        let refused = parts.any(|param| {
            param
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media_type.eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE) && !refused
    })
}

/// Signs `answer` for the client `client_id` with the active key of `algorithm` (the access
/// tokens' key when `None`). `Ok(None)` when authd has no published key to sign with (HS256
/// mode): the caller answers plain JSON then.
pub fn sign_introspection_response<T: Serialize>(
    tokens: &TokenService,
    client_id: &str,
    algorithm: Option<Algorithm>,
    answer: &T,
    now: i64,
) -> anyhow::Result<Option<String>> {
    let keys = tokens.keys();
    if keys.offered_algorithms().is_empty() {
        return Ok(None);
    }
    let key = match algorithm {
        Some(algorithm) => keys.signing_key_for(algorithm),
        None => keys.signing_key(),
    }
    .ok_or_else(|| anyhow::anyhow!("no {algorithm:?} key to sign introspection responses with"))?;
    let mut header = Header::new(key.algorithm);
    header.typ = Some(INTROSPECTION_JWT_TYPE.to_owned());
    header.kid = Some(key.kid.clone());
    let claims = IntrospectionJwtClaims {
        iss: tokens.issuer(),
        aud: client_id,
        iat: now,
        token_introspection: answer,
    };
    Ok(Some(key.signer.encode(&header, &claims)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accept_listing_the_jwt_media_type_asks_for_a_signed_answer() {
        for asks in [
            "application/token-introspection+jwt",
            "Application/Token-Introspection+JWT",
            "application/json;q=0.5, application/token-introspection+jwt",
            "application/token-introspection+jwt; q=0.9",
        ] {
            assert!(accepts_introspection_jwt(asks), "{asks}");
        }
        for plain in [
            "",
            "application/json",
            "*/*",
            "application/jwt",
            "application/token-introspection+jwt;q=0",
            "application/token-introspection+jwtx",
        ] {
            assert!(!accepts_introspection_jwt(plain), "{plain}");
        }
    }
}
