//! Error responses: RFC 6749 section 5.2 for the OAuth endpoints, one JSON shape for the rest.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::credentials::ClientAuthError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when the database is unreachable.
const RETRY_AFTER_SECS: &str = "5";

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
    /// An authenticated client lacks the scope this endpoint needs (403).
    #[error("{0}")]
    InsufficientScope(String),
    /// The database is unreachable: 503 with `Retry-After`.
    #[error("the service is temporarily unavailable")]
    TemporarilyUnavailable,
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
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InsufficientScope(_) => "insufficient_scope",
            OAuthError::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthError::Internal(_) => "server_error",
        }
    }

    /// Shorthand for `InvalidRequest`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::InvalidRequest(description.into())
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
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
