//! ID tokens (OpenID Connect Core sections 2 and 3.1.3.6): who signed in, when and how, for
//! one client, signed with the algorithm that client registered (RS256 unless it asked for
//! another).

use aws_lc_rs::digest::{SHA256, SHA512, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::user_claims::UserClaims;
use crate::domain::ScopeSet;
use crate::mfa::acr_of;
use crate::store::User;
use crate::tokens::TokenService;

/// The claims of an id_token.
#[derive(Debug, Clone, Serialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user id: stable, never reassigned.
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    /// Expiry (`tokens.id_token_ttl_secs` after issue).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the person last proved who they are; on refresh, still the original sign-in.
    pub auth_time: i64,
    /// Exactly as sent to /authorize; absent on refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The authorized party: the client, as `aud` holds only it.
    pub azp: String,
    /// Binds the access token issued with it (section 3.1.3.8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The browser session (Back-Channel Logout and RP-Initiated Logout refer to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How the person authenticated (RFC 8176 values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// How strong that was (Core section 2): `mfa::ACR_PWD` or `mfa::ACR_MFA`, from `amr`.
    pub acr: &'static str,
    /// What the granted scopes release about the user.
    #[serde(flatten)]
    pub user: UserClaims,
}

/// A sign-in an id_token describes.
#[derive(Debug)]
pub struct SignIn<'a> {
    /// The user.
    pub user: &'a User,
    /// The scopes granted (they decide the user claims).
    pub scope: &'a ScopeSet,
    /// When they authenticated.
    pub auth_time: i64,
    /// How, space-delimited RFC 8176 values.
    pub amr: &'a str,
    /// The session, when the sign-in came from one.
    pub sid: Option<&'a str>,
    /// The authorization request's nonce.
    pub nonce: Option<&'a str>,
}

/// Signs id_tokens with the key ring's key for each client's algorithm.
#[derive(Clone, Copy)]
pub struct IdTokenSigner<'a> {
    tokens: &'a TokenService,
    ttl_secs: i64,
}

impl<'a> IdTokenSigner<'a> {
    /// A signer issuing tokens that live `ttl_secs`.
    pub fn new(tokens: &'a TokenService, ttl_secs: u64) -> Self {
        Self {
            tokens,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
        }
    }

    /// The id_token for `sign_in` at `client_id`, issued with `access_token` at `now`.
    pub fn sign(
        &self,
        sign_in: &SignIn<'_>,
        client_id: &str,
        algorithm: Algorithm,
        access_token: &str,
        now: i64,
    ) -> anyhow::Result<String> {
        let key = self
            .tokens
            .keys()
            .signing_key_for(algorithm)
            .ok_or_else(|| anyhow::anyhow!("no {algorithm:?} key to sign id_tokens with"))?;
        let claims = IdTokenClaims {
            iss: self.tokens.issuer().to_owned(),
            sub: sign_in.user.id.clone(),
            aud: client_id.to_owned(),
            exp: now.saturating_add(self.ttl_secs),
            iat: now,
            auth_time: sign_in.auth_time,
            nonce: sign_in.nonce.map(str::to_owned),
            azp: client_id.to_owned(),
            at_hash: at_hash(algorithm, access_token),
            sid: sign_in.sid.map(str::to_owned),
            amr: sign_in.amr.split_whitespace().map(str::to_owned).collect(),
            acr: acr_of(sign_in.amr),
            user: UserClaims::of(sign_in.user, sign_in.scope),
        };
        let mut header = Header::new(key.algorithm);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(key.kid.clone());
        Ok(key.signer.encode(&header, &claims)?)
    }
}

/// `at_hash` (Core section 3.1.3.6): the left half of the access token's hash under the hash of
/// the signing algorithm, base64url; SHA-512 for EdDSA with Ed25519. `None` for an algorithm
/// authd does not sign id_tokens with.
pub fn at_hash(algorithm: Algorithm, access_token: &str) -> Option<String> {
    let hash = match algorithm {
        Algorithm::RS256 | Algorithm::ES256 => &SHA256,
        Algorithm::EdDSA => &SHA512,
        _ => return None,
    };
    let full = digest(hash, access_token.as_bytes());
    let bytes = full.as_ref();
    Some(URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_openid_connect_core_example() {
        // Core appendix A.3: an RS256 id_token issued with this access token.
        assert_eq!(
            at_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            )
            .as_deref(),
            Some("77QmUPtjPfzWtF2AnpK9RQ")
        );
    }

    #[test]
    fn eddsa_uses_the_left_half_of_sha512() {
        let hash = at_hash(Algorithm::EdDSA, "token").unwrap();
        let full = digest(&SHA512, b"token");
        assert_eq!(hash, URL_SAFE_NO_PAD.encode(&full.as_ref()[..32]));
        assert_eq!(at_hash(Algorithm::HS256, "token"), None);
    }
}
