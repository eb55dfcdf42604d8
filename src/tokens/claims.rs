//! The claims of an authd access token (RFC 9068 section 2.2).

use serde::{Deserialize, Serialize};

/// The JOSE `typ` of access tokens (RFC 9068 section 2.1).
pub const TOKEN_TYPE_HEADER: &str = "at+jwt";

/// Claims carried by every access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// User id, or the client_id for client_credentials tokens.
    pub sub: String,
    /// Audience: `tokens.audience`, or the resources asked for (RFC 8707).
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Unique token id, the handle for revocation.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// That client's registration (see `Client::registration`); absent for the built-in client
    /// and clients registered before it existed.
    #[serde(
        default,
        rename = "client_reg",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_registration: String,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// The user's name, on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The user's roles at issuance, on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The user's token generation at issuance (see `users.token_generation`), on user tokens.
    #[serde(default, rename = "gen", skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The browser session it was issued under; ending the session ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How the user authenticated (RFC 8176 values), on tokens from a sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The strength of that sign-in (`mfa::ACR_PWD` or `mfa::ACR_MFA`), derived from `amr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the user authenticated, Unix seconds; on refresh, still the original sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The DPoP key the token is bound to (RFC 9449 section 6.1); absent on bearer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Who acts for `sub` (RFC 8693 section 4.1), on tokens from a delegating exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Who may act for `sub` (RFC 8693 section 4.4). authd does not issue it, but honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<MayAct>,
}

/// The actor of a delegated token (RFC 8693 section 4.1): the party acting, and inside it the
/// one that acted before it, if any (the current actor outermost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The actor's subject: a client's client_id, or a user id.
    pub sub: String,
    /// The client the actor's token was issued to.
    pub client_id: String,
    /// The previous actor in the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// How many actors the chain names, this one included.
    pub fn depth(&self) -> usize {
        1 + self.act.as_ref().map_or(0, |inner| inner.depth())
    }
}

/// Who may act for the subject (RFC 8693 section 4.4): each claim present must match the actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MayAct {
    /// The actor's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The actor's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl MayAct {
    /// Whether `actor` is who this names: every claim given matches, and it names someone.
    pub fn permits(&self, actor: &Actor) -> bool {
        (self.sub.is_some() || self.client_id.is_some())
            && self.sub.as_ref().is_none_or(|sub| *sub == actor.sub)
            && self
                .client_id
                .as_ref()
                .is_none_or(|client| *client == actor.client_id)
    }
}

/// A token's confirmation claim (RFC 7800): `{"jkt": "<base64url SHA-256 JWK thumbprint>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 thumbprint of the DPoP public key.
    pub jkt: String,
}

/// The `aud` of a token: a string for one audience, an array for several (RFC 7519 section
/// 4.1.3 allows both; readers that expect a string keep working for one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// The audience for `uris`: a string for one, an array for several.
    pub fn of<S: AsRef<str>>(uris: &[S]) -> Option<Self> {
        match uris {
            [] => None,
            [one] => Some(Self::One(one.as_ref().to_owned())),
            many => Some(Self::Many(
                many.iter().map(|uri| uri.as_ref().to_owned()).collect(),
            )),
        }
    }

    /// Whether `audience` is among them.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// How and when the user behind a token authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authentication<'a> {
    /// RFC 8176 methods, space-separated (as sessions, codes and refresh families store them).
    pub amr: &'a str,
    /// Unix seconds.
    pub auth_time: i64,
}

impl AccessClaims {
    /// Whether the token was issued to a user (rather than to a client for itself).
    pub fn is_user_token(&self) -> bool {
        self.username.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_audience_is_a_string_and_several_an_array() {
        let one = Audience::of(&["https://a"]).unwrap();
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""https://a""#);
        let two = Audience::of(&["https://a", "https://b"]).unwrap();
        assert_eq!(
            serde_json::to_string(&two).unwrap(),
            r#"["https://a","https://b"]"#
        );
        assert!(two.contains("https://b") && !two.contains("https://c"));
        assert_eq!(Audience::of::<&str>(&[]), None);
        let parsed: Audience = serde_json::from_str(r#"["x"]"#).unwrap();
        assert!(parsed.contains("x"));
    }

    #[test]
    fn a_nested_actor_chain_serialises_outermost_first() {
        let first = Actor {
            sub: "a".into(),
            client_id: "a".into(),
            act: None,
        };
        let second = Actor {
            sub: "b".into(),
            client_id: "b".into(),
            act: Some(Box::new(first)),
        };
        assert_eq!(second.depth(), 2);
        assert_eq!(
            serde_json::to_value(&second).unwrap(),
            serde_json::json!({"sub": "b", "client_id": "b", "act": {"sub": "a", "client_id": "a"}})
        );
    }

    #[test]
    fn may_act_matches_only_the_actor_it_names() {
        let actor = Actor {
            sub: "svc".into(),
            client_id: "svc".into(),
            act: None,
        };
        let by_client = MayAct {
            sub: None,
            client_id: Some("svc".into()),
        };
        assert!(by_client.permits(&actor));
        let other = MayAct {
            sub: Some("svc".into()),
            client_id: Some("other".into()),
        };
        assert!(!other.permits(&actor));
        let nobody = MayAct {
            sub: None,
            client_id: None,
        };
        assert!(!nobody.permits(&actor));
    }
}
