//! The actor token: who acts for the subject (RFC 8693 sections 1.1 and 4.1).
//!
//! authd accepts as actor token only a live authd access token issued to the exchanging client
//! itself (its client_credentials token, or a token of a user signed in to it): a client
//! cannot name another party as the actor, only itself or someone acting through it.

use super::subject::{kind_of, live_access_token};
use super::{PresentedToken, TokenChecks, TokenType, refused};
use crate::error::OAuthError;
use crate::tokens::Actor;

/// A live actor token.
#[derive(Debug)]
pub struct VerifiedActor {
    /// The actor, without a chain (`act` is `None`).
    pub actor: Actor,
    /// The DPoP key its token is bound to.
    pub jkt: Option<String>,
}

/// Checks the actor token presented by the client `client_id`.
pub async fn verify_actor(
    presented: PresentedToken<'_>,
    client_id: &str,
    checks: TokenChecks<'_>,
) -> Result<VerifiedActor, OAuthError> {
    if kind_of(presented) != Some(TokenType::AccessToken) {
        return Err(refused("actor_token must be an authd access token"));
    }
    let (claims, _) = live_access_token(presented.token, checks)
        .await
        .map_err(|_| refused("actor_token is not an active authd access token"))?;
    if claims.client_id != client_id {
        return Err(refused(
            "actor_token was issued to another client: present a token of your own",
        ));
    }
    Ok(VerifiedActor {
        actor: Actor {
            sub: claims.sub,
            client_id: claims.client_id,
            act: None,
        },
        jkt: claims.cnf.map(|cnf| cnf.jkt),
    })
}
