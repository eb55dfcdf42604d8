//! RP-Initiated Logout 1.0 section 2: `id_token_hint`, `client_id`, `post_logout_redirect_uri`
//! and `state`, checked so that authd never redirects to a URI the client did not register.

use url::Url;

use super::authorization_request::{RawParameters, state_fits};
use crate::openid::HintedSignIn;
use crate::store::Client;

/// A checked logout request.
#[derive(Debug, Default)]
pub struct LogoutRequest {
    /// Who the relying party says is signing out (a verified id_token_hint).
    pub hinted: Option<HintedSignIn>,
    /// The client asking, from `client_id` or the hint's `aud`.
    pub client_id: Option<String>,
    /// Where to send the browser afterwards, as registered.
    pub post_logout_redirect_uri: Option<String>,
    /// Returned to the client with the redirect.
    pub state: Option<String>,
}

impl LogoutRequest {
    /// Where the browser goes once signed out: the registered URI with `state`, or `None` for
    /// authd's own "signed out" page.
    pub fn return_to(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_ref()?;
        let mut url = Url::parse(uri).ok()?;
        if let Some(state) = &self.state {
            url.query_pairs_mut().append_pair("state", state);
        }
        Some(url.into())
    }

    /// Whether the hint names the person signed in with `session_handle` as `user_id`: then
    /// the relying party speaks for them and no confirmation is needed.
    pub fn speaks_for(&self, user_id: &str, session_handle: &str) -> bool {
        self.hinted.as_ref().is_some_and(|hint| {
            hint.sub == user_id && hint.sid.as_deref().is_none_or(|sid| sid == session_handle)
        })
    }
}

/// The `client_id` a request names, from the parameter or the hint; an error when they differ.
pub fn client_id_of(
    params: &RawParameters,
    hinted: Option<&HintedSignIn>,
) -> Result<Option<String>, String> {
    match (params.get("client_id"), hinted) {
        (Some(sent), Some(hint)) if sent != hint.aud => {
            Err("The client_id does not match the id_token_hint's audience.".into())
        }
        (Some(sent), _) => Ok(Some(sent.to_owned())),
        (None, Some(hint)) => Ok(Some(hint.aud.clone())),
        (None, None) => Ok(None),
    }
}

/// Checks `post_logout_redirect_uri` and `state` against the client (`None`: unknown or not
/// named). Errors are messages for the error page: a bad request is never redirected.
pub fn check_logout(
    params: &RawParameters,
    hinted: Option<HintedSignIn>,
    client_id: Option<String>,
    client: Option<&Client>,
) -> Result<LogoutRequest, String> {
    let state = params.get("state").map(str::to_owned);
    if state.as_deref().is_some_and(|s| !state_fits(s)) {
        return Err("The state parameter is too long.".into());
    }
    let post_logout_redirect_uri = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(requested) => {
            let Some(client) = client else {
                return Err(
                    "A post_logout_redirect_uri needs a registered application: send its \
                     client_id or an id_token_hint."
                        .into(),
                );
            };
            // Exact string comparison, as for redirect URIs.
            let registered = client
                .browser
                .post_logout_redirect_uris
                .iter()
                .any(|uri| uri.as_str() == requested);
            if !registered {
                return Err(
                    "The post_logout_redirect_uri is not registered for this application.".into(),
                );
            }
            Some(requested.to_owned())
        }
    };
    Ok(LogoutRequest {
        hinted,
        client_id,
        post_logout_redirect_uri,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(sub: &str, sid: Option<&str>) -> HintedSignIn {
        HintedSignIn {
            sub: sub.into(),
            aud: "app".into(),
            sid: sid.map(str::to_owned),
        }
    }

    #[test]
    fn the_client_id_and_the_hint_must_agree() {
        let params = RawParameters::parse("client_id=other").unwrap();
        assert!(client_id_of(&params, Some(&hint("u", None))).is_err());
        let params = RawParameters::parse("").unwrap();
        assert_eq!(
            client_id_of(&params, Some(&hint("u", None))).unwrap(),
            Some("app".into())
        );
    }

    #[test]
    fn a_redirect_needs_a_known_client() {
        let params =
            RawParameters::parse("post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F").unwrap();
        assert!(check_logout(&params, None, None, None).is_err());
    }

    #[test]
    fn the_hint_speaks_for_its_own_user_and_session_only() {
        let request = LogoutRequest {
            hinted: Some(hint("u1", Some("s1"))),
            ..LogoutRequest::default()
        };
        assert!(request.speaks_for("u1", "s1"));
        assert!(!request.speaks_for("u1", "s2"));
        assert!(!request.speaks_for("u2", "s1"));
        assert!(!LogoutRequest::default().speaks_for("u1", "s1"));
    }

    #[test]
    fn state_travels_back_with_the_registered_uri() {
        let request = LogoutRequest {
            post_logout_redirect_uri: Some("https://app.example/bye?x=1".into()),
            state: Some("a b".into()),
            ..LogoutRequest::default()
        };
        assert_eq!(
            request.return_to().as_deref(),
            Some("https://app.example/bye?x=1&state=a+b")
        );
    }
}
