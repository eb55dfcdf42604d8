//! Error responses: RFC 6749 section 5.2 for the OAuth endpoints, one JSON shape for the rest.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::credentials::{ClientAuthError, HashError};
use crate::domain::Refusal;
use crate::dpop::DpopError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when the database is unreachable.
const RETRY_AFTER_SECS: &str = "5";

/// Seconds a client should wait when password hashing is saturated (a hash takes milliseconds).
const BUSY_RETRY_AFTER_SECS: &str = "1";

/// An error from `/token`, `/introspect` or `/revoke`.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Missing, repeated or malformed parameter, wrong content type.
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed; 401, with a Basic challenge if Basic was tried.
    #[error("{description}")]
    InvalidClient {
        /// Safe to show.
        description: String,
        /// Whether to send `WWW-Authenticate: Basic`.
        basic: bool,
    },
    /// Bad user credentials or refresh token.
    #[error("{0}")]
    InvalidGrant(String),
    /// The client may not use this grant or endpoint.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// Unknown `grant_type`.
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// Scope outside what may be granted.
    #[error("{0}")]
    InvalidScope(String),
    /// A `resource` the client may not ask for, or that the grant does not cover (RFC 8707
    /// section 2).
    #[error("{0}")]
    InvalidTarget(String),
    /// The user has a second factor and the password grant carried no `otp` (an RFC 6749
    /// section 8.5 extension error).
    #[error("{0}")]
    MfaRequired(String),
    /// A pushed authorization request refused with an RFC 6749 section 4.1.2.1 code (RFC 9126
    /// section 2.3), such as `unsupported_response_type`.
    #[error("{description}")]
    AuthorizationRequest {
        /// The error code.
        code: &'static str,
        /// Safe to show.
        description: String,
    },
    /// The DPoP proof is missing where required, or fails a check (RFC 9449 section 5).
    #[error("{0}")]
    InvalidDpopProof(String),
    /// The DPoP proof lacks the server's current nonce (RFC 9449 section 8): 400 with the
    /// nonce in `DPoP-Nonce`.
    #[error("send the DPoP-Nonce value as the proof's nonce")]
    UseDpopNonce {
        /// The nonce to retry with.
        nonce: String,
    },
    /// RFC 8628 section 3.5: the person has not decided on the device code yet.
    #[error("{0}")]
    AuthorizationPending(String),
    /// RFC 8628 section 3.5: polling too fast; the code's interval grew by 5 seconds.
    #[error("{0}")]
    SlowDown(String),
    /// RFC 8628 section 3.5: the person denied the device.
    #[error("{0}")]
    AccessDenied(String),
    /// RFC 8628 section 3.5: the device code expired before it was approved.
    #[error("{0}")]
    ExpiredToken(String),
    /// An authenticated client lacks the scope this endpoint needs (403).
    #[error("{0}")]
    InsufficientScope(String),
    /// The database is unreachable: 503 with `Retry-After`.
    #[error("the service is temporarily unavailable")]
    TemporarilyUnavailable,
    /// The body is over `server.max_form_bytes`: 413, in the same JSON shape.
    #[error("the body is too large{}", limit.map(|n| format!(" (over {n} bytes)")).unwrap_or_default())]
    BodyTooLarge {
        /// The limit in bytes, when known.
        limit: Option<usize>,
    },
    /// Password hashing is saturated (overall or for this address): 503 with `Retry-After`.
    #[error("too many passwords are being checked; try again shortly")]
    Busy,
    /// Too many failed logins for this username or from this address: 429 with `Retry-After`.
    #[error("too many failed logins; try again in {retry_after} seconds")]
    LockedOut {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// A bug or an unexpected failure: 500, logged, never shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

impl OAuthError {
    fn code(&self) -> &'static str {
        match self {
            // RFC 6749 section 5.2 has no size code: `invalid_request`, with 413 (RFC 9110 15.5.14).
            OAuthError::InvalidRequest(_) | OAuthError::BodyTooLarge { .. } => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::MfaRequired(_) => "mfa_required",
            OAuthError::AuthorizationRequest { code, .. } => code,
            OAuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            OAuthError::UseDpopNonce { .. } => "use_dpop_nonce",
            OAuthError::AuthorizationPending(_) => "authorization_pending",
            OAuthError::SlowDown(_) => "slow_down",
            OAuthError::AccessDenied(_) => "access_denied",
            OAuthError::ExpiredToken(_) => "expired_token",
            OAuthError::InsufficientScope(_) => "insufficient_scope",
            OAuthError::TemporarilyUnavailable
            | OAuthError::Busy
            | OAuthError::LockedOut { .. } => "temporarily_unavailable",
            OAuthError::Internal(_) => "server_error",
        }
    }

    /// Shorthand for `InvalidRequest`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::InvalidRequest(description.into())
    }

    /// Shorthand for `InvalidGrant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        OAuthError::InvalidGrant(description.into())
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            OAuthError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            OAuthError::TemporarilyUnavailable | OAuthError::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            OAuthError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let description = match self {
            OAuthError::Internal(error) => {
                log::error!("internal error: {error:?}");
                None
            }
            other => Some(other.to_string()),
        };
        let mut response = HttpResponse::build(self.status_code());
        // RFC 6749 section 5.1: token endpoint answers are never cached.
        response
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        match self {
            OAuthError::InvalidClient { basic: true, .. } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"authd\", charset=\"UTF-8\""),
                ));
            }
            OAuthError::TemporarilyUnavailable => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            OAuthError::Busy => {
                response.insert_header((header::RETRY_AFTER, BUSY_RETRY_AFTER_SECS));
            }
            OAuthError::LockedOut { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            OAuthError::UseDpopNonce { nonce } => {
                response.insert_header((crate::dpop::NONCE_HEADER, nonce.as_str()));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.code(),
            error_description: description,
        })
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(source) => {
                log::warn!("database unavailable: {source}");
                OAuthError::TemporarilyUnavailable
            }
            other => OAuthError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<DpopError> for OAuthError {
    fn from(error: DpopError) -> Self {
        match error {
            DpopError::InvalidProof(reason) => OAuthError::InvalidDpopProof(reason.to_owned()),
            DpopError::UseNonce { nonce } => OAuthError::UseDpopNonce { nonce },
        }
    }
}

impl From<HashError> for OAuthError {
    fn from(error: HashError) -> Self {
        match error {
            // Nobody reads the answer to a gone client; Busy is as good as any.
            HashError::Busy | HashError::ClientGone => OAuthError::Busy,
            HashError::Failed(error) => OAuthError::Internal(error),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy | HashError::ClientGone => ApiError::Unavailable,
            HashError::Failed(error) => ApiError::Internal(error),
        }
    }
}

impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::InvalidClient { description, basic } => OAuthError::InvalidClient {
                description: description.to_owned(),
                basic,
            },
            ClientAuthError::MultipleMethods => OAuthError::invalid_request(error.to_string()),
            ClientAuthError::Store(store) => store.into(),
        }
    }
}

/// An error from the admin API, `/me`, or any route behind a bearer token (RFC 6750).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable `Authorization: Bearer` header: 401 with a bare challenge (RFC 6750 section 3.1).
    #[error("a bearer token is required")]
    MissingToken,
    /// The token is malformed, expired, revoked, or its owner is gone: 401 `invalid_token`.
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    /// A `DPoP` request, or a DPoP-bound token sent without one, refused (RFC 9449 section
    /// 7.1): 401 with a `DPoP` challenge naming `error` (`invalid_dpop_proof`,
    /// `invalid_token` or `use_dpop_nonce`, the last with `DPoP-Nonce`).
    #[error("{description}")]
    Dpop {
        /// The challenge's error code.
        error: &'static str,
        /// Safe to show.
        description: String,
        /// A nonce to retry with.
        nonce: Option<String>,
    },
    /// The token lacks a scope the route needs: 403 `insufficient_scope`.
    #[error("this request needs the {0} scope")]
    InsufficientScope(&'static str),
    /// Authenticated, but this caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The delegation rule forbids this admin change: 403 `insufficient_scope` naming the
    /// missing admin scopes, or 409 when it would remove the last full admin.
    #[error(transparent)]
    Refused(#[from] crate::domain::Refusal),
    /// Bad input: 400.
    #[error("{0}")]
    Validation(String),
    /// No such resource: 404.
    #[error("{0}")]
    NotFound(String),
    /// Clashes with the current state: 409.
    #[error("{0}")]
    Conflict(String),
    /// The database is unreachable: 503 with `Retry-After`.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// A bug or an unexpected failure: 500, logged, never shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "invalid_request",
            ApiError::InvalidToken => "invalid_token",
            ApiError::Dpop { error, .. } => error,
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Refused(Refusal::MissingScopes { .. }) => "insufficient_scope",
            ApiError::Refused(Refusal::LastFullAdmin) => "conflict",
            ApiError::Validation(_) => "invalid_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable => "temporarily_unavailable",
            ApiError::Internal(_) => "server_error",
        }
    }

    /// The RFC 6750 section 3 challenge for this error, if it has one.
    fn challenge(&self) -> Option<String> {
        const REALM: &str = "Bearer realm=\"authd\"";
        match self {
            ApiError::MissingToken => Some(REALM.to_owned()),
            ApiError::InvalidToken => Some(format!(
                "{REALM}, error=\"invalid_token\", error_description=\"{self}\""
            )),
            ApiError::Dpop {
                error, description, ..
            } => Some(crate::dpop::challenge(Some(error), Some(description))),
            ApiError::InsufficientScope(scope) => Some(format!(
                "{REALM}, error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            ApiError::Refused(Refusal::MissingScopes { missing, .. }) => Some(format!(
                "{REALM}, error=\"insufficient_scope\", scope=\"{missing}\""
            )),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingToken | ApiError::InvalidToken | ApiError::Dpop { .. } => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::InsufficientScope(_)
            | ApiError::Forbidden(_)
            | ApiError::Refused(Refusal::MissingScopes { .. }) => StatusCode::FORBIDDEN,
            ApiError::Refused(Refusal::LastFullAdmin) => StatusCode::CONFLICT,
            ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(error) = self {
            log::error!("internal error: {error:?}");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        // RFC 9449 section 7.1: DPoP is accepted too, with these algorithms.
        if matches!(self, ApiError::MissingToken) {
            response.append_header((header::WWW_AUTHENTICATE, crate::dpop::challenge(None, None)));
        }
        if let ApiError::Dpop {
            nonce: Some(nonce), ..
        } = self
        {
            response.insert_header((crate::dpop::NONCE_HEADER, nonce.as_str()));
        }
        if matches!(self, ApiError::Unavailable) {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        response.json(ErrorBody {
            error: self.code(),
            error_description: Some(self.to_string()),
        })
    }
}

impl From<DpopError> for ApiError {
    fn from(error: DpopError) -> Self {
        match error {
            DpopError::InvalidProof(reason) => ApiError::Dpop {
                error: "invalid_dpop_proof",
                description: reason.to_owned(),
                nonce: None,
            },
            DpopError::UseNonce { nonce } => ApiError::Dpop {
                error: "use_dpop_nonce",
                description: "send the DPoP-Nonce value as the proof's nonce".to_owned(),
                nonce: Some(nonce),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(message) => ApiError::NotFound(message),
            StoreError::UnknownReference(message) => ApiError::Validation(message),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Refused(refusal) => ApiError::Refused(refusal),
            StoreError::Unavailable(source) => {
                log::warn!("database unavailable: {source}");
                ApiError::Unavailable
            }
            StoreError::Other(error) => ApiError::Internal(error),
        }
    }
}

impl From<crate::domain::ParseError> for ApiError {
    fn from(error: crate::domain::ParseError) -> Self {
        ApiError::Validation(error.0)
    }
}

/// Turns actix's JSON and query extraction failures into `ApiError` bodies instead of plain text.
pub fn json_error_handler(
    error: actix_web::error::JsonPayloadError,
    _request: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let message = match &error {
        JsonPayloadError::ContentType => "the body must be application/json".to_owned(),
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            return actix_web::error::InternalError::from_response(
                error.to_string(),
                HttpResponse::PayloadTooLarge().json(ErrorBody {
                    error: "invalid_request",
                    error_description: Some("the body is too large".into()),
                }),
            )
            .into();
        }
        JsonPayloadError::Deserialize(inner) => format!("invalid JSON body: {inner}"),
        other => format!("invalid JSON body: {other}"),
    };
    ApiError::Validation(message).into()
}

/// Turns query-string failures into `ApiError` bodies.
pub fn query_error_handler(
    error: actix_web::error::QueryPayloadError,
    _request: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::Validation(format!("invalid query string: {error}")).into()
}

/// Turns path-segment failures into `ApiError` bodies.
pub fn path_error_handler(
    error: actix_web::error::PathError,
    _request: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::Validation(format!("invalid path: {error}")).into()
}
