//! The id_token a token response carries when the granted scope holds `openid` (OpenID Connect
//! Core sections 3.1.3.3 and 12.2).

use jsonwebtoken::Algorithm;

use super::GrantContext;
use crate::credentials::PresentedClient;
use crate::error::OAuthError;
use crate::openid::{IdTokenSigner, OPENID, SignIn};

/// Signs the id_token for `sign_in`, or `None` when `openid` was not granted.
pub async fn id_token_for(
    ctx: &GrantContext<'_>,
    client: &PresentedClient,
    sign_in: &SignIn<'_>,
    access_token: &str,
    now: i64,
) -> Result<Option<String>, OAuthError> {
    if !sign_in.scope.contains(OPENID) {
        return Ok(None);
    }
    // The client's registered algorithm; RS256 for a client the cache no longer knows (the
    // grant authenticated it a moment ago).
    let algorithm = ctx
        .cache
        .client_named(ctx.store, &client.client_id)
        .await?
        .map_or(Algorithm::RS256, |client| client.id_token_signing_alg());
    let signer = IdTokenSigner::new(ctx.tokens, ctx.settings.tokens.id_token_ttl_secs);
    let signed = signer.sign(sign_in, &client.client_id, algorithm, access_token, now)?;
    Ok(Some(signed))
}
