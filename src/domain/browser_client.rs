//! What a client registers for the authorization code flow (display name, redirect URIs, CORS
//! origins, consent and PKCE flags, logout and id_token settings), checked the same way by the
//! CLI and the admin API.

use std::collections::BTreeSet;

use super::{
    BackchannelLogoutUri, GrantType, IdTokenAlg, IntrospectionAlg, ParseError, RedirectUri,
    parse_origin,
};

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 32;
/// Most browser origins one client may register.
pub const MAX_ALLOWED_ORIGINS: usize = 32;
/// Longest display name, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 128;

/// What the browser settings of a client depend on; neither changes after registration.
#[derive(Clone, Copy, Debug)]
pub struct ClientKind<'a> {
    /// The client's grants.
    pub grants: &'a BTreeSet<GrantType>,
    /// Whether it has no secret.
    pub public: bool,
}

/// Browser settings as the caller sent them; `None` leaves a field as it is (on creation: empty).
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserInput<'a> {
    /// Display name.
    pub client_name: Option<&'a str>,
    /// Redirect URIs (the complete new list).
    pub redirect_uris: Option<&'a [String]>,
    /// Browser origins (the complete new list).
    pub allowed_origins: Option<&'a [String]>,
    /// No consent page.
    pub skip_consent: Option<bool>,
    /// PKCE may be omitted (with `openid` and a `nonce`).
    pub pkce_optional: Option<bool>,
    /// Where RP-Initiated Logout may return (the complete new list).
    pub post_logout_redirect_uris: Option<&'a [String]>,
    /// Back-Channel Logout URI; empty removes it.
    pub backchannel_logout_uri: Option<&'a str>,
    /// Whether the client needs `sid` in logout tokens.
    pub backchannel_logout_session_required: Option<bool>,
    /// JWS algorithm of its id_tokens; empty means the default (RS256).
    pub id_token_signed_response_alg: Option<&'a str>,
    /// Whether `/authorize` takes its requests only through `/par` (RFC 9126 section 5).
    pub require_pushed_authorization_requests: Option<bool>,
    /// JWS algorithm of its JWT introspection responses; empty means the server's default.
    pub introspection_signed_response_alg: Option<&'a str>,
    /// Every token request must carry a DPoP proof (RFC 9449 section 5.2).
    pub dpop_bound_access_tokens: Option<bool>,
    /// It may exchange a user's token for one without `act` (RFC 8693 impersonation).
    pub allow_impersonation: Option<bool>,
}

/// Parsed and checked browser settings; `None` fields are left unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrowserChanges {
    /// Display name (empty: the client_id is shown).
    pub client_name: Option<String>,
    /// Where codes may be sent.
    pub redirect_uris: Option<Vec<RedirectUri>>,
    /// Origins, in their ASCII serialisation.
    pub allowed_origins: Option<Vec<String>>,
    /// A first-party client: no consent page.
    pub skip_consent: Option<bool>,
    /// PKCE optional for this confidential client.
    pub pkce_optional: Option<bool>,
    /// Where RP-Initiated Logout may return.
    pub post_logout_redirect_uris: Option<Vec<RedirectUri>>,
    /// `Some(None)` removes the Back-Channel Logout URI.
    pub backchannel_logout_uri: Option<Option<BackchannelLogoutUri>>,
    /// Whether logout tokens must carry `sid`.
    pub backchannel_logout_session_required: Option<bool>,
    /// JWS algorithm of its id_tokens.
    pub id_token_signed_response_alg: Option<IdTokenAlg>,
    /// Requests only through `/par`.
    pub require_pushed_authorization_requests: Option<bool>,
    /// JWS algorithm of its JWT introspection responses.
    pub introspection_signed_response_alg: Option<IntrospectionAlg>,
    /// Every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: Option<bool>,
    /// It may exchange tokens without an actor token (impersonation).
    pub allow_impersonation: Option<bool>,
}

impl BrowserChanges {
    /// Parses `input` for a client of `kind`. Each rule involves one field and the kind only,
    /// so changes checked one at a time can never combine into a state the rules forbid.
    pub fn parse(input: BrowserInput<'_>, kind: ClientKind<'_>) -> Result<Self, ParseError> {
        let has_code_grant = kind.grants.contains(&GrantType::AuthorizationCode);
        let needs_grant = |what: &str| {
            Err(ParseError::new(format!(
                "{what} apply only to clients with the authorization_code grant"
            )))
        };
        let client_name = input.client_name.map(parse_client_name).transpose()?;
        let redirect_uris = input.redirect_uris.map(parse_redirect_uris).transpose()?;
        match &redirect_uris {
            Some(uris) if uris.is_empty() && has_code_grant => {
                return Err(ParseError::new(
                    "the authorization_code grant needs at least one redirect URI",
                ));
            }
            Some(uris) if !uris.is_empty() && !has_code_grant => {
                return needs_grant("redirect URIs");
            }
            _ => {}
        }
        let allowed_origins = input
            .allowed_origins
            .map(parse_allowed_origins)
            .transpose()?;
        if allowed_origins
            .as_ref()
            .is_some_and(|origins| !origins.is_empty())
            && !has_code_grant
        {
            return needs_grant("allowed origins");
        }
        if input.skip_consent == Some(true) && !has_code_grant {
            return needs_grant("skip_consent and pkce_optional");
        }
        if input.pkce_optional == Some(true) {
            if kind.public {
                return Err(ParseError::new(
                    "pkce_optional is only for confidential clients: a public client always uses PKCE",
                ));
            }
            if !has_code_grant {
                return needs_grant("skip_consent and pkce_optional");
            }
        }
        let post_logout_redirect_uris = input
            .post_logout_redirect_uris
            .map(parse_post_logout_redirect_uris)
            .transpose()?;
        let backchannel_logout_uri = input
            .backchannel_logout_uri
            .map(|raw| {
                (!raw.is_empty())
                    .then(|| BackchannelLogoutUri::parse(raw))
                    .transpose()
            })
            .transpose()?;
        let id_token_signed_response_alg = input
            .id_token_signed_response_alg
            .map(IdTokenAlg::parse)
            .transpose()?;
        // Logout and id_tokens exist only for clients that sign people in.
        let sets_openid_field = post_logout_redirect_uris
            .as_ref()
            .is_some_and(|uris| !uris.is_empty())
            || matches!(backchannel_logout_uri, Some(Some(_)))
            || input.backchannel_logout_session_required == Some(true)
            || id_token_signed_response_alg.is_some_and(|alg| alg != IdTokenAlg::default());
        if sets_openid_field && !has_code_grant {
            return needs_grant(
                "post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required and id_token_signed_response_alg",
            );
        }
        if input.require_pushed_authorization_requests == Some(true) && !has_code_grant {
            return needs_grant("require_pushed_authorization_requests");
        }
        let introspection_signed_response_alg = input
            .introspection_signed_response_alg
            .map(IntrospectionAlg::parse)
            .transpose()?;
        // Only a client with a secret may introspect (RFC 7662 section 2.1).
        if introspection_signed_response_alg.is_some_and(|alg| alg != IntrospectionAlg::default())
            && kind.public
        {
            return Err(ParseError::new(
                "introspection_signed_response_alg is only for confidential clients: public clients cannot introspect",
            ));
        }
        // Impersonation is a way of exchanging tokens, which only a client with a secret does.
        if input.allow_impersonation == Some(true)
            && (kind.public || !kind.grants.contains(&GrantType::TokenExchange))
        {
            return Err(ParseError::new(
                "allow_impersonation applies only to confidential clients with the token-exchange grant",
            ));
        }
        Ok(Self {
            client_name,
            redirect_uris,
            allowed_origins,
            skip_consent: input.skip_consent,
            pkce_optional: input.pkce_optional,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            backchannel_logout_session_required: input.backchannel_logout_session_required,
            id_token_signed_response_alg,
            require_pushed_authorization_requests: input.require_pushed_authorization_requests,
            introspection_signed_response_alg,
            dpop_bound_access_tokens: input.dpop_bound_access_tokens,
            allow_impersonation: input.allow_impersonation,
        })
    }

    /// The names of the fields this changes, for the audit trail.
    pub fn describe(&self) -> String {
        let fields = [
            ("client_name", self.client_name.is_some()),
            ("redirect_uris", self.redirect_uris.is_some()),
            ("allowed_origins", self.allowed_origins.is_some()),
            ("skip_consent", self.skip_consent.is_some()),
            ("pkce_optional", self.pkce_optional.is_some()),
            (
                "post_logout_redirect_uris",
                self.post_logout_redirect_uris.is_some(),
            ),
            (
                "backchannel_logout_uri",
                self.backchannel_logout_uri.is_some(),
            ),
            (
                "backchannel_logout_session_required",
                self.backchannel_logout_session_required.is_some(),
            ),
            (
                "id_token_signed_response_alg",
                self.id_token_signed_response_alg.is_some(),
            ),
            (
                "require_pushed_authorization_requests",
                self.require_pushed_authorization_requests.is_some(),
            ),
            (
                "introspection_signed_response_alg",
                self.introspection_signed_response_alg.is_some(),
            ),
            (
                "dpop_bound_access_tokens",
                self.dpop_bound_access_tokens.is_some(),
            ),
            ("allow_impersonation", self.allow_impersonation.is_some()),
        ];
        fields
            .into_iter()
            .filter_map(|(name, changed)| changed.then_some(name))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A display name: no control characters, at most `MAX_CLIENT_NAME_CHARS`.
pub fn parse_client_name(raw: &str) -> Result<String, ParseError> {
    if raw.chars().any(char::is_control) {
        return Err(ParseError::new(
            "client_name must not contain control characters",
        ));
    }
    if raw.chars().count() > MAX_CLIENT_NAME_CHARS {
        return Err(ParseError::new(format!(
            "client_name must be at most {MAX_CLIENT_NAME_CHARS} characters"
        )));
    }
    Ok(raw.trim().to_owned())
}

/// Redirect URIs, each checked, duplicates dropped, in the order given.
pub fn parse_redirect_uris(raw: &[String]) -> Result<Vec<RedirectUri>, ParseError> {
    let mut uris: Vec<RedirectUri> = Vec::new();
    for uri in raw {
        let uri = RedirectUri::parse(uri)?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(ParseError::new(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs per client"
        )));
    }
    Ok(uris)
}

/// Post-logout redirect URIs: the rules of redirect URIs (absolute, no fragment, https except
/// loopback or a private-use scheme), duplicates dropped, in the order given.
pub fn parse_post_logout_redirect_uris(raw: &[String]) -> Result<Vec<RedirectUri>, ParseError> {
    // Same rules; the message names the field the caller set.
    parse_redirect_uris(raw)
        .map_err(|e| ParseError::new(format!("post_logout_redirect_uris: {}", e.0)))
}

/// Browser origins, each checked, duplicates dropped, in the order given.
pub fn parse_allowed_origins(raw: &[String]) -> Result<Vec<String>, ParseError> {
    let mut origins: Vec<String> = Vec::new();
    for origin in raw {
        let origin = parse_origin(origin)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    if origins.len() > MAX_ALLOWED_ORIGINS {
        return Err(ParseError::new(format!(
            "at most {MAX_ALLOWED_ORIGINS} allowed origins per client"
        )));
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(list: &[GrantType]) -> BTreeSet<GrantType> {
        list.iter().copied().collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_code_grant_needs_a_redirect_uri_and_nothing_else_takes_one() {
        let code = grants(&[GrantType::AuthorizationCode]);
        let service = grants(&[GrantType::ClientCredentials]);
        let none: Vec<String> = Vec::new();
        let one = strings(&["https://app.example.com/cb"]);
        let kind = |grants| ClientKind {
            grants,
            public: false,
        };
        fn uris(list: &[String]) -> BrowserInput<'_> {
            BrowserInput {
                redirect_uris: Some(list),
                ..BrowserInput::default()
            }
        }

        assert!(BrowserChanges::parse(uris(&none), kind(&code)).is_err());
        assert!(BrowserChanges::parse(uris(&one), kind(&code)).is_ok());
        assert!(BrowserChanges::parse(uris(&one), kind(&service)).is_err());
        assert!(BrowserChanges::parse(uris(&none), kind(&service)).is_ok());
        let origins = strings(&["https://app.example.com"]);
        let with_origins = BrowserInput {
            allowed_origins: Some(&origins),
            ..BrowserInput::default()
        };
        assert!(BrowserChanges::parse(with_origins, kind(&service)).is_err());
        assert!(BrowserChanges::parse(with_origins, kind(&code)).is_ok());
    }

    #[test]
    fn pkce_may_be_optional_only_for_confidential_code_clients() {
        let code = grants(&[GrantType::AuthorizationCode]);
        let optional = BrowserInput {
            pkce_optional: Some(true),
            ..BrowserInput::default()
        };
        let public = ClientKind {
            grants: &code,
            public: true,
        };
        let confidential = ClientKind {
            grants: &code,
            public: false,
        };
        assert!(BrowserChanges::parse(optional, public).is_err());
        assert!(BrowserChanges::parse(optional, confidential).is_ok());
        let required = BrowserInput {
            pkce_optional: Some(false),
            ..BrowserInput::default()
        };
        assert!(BrowserChanges::parse(required, public).is_ok());
    }

    #[test]
    fn lists_drop_duplicates_and_refuse_bad_entries() {
        let uris = parse_redirect_uris(&strings(&[
            "https://a.example/cb",
            "https://a.example/cb",
            "http://127.0.0.1/cb",
        ]))
        .unwrap();
        assert_eq!(uris.len(), 2);
        assert!(parse_redirect_uris(&strings(&["http://a.example/cb"])).is_err());
        let many: Vec<String> = (0..=MAX_ALLOWED_ORIGINS)
            .map(|i| format!("https://o{i}.example"))
            .collect();
        assert!(parse_allowed_origins(&many).is_err());
        assert!(parse_allowed_origins(&strings(&["https://a.example/x"])).is_err());
    }

    #[test]
    fn names_are_printable_and_bounded() {
        assert_eq!(parse_client_name(" Photos ").unwrap(), "Photos");
        assert!(parse_client_name("bad\u{7}name").is_err());
        assert!(parse_client_name(&"x".repeat(MAX_CLIENT_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn logout_settings_are_checked_and_need_the_code_grant() {
        let code = grants(&[GrantType::AuthorizationCode]);
        let service = grants(&[GrantType::ClientCredentials]);
        let kind = |grants| ClientKind {
            grants,
            public: false,
        };
        let good = strings(&["https://app.example.com/bye", "com.example.app:/bye"]);
        let input = BrowserInput {
            post_logout_redirect_uris: Some(&good),
            backchannel_logout_uri: Some("https://app.example.com/bc"),
            backchannel_logout_session_required: Some(true),
            id_token_signed_response_alg: Some("ES256"),
            ..BrowserInput::default()
        };
        let parsed = BrowserChanges::parse(input, kind(&code)).unwrap();
        assert_eq!(parsed.post_logout_redirect_uris.unwrap().len(), 2);
        assert_eq!(parsed.id_token_signed_response_alg, Some(IdTokenAlg::Es256));
        assert!(BrowserChanges::parse(input, kind(&service)).is_err());

        let cleared = BrowserInput {
            backchannel_logout_uri: Some(""),
            id_token_signed_response_alg: Some(""),
            ..BrowserInput::default()
        };
        let parsed = BrowserChanges::parse(cleared, kind(&service)).unwrap();
        assert_eq!(parsed.backchannel_logout_uri, Some(None));

        let bad = strings(&["http://app.example.com/bye"]);
        let error = BrowserChanges::parse(
            BrowserInput {
                post_logout_redirect_uris: Some(&bad),
                ..BrowserInput::default()
            },
            kind(&code),
        )
        .unwrap_err();
        assert!(error.0.starts_with("post_logout_redirect_uris"), "{error}");
        let alg = BrowserInput {
            id_token_signed_response_alg: Some("HS256"),
            ..BrowserInput::default()
        };
        assert!(BrowserChanges::parse(alg, kind(&code)).is_err());
    }

    #[test]
    fn describe_names_the_changed_fields() {
        let changes = BrowserChanges {
            client_name: Some("x".into()),
            skip_consent: Some(false),
            ..BrowserChanges::default()
        };
        assert_eq!(changes.describe(), "client_name skip_consent");
    }
}
