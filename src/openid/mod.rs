//! OpenID Connect on top of the authorization code flow: the OpenID scopes, the claims they
//! release about a user, and id_tokens.

pub mod authorization_request;
pub mod id_token;
pub mod id_token_hint;
pub mod scopes;
pub mod user_claims;

pub use authorization_request::check_openid_request;
pub use id_token::{IdTokenClaims, IdTokenSigner, SignIn, at_hash};
pub use id_token_hint::{HintedSignIn, verify_id_token_hint};
pub use scopes::{OFFLINE_ACCESS, OPENID, OPENID_SCOPES, grantable_to_user};
pub use user_claims::UserClaims;
