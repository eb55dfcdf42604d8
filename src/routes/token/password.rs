//! The resource owner password credentials grant (RFC 6749 section 4.3).

use secrecy::SecretString;

use super::GrantContext;
use super::response::{
    TokenResponse, allowed_user_scope, client_gets_refresh_tokens, record_issuance, resolve_scope,
    start_refresh_family, user_access_token,
};
use crate::clock::unix_now;
use crate::credentials::PresentedClient;
use crate::domain::{MAX_USERNAME_CHARS, Password};
use crate::error::OAuthError;
use crate::mfa::strength::AMR_PASSWORD;
use crate::routes::OAuthForm;
use crate::signin::PasswordCheck;
use crate::tokens::Authentication;

/// Checks the user's password and issues tokens.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &mut GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let raw_username = form.require("username")?;
    if raw_username.chars().count() > MAX_USERNAME_CHARS {
        return Err(OAuthError::invalid_request(format!(
            "username must be at most {MAX_USERNAME_CHARS} characters"
        )));
    }
    let password = Password::parse(SecretString::from(form.require("password")?.to_owned()))
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let now = unix_now();
    let mut check = PasswordCheck {
        store: ctx.store,
        hasher: ctx.hasher,
        lockout: ctx.lockout,
        audit: ctx.audit,
        device_cookies: ctx.device_cookies,
        ip: ctx.ip.clone(),
        still_waiting: ctx.still_waiting.take(),
        cookie_header: ctx.cookie_header.take(),
        client_id: &client.client_id,
    };
    let signed_in = check.sign_in(raw_username, &password, now).await?;
    let user = signed_in.user;
    // How the user proved who they are: a password alone, so far.
    let authentication = Authentication {
        amr: AMR_PASSWORD,
        auth_time: now,
    };
    let allowed = allowed_user_scope(ctx.store.scopes_of_user(&user.id).await?, client);
    let scope = resolve_scope(form.get("scope"), &allowed)?;
    let access_token = user_access_token(
        ctx.tokens,
        &user,
        client,
        &scope,
        None,
        Some(authentication),
        now,
    )?;
    let refresh_token = if client_gets_refresh_tokens(client) {
        Some(start_refresh_family(ctx, client, &user, &scope, authentication, now).await?)
    } else {
        None
    };
    record_issuance(ctx, "password", &user.username, client, &scope).await;
    let response = TokenResponse::new(access_token, ctx.tokens.access_ttl(), &scope, refresh_token);
    Ok(response.with_cookie(signed_in.device_cookie))
}
