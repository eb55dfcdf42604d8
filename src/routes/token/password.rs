//! The resource owner password credentials grant (RFC 6749 section 4.3).

use secrecy::SecretString;

use super::response::{
    TokenResponse, allowed_user_scope, client_gets_refresh_tokens, new_refresh_token,
    resolve_scope, user_access_token,
};
use crate::clock::unix_now;
use crate::config::Settings;
use crate::credentials::{PasswordHash, PasswordHasher, PresentedClient, VerifyOutcome};
use crate::domain::{MAX_USERNAME_CHARS, Password, Username};
use crate::error::OAuthError;
use crate::routes::OAuthForm;
use crate::store::Store;
use crate::tokens::TokenService;

/// Checks the user's password and issues tokens.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    store: &Store,
    hasher: &PasswordHasher,
    tokens: &TokenService,
    settings: &Settings,
) -> Result<TokenResponse, OAuthError> {
    let raw_username = form.require("username")?;
    if raw_username.chars().count() > MAX_USERNAME_CHARS {
        return Err(OAuthError::invalid_request(format!(
            "username must be at most {MAX_USERNAME_CHARS} characters"
        )));
    }
    let password = Password::parse(SecretString::from(form.require("password")?.to_owned()))
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    // A username that cannot exist is checked like an unknown one, at the same cost.
    let login = match Username::parse(raw_username) {
        Ok(username) => store.find_user_login(&username).await?,
        Err(_) => None,
    };
    let stored_hash: Option<&PasswordHash> = login.as_ref().map(|l| &l.password_hash);
    let outcome = hasher.verify(password.secret(), stored_hash).await?;
    let (Some(login), VerifyOutcome::Match | VerifyOutcome::MatchRehashed(_)) = (login, &outcome)
    else {
        log::warn!("password grant failed for username {raw_username:?}");
        return Err(OAuthError::InvalidGrant(
            "invalid username or password".into(),
        ));
    };
    let user = login.user;
    if user.disabled {
        log::warn!("password grant refused: user {} is disabled", user.username);
        return Err(OAuthError::InvalidGrant("the account is disabled".into()));
    }
    if let VerifyOutcome::MatchRehashed(phc) = outcome {
        let upgraded = PasswordHash::from_stored(phc);
        if let Err(error) = store.upgrade_password_hash(&user.id, &upgraded).await {
            log::warn!(
                "could not upgrade the password hash of {}: {error}",
                user.username
            );
        }
    }
    let allowed = allowed_user_scope(store.scopes_of_user(&user.id).await?, client);
    let scope = resolve_scope(form.get("scope"), &allowed)?;
    let now = unix_now();
    let access_token = user_access_token(tokens, &user, client, &scope, now)?;
    let refresh_token = if client_gets_refresh_tokens(client) {
        let family_id = uuid::Uuid::new_v4().to_string();
        let (token, record) =
            new_refresh_token(&family_id, &scope.to_string(), client, &user, settings, now);
        store.insert_refresh_token(&record).await?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse::new(
        access_token,
        tokens.access_ttl(),
        &scope,
        refresh_token,
    ))
}
