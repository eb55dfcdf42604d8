//! The authorization code grant (RFC 6749 section 4.1.3, RFC 7636 section 4.6): a code from
//! `/authorize`, once, by the client it was issued to, with the PKCE verifier.

use super::GrantContext;
use super::response::{TokenResponse, client_gets_refresh_tokens, record_issuance};
use crate::credentials::{PresentedClient, hash_secret};
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::routes::OAuthForm;
use crate::signin::authorization_request::verifier_matches;
use crate::store::{RedeemOutcome, Redemption, RefreshFamily};
use crate::tokens::{TokenSubject, mint_new_family};

/// Longest code looked up (ours are 43 characters).
const MAX_CODE_BYTES: usize = 256;

fn invalid(description: &str) -> OAuthError {
    OAuthError::InvalidGrant(description.to_owned())
}

/// Exchanges a code for tokens.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("code")?;
    if presented.len() > MAX_CODE_BYTES {
        return Err(invalid("the code is invalid, expired or used"));
    }
    let code_hash = hash_secret(presented);
    let Some(code) = ctx.store.find_authorization_code(&code_hash).await? else {
        return Err(invalid("the code is invalid, expired or used"));
    };
    let now = ctx.clock.now();
    if code.redeemed_at.is_some() {
        // Section 4.1.2: a code used twice was probably stolen; what it issued is revoked.
        revoke_what_it_issued(ctx, &code_hash).await?;
        log::warn!(
            "authorization code of client {} was used twice",
            code.client_id
        );
        return Err(invalid("the code was already used; its tokens are revoked"));
    }
    if code.client_id != client.client_id || code.client_registration != client.registration {
        return Err(invalid("the code was issued to another client"));
    }
    if code.expires_at <= now {
        return Err(invalid("the code has expired"));
    }
    match (&code.redirect_uri, form.get("redirect_uri")) {
        (Some(sent), Some(presented)) if sent == presented => {}
        (Some(_), _) => {
            return Err(invalid(
                "redirect_uri must be the one sent with the authorization request",
            ));
        }
        (None, Some(presented)) if presented != code.delivered_to => {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        (None, _) => {}
    }
    match (&code.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if verifier_matches(verifier, challenge) => {}
        (Some(_), Some(_)) => return Err(invalid("the code_verifier does not match")),
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "code_verifier is required: the authorization request used PKCE",
            ));
        }
        // RFC 9700 section 2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(invalid(
                "the authorization request carried no code_challenge",
            ));
        }
        (None, None) => {}
    }
    // Claims from the cached user; whether the user is still enabled at the code's generation is
    // checked again, fresh, by the statement that redeems the code.
    let user = match ctx.cache.user(ctx.store, &code.user_id).await? {
        Some(user) if !user.disabled => user,
        _ => return Err(invalid("the user's sessions have ended")),
    };
    let scope = ScopeSet::parse(&code.scope)
        .map_err(|e| OAuthError::Internal(anyhow::anyhow!("stored code scope: {e}")))?;
    let subject = TokenSubject::User {
        id: &user.id,
        username: &user.username,
        roles: &user.roles,
        generation: code.user_generation,
    };
    let issued = ctx.tokens.issue(
        subject,
        &client.client_id,
        &client.registration,
        &scope,
        now,
    )?;
    let minted = client_gets_refresh_tokens(client).then(mint_new_family);
    let family = minted.as_ref().map(|minted| RefreshFamily {
        id: uuid::Uuid::new_v4().to_string(),
        generation: 0,
        current_hash: minted.token_hash.clone(),
        client_id: client.client_id.clone(),
        client_registration: client.registration.clone(),
        user_id: user.id.clone(),
        user_generation: code.user_generation,
        scope: scope.to_string(),
        issued_at: now,
        expires_at: now + ctx.settings.tokens.refresh_ttl_secs as i64,
    });
    let redemption = Redemption {
        access_jti: &issued.claims.jti,
        access_expires_at: issued.claims.exp,
        refresh: family
            .as_ref()
            .zip(minted.as_ref())
            .map(|(family, minted)| (family, minted.family_hash.as_str())),
    };
    let outcome = ctx
        .store
        .redeem_authorization_code(&code_hash, now, &redemption, &code.session_handle)
        .await?;
    match outcome {
        RedeemOutcome::Redeemed => {}
        RedeemOutcome::UserChanged => return Err(invalid("the user's sessions have ended")),
        RedeemOutcome::AlreadyRedeemed => {
            // A concurrent request redeemed it first: this one's token never leaves, and what
            // the other issued is revoked.
            revoke_what_it_issued(ctx, &code_hash).await?;
            return Err(invalid("the code was already used; its tokens are revoked"));
        }
    }
    record_issuance(ctx, "authorization_code", &user.username, client, &scope).await;
    Ok(TokenResponse::new(
        issued.token,
        ctx.tokens.access_ttl(),
        &scope,
        minted.map(|minted| minted.token),
    ))
}

async fn revoke_what_it_issued(ctx: &GrantContext<'_>, code_hash: &str) -> Result<(), OAuthError> {
    if let Some((jti, exp)) = ctx.store.revoke_code_tokens(code_hash).await? {
        ctx.cache.mark_revoked(&jti, exp);
    }
    Ok(())
}
