//! Newtypes that parse once at the edge; past this point code takes only these types.

mod browser_client;
mod client_id;
mod delegation;
mod email;
mod grant_type;
mod introspection_alg;
mod logout;
mod origin;
mod password;
mod redirect_uri;
mod resource_uri;
mod role_name;
mod scope;
mod username;

pub use browser_client::{
    BrowserChanges, BrowserInput, ClientKind, MAX_ALLOWED_ORIGINS, MAX_CLIENT_NAME_CHARS,
    MAX_REDIRECT_URIS, parse_allowed_origins, parse_client_name, parse_post_logout_redirect_uris,
    parse_redirect_uris,
};
pub use client_id::ClientId;
pub use delegation::{Authority, Refusal, admin_scopes, require_admin_scopes};
pub use email::parse_email;
pub use grant_type::GrantType;
pub use introspection_alg::IntrospectionAlg;
pub use logout::{BackchannelLogoutUri, IdTokenAlg};
pub use origin::parse_origin;
pub use password::{MAX_PASSWORD_BYTES, NewPassword, Password};
pub use redirect_uri::{MAX_REDIRECT_URI_BYTES, RedirectUri, match_redirect_uri};
pub use resource_uri::{MAX_RESOURCES, ResourceUri};
pub use role_name::RoleName;
pub use scope::{ADMIN_SCOPES, Scope, ScopeSet};
pub use username::{MAX_USERNAME_CHARS, Username};

/// Why a value was refused; the message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
