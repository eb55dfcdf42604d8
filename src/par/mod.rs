//! Pushed authorization requests (RFC 9126): a client sends its authorization request
//! straight to `/par`, where it is checked as `/authorize` would check it, and gets a short-lived
//! request_uri to send the browser to `/authorize` with instead of the parameters.
//!
//! The request_uri carries the checked request sealed (`request_uri`), so a push stores nothing.
//! Its one use writes a marker row that the janitor removes once the request_uri has expired:
//! the table holds at most the uses of the last `PUSHED_REQUEST_TTL_SECS` (plus a janitor
//! interval), each of which needed a push.

mod request_uri;

pub use request_uri::{PUSHED_REQUEST_TTL_SECS, PushedRequest, REQUEST_URI_PREFIX};

use crate::config::OAuthSettings;
use crate::credential_cache::CredentialCache;
use crate::domain::{ClientId, GrantType};
use crate::error::OAuthError;
use crate::openid::check_openid_request;
use crate::signin::authorization_request::{check_request, client_id_of};
use crate::signin::{AuthorizationRequest, ErrorCode, PageKeys, RawParameters, RequestError};
use crate::store::{Client, Store, StoreError};
use crate::tokens::TokenService;

/// Whether `/authorize` takes `client`'s requests only through `/par` (RFC 9126 section 5).
pub fn is_required(client: &Client, settings: &OAuthSettings) -> bool {
    settings.require_pushed_authorization_requests
        || client.browser.require_pushed_authorization_requests
}

/// Checks the parameters pushed by the authenticated `client` exactly as `/authorize` checks
/// them (RFC 9126 section 2.1), answering failures as RFC 6749 section 5.2 errors.
pub fn check_push(
    params: &RawParameters,
    client: &Client,
    tokens: &TokenService,
) -> Result<AuthorizationRequest, OAuthError> {
    if !client.grants.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "client {} may not use the authorization_code grant",
            client.client_id
        )));
    }
    // Section 2.1: request_uri must not be pushed.
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri must not be sent to the pushed authorization request endpoint",
        ));
    }
    check_request(params, Some(client))
        .and_then(|request| check_openid_request(tokens, params, request))
        .map_err(|error| match error {
            RequestError::Page(description) => OAuthError::InvalidRequest(description),
            RequestError::Redirect(_, code, description) => as_oauth_error(code, description),
        })
}

fn as_oauth_error(code: ErrorCode, description: String) -> OAuthError {
    match code {
        ErrorCode::InvalidRequest => OAuthError::InvalidRequest(description),
        ErrorCode::InvalidScope => OAuthError::InvalidScope(description),
        other => OAuthError::AuthorizationRequest {
            code: other.as_str(),
            description,
        },
    }
}

/// The pushed request behind `/authorize?client_id=…&request_uri=…`, used up (RFC 9126 section
/// 4: every other parameter is ignored). `Err` is the message of an error page: an unknown,
/// altered, expired or used request_uri, or one pushed by another client, leads nowhere else.
pub async fn redeem(
    params: &RawParameters,
    store: &Store,
    cache: &CredentialCache,
    keys: &PageKeys,
    now: i64,
) -> Result<Result<AuthorizationRequest, RequestError>, StoreError> {
    let page = |message: &str| Ok(Err(RequestError::Page(message.to_owned())));
    let client_id = match client_id_of(params) {
        Ok(client_id) => client_id,
        Err(error) => return Ok(Err(error)),
    };
    let Some(pushed) = params
        .get("request_uri")
        .and_then(|uri| PushedRequest::open(keys, uri))
    else {
        return page("The request_uri is not one this server issued.");
    };
    // Section 4: the request_uri is bound to the client that pushed it.
    if pushed.request.client_id != client_id.as_str() {
        return page("The request_uri was issued to another application.");
    }
    if pushed.expires_at <= now {
        return page("The request_uri has expired; the application must push its request again.");
    }
    if !registered_as_pushed(store, cache, &client_id, &pushed.request).await? {
        return page("The application is no longer registered.");
    }
    // Section 7.3: one use only, on any instance.
    if !store
        .use_pushed_request(&pushed.id, pushed.expires_at)
        .await?
    {
        return page("The request_uri has been used already.");
    }
    Ok(Ok(pushed.request))
}

async fn registered_as_pushed(
    store: &Store,
    cache: &CredentialCache,
    client_id: &ClientId,
    request: &AuthorizationRequest,
) -> Result<bool, StoreError> {
    let client = cache.client(store, client_id).await?;
    Ok(client.is_some_and(|c| c.registration == request.client_registration))
}
