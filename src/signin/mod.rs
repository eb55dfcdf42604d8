//! Browser sign-in (issue 11): the authorization request, the login transaction, sessions,
//! consent and codes. No HTTP types here; `routes::web` adapts these to pages and redirects.

pub mod authorization_request;
pub mod code;
pub mod flow;
pub mod logout_request;
mod page_keys;
mod password;
pub mod redirect;
pub mod sessions;
pub mod transaction;

pub use authorization_request::{AuthorizationRequest, RawParameters, RequestError};
pub use flow::{ConsentRequest, FlowContext, Step};
pub use page_keys::{MAX_COOKIE_VALUE_BYTES, PageKeys};
pub use password::{PasswordCheck, SignInError, SignedIn};
pub use redirect::{ClientRedirect, ErrorCode};
pub use transaction::{Destination, LoginTransaction, Stage};
