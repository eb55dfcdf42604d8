//! Why a request was refused, and its RFC 6750 response (401/403 with `WWW-Authenticate`).

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

use crate::config::is_challenge_char;

/// Why a token was not accepted for a route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` (or `DPoP`) credentials at all.
    #[error("a bearer token is required")]
    MissingToken,
    /// Malformed, badly signed, expired, revoked, or not an access token from our issuer.
    #[error("the access token is {0}")]
    InvalidToken(&'static str),
    /// A DPoP-bound token came as a bearer token (RFC 9449 section 7.1): it needs the `DPoP`
    /// scheme and a proof.
    #[error("the access token is bound to a key; present it with the DPoP scheme and a proof")]
    DpopRequired,
    /// The `DPoP` proof is missing, malformed, for another request, stale or replayed.
    #[error("{0}")]
    InvalidDpopProof(&'static str),
    /// The token lacks a scope the route needs.
    #[error("the access token lacks the scope {0}")]
    InsufficientScope(String),
    /// The token's user lacks a role the route needs.
    #[error("the user lacks the role {0}")]
    MissingRole(String),
    /// The user's sign-in behind the token is not strong enough, or too long ago (RFC 9470).
    #[error("{0}")]
    InsufficientUserAuthentication(StepUp),
    /// authd did not answer, or answered with a server error.
    #[error("the authorization server is unreachable")]
    Unavailable,
    /// This service is set up wrongly (no client registered, or authd rejects our credentials).
    #[error("the authorization client is misconfigured")]
    Misconfigured,
}

/// What a route demands of the user's sign-in and the token's sign-in lacks (RFC 9470): the
/// challenge names the route's demands, so that the client can ask authd for a sign-in that
/// meets them (`/authorize?acr_values=…&max_age=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUp {
    /// Acceptable `acr` values, space-separated in order of preference; `None` when any is.
    pub acr_values: Option<String>,
    /// The longest time since the sign-in, seconds; `None` when any age is.
    pub max_age: Option<u64>,
    /// The token's `acr` is not among `acr_values`.
    pub too_weak: bool,
    /// The token's `auth_time` is older than `max_age` (or absent).
    pub too_old: bool,
}

impl std::fmt::Display for StepUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.too_weak, self.too_old) {
            (true, true) => "a stronger and more recent sign-in is required",
            (false, true) => "a more recent sign-in is required",
            _ => "a stronger sign-in is required",
        })
    }
}

/// The authentication scheme of a request's credentials, and of the challenge answering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750.
    Bearer,
    /// RFC 9449.
    Dpop,
}

/// An [`AuthError`] with the realm to name in the challenge; the error type of the extractors.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct Rejection {
    /// What went wrong.
    pub error: AuthError,
    pub(crate) realm: Arc<str>,
    /// The scheme the request used; the challenge answers in it.
    pub(crate) scheme: Scheme,
}

impl Rejection {
    pub(crate) fn new(error: AuthError, realm: Arc<str>) -> Self {
        Self {
            error,
            realm,
            scheme: Scheme::Bearer,
        }
    }

    /// The same rejection, answering a request made with `scheme`.
    pub(crate) fn answering(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The scheme of the challenge: `DPoP` for DPoP requests and for bound tokens sent as
    /// bearer tokens (RFC 9449 section 7.1), `Bearer` otherwise.
    fn challenge_scheme(&self) -> Scheme {
        match self.error {
            AuthError::DpopRequired | AuthError::InvalidDpopProof(_) => Scheme::Dpop,
            _ => self.scheme,
        }
    }

    /// The RFC 6750 section 3.1 error code, if the challenge carries one.
    pub fn code(&self) -> &'static str {
        match self.error {
            AuthError::MissingToken => "invalid_request",
            AuthError::InvalidToken(_) | AuthError::DpopRequired => "invalid_token",
            AuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            AuthError::InsufficientScope(_) | AuthError::MissingRole(_) => "insufficient_scope",
            AuthError::InsufficientUserAuthentication(_) => "insufficient_user_authentication",
            AuthError::Unavailable => "temporarily_unavailable",
            AuthError::Misconfigured => "server_error",
        }
    }

    /// The `WWW-Authenticate` value, for 401 and 403 answers.
    pub fn challenge(&self) -> Option<String> {
        let description = self.error.to_string();
        let scheme = self.challenge_scheme();
        let challenge = |error, description, scope| {
            scheme_challenge(scheme, &self.realm, error, description, scope)
        };
        match &self.error {
            // RFC 6750 section 3.1: without any credentials, the challenge names no error.
            AuthError::MissingToken => Some(challenge(None, None, None)),
            AuthError::InvalidToken(_)
            | AuthError::DpopRequired
            | AuthError::InvalidDpopProof(_) => {
                Some(challenge(Some(self.code()), Some(&description), None))
            }
            AuthError::InsufficientScope(scope) => Some(challenge(
                Some("insufficient_scope"),
                Some(&description),
                Some(scope),
            )),
            // A role is not a scope, so no `scope` attribute; the error code still fits.
            AuthError::MissingRole(_) => Some(challenge(
                Some("insufficient_scope"),
                Some(&description),
                None,
            )),
            // RFC 9470 section 3: the route's demands, as acr_values and max_age.
            AuthError::InsufficientUserAuthentication(step_up) => {
                let mut value = challenge(
                    Some("insufficient_user_authentication"),
                    Some(&description),
                    None,
                );
                if let Some(acr_values) = &step_up.acr_values {
                    value.push_str(&format!(", acr_values=\"{}\"", sanitize(acr_values)));
                }
                if let Some(max_age) = step_up.max_age {
                    value.push_str(&format!(", max_age={max_age}"));
                }
                Some(value)
            }
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
    scheme_challenge(Scheme::Bearer, realm, error, description, scope)
}

/// Formats a challenge in `scheme`; a `DPoP` one ends with the accepted proof algorithms
/// (RFC 9449 section 7.1).
fn scheme_challenge(
    scheme: Scheme,
    realm: &str,
    error: Option<&str>,
    description: Option<&str>,
    scope: Option<&str>,
) -> String {
    let name = match scheme {
        Scheme::Bearer => "Bearer",
        Scheme::Dpop => "DPoP",
    };
    let mut value = format!("{name} realm=\"{}\"", sanitize(realm));
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
    if scheme == Scheme::Dpop {
        value.push_str(&format!(", algs=\"{}\"", crate::dpop::ALGORITHMS));
    }
    value
}

fn sanitize(value: &str) -> String {
    value.chars().filter(|c| is_challenge_char(*c)).collect()
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self.error {
            AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::DpopRequired
            | AuthError::InvalidDpopProof(_)
            | AuthError::InsufficientUserAuthentication(_) => StatusCode::UNAUTHORIZED,
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
        // RFC 9449 section 7.1: without credentials, offer both schemes.
        if self.error == AuthError::MissingToken {
            let dpop = scheme_challenge(Scheme::Dpop, &self.realm, None, None, None);
            response.append_header((header::WWW_AUTHENTICATE, dpop));
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
    fn a_weak_or_old_sign_in_gets_the_rfc_9470_challenge_with_only_the_demands_that_apply() {
        let weak = rejection(AuthError::InsufficientUserAuthentication(StepUp {
            acr_values: Some("urn:authd:acr:mfa".into()),
            max_age: None,
            too_weak: true,
            too_old: false,
        }));
        assert_eq!(weak.status_code(), 401);
        assert_eq!(weak.code(), "insufficient_user_authentication");
        assert_eq!(
            weak.challenge().unwrap(),
            r#"Bearer realm="items", error="insufficient_user_authentication", error_description="a stronger sign-in is required", acr_values="urn:authd:acr:mfa""#
        );
        let old = rejection(AuthError::InsufficientUserAuthentication(StepUp {
            acr_values: None,
            max_age: Some(300),
            too_weak: false,
            too_old: true,
        }));
        assert_eq!(
            old.challenge().unwrap(),
            r#"Bearer realm="items", error="insufficient_user_authentication", error_description="a more recent sign-in is required", max_age=300"#
        );
        let both = rejection(AuthError::InsufficientUserAuthentication(StepUp {
            acr_values: Some("urn:authd:acr:mfa".into()),
            max_age: Some(0),
            too_weak: true,
            too_old: true,
        }));
        assert!(
            both.challenge()
                .unwrap()
                .ends_with(r#"acr_values="urn:authd:acr:mfa", max_age=0"#)
        );
    }

    #[test]
    fn dpop_errors_get_a_dpop_challenge_naming_the_algorithms() {
        let proof = rejection(AuthError::InvalidDpopProof(
            "the DPoP proof was already used",
        ));
        assert_eq!(proof.status_code(), 401);
        assert_eq!(proof.code(), "invalid_dpop_proof");
        assert_eq!(
            proof.challenge().unwrap(),
            r#"DPoP realm="items", error="invalid_dpop_proof", error_description="the DPoP proof was already used", algs="ES256 EdDSA RS256""#
        );
        let as_bearer = rejection(AuthError::DpopRequired);
        assert_eq!(as_bearer.code(), "invalid_token");
        assert!(
            as_bearer
                .challenge()
                .unwrap()
                .starts_with(r#"DPoP realm="items", error="invalid_token""#)
        );
        let scope =
            rejection(AuthError::InsufficientScope("items:write".into())).answering(Scheme::Dpop);
        assert!(scope.challenge().unwrap().starts_with("DPoP "));
        assert!(
            scope
                .challenge()
                .unwrap()
                .contains(r#"scope="items:write""#)
        );
    }

    #[test]
    fn a_missing_token_offers_both_schemes() {
        let response = rejection(AuthError::MissingToken).error_response();
        let challenges: Vec<_> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            challenges,
            [
                r#"Bearer realm="items""#,
                r#"DPoP realm="items", algs="ES256 EdDSA RS256""#
            ]
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
