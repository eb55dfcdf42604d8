//! The authorization code grant (RFC 6749 section 4.1.3, RFC 7636 section 4.6): a code from
//! `/authorize`, once, by the client it was issued to, with the PKCE verifier.
//!
//! The happy path is one statement: it claims the code only if everything matches (see
//! `CLAIM_CODE` in `store::authorization_codes`), committed with other writes waiting at the same
//! moment (`store::CodeWriter`). When it does not, the code is read to say why, and a code
//! that was already redeemed has what it issued revoked (section 4.1.2).

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::GrantContext;
use super::id_token::id_token_for;
use super::response::{TokenResponse, client_gets_refresh_tokens, record_issuance};
use crate::clock::unix_now;
use crate::credentials::{PresentedClient, hash_secret};
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::openid::SignIn;
use crate::routes::OAuthForm;
use crate::signin::authorization_request::verifier_matches;
use crate::store::{AuthorizationCode, CodeClaim, NewCodeFamily};
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
    let verifier = form.get("code_verifier");
    let redirect_uri = form.get("redirect_uri");
    // Codes expire by the flows' clock; tokens are stamped with the wall clock.
    let now = ctx.clock.now();
    let issued_at = unix_now();
    let access_jti = uuid::Uuid::new_v4().to_string();
    let minted = client_gets_refresh_tokens(client).then(mint_new_family);
    let family_id = uuid::Uuid::new_v4().to_string();
    let refresh_expires_at = issued_at + ctx.settings.tokens.refresh_ttl_secs as i64;
    let challenge = verifier.map(|v| URL_SAFE_NO_PAD.encode(digest(&SHA256, v.as_bytes())));
    let claim = CodeClaim {
        code_hash: code_hash.clone(),
        now,
        client_id: client.client_id.clone(),
        client_registration: client.registration.clone(),
        redirect_uri: redirect_uri.map(str::to_owned),
        challenge,
        access_jti: access_jti.clone(),
        access_expires_at: ctx.tokens.expiry_at(issued_at),
        refresh: minted.as_ref().map(|minted| NewCodeFamily {
            id: family_id.clone(),
            family_hash: minted.family_hash.clone(),
            current_hash: minted.token_hash.clone(),
            expires_at: refresh_expires_at,
        }),
    };
    let refused_context = Refused {
        code_hash: &code_hash,
        now,
        client,
        redirect_uri,
        verifier,
    };
    let Some(claimed) = ctx.code_writer.claim(claim).await? else {
        return Err(why_refused(ctx, &refused_context).await?);
    };
    // Claims from the cached user; the claim checked, fresh, that the user is enabled and at the
    // code's generation.
    let user = match ctx.cache.user(ctx.store, &claimed.user_id).await? {
        Some(user) => user,
        None => return Err(invalid("the user's sessions have ended")),
    };
    let scope = ScopeSet::parse(&claimed.scope)
        .map_err(|e| OAuthError::Internal(anyhow::anyhow!("stored code scope: {e}")))?;
    // Tokens of an offline grant outlive the session; all others end with it.
    let session = (!claimed.is_offline()).then_some(claimed.session_handle.as_str());
    let subject = TokenSubject::User {
        id: &user.id,
        username: &user.username,
        roles: &user.roles,
        generation: claimed.user_generation,
        session,
    };
    let issued = ctx.tokens.issue_with_jti(
        subject,
        &client.client_id,
        &client.registration,
        &scope,
        issued_at,
        access_jti,
    )?;
    let sign_in = SignIn {
        user: &user,
        scope: &scope,
        auth_time: claimed.auth_time,
        amr: &claimed.amr,
        sid: Some(&claimed.session_handle),
        nonce: claimed.nonce.as_deref(),
    };
    let id_token = id_token_for(ctx, client, &sign_in, &issued.token, issued_at).await?;
    record_issuance(ctx, "authorization_code", &user.username, client, &scope).await;
    Ok(TokenResponse::new(
        issued.token,
        ctx.tokens.access_ttl(),
        &scope,
        minted.map(|minted| minted.token),
    )
    .with_id_token(id_token))
}

/// What a refused exchange presented.
struct Refused<'a> {
    code_hash: &'a str,
    now: i64,
    client: &'a PresentedClient,
    redirect_uri: Option<&'a str>,
    verifier: Option<&'a str>,
}

/// Why a claim failed, in the order a client can act on; a code redeemed before has what it
/// issued revoked.
async fn why_refused(
    ctx: &GrantContext<'_>,
    claim: &Refused<'_>,
) -> Result<OAuthError, OAuthError> {
    let verifier = claim.verifier;
    let Some(code) = ctx.store.find_authorization_code(claim.code_hash).await? else {
        return Ok(invalid("the code is invalid, expired or used"));
    };
    if code.redeemed_at.is_some() {
        revoke_what_it_issued(ctx, claim.code_hash).await?;
        log::warn!(
            "authorization code of client {} was used twice",
            code.client_id
        );
        return Ok(invalid("the code was already used; its tokens are revoked"));
    }
    if code.client_id != claim.client.client_id
        || code.client_registration != claim.client.registration
    {
        return Ok(invalid("the code was issued to another client"));
    }
    if code.expires_at <= claim.now {
        return Ok(invalid("the code has expired"));
    }
    if let Some(refused) = redirect_uri_refusal(&code, claim.redirect_uri) {
        return Ok(refused);
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if !verifier_matches(verifier, challenge) => {
            Ok(invalid("the code_verifier does not match"))
        }
        (Some(_), None) => Ok(OAuthError::invalid_request(
            "code_verifier is required: the authorization request used PKCE",
        )),
        // RFC 9700 section 2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => Ok(invalid(
            "the authorization request carried no code_challenge",
        )),
        // Everything about the code matched: its user changed since (or it was just redeemed).
        _ => Ok(invalid("the user's sessions have ended")),
    }
}

/// `redirect_uri` must be the one sent to /authorize; when none was sent, it may be omitted.
fn redirect_uri_refusal(code: &AuthorizationCode, presented: Option<&str>) -> Option<OAuthError> {
    match (&code.redirect_uri, presented) {
        (Some(sent), Some(presented)) if sent == presented => None,
        (Some(_), _) => Some(invalid(
            "redirect_uri must be the one sent with the authorization request",
        )),
        (None, Some(presented)) if presented != code.delivered_to => Some(invalid(
            "redirect_uri does not match the authorization request",
        )),
        (None, _) => None,
    }
}

async fn revoke_what_it_issued(ctx: &GrantContext<'_>, code_hash: &str) -> Result<(), OAuthError> {
    if let Some((jti, exp)) = ctx.store.revoke_code_tokens(code_hash).await? {
        ctx.cache.mark_revoked(&jti, exp);
    }
    Ok(())
}
