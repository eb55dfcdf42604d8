//! `/authorize` parameters (RFC 6749 section 4.1.1, RFC 7636, OpenID Connect Core 3.1.2.1),
//! checked in the order that decides how an error may be answered: until the client and its
//! redirect URI are known to be genuine, only an error page; after, a redirect to the client.

use std::collections::HashMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::redirect::{ClientRedirect, ErrorCode};
use crate::domain::{ClientId, GrantType, ResourceUri, ScopeSet, match_redirect_uri};
use crate::mfa::AcrRequest;
use crate::store::Client;

/// Longest `state`, `nonce` and `login_hint` accepted: the request travels in a cookie.
const MAX_STATE_BYTES: usize = 1024;
const MAX_NONCE_BYTES: usize = 512;
const MAX_LOGIN_HINT_BYTES: usize = 256;
/// Most bytes of `resource` values one request may carry: they travel in the cookie and the code.
const MAX_RESOURCES_BYTES: usize = 1024;

/// What `prompt` asked for (OpenID Connect Core 3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: never show a page.
    pub none: bool,
    /// `login` (or `select_account`): sign in again even with a session.
    pub login: bool,
    /// `consent`: ask even when consent was given before.
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Its registration when the request was checked.
    pub client_registration: String,
    /// `redirect_uri` as sent (it must be sent again to /token), if it was.
    pub redirect_uri: Option<String>,
    /// Where answers go: a registered URI (with the requested port for loopback ones).
    pub deliver_to: ClientRedirect,
    /// Scopes asked for; `None` for everything the client and user may hold.
    pub scope: Option<ScopeSet>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`, to prefill the username.
    pub login_hint: Option<String>,
    /// OpenID Connect nonce, returned in the id_token.
    pub nonce: Option<String>,
    /// The user a verified `id_token_hint` names: only their session may answer.
    #[serde(default)]
    pub hinted_subject: Option<String>,
    /// How strong a sign-in `acr_values` asks for.
    #[serde(default)]
    pub acr: AcrRequest,
    /// The resources (RFC 8707) asked for, each one of the client's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The DPoP key thumbprint the code is bound to (RFC 9449 section 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// Why a request cannot go on.
#[derive(Debug)]
pub enum RequestError {
    /// The client or redirect URI cannot be trusted: show a page, never redirect.
    Page(String),
    /// Tell the client, at its registered redirect URI.
    Redirect(ClientRedirect, ErrorCode, String),
}

/// Parameters as sent, each at most once (RFC 6749 section 3.1) except `resource` (RFC 8707
/// section 2).
pub struct RawParameters(HashMap<String, String>, Vec<String>);

impl RawParameters {
    /// Parses `application/x-www-form-urlencoded` (a query string or a form body).
    pub fn parse(encoded: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(encoded)
            .map_err(|_| "The request's parameters are malformed.".to_owned())?;
        let mut map = HashMap::with_capacity(pairs.len());
        let mut resources = Vec::new();
        for (name, value) in pairs {
            if name == "resource" {
                if !value.is_empty() {
                    resources.push(value);
                }
                continue;
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(format!("The parameter {name} is repeated."));
            }
        }
        Ok(Self(map, resources))
    }

    /// Every `resource` sent.
    pub fn resources(&self) -> &[String] {
        &self.1
    }

    /// A parameter; an empty value counts as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The client_id to look up, or the page error for its absence.
pub fn client_id_of(params: &RawParameters) -> Result<ClientId, RequestError> {
    let raw = params.get("client_id").ok_or_else(|| {
        RequestError::Page("The request names no application (client_id).".into())
    })?;
    ClientId::parse(raw)
        .map_err(|_| RequestError::Page("The application's client_id is not valid.".into()))
}

/// Checks a request from `client` (`None`: no such client).
pub fn check_request(
    params: &RawParameters,
    client: Option<&Client>,
) -> Result<AuthorizationRequest, RequestError> {
    let page = |message: &str| RequestError::Page(message.to_owned());
    let client = client.ok_or_else(|| page("This application is not registered here."))?;
    if !client.grants.contains(&GrantType::AuthorizationCode) {
        return Err(page(
            "This application may not sign people in from a browser.",
        ));
    }
    let registered = &client.browser.redirect_uris;
    let redirect_uri = params.get("redirect_uri");
    let deliver_to = match redirect_uri {
        Some(requested) => match_redirect_uri(registered, requested)
            .ok_or_else(|| page("The redirect_uri is not registered for this application."))?,
        None if registered.len() == 1 => registered[0].as_str().to_owned(),
        None => {
            return Err(page(
                "The request must name one of the application's redirect URIs.",
            ));
        }
    };
    let deliver_to = ClientRedirect::new(deliver_to, params.get("state"))
        .ok_or_else(|| page("The state parameter is too long."))?;
    let fail = |code, description: &str| {
        Err(RequestError::Redirect(
            deliver_to.clone(),
            code,
            description.to_owned(),
        ))
    };
    match params.get("response_type") {
        None => return fail(ErrorCode::InvalidRequest, "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            );
        }
    }
    if params.get("request").is_some() {
        return fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        );
    }
    if params.get("registration").is_some() {
        return fail(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        );
    }
    if params.get("request_uri").is_some() {
        return fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        );
    }
    let scope = match params.get("scope") {
        None => None,
        Some(raw) => match ScopeSet::parse(raw) {
            Ok(scope) => Some(scope),
            Err(error) => return fail(ErrorCode::InvalidScope, &error.to_string()),
        },
    };
    if let Some(scope) = &scope {
        let refused = scope.difference(&client.scopes);
        if !refused.is_empty() {
            return fail(
                ErrorCode::InvalidScope,
                &format!("scope not allowed for this client: {refused}"),
            );
        }
    }
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
        return fail(ErrorCode::InvalidRequest, "nonce is too long");
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => {
            if !is_pkce_value(challenge) || challenge.len() != 43 {
                return fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge must be the 43-character BASE64URL SHA-256 of the verifier",
                );
            }
            Some(challenge.to_owned())
        }
        (Some(_), _) | (None, Some(_)) => {
            return fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not accepted), with a code_challenge",
            );
        }
        (None, None) => {
            // RFC 9700 section 2.1.1: a confidential client may rely on the OpenID nonce instead.
            let nonce_protects = client.browser.pkce_optional
                && !client.is_public()
                && nonce.is_some()
                && scope.as_ref().is_some_and(|s| s.contains("openid"));
            if !nonce_protects {
                return fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge is required (PKCE with S256)",
                );
            }
            None
        }
    };
    let prompt = match parse_prompt(params.get("prompt")) {
        Ok(prompt) => prompt,
        Err(description) => return fail(ErrorCode::InvalidRequest, description),
    };
    let max_age = match params.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(seconds)) if seconds >= 0 => Some(seconds),
        Some(_) => {
            return fail(
                ErrorCode::InvalidRequest,
                "max_age must be a number of seconds",
            );
        }
    };
    // RFC 8707 section 2: only resources registered for the client.
    let resources = match ResourceUri::parse_list(params.resources()) {
        Ok(resources)
            if resources
                .iter()
                .map(|uri| uri.as_str().len())
                .sum::<usize>()
                > MAX_RESOURCES_BYTES =>
        {
            return fail(
                ErrorCode::InvalidTarget,
                "the resources are too long together",
            );
        }
        Ok(resources) if resources.iter().all(|uri| client.resources.contains(uri)) => resources,
        Ok(_) => {
            return fail(
                ErrorCode::InvalidTarget,
                "a resource is not allowed for this client",
            );
        }
        Err(error) => return fail(ErrorCode::InvalidTarget, &error.to_string()),
    };
    let login_hint = params.get("login_hint").map(str::to_owned);
    if login_hint
        .as_ref()
        .is_some_and(|h| h.len() > MAX_LOGIN_HINT_BYTES)
    {
        return fail(ErrorCode::InvalidRequest, "login_hint is too long");
    }
    // RFC 9449 section 10: a base64url SHA-256 JWK thumbprint (43 characters).
    let dpop_jkt = params.get("dpop_jkt").map(str::to_owned);
    if dpop_jkt.as_deref().is_some_and(|jkt| {
        jkt.len() != 43
            || !jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    }) {
        return fail(
            ErrorCode::InvalidRequest,
            "dpop_jkt must be the base64url SHA-256 thumbprint of a JWK",
        );
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        client_registration: client.registration.clone(),
        redirect_uri: redirect_uri.map(str::to_owned),
        deliver_to,
        scope,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        nonce,
        hinted_subject: None,
        acr: AcrRequest::parse(params.get("acr_values").unwrap_or_default()),
        resources: resources
            .iter()
            .map(|uri| uri.as_str().to_owned())
            .collect(),
        dpop_jkt,
    })
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, &'static str> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" | "select_account" => prompt.login = true,
            "consent" => prompt.consent = true,
            _ => return Err("prompt must be none, login, consent or select_account"),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(prompt)
}

/// RFC 7636 section 4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` is the PKCE verifier of the S256 `challenge` (RFC 7636 section 4.6).
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_value(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref());
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// Whether `state` is short enough to travel in the login transaction cookie.
pub(super) fn state_fits(state: &str) -> bool {
    state.len() <= MAX_STATE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
        assert!(!verifier_matches("short", challenge));
    }

    #[test]
    fn prompt_none_stands_alone() {
        assert!(parse_prompt(Some("none")).unwrap().none);
        assert!(parse_prompt(Some("login consent")).unwrap().consent);
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(RawParameters::parse("a=1&a=2").is_err());
        let params = RawParameters::parse("a=1&b=").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
    }
}
