//! What OpenID Connect adds to a checked authorization request, at `/authorize` and at `/par`
//! alike: an id_token_hint must be one of ours, and `openid` needs a key a relying party can
//! verify.

use super::{OPENID, verify_id_token_hint};
use crate::signin::{AuthorizationRequest, ErrorCode, RawParameters, RequestError};
use crate::tokens::TokenService;

/// `authorization` with the subject of its verified `id_token_hint`, or why it is refused.
pub fn check_openid_request(
    tokens: &TokenService,
    params: &RawParameters,
    mut authorization: AuthorizationRequest,
) -> Result<AuthorizationRequest, RequestError> {
    let refuse = |code, description: &str| {
        RequestError::Redirect(
            authorization.deliver_to.clone(),
            code,
            description.to_owned(),
        )
    };
    let asks_openid = authorization
        .scope
        .as_ref()
        .is_some_and(|scope| scope.contains(OPENID));
    if asks_openid && tokens.keys().offered_algorithms().is_empty() {
        return Err(refuse(
            ErrorCode::InvalidScope,
            "openid is not available: this server signs with HS256 only",
        ));
    }
    if let Some(hint) = params.get("id_token_hint") {
        let Some(hinted) = verify_id_token_hint(tokens, hint) else {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "id_token_hint is not an id_token from this issuer",
            ));
        };
        authorization.hinted_subject = Some(hinted.sub);
    }
    Ok(authorization)
}
