//! The authorization code grant (RFC 6749 section 4.1.3, RFC 7636 section 4.6): a code from
//! `/authorize`, once, by the client it was issued to, with the PKCE verifier.
//!
//! The code is a sealed value (`signin::code`): it is opened and checked against the request
//! here, without the database. The one write stores it as redeemed, only if it was not before
//! and its user and session still stand (`store::authorization_codes`), committed with other
//! redemptions waiting at the same moment (`store::CodeWriter`). A code redeemed before has
//! what it issued revoked (section 4.1.2).

use super::GrantContext;
use super::dpop_binding::{
    access_token_binding, refresh_family_binding, require_bound_key, spend_proof,
};
use super::id_token::id_token_for;
use super::response::{TokenResponse, access_grant, client_gets_refresh_tokens, record_issuance};
use crate::clock::unix_now;
use crate::credentials::PresentedClient;
use crate::domain::{GrantType, ResourceUri, ScopeSet};
use crate::error::OAuthError;
use crate::openid::SignIn;
use crate::resources::requested_target;
use crate::routes::OAuthForm;
use crate::signin::authorization_request::verifier_matches;
use crate::signin::code::open_code;
use crate::store::{AuthorizationCode, CodeClaim, NewCodeFamily};
use crate::tokens::{Authentication, Grant, TokenSubject, mint_new_family};

/// Exchanges a code for tokens.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("code")?;
    let Some(code) = open_code(ctx.page_keys, presented) else {
        return Err(OAuthError::invalid_grant(
            "the code is invalid, expired or used",
        ));
    };
    // Codes expire by the flows' clock; tokens are stamped with the wall clock.
    let now = ctx.clock.now();
    let presented_uri = form.get("redirect_uri");
    let verifier = form.get("code_verifier");
    if let Some(refused) = mismatch(&code, client, now, presented_uri, verifier) {
        return Err(refusal(ctx, &code, refused).await?);
    }
    // RFC 9449 section 10: a code sent with dpop_jkt is redeemed with a proof from that key.
    require_bound_key(ctx, code.dpop_jkt.as_deref(), "code")?;
    // RFC 8707 section 2.2: the resources asked for at /authorize, or some of them.
    let granted = ResourceUri::parse_list(&code.resources.split_whitespace().collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("sealed code resources: {e}"))?;
    let target = requested_target(form.get_all("resource"), &granted)?.unwrap_or(granted);
    spend_proof(ctx).await?;
    let issued_at = unix_now();
    let access_jti = uuid::Uuid::new_v4().to_string();
    let minted = client_gets_refresh_tokens(client).then(mint_new_family);
    let refresh_expires_at = issued_at + ctx.settings.tokens.refresh_ttl_secs as i64;
    let claim = CodeClaim {
        code: code.clone(),
        now,
        access_jti: access_jti.clone(),
        access_expires_at: ctx.tokens.expiry_at(issued_at),
        refresh: minted.as_ref().map(|minted| NewCodeFamily {
            id: uuid::Uuid::new_v4().to_string(),
            family_hash: minted.family_hash.clone(),
            current_hash: minted.token_hash.clone(),
            expires_at: refresh_expires_at,
            dpop_jkt: refresh_family_binding(ctx, client),
        }),
    };
    let offline = claim.is_offline();
    if !ctx.code_writer.claim(claim).await? {
        // Redeemed before (by this request's twin, or a thief), or its user or session ended.
        let ended = OAuthError::invalid_grant("the user's sessions have ended");
        return Err(refusal(ctx, &code, ended).await?);
    }
    // Claims from the cached user; the redemption checked, fresh, that the user is enabled and
    // at the code's generation.
    let user = match ctx.cache.user(ctx.store, &code.user_id).await? {
        Some(user) => user,
        None => return Err(OAuthError::invalid_grant("the user's sessions have ended")),
    };
    let scope = ScopeSet::parse(&code.scope)
        .map_err(|e| OAuthError::Internal(anyhow::anyhow!("sealed code scope: {e}")))?;
    // Tokens of an offline grant outlive the session; all others end with it.
    let session = (!offline).then_some(code.session_handle.as_str());
    let subject = TokenSubject::User {
        id: &user.id,
        username: &user.username,
        roles: &user.roles,
        generation: code.user_generation,
        session,
        authentication: Some(Authentication {
            amr: &code.amr,
            auth_time: code.auth_time,
        }),
    };
    let access = access_grant(ctx, scope.clone(), &target).await?;
    let grant = Grant {
        client_id: &client.client_id,
        client_registration: &client.registration,
        scope: &access.scope,
        audience: access.audience,
        jkt: access_token_binding(ctx),
    };
    let issued = ctx
        .tokens
        .issue_for(subject, grant, issued_at, access_jti)?;
    let sign_in = SignIn {
        user: &user,
        scope: &scope,
        auth_time: code.auth_time,
        amr: &code.amr,
        sid: Some(&code.session_handle),
        nonce: code.nonce.as_deref(),
    };
    let id_token = id_token_for(ctx, client, &sign_in, &issued.token, issued_at).await?;
    record_issuance(
        ctx,
        GrantType::AuthorizationCode,
        &user.username,
        client,
        &access.scope,
    )
    .await;
    Ok(TokenResponse::new(
        issued.token,
        ctx.tokens.access_ttl(),
        &access.scope,
        minted.map(|minted| minted.token),
    )
    .with_id_token(id_token))
}

/// Why this request may not redeem `code`, in the order a client can act on; `None` when it
/// may.
fn mismatch(
    code: &AuthorizationCode,
    client: &PresentedClient,
    now: i64,
    presented_uri: Option<&str>,
    verifier: Option<&str>,
) -> Option<OAuthError> {
    if code.client_id != client.client_id || code.client_registration != client.registration {
        return Some(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if code.expires_at <= now {
        return Some(OAuthError::invalid_grant("the code has expired"));
    }
    if let Some(refused) = redirect_uri_refusal(code, presented_uri) {
        return Some(refused);
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if !verifier_matches(verifier, challenge) => Some(
            OAuthError::invalid_grant("the code_verifier does not match"),
        ),
        (Some(_), None) => Some(OAuthError::invalid_request(
            "code_verifier is required: the authorization request used PKCE",
        )),
        // RFC 9700 section 2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => Some(OAuthError::invalid_grant(
            "the authorization request carried no code_challenge",
        )),
        _ => None,
    }
}

/// The answer to a redemption refused with `otherwise`, unless the code was redeemed before: a
/// code used twice is compromised whatever else is wrong with this attempt, and what the first
/// redemption issued is revoked (section 4.1.2).
async fn refusal(
    ctx: &GrantContext<'_>,
    code: &AuthorizationCode,
    otherwise: OAuthError,
) -> Result<OAuthError, OAuthError> {
    if ctx
        .store
        .find_authorization_code(&code.code_hash)
        .await?
        .is_none()
    {
        return Ok(otherwise);
    }
    if let Some((jti, exp)) = ctx.store.revoke_code_tokens(&code.code_hash).await? {
        ctx.cache.mark_revoked(&jti, exp);
    }
    log::warn!(
        "authorization code of client {} was used twice",
        code.client_id
    );
    Ok(OAuthError::invalid_grant(
        "the code was already used; its tokens are revoked",
    ))
}

/// `redirect_uri` must be the one sent to /authorize; when none was sent, it may be omitted.
fn redirect_uri_refusal(code: &AuthorizationCode, presented: Option<&str>) -> Option<OAuthError> {
    match (&code.redirect_uri, presented) {
        (Some(sent), Some(presented)) if sent == presented => None,
        (Some(_), _) => Some(OAuthError::invalid_grant(
            "redirect_uri must be the one sent with the authorization request",
        )),
        (None, Some(presented)) if presented != code.delivered_to => Some(
            OAuthError::invalid_grant("redirect_uri does not match the authorization request"),
        ),
        (None, _) => None,
    }
}
