//! The parameters of a token exchange request (RFC 8693 section 2.1).

use super::TokenType;
use crate::error::OAuthError;
use crate::routes::OAuthForm;

/// A token presented for exchange, with the type the client says it is.
#[derive(Debug, Clone, Copy)]
pub struct PresentedToken<'a> {
    /// The token.
    pub token: &'a str,
    /// Its declared type.
    pub kind: TokenType,
}

/// A parsed exchange request.
#[derive(Debug)]
pub struct ExchangeRequest<'a> {
    /// Whose token is exchanged.
    pub subject: PresentedToken<'a>,
    /// Who acts for the subject; `None` asks for impersonation.
    pub actor: Option<PresentedToken<'a>>,
    /// `resource` values, as sent.
    pub resources: &'a [String],
    /// `audience` values, as sent.
    pub audiences: &'a [String],
}

impl<'a> ExchangeRequest<'a> {
    /// Reads the request; malformed or unsupported parameters are `invalid_request`.
    pub fn parse(form: &'a OAuthForm) -> Result<Self, OAuthError> {
        let subject = PresentedToken {
            token: form.require("subject_token")?,
            kind: token_type(form.require("subject_token_type")?, "subject_token_type")?,
        };
        // Section 2.1: actor_token_type is required with actor_token and absent without it.
        let actor = match (form.get("actor_token"), form.get("actor_token_type")) {
            (Some(token), Some(kind)) => Some(PresentedToken {
                token,
                kind: token_type(kind, "actor_token_type")?,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type is required with actor_token",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type must not be sent without actor_token",
                ));
            }
        };
        if let Some(requested) = form.get("requested_token_type")
            && requested != TokenType::ACCESS_TOKEN
        {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type {requested:.128?} is not supported: authd issues only {}",
                TokenType::ACCESS_TOKEN
            )));
        }
        Ok(Self {
            subject,
            actor,
            resources: form.get_all("resource"),
            audiences: form.get_all("audience"),
        })
    }
}

fn token_type(raw: &str, parameter: &str) -> Result<TokenType, OAuthError> {
    TokenType::parse(raw).map_err(|e| OAuthError::invalid_request(format!("{parameter}: {}", e.0)))
}
