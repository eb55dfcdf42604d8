//! Every redirect back to a client is built here, from a URI that was matched against the
//! client's registration: nothing else can construct a `ClientRedirect`, so no handler can send a
//! browser to an unchecked address. Answers carry `state` and `iss` (RFC 9207).

use serde::{Deserialize, Serialize};
use url::Url;

use super::authorization_request::state_fits;

/// Error codes of RFC 6749 section 4.1.2.1 and OpenID Connect Core 3.1.2.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing or malformed parameter.
    InvalidRequest,
    /// Not `response_type=code`.
    UnsupportedResponseType,
    /// Scope outside what the client may ask for.
    InvalidScope,
    /// A `resource` the client may not ask for, or a malformed one (RFC 8707 section 2).
    InvalidTarget,
    /// The person (or authd on their behalf) refused.
    AccessDenied,
    /// `prompt=none`, and nobody is signed in.
    LoginRequired,
    /// `prompt=none`, and the client needs consent.
    ConsentRequired,
    /// Request objects are not supported.
    RequestNotSupported,
    /// `request_uri` is not supported.
    RequestUriNotSupported,
    /// Dynamic registration through `registration` is not supported (Core 3.1.2.6).
    RegistrationNotSupported,
    /// Something failed inside authd.
    ServerError,
    /// The database is unavailable.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// A checked place to answer a client's authorization request, with its `state`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRedirect {
    uri: String,
    state: Option<String>,
}

impl ClientRedirect {
    /// Only for a URI matched against the client's registered redirect URIs.
    pub(super) fn new(matched_uri: String, state: Option<&str>) -> Option<Self> {
        if state.is_some_and(|s| !state_fits(s)) {
            return None;
        }
        Some(Self {
            uri: matched_uri,
            state: state.map(str::to_owned),
        })
    }

    /// The URI answers go to (without parameters).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `error`, `error_description`, `state` and `iss`.
    pub fn error(&self, code: ErrorCode, description: &str, issuer: &str) -> String {
        self.build(
            &[("error", code.as_str()), ("error_description", description)],
            issuer,
        )
    }

    /// `code`, `state` and `iss`.
    pub fn code(&self, code: &str, issuer: &str) -> String {
        self.build(&[("code", code)], issuer)
    }

    fn build(&self, parameters: &[(&str, &str)], issuer: &str) -> String {
        // The URI parsed when it was registered; should it ever not, answer at it unchanged
        // rather than anywhere else.
        let Ok(mut url) = Url::parse(&self.uri) else {
            return self.uri.clone();
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in parameters {
                query.append_pair(name, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", issuer);
        }
        url.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_the_registered_query_and_escape_values() {
        let target =
            ClientRedirect::new("https://app.example/cb?tenant=a".into(), Some("x&y=z")).unwrap();
        let url = target.error(ErrorCode::AccessDenied, "no <thanks>", "https://id.example");
        let parsed = Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("tenant".into(), "a".into()),
                ("error".into(), "access_denied".into()),
                ("error_description".into(), "no <thanks>".into()),
                ("state".into(), "x&y=z".into()),
                ("iss".into(), "https://id.example".into()),
            ]
        );
        assert!(url.starts_with("https://app.example/cb?"));
    }

    #[test]
    fn private_use_schemes_get_parameters_too() {
        let target = ClientRedirect::new("com.example.app:/cb".into(), None).unwrap();
        assert_eq!(
            target.code("abc", "https://id.example"),
            "com.example.app:/cb?code=abc&iss=https%3A%2F%2Fid.example"
        );
    }
}
