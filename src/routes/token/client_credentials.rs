//! The client credentials grant (RFC 6749 section 4.4).

use super::GrantContext;
use super::dpop_binding::{access_token_binding, spend_proof};
use super::response::{TokenResponse, access_grant, record_client_issuance, resolve_scope};
use crate::clock::unix_now;
use crate::credentials::PresentedClient;
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::resources::requested_target;
use crate::routes::OAuthForm;
use crate::tokens::{Grant, TokenSubject};

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
    let no_scopes = ScopeSet::default();
    let allowed = client.scopes.as_deref().unwrap_or(&no_scopes);
    let requested = resolve_scope(form.get("scope"), allowed)?;
    let target = requested_target(form.get_all("resource"), &client.resources)?;
    let access = access_grant(ctx, requested, target.as_deref().unwrap_or_default()).await?;
    spend_proof(ctx).await?;
    let grant = Grant {
        client_id: &client.client_id,
        client_registration: &client.registration,
        scope: &access.scope,
        audience: access.audience,
        jkt: access_token_binding(ctx),
    };
    let jti = uuid::Uuid::new_v4().to_string();
    let issued = ctx
        .tokens
        .issue_for(TokenSubject::Client, grant, unix_now(), jti)?;
    record_client_issuance(ctx, client, &issued.claims.scope).await;
    Ok(TokenResponse::with_scope_text(
        issued.token,
        ctx.tokens.access_ttl(),
        issued.claims.scope,
    ))
}
