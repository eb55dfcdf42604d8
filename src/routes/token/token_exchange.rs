//! The token exchange grant (RFC 8693): a confidential client exchanges a user's token for one
//! addressed elsewhere, narrower, acting for the user (with `act`) or, when allowed, as them.

use super::GrantContext;
use super::dpop_binding::{access_token_binding, spend_proof};
use super::response::{TokenResponse, access_grant, allowed_user_scope, resolve_scope};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::PresentedClient;
use crate::domain::{GrantType, ResourceUri};
use crate::error::OAuthError;
use crate::exchange::{
    ExchangeRequest, Subject, SubjectKind, TokenChecks, TokenType, actor_chain, check_may_act,
    exchange_target, may_exchange, require_proof_key, subject_scope, verify_actor, verify_subject,
};
use crate::metrics::METRICS;
use crate::routes::OAuthForm;
use crate::tokens::{Actor, Authentication, Grant, TokenSubject};

/// Issues an access token for the subject token's user; never a refresh token (section 2.2.1).
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    if !client.confidential {
        return Err(OAuthError::UnauthorizedClient(
            "public clients cannot exchange tokens".into(),
        ));
    }
    let request = ExchangeRequest::parse(form)?;
    let checks = TokenChecks {
        store: ctx.store,
        tokens: ctx.tokens,
        cache: ctx.cache,
        now: ctx.clock.now(),
        leeway: i64::try_from(ctx.settings.tokens.leeway_secs).unwrap_or(i64::MAX),
    };
    let proof_key = access_token_binding(ctx);
    let subject = verify_subject(request.subject, checks).await?;
    may_exchange(&subject, &client.client_id, &client.resources)?;
    require_proof_key(subject.jkt.as_deref(), proof_key, "subject_token")?;
    let actor = match request.actor {
        Some(presented) => {
            let verified = verify_actor(presented, &client.client_id, checks).await?;
            require_proof_key(verified.jkt.as_deref(), proof_key, "actor_token")?;
            Some(verified.actor)
        }
        None if client.allow_impersonation => None,
        None => {
            return Err(OAuthError::invalid_request(format!(
                "client {} may not impersonate: send an actor_token",
                client.client_id
            )));
        }
    };
    // Impersonating, the client itself is the party acting.
    let party = actor.clone().unwrap_or_else(|| Actor {
        sub: client.client_id.clone(),
        client_id: client.client_id.clone(),
        act: None,
    });
    check_may_act(subject.may_act.as_ref(), &party)?;
    let delegated = actor.is_some();
    let act = actor_chain(actor, subject.act.clone())?;

    let ceiling = scope_ceiling(ctx, client, &subject).await?;
    let requested = resolve_scope(form.get("scope"), &ceiling)?;
    let registry = ctx.resources.current().await?;
    let target = exchange_target(
        request.resources,
        request.audiences,
        &registry,
        &client.resources,
    )?;
    let access = access_grant(ctx, requested, &target).await?;
    spend_proof(ctx).await?;

    let user = &subject.user;
    let authentication = subject.auth_time.map(|auth_time| Authentication {
        amr: &subject.amr,
        auth_time,
    });
    let token_subject = TokenSubject::User {
        id: &user.id,
        username: &user.username,
        roles: &user.roles,
        generation: user.token_generation,
        session: subject.sid.as_deref(),
        authentication,
    };
    let grant = Grant {
        client_id: &client.client_id,
        client_registration: &client.registration,
        scope: &access.scope,
        audience: access.audience.clone(),
        jkt: proof_key,
    };
    let jti = uuid::Uuid::new_v4().to_string();
    let issued = ctx
        .tokens
        .issue_acting(token_subject, grant, act, unix_now(), jti)?;
    record_exchange(
        ctx,
        client,
        &subject,
        (&party, delegated),
        &target,
        &issued.claims,
    )
    .await;
    Ok(
        TokenResponse::new(issued.token, ctx.tokens.access_ttl(), &access.scope, None)
            .with_issued_token_type(TokenType::ACCESS_TOKEN),
    )
}

/// The most the issued token may hold: the subject's scopes (for an id_token, what the user
/// approved for this client), within what the user may still hold through the client.
async fn scope_ceiling(
    ctx: &GrantContext<'_>,
    client: &PresentedClient,
    subject: &Subject,
) -> Result<crate::domain::ScopeSet, OAuthError> {
    let user_scopes = ctx.cache.user_scopes(ctx.store, &subject.user.id).await?;
    let allowed = allowed_user_scope(user_scopes, client);
    if subject.kind != SubjectKind::IdToken {
        return Ok(subject_scope(&subject.kind, &allowed, None));
    }
    let registered = ctx
        .cache
        .client_named(ctx.store, &client.client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("the client is no longer registered"))?;
    // An id_token from an earlier registration under the same client_id is not this client's.
    if subject.issued_at < registered.created_at {
        return Err(OAuthError::invalid_request(
            "subject_token was issued before this client was registered",
        ));
    }
    if registered.browser.skip_consent {
        return Ok(subject_scope(&subject.kind, &allowed, None));
    }
    let consented = ctx
        .store
        .find_consent(&subject.user.id, &client.client_id)
        .await?
        .filter(|consent| consent.client_registration == client.registration)
        .map(|consent| consent.scopes)
        .unwrap_or_default();
    Ok(subject_scope(&subject.kind, &allowed, Some(&consented)))
}

/// The audit event: who was acted for, by whom, through which client, for what.
async fn record_exchange(
    ctx: &GrantContext<'_>,
    client: &PresentedClient,
    subject: &Subject,
    (party, delegated): (&Actor, bool),
    target: &[ResourceUri],
    issued: &crate::tokens::AccessClaims,
) {
    let mode = if delegated {
        "delegation"
    } else {
        "impersonation"
    };
    let target = if target.is_empty() {
        ctx.tokens.audience().to_owned()
    } else {
        target
            .iter()
            .map(ResourceUri::as_str)
            .collect::<Vec<_>>()
            .join(",")
    };
    let kind = match subject.kind {
        SubjectKind::AccessToken { .. } => "access_token",
        SubjectKind::IdToken => "id_token",
    };
    METRICS.token_issued(GrantType::TokenExchange);
    let event = AuditEvent::new("token.exchanged")
        .actor(format!("{}@{}", party.sub, party.client_id))
        .subject(&subject.user.username)
        .client(&client.client_id)
        .ip(ctx.ip.clone())
        .detail(format!(
            "{mode} subject_type={kind} subject_client={} target={target} scope={} jti={}",
            subject.client_id, issued.scope, issued.jti
        ));
    ctx.audit.record(event).await;
}
