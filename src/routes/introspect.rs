//! `POST /introspect` (RFC 7662): lets resource servers ask whether a token is live.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::clock::{Clock, unix_now};
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::{ClientCredentials, PresentedClient, authenticate_client};
use crate::error::OAuthError;
use crate::inspection::{LiveToken, inspect_token};
use crate::metrics::METRICS;
use crate::mfa::acr_of;
use crate::routes::{FormBody, OAuthForm};
use crate::store::Store;
use crate::tokens::{
    Actor, Audience, Confirmation, INTROSPECTION_JWT_MEDIA_TYPE, TokenService,
    accepts_introspection_jwt, sign_introspection_response,
};

/// The scope a client needs to call introspection.
pub const INTROSPECT_SCOPE: &str = "introspect";

/// Mounts `/introspect`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(introspect_token);
}

/// RFC 7662 section 2.2 response; only `active` is present for inactive tokens.
#[derive(Debug, Default, Serialize, ToSchema)]
struct IntrospectionResponse {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// As the token carries it: a string, or an array for several resources (RFC 8707).
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    /// How the user signed in (RFC 8176 values), on tokens from a sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<String>>,
    /// The strength of that sign-in (`urn:authd:acr:pwd` or `urn:authd:acr:mfa`).
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<String>,
    /// When the user signed in, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// The DPoP key a bound token is bound to: `{"jkt": "<thumbprint>"}` (RFC 9449 section
    /// 6.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    cnf: Option<Confirmation>,
    /// Who acts for `sub` on a token from a delegating exchange: `{"sub", "client_id"}` and,
    /// nested in it as `act`, the actor before (RFC 8693 section 4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    act: Option<Actor>,
}

impl IntrospectionResponse {
    fn from_live(token: LiveToken, tokens: &TokenService) -> Self {
        match token {
            LiveToken::Access { claims, .. } => Self {
                active: true,
                scope: Some(claims.scope),
                client_id: Some(claims.client_id),
                username: claims.username,
                // RFC 9449 section 6.2: a bound token is a DPoP token.
                token_type: Some(if claims.cnf.is_some() {
                    crate::dpop::TOKEN_TYPE
                } else {
                    "Bearer"
                }),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                nbf: Some(claims.nbf),
                sub: Some(claims.sub),
                aud: Some(claims.aud),
                iss: Some(claims.iss),
                jti: Some(claims.jti),
                roles: claims.roles,
                amr: claims.amr,
                acr: claims.acr,
                auth_time: claims.auth_time,
                cnf: claims.cnf,
                act: claims.act,
            },
            LiveToken::Refresh { record, user } => Self {
                acr: record.amr.as_deref().map(|amr| acr_of(amr).to_owned()),
                amr: record
                    .amr
                    .map(|amr| amr.split_whitespace().map(str::to_owned).collect()),
                auth_time: record.auth_time,
                active: true,
                scope: Some(record.scope),
                client_id: Some(record.client_id),
                username: Some(user.username),
                token_type: Some("refresh_token"),
                exp: Some(record.expires_at),
                iat: Some(record.issued_at),
                sub: Some(user.id),
                iss: Some(tokens.issuer().to_owned()),
                roles: Some(user.roles),
                cnf: record.dpop_jkt.map(|jkt| Confirmation { jkt }),
                ..Self::default()
            },
        }
    }
}

/// The form of `POST /introspect`, for the OpenAPI document.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct IntrospectionRequestForm {
    /// An access token or a refresh token.
    #[schema(min_length = 1)]
    token: String,
    /// `access_token` or `refresh_token`; only a hint.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    /// Client authentication in the body (or use HTTP Basic, not both).
    #[schema(nullable = false, pattern = r"^[A-Za-z0-9._~:-]{0,128}$")]
    client_id: Option<String>,
    /// Client authentication in the body (or use HTTP Basic, not both).
    #[schema(nullable = false)]
    client_secret: Option<String>,
    // RFC 7662 section 2.1: other parameters may be sent; they are ignored.
    #[serde(flatten)]
    other: std::collections::HashMap<String, String>,
}

/// Answers whether `token` is active, for confidential clients holding the `introspect` scope.
#[utoipa::path(
    tag = "oauth",
    request_body(content = IntrospectionRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 section 2.2; only `active` when inactive. With `Accept: application/token-introspection+jwt`, the same answer in the `token_introspection` claim of a JWT signed by authd (RFC 9701)", content(
            (IntrospectionResponse = "application/json"),
            (String = "application/token-introspection+jwt")
        )),
        (status = 400, body = crate::routes::admin::wire::ErrorResponse),
        (status = 401, description = "no or wrong client credentials", body = crate::routes::admin::wire::ErrorResponse),
        (status = 403, description = "the client lacks the introspect scope", body = crate::routes::admin::wire::ErrorResponse)
    ),
    // Authentication is required, by HTTP Basic or by client_id and client_secret in the body.
    security((), ("client_basic" = []))
)]
#[post("/introspect")]
async fn introspect_token(
    request: HttpRequest,
    body: FormBody,
    store: web::Data<Store>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
    cache: web::Data<CredentialCache>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::parse(&request, &body)?;
    let credentials = form.client_credentials(&request)?;
    // RFC 7662 section 2.1: the endpoint is protected; answer nothing to the unauthenticated.
    let unauthenticated = || OAuthError::InvalidClient {
        description: "introspection requires client authentication".into(),
        basic: true,
    };
    if credentials == ClientCredentials::None {
        return Err(unauthenticated());
    }
    let client = authenticate_client(&store, &cache, &settings.oauth, &credentials).await?;
    if !client.confidential {
        return Err(unauthenticated());
    }
    if !client
        .scopes
        .as_ref()
        .is_some_and(|s| s.contains(INTROSPECT_SCOPE))
    {
        return Err(OAuthError::InsufficientScope(format!(
            "client {} lacks the {INTROSPECT_SCOPE} scope",
            client.client_id
        )));
    }
    let token = form.require("token")?;
    let live = inspect_token(
        token,
        &store,
        &tokens,
        &cache,
        &settings.sessions,
        clock.now(),
    )
    .await?;
    METRICS.introspected(live.is_some());
    let body = match live {
        Some(live) => IntrospectionResponse::from_live(live, &tokens),
        None => IntrospectionResponse::default(),
    };
    let wants_jwt = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(accepts_introspection_jwt);
    if wants_jwt
        && let Some(signed) = signed_answer(&client, &body, &store, &cache, &tokens).await?
    {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type(INTROSPECTION_JWT_MEDIA_TYPE)
            .body(signed));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// RFC 9701 section 5: the answer signed for the calling client, with the algorithm it
/// registered; `None` when authd has no published key (HS256 mode).
async fn signed_answer(
    client: &PresentedClient,
    body: &IntrospectionResponse,
    store: &Store,
    cache: &CredentialCache,
    tokens: &TokenService,
) -> Result<Option<String>, OAuthError> {
    let registered = cache.client_named(store, &client.client_id).await?;
    let algorithm =
        registered.and_then(|c| c.browser.introspection_signed_response_alg.algorithm());
    Ok(sign_introspection_response(
        tokens,
        &client.client_id,
        algorithm,
        body,
        unix_now(),
    )?)
}
