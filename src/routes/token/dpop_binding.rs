//! What a DPoP proof sent to `/token` means for a grant (RFC 9449 sections 5 and 10): the proof
//! is spent once its grant's credentials checked out, the access token is bound to its key, a
//! public client's refresh tokens too, and a grant already bound to a key needs a proof from it.

use super::GrantContext;
use crate::credentials::PresentedClient;
use crate::dpop::{VerifiedProof, replay_expiry};
use crate::error::OAuthError;
use crate::store::Store;

/// Records the request's proof as used, across instances (section 11.1): called by each grant
/// after its credentials checked out and before it changes anything, so that only proofs of
/// otherwise successful requests reach the table.
pub async fn spend_proof(ctx: &GrantContext<'_>) -> Result<(), OAuthError> {
    match ctx.dpop {
        Some(proof) => spend(ctx.store, proof).await,
        None => Ok(()),
    }
}

/// Records `proof` as used, across instances; `invalid_dpop_proof` if it was used before (at
/// `/token` or `/par`).
pub async fn spend(store: &Store, proof: &VerifiedProof) -> Result<(), OAuthError> {
    let now = crate::clock::unix_now();
    if !store
        .record_dpop_proof(&proof.replay_key, replay_expiry(proof), now)
        .await?
    {
        return Err(OAuthError::InvalidDpopProof(
            "the DPoP proof was used before".into(),
        ));
    }
    Ok(())
}

/// The key thumbprint to bind the access token to: the proof's, when one was sent.
pub fn access_token_binding<'a>(ctx: &GrantContext<'a>) -> Option<&'a str> {
    ctx.dpop.map(|proof| proof.jkt.as_str())
}

/// The key to bind a new refresh-token family to: a public client's proof key; confidential
/// clients authenticate instead, so their refresh tokens stay unbound (section 5).
pub fn refresh_family_binding(ctx: &GrantContext<'_>, client: &PresentedClient) -> Option<String> {
    ctx.dpop
        .filter(|_| !client.confidential)
        .map(|proof| proof.jkt.clone())
}

/// Refuses a request for a grant (a refresh token, or a code sent with `dpop_jkt`) bound to the
/// key `bound` unless the proof is from that key: no proof is `invalid_dpop_proof`, a proof
/// from another key `invalid_grant` (the grant is not this key's).
pub fn require_bound_key(
    ctx: &GrantContext<'_>,
    bound: Option<&str>,
    what: &str,
) -> Result<(), OAuthError> {
    let Some(bound) = bound else {
        return Ok(());
    };
    match ctx.dpop {
        None => Err(OAuthError::InvalidDpopProof(format!(
            "the {what} is bound to a DPoP key: send a DPoP proof made with it"
        ))),
        Some(proof) if proof.jkt != bound => Err(OAuthError::InvalidGrant(format!(
            "the {what} is bound to another DPoP key"
        ))),
        Some(_) => Ok(()),
    }
}
