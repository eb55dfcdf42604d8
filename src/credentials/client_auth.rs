//! OAuth client authentication (RFC 6749 section 2.3): HTTP Basic, form body, or public client_id.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::secret::secret_hash_matches;
use crate::config::OAuthSettings;
use crate::credential_cache::CredentialCache;
use crate::domain::{ClientId, GrantType, ResourceUri, ScopeSet};
use crate::store::{Store, StoreError};

/// Client credentials as presented, before they are checked.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `Authorization: Basic` (section 2.3.1).
    Basic {
        /// Decoded client_id.
        client_id: String,
        /// Decoded client_secret.
        client_secret: String,
    },
    /// `client_id` (and for confidential clients `client_secret`) in the form body.
    Body {
        /// client_id parameter.
        client_id: String,
        /// client_secret parameter, if sent.
        client_secret: Option<String>,
    },
    /// Nothing at all.
    None,
}

/// A client whose identity has been established.
#[derive(Debug, Clone)]
pub struct PresentedClient {
    /// The client_id.
    pub client_id: String,
    /// Authenticated with a secret.
    pub confidential: bool,
    /// Grants it may use (shared with the cached client).
    pub grants: Arc<BTreeSet<GrantType>>,
    /// Scopes it may obtain; `None` for the built-in public client, bounded by the user alone.
    pub scopes: Option<Arc<ScopeSet>>,
    /// No credentials were sent; this is the built-in public client by default.
    pub anonymous: bool,
    /// The registration it authenticated as (empty for the built-in client).
    pub registration: String,
    /// The resources (RFC 8707) it may ask tokens for (none for the built-in client).
    pub resources: Vec<ResourceUri>,
    /// It must send a DPoP proof with every token request (RFC 9449 section 5.2).
    pub dpop_bound_access_tokens: bool,
    /// It may exchange tokens without an actor token (RFC 8693 impersonation).
    pub allow_impersonation: bool,
}

/// Why client authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// Unknown client, wrong secret, malformed header (`invalid_client`).
    #[error("{description}")]
    InvalidClient {
        /// What went wrong, safe to show.
        description: &'static str,
        /// The client tried HTTP Basic, so the answer carries `WWW-Authenticate: Basic`.
        basic: bool,
    },
    /// More than one authentication method in one request (`invalid_request`).
    #[error("client credentials must be sent in exactly one way")]
    MultipleMethods,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClientCredentials {
    /// Reads credentials from the Authorization header and the form's client fields.
    pub fn extract(
        authorization: Option<&[u8]>,
        body_client_id: Option<&str>,
        body_client_secret: Option<&str>,
    ) -> Result<Self, ClientAuthError> {
        let invalid_basic = |description| ClientAuthError::InvalidClient {
            description,
            basic: true,
        };
        match (authorization, body_client_id, body_client_secret) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ClientAuthError::MultipleMethods),
            (Some(header), None, None) => {
                let header = std::str::from_utf8(header)
                    .map_err(|_| invalid_basic("malformed Authorization header"))?;
                let (scheme, encoded) = header
                    .split_once(' ')
                    .ok_or(invalid_basic("malformed Authorization header"))?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(invalid_basic("client authentication must use HTTP Basic"));
                }
                let decoded = STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or(invalid_basic("malformed Basic credentials"))?;
                let (id, secret) = decoded
                    .split_once(':')
                    .ok_or(invalid_basic("malformed Basic credentials"))?;
                // Section 2.3.1: both parts are application/x-www-form-urlencoded.
                let client_id =
                    form_decode(id).ok_or(invalid_basic("malformed Basic credentials"))?;
                let client_secret =
                    form_decode(secret).ok_or(invalid_basic("malformed Basic credentials"))?;
                Ok(Self::Basic {
                    client_id,
                    client_secret,
                })
            }
            (None, Some(client_id), client_secret) => Ok(Self::Body {
                client_id: client_id.to_owned(),
                client_secret: client_secret.map(str::to_owned),
            }),
            (None, None, Some(_)) => Err(ClientAuthError::InvalidClient {
                description: "client_secret without client_id",
                basic: false,
            }),
            (None, None, None) => Ok(Self::None),
        }
    }

    fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// `authenticate_client` for endpoints the caller must at least name itself at (`/par`, RFC 9126
/// section 2; `/device_authorization`, RFC 8628 section 3.1): no built-in client for anonymous
/// callers.
pub async fn authenticate_named_client(
    store: &Store,
    cache: &CredentialCache,
    settings: &OAuthSettings,
    credentials: &ClientCredentials,
) -> Result<PresentedClient, ClientAuthError> {
    if *credentials == ClientCredentials::None {
        return Err(ClientAuthError::InvalidClient {
            description: "the client must identify itself (client_id) or authenticate",
            basic: false,
        });
    }
    authenticate_client(store, cache, settings, credentials).await
}

/// Establishes which client is calling. Anonymous callers become the built-in public client.
pub async fn authenticate_client(
    store: &Store,
    cache: &CredentialCache,
    settings: &OAuthSettings,
    credentials: &ClientCredentials,
) -> Result<PresentedClient, ClientAuthError> {
    let basic = credentials.is_basic();
    let rejected = |description| ClientAuthError::InvalidClient { description, basic };
    let (client_id, secret) = match credentials {
        ClientCredentials::None => return Ok(builtin_public_client(settings, true)),
        ClientCredentials::Basic {
            client_id,
            client_secret,
        } => (client_id, Some(client_secret)),
        ClientCredentials::Body {
            client_id,
            client_secret,
        } => (client_id, client_secret.as_ref()),
    };
    let Ok(parsed_id) = ClientId::parse(client_id) else {
        return Err(rejected("unknown client or wrong secret"));
    };
    let Some(client) = cache.client(store, &parsed_id).await? else {
        if *client_id == settings.default_client_id && secret.is_none() {
            return Ok(builtin_public_client(settings, false));
        }
        return Err(rejected("unknown client or wrong secret"));
    };
    let confidential = match (&client.secret_hash, secret) {
        (Some(stored), Some(secret)) if secret_hash_matches(secret, stored) => true,
        (Some(_), _) => return Err(rejected("unknown client or wrong secret")),
        (None, None) => false,
        (None, Some(_)) => return Err(rejected("public clients have no secret")),
    };
    Ok(PresentedClient {
        client_id: client.client_id.clone(),
        confidential,
        grants: client.grants.clone(),
        scopes: Some(client.scopes.clone()),
        anonymous: false,
        dpop_bound_access_tokens: client.browser.dpop_bound_access_tokens,
        allow_impersonation: client.browser.allow_impersonation,
        registration: client.registration.clone(),
        resources: client.resources.clone(),
    })
}

fn builtin_public_client(settings: &OAuthSettings, anonymous: bool) -> PresentedClient {
    PresentedClient {
        client_id: settings.default_client_id.clone(),
        confidential: false,
        grants: Arc::new([GrantType::Password, GrantType::RefreshToken].into()),
        scopes: None,
        anonymous,
        registration: String::new(),
        resources: Vec::new(),
        dpop_bound_access_tokens: false,
        allow_impersonation: false,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn form_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                decoded.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            other => decoded.push(other),
        }
        i += 1;
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = basic("my%20client:p%3Ass+word");
        let creds = ClientCredentials::extract(Some(header.as_bytes()), None, None).unwrap();
        assert_eq!(
            creds,
            ClientCredentials::Basic {
                client_id: "my client".into(),
                client_secret: "p:ss word".into(),
            }
        );
    }

    #[test]
    fn malformed_basic_headers_are_invalid_client_with_basic_challenge() {
        for header in [
            "Basic !!!",
            "Basic",
            "Bearer abc",
            "Basic Zm9v",
            "Basic JUc6eA==",
        ] {
            match ClientCredentials::extract(Some(header.as_bytes()), None, None) {
                Err(ClientAuthError::InvalidClient { basic: true, .. }) => {}
                other => panic!("{header}: {other:?}"),
            }
        }
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = basic("a:b");
        let result = ClientCredentials::extract(Some(header.as_bytes()), Some("a"), None);
        assert!(matches!(result, Err(ClientAuthError::MultipleMethods)));
    }

    #[test]
    fn form_decoding_rejects_broken_escapes() {
        assert_eq!(form_decode("a%2"), None);
        assert_eq!(form_decode("a%zz"), None);
        assert_eq!(form_decode("a%+1"), None);
        assert_eq!(form_decode("%C3%A9").as_deref(), Some("é"));
    }
}
