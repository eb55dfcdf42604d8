//! The client credentials grant (RFC 6749 section 4.4).

use super::GrantContext;
use super::dpop_binding::{access_token_binding, spend_proof};
use super::response::{TokenResponse, record_issuance, resolve_scope};
use crate::clock::unix_now;
use crate::credentials::PresentedClient;
use crate::error::OAuthError;
use crate::routes::OAuthForm;
use crate::tokens::TokenSubject;

/// Issues a token to a confidential client for itself; no refresh token (section 4.4.3).
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    if !client.confidential {
        return Err(OAuthError::UnauthorizedClient(
            "public clients cannot use the client_credentials grant".into(),
        ));
    }
    let allowed = client.scopes.clone().unwrap_or_default();
    let scope = resolve_scope(form.get("scope"), &allowed)?;
    spend_proof(ctx).await?;
    let issued = ctx.tokens.issue_bound(
        TokenSubject::Client,
        &client.client_id,
        &client.registration,
        &scope,
        unix_now(),
        None,
        access_token_binding(ctx),
    )?;
    record_issuance(ctx, "client_credentials", &client.client_id, client, &scope).await;
    Ok(TokenResponse::new(
        issued.token,
        ctx.tokens.access_ttl(),
        &scope,
        None,
    ))
}
