//! The JSON side of the passkey endpoints: reading a request, and answering with a result or
//! `{"error", "error_description"}` (never a 500 for bad input; no database text in a body).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::mfa::passkeys::PasskeyError;
use crate::store::StoreError;

/// A refusal, as JSON.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Refusal {
    /// A refusal with `status`, error code and description.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// The request cannot be read.
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// The CSRF token is missing or not this page's.
    pub fn forged() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "this request does not belong to your page; reload it",
        )
    }

    /// The answer.
    pub fn response(&self) -> HttpResponse {
        no_store(HttpResponse::build(self.status))
            .json(json!({"error": self.error, "error_description": self.description}))
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is busy; try again in a moment",
            ),
            other => {
                log::error!("passkey endpoint failed: {other:?}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "something went wrong on our side",
                )
            }
        }
    }
}

impl From<PasskeyError> for Refusal {
    fn from(error: PasskeyError) -> Self {
        let description = error.to_string();
        let (status, code) = match error {
            PasskeyError::Disabled => (StatusCode::NOT_FOUND, "passkeys_disabled"),
            PasskeyError::Stale => (StatusCode::BAD_REQUEST, "expired_ceremony"),
            PasskeyError::Malformed => (StatusCode::BAD_REQUEST, "invalid_request"),
            PasskeyError::Refused | PasskeyError::Cloned { .. } => {
                (StatusCode::BAD_REQUEST, "passkey_refused")
            }
            PasskeyError::Replayed => (StatusCode::BAD_REQUEST, "ceremony_used"),
            PasskeyError::AlreadyRegistered => (StatusCode::CONFLICT, "already_registered"),
            PasskeyError::TooMany => (StatusCode::CONFLICT, "too_many_passkeys"),
            PasskeyError::Store(error) => return error.into(),
            PasskeyError::Internal(error) => return StoreError::Other(error).into(),
        };
        Self::new(status, code, description)
    }
}

/// `Cache-Control: no-store` and `nosniff` on every answer.
pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    builder
}

/// A 200 with `body`.
pub fn ok(body: serde_json::Value) -> HttpResponse {
    no_store(HttpResponse::Ok()).json(body)
}

/// The JSON body of `request`: it must say `application/json` (a cross-site form cannot) and
/// parse as `T`.
pub fn read_json<T: DeserializeOwned>(request: &HttpRequest, body: &[u8]) -> Result<T, Refusal> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|_| Refusal::invalid("the body is not the JSON this endpoint reads"))
}

/// Reads the authenticator's answer (kept as raw JSON until then, so that a malformed one is
/// told apart from a malformed request).
pub fn credential<T: DeserializeOwned>(raw: serde_json::Value) -> Result<T, Refusal> {
    serde_json::from_value(raw).map_err(|_| Refusal::from(PasskeyError::Malformed))
}
