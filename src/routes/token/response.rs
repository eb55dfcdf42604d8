//! The successful token response (RFC 6749 section 5.1) and what builds it.

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;

use super::GrantContext;
use crate::audit::{AuditEvent, EventFields};
use crate::credentials::PresentedClient;
use crate::domain::{GrantType, ResourceUri, ScopeSet};
use crate::error::OAuthError;
use crate::metrics::METRICS;
use crate::openid::grantable_to_user;
use crate::resources::AccessGrant;
use crate::store::{RefreshFamily, User};
use crate::tokens::{Authentication, Grant, TokenService, TokenSubject, mint_new_family};

/// The JSON body of a successful token response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the request's DPoP key.
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    expires_in: i64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// OpenID Connect: when the scope holds `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    /// Token exchange (RFC 8693 section 2.2.1): the type of `access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    issued_token_type: Option<&'static str>,
    // A device cookie for the browser that signed in (see `credentials::device_cookie`).
    #[serde(skip)]
    set_cookie: Option<String>,
}

impl TokenResponse {
    /// A response carrying a signed access token (and a refresh token, if one was issued).
    pub fn new(
        access_token: String,
        expires_in: i64,
        scope: &ScopeSet,
        refresh_token: Option<String>,
    ) -> Self {
        Self {
            refresh_token,
            ..Self::with_scope_text(access_token, expires_in, scope.to_string())
        }
    }

    /// Like `new` without a refresh token, with the scope already written out (as the access
    /// token's `scope` claim holds it), so that it is not formatted a second time.
    pub fn with_scope_text(access_token: String, expires_in: i64, scope: String) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in,
            scope,
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
            set_cookie: None,
        }
    }

    /// Adds an id_token (OpenID Connect Core section 3.1.3.3).
    pub fn with_id_token(mut self, id_token: Option<String>) -> Self {
        self.id_token = id_token;
        self
    }

    /// Names the type of the issued token (RFC 8693 section 2.2.1).
    pub fn with_issued_token_type(mut self, token_type: &'static str) -> Self {
        self.issued_token_type = Some(token_type);
        self
    }

    /// Marks the access token as bound to the request's DPoP key (RFC 9449 section 5).
    pub fn bound_to_dpop_key(mut self) -> Self {
        self.token_type = crate::dpop::TOKEN_TYPE;
        self
    }

    /// Adds a `Set-Cookie` header to the response.
    pub fn with_cookie(mut self, set_cookie: Option<String>) -> Self {
        self.set_cookie = set_cookie;
        self
    }

    /// Wraps the body with the headers section 5.1 requires.
    pub fn into_http(self) -> HttpResponse {
        let mut response = HttpResponse::Ok();
        response
            // Static values: a `&str` would be copied into a new header value per response.
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if let Some(cookie) = &self.set_cookie {
            response.insert_header((header::SET_COOKIE, cookie.as_str()));
        }
        response.json(self)
    }
}

/// The scope to grant: everything allowed when none is asked for, else exactly what was asked.
pub fn resolve_scope(requested: Option<&str>, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let Some(raw) = requested else {
        return Ok(allowed.clone());
    };
    let requested = ScopeSet::parse(raw).map_err(|e| OAuthError::InvalidScope(e.to_string()))?;
    let refused = requested.difference(allowed);
    if !refused.is_empty() {
        return Err(OAuthError::InvalidScope(format!(
            "scope not allowed: {refused}"
        )));
    }
    Ok(requested)
}

/// What a user may hold through this client: their roles' scopes, bounded by the registered
/// client's (public or confidential); only the built-in client passes the user's scopes through.
pub fn allowed_user_scope(role_scopes: ScopeSet, client: &PresentedClient) -> ScopeSet {
    match &client.scopes {
        // The OpenID scopes belong to no role: any user may hold them through a client
        // registered for them.
        Some(client_scopes) => grantable_to_user(role_scopes).intersection(client_scopes),
        None => role_scopes,
    }
}

/// What an access token for `target` (no resources: `tokens.audience`) carries of `scope`.
pub async fn access_grant(
    ctx: &GrantContext<'_>,
    scope: ScopeSet,
    target: &[ResourceUri],
) -> Result<AccessGrant, OAuthError> {
    let audience = ctx.tokens.audience();
    Ok(ctx
        .resources
        .with_current(|resources| resources.grant(scope, target, audience))
        .await?)
}

/// Starts a refresh-token family for `user` through `client` with `scope` for `resources`,
/// remembering how they signed in: stores it, returns its first token.
pub async fn start_refresh_family(
    ctx: &GrantContext<'_>,
    client: &PresentedClient,
    user: &User,
    (scope, resources): (&ScopeSet, &[ResourceUri]),
    authentication: Authentication<'_>,
    now: i64,
) -> Result<String, OAuthError> {
    let minted = mint_new_family();
    let family = RefreshFamily {
        id: uuid::Uuid::new_v4().to_string(),
        generation: 0,
        current_hash: minted.token_hash,
        client_id: client.client_id.clone(),
        client_registration: client.registration.clone(),
        user_id: user.id.clone(),
        user_generation: user.token_generation,
        scope: scope.to_string(),
        issued_at: now,
        expires_at: now + ctx.settings.tokens.refresh_ttl_secs as i64,
        session_handle: None,
        offline: false,
        auth_time: Some(authentication.auth_time),
        amr: Some(authentication.amr.to_owned()),
        resources: joined(resources),
        dpop_jkt: super::dpop_binding::refresh_family_binding(ctx, client),
    };
    ctx.store
        .insert_refresh_family(&family, &minted.family_hash)
        .await?;
    Ok(minted.token)
}

/// Space-delimited, as refresh families store them.
pub fn joined(resources: &[ResourceUri]) -> String {
    resources
        .iter()
        .map(ResourceUri::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Signs an access token for `user` as `grant` says, who signed in as `authentication` says,
/// ending with `session` when it names one, bound to the DPoP key `jkt` when one is given.
#[allow(clippy::too_many_arguments)] // the token's parts, each of its own kind
pub fn user_access_token(
    tokens: &TokenService,
    user: &User,
    client: &PresentedClient,
    grant: &AccessGrant,
    session: Option<&str>,
    authentication: Option<Authentication<'_>>,
    now: i64,
    jkt: Option<&str>,
) -> Result<String, OAuthError> {
    let subject = TokenSubject::User {
        id: &user.id,
        username: &user.username,
        roles: &user.roles,
        generation: user.token_generation,
        session,
        authentication,
    };
    let grant = Grant {
        client_id: &client.client_id,
        client_registration: &client.registration,
        scope: &grant.scope,
        audience: grant.audience.clone(),
        jkt,
    };
    let jti = uuid::Uuid::new_v4().to_string();
    Ok(tokens.issue_for(subject, grant, now, jti)?.token)
}

/// Records a token issued to a user in the audit trail: one row per token (queued; written in
/// batches).
pub async fn record_issuance(
    ctx: &GrantContext<'_>,
    grant: GrantType,
    actor: &str,
    client: &PresentedClient,
    scope: &ScopeSet,
) {
    let event = issuance_event(ctx, grant, actor, client, scope);
    ctx.audit.record(event).await;
}

/// Records a token a client got for itself (client_credentials). Machines ask for one per job,
/// thousands a second, so identical issuances of one second share a row that counts them.
pub async fn record_client_issuance(ctx: &GrantContext<'_>, client: &PresentedClient, scope: &str) {
    let grant = GrantType::ClientCredentials;
    METRICS.token_issued(grant);
    let detail = issuance_detail(grant, scope);
    // By reference: a repeat within its second is only counted (see `audit::tally`).
    let event = EventFields {
        action: "token.issued",
        actor: Some(&client.client_id),
        subject: None,
        client_id: Some(&client.client_id),
        ip: ctx.ip.as_deref(),
        detail: Some(&detail),
    };
    ctx.audit.record_coalescing(event).await;
}

/// Counts the issuance in the metrics and describes it for the audit trail.
fn issuance_event(
    ctx: &GrantContext<'_>,
    grant: GrantType,
    actor: &str,
    client: &PresentedClient,
    scope: &ScopeSet,
) -> AuditEvent {
    METRICS.token_issued(grant);
    AuditEvent::new("token.issued")
        .actor(actor)
        .client(&client.client_id)
        .ip(ctx.ip.clone())
        .detail(issuance_detail(grant, scope))
}

/// The detail of a `token.issued` event.
fn issuance_detail(grant: GrantType, scope: impl std::fmt::Display) -> String {
    use std::fmt::Write;
    // The operator's short name for URN grants (device_code), as the trail always said.
    let grant = grant.alias().unwrap_or(grant.as_str());
    // Room for a few scopes up front: growing the string was most of what formatting it cost.
    let mut detail = String::with_capacity(96);
    let _ = write!(detail, "grant={grant} scope={scope}");
    detail
}

/// Whether this client gets refresh tokens.
pub fn client_gets_refresh_tokens(client: &PresentedClient) -> bool {
    client.grants.contains(&GrantType::RefreshToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_scope_requested_grants_everything_allowed() {
        let allowed = ScopeSet::parse("a b").unwrap();
        assert_eq!(resolve_scope(None, &allowed).unwrap(), allowed);
    }

    #[test]
    fn asking_beyond_allowed_is_invalid_scope() {
        let allowed = ScopeSet::parse("a b").unwrap();
        assert_eq!(resolve_scope(Some("a"), &allowed).unwrap().to_string(), "a");
        let error = resolve_scope(Some("a c"), &allowed).unwrap_err();
        assert!(matches!(error, OAuthError::InvalidScope(ref d) if d.contains('c')));
    }
}
