//! Token exchange (RFC 8693): which tokens a client may exchange, who acts for whom, and what the
//! exchanged token may carry. The grant itself is `routes::token::token_exchange`.

mod actor;
mod policy;
mod request;
mod subject;
mod token_type;

pub use actor::{VerifiedActor, verify_actor};
pub use policy::{
    MAX_ACTOR_DEPTH, actor_chain, check_may_act, exchange_target, may_exchange, require_proof_key,
    subject_scope,
};
pub use request::{ExchangeRequest, PresentedToken};
pub use subject::{Subject, SubjectKind, TokenChecks, verify_subject};
pub use token_type::TokenType;

/// Refuses a subject or actor token: RFC 8693 section 2.2.2 makes every invalid or unacceptable
/// one `invalid_request`.
pub(crate) fn refused(description: impl Into<String>) -> crate::error::OAuthError {
    crate::error::OAuthError::InvalidRequest(description.into())
}
