//! Why a request was refused, and its RFC 6750 response (401/403 with `WWW-Authenticate`).

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

use crate::config::is_challenge_char;

/// Why a token was not accepted for a route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` credentials at all.
    #[error("a bearer token is required")]
    MissingToken,
    /// Malformed, badly signed, expired, revoked, or not an access token from our issuer.
    #[error("the access token is {0}")]
    InvalidToken(&'static str),
    /// The token lacks a scope the route needs.
    #[error("the access token lacks the scope {0}")]
    InsufficientScope(String),
    /// The token's user lacks a role the route needs.
    #[error("the user lacks the role {0}")]
    MissingRole(String),
    /// authd did not answer, or answered with a server error.
    #[error("the authorization server is unreachable")]
    Unavailable,
    /// This service is set up wrongly (no client registered, or authd rejects our credentials).
    #[error("the authorization client is misconfigured")]
    Misconfigured,
}

/// An [`AuthError`] with the realm to name in the challenge; the error type of the extractors.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct Rejection {
    /// What went wrong.
    pub error: AuthError,
    pub(crate) realm: Arc<str>,
}

impl Rejection {
    pub(crate) fn new(error: AuthError, realm: Arc<str>) -> Self {
        Self { error, realm }
    }

    /// The RFC 6750 section 3.1 error code, if the challenge carries one.
    pub fn code(&self) -> &'static str {
        match self.error {
            AuthError::MissingToken => "invalid_request",
            AuthError::InvalidToken(_) => "invalid_token",
            AuthError::InsufficientScope(_) | AuthError::MissingRole(_) => "insufficient_scope",
            AuthError::Unavailable => "temporarily_unavailable",
            AuthError::Misconfigured => "server_error",
        }
    }

    /// The `WWW-Authenticate` value, for 401 and 403 answers.
    pub fn challenge(&self) -> Option<String> {
        let description = self.error.to_string();
        match &self.error {
            // RFC 6750 section 3.1: without any credentials, the challenge names no error.
            AuthError::MissingToken => Some(challenge(&self.realm, None, None, None)),
            AuthError::InvalidToken(_) => Some(challenge(
                &self.realm,
                Some("invalid_token"),
                Some(&description),
                None,
            )),
            AuthError::InsufficientScope(scope) => Some(challenge(
                &self.realm,
                Some("insufficient_scope"),
                Some(&description),
                Some(scope),
            )),
            // A role is not a scope, so no `scope` attribute; the error code still fits.
            AuthError::MissingRole(_) => Some(challenge(
                &self.realm,
                Some("insufficient_scope"),
                Some(&description),
                None,
            )),
            AuthError::Unavailable | AuthError::Misconfigured => None,
        }
    }
}

/// Formats a `Bearer` challenge (RFC 6750 section 3). Characters outside the allowed set are
/// dropped from the description, so no value ever needs escaping.
pub fn challenge(
    realm: &str,
    error: Option<&str>,
    description: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut value = format!("Bearer realm=\"{}\"", sanitize(realm));
    if let Some(error) = error {
        value.push_str(&format!(", error=\"{}\"", sanitize(error)));
    }
    if let Some(description) = description {
        value.push_str(&format!(
            ", error_description=\"{}\"",
            sanitize(description)
        ));
    }
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{}\"", sanitize(scope)));
    }
    value
}

fn sanitize(value: &str) -> String {
    value.chars().filter(|c| is_challenge_char(*c)).collect()
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self.error {
            AuthError::MissingToken | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InsufficientScope(_) | AuthError::MissingRole(_) => StatusCode::FORBIDDEN,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.error == AuthError::Unavailable {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response.json(serde_json::json!({
            "error": self.code(),
            "error_description": self.error.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    fn rejection(error: AuthError) -> Rejection {
        Rejection::new(error, Arc::from("items"))
    }

    #[test]
    fn a_missing_token_gets_a_challenge_without_an_error_code() {
        let rejection = rejection(AuthError::MissingToken);
        assert_eq!(rejection.status_code(), 401);
        assert_eq!(rejection.challenge().unwrap(), r#"Bearer realm="items""#);
    }

    #[test]
    fn an_invalid_token_gets_invalid_token() {
        let rejection = rejection(AuthError::InvalidToken("invalid, expired or revoked"));
        assert_eq!(rejection.status_code(), 401);
        assert_eq!(
            rejection.challenge().unwrap(),
            r#"Bearer realm="items", error="invalid_token", error_description="the access token is invalid, expired or revoked""#
        );
    }

    #[test]
    fn a_missing_scope_names_the_scope_in_a_403_challenge() {
        let rejection = rejection(AuthError::InsufficientScope("items:write".into()));
        assert_eq!(rejection.status_code(), 403);
        assert_eq!(
            rejection.challenge().unwrap(),
            r#"Bearer realm="items", error="insufficient_scope", error_description="the access token lacks the scope items:write", scope="items:write""#
        );
    }

    #[test]
    fn quotes_and_backslashes_never_reach_the_header() {
        let value = challenge("a\"b\\c", Some("x"), Some("say \"hi\"\n"), None);
        assert_eq!(
            value,
            r#"Bearer realm="abc", error="x", error_description="say hi""#
        );
    }

    #[actix_web::test]
    async fn an_unreachable_authd_is_a_503_with_a_json_body_and_no_challenge() {
        let response = rejection(AuthError::Unavailable).error_response();
        assert_eq!(response.status(), 503);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "5");
        let body = to_bytes(response.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(body["error_description"].is_string());
    }
}
