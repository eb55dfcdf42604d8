//! The exchange policy: whose tokens a client may exchange, who may act, what the result holds
//! and where it may go.

use super::{Subject, SubjectKind, refused};
use crate::domain::{ResourceUri, ScopeSet};
use crate::error::OAuthError;
use crate::resources::{Resources, requested_target};
use crate::tokens::{Actor, MayAct};

/// Most actors one token may name, the current one included: each exchange through another
/// service adds one, and a chain without end would grow tokens past what verifies.
pub const MAX_ACTOR_DEPTH: usize = 8;

/// A client may exchange a token issued to itself, or one addressed to a resource registered
/// for it (a resource server passing its caller's token on); an id_token only when it was
/// issued to the client.
pub fn may_exchange(
    subject: &Subject,
    client_id: &str,
    client_resources: &[ResourceUri],
) -> Result<(), OAuthError> {
    if subject.client_id == client_id {
        return Ok(());
    }
    let addressed_to_client = match subject.kind {
        SubjectKind::AccessToken { .. } => client_resources
            .iter()
            .any(|uri| subject.audience.contains(uri.as_str())),
        SubjectKind::IdToken => false,
    };
    if addressed_to_client {
        Ok(())
    } else {
        Err(refused(
            "subject_token was issued to another client and is not addressed to a resource of yours",
        ))
    }
}

/// A token bound to a DPoP key (RFC 9449 section 6) is exchanged only with a proof made with
/// that key, or a stolen bound token would become a bearer one: no proof is
/// `invalid_dpop_proof`, a proof from another key `invalid_request` (section 2.2.2 of RFC 8693).
pub fn require_proof_key(
    bound: Option<&str>,
    proof_key: Option<&str>,
    what: &str,
) -> Result<(), OAuthError> {
    match (bound, proof_key) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(OAuthError::InvalidDpopProof(format!(
            "the {what} is bound to a DPoP key: send a DPoP proof made with it"
        ))),
        (Some(bound), Some(key)) if bound == key => Ok(()),
        (Some(_), Some(_)) => Err(refused(format!("the {what} is bound to another DPoP key"))),
    }
}

/// RFC 8693 section 4.4: a subject token's `may_act` names who may act for its subject; the
/// party acting (the actor, or for impersonation the client itself) must be the one named.
pub fn check_may_act(may_act: Option<&MayAct>, party: &Actor) -> Result<(), OAuthError> {
    match may_act {
        Some(may_act) if !may_act.permits(party) => Err(refused(
            "the subject_token's may_act does not name this actor",
        )),
        _ => Ok(()),
    }
}

/// The `act` of the issued token (RFC 8693 section 4.1): the new actor outermost, the subject
/// token's chain inside it. Without an actor (impersonation) the subject's chain stays as it
/// was: impersonating never hides who acted before.
pub fn actor_chain(
    actor: Option<Actor>,
    previous: Option<Actor>,
) -> Result<Option<Actor>, OAuthError> {
    let chain = match actor {
        Some(actor) => Some(Actor {
            act: previous.map(Box::new),
            ..actor
        }),
        None => previous,
    };
    if chain
        .as_ref()
        .is_some_and(|chain| chain.depth() > MAX_ACTOR_DEPTH)
    {
        return Err(refused(format!(
            "the delegation chain would name more than {MAX_ACTOR_DEPTH} actors"
        )));
    }
    Ok(chain)
}

/// What the issued token may hold at most: for an access token, its own scopes; for an id_token
/// (which carries none), what the user approved for the client (`consented`, `None` for a
/// client that asks no consent). Either way only what the user may still hold through this
/// client (`allowed`).
pub fn subject_scope(
    kind: &SubjectKind,
    allowed: &ScopeSet,
    consented: Option<&ScopeSet>,
) -> ScopeSet {
    match (kind, consented) {
        (SubjectKind::AccessToken { scope, .. }, _) => scope.intersection(allowed),
        (SubjectKind::IdToken, Some(consented)) => consented.intersection(allowed),
        (SubjectKind::IdToken, None) => allowed.clone(),
    }
}

/// Where the issued token may go: `resource` values as RFC 8707 takes them, and `audience`
/// values, which name a registered resource by its URI (authd's logical names for services);
/// each must be one of the client's resources. Empty: authd's default audience.
pub fn exchange_target(
    resources: &[String],
    audiences: &[String],
    registry: &Resources,
    client_resources: &[ResourceUri],
) -> Result<Vec<ResourceUri>, OAuthError> {
    let mut target = requested_target(resources, client_resources)?.unwrap_or_default();
    for audience in audiences {
        let Some(uri) = registry.registered(audience) else {
            return Err(OAuthError::InvalidTarget(format!(
                "audience {audience:.128?} is not a registered resource"
            )));
        };
        if !client_resources.contains(uri) {
            return Err(OAuthError::InvalidTarget(format!(
                "audience {:.128} is not allowed here",
                uri.as_str()
            )));
        }
        if !target.contains(uri) {
            target.push(uri.clone());
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RegisteredResource, User};
    use crate::tokens::Audience;

    fn actor(name: &str) -> Actor {
        Actor {
            sub: name.into(),
            client_id: name.into(),
            act: None,
        }
    }

    fn uri(raw: &str) -> ResourceUri {
        ResourceUri::parse(raw).unwrap()
    }

    fn subject(client_id: &str, audience: &str, kind: SubjectKind) -> Subject {
        Subject {
            user: User {
                id: "u1".into(),
                username: "alice".into(),
                email: None,
                full_name: None,
                disabled: false,
                password_scheme: crate::credentials::PasswordScheme::Argon2id,
                roles: Vec::new(),
                token_generation: 0,
                created_at: 0,
                updated_at: 0,
            },
            kind,
            client_id: client_id.into(),
            audience: Audience::One(audience.into()),
            sid: None,
            amr: String::new(),
            auth_time: None,
            act: None,
            may_act: None,
            jkt: None,
            issued_at: 0,
        }
    }

    fn access(scope: &str) -> SubjectKind {
        SubjectKind::AccessToken {
            scope: ScopeSet::parse(scope).unwrap(),
            jti: "j".into(),
        }
    }

    #[test]
    fn a_client_exchanges_its_own_tokens_and_those_addressed_to_its_resources() {
        let mine = [uri("https://a")];
        let own = subject("svc", "https://authd", access("x"));
        assert!(may_exchange(&own, "svc", &[]).is_ok());
        let passed_on = subject("web", "https://a", access("x"));
        assert!(may_exchange(&passed_on, "svc", &mine).is_ok());
        let elsewhere = subject("web", "https://b", access("x"));
        assert!(may_exchange(&elsewhere, "svc", &mine).is_err());
        let id_token = subject("web", "web", SubjectKind::IdToken);
        assert!(may_exchange(&id_token, "svc", &[uri("https://web")]).is_err());
        assert!(may_exchange(&id_token, "web", &[]).is_ok());
    }

    #[test]
    fn the_new_actor_wraps_the_previous_chain_and_chains_stay_bounded() {
        let chain = actor_chain(Some(actor("b")), Some(actor("a")))
            .unwrap()
            .unwrap();
        assert_eq!(chain.sub, "b");
        assert_eq!(chain.act.as_deref(), Some(&actor("a")));
        assert_eq!(
            actor_chain(None, Some(actor("a"))).unwrap(),
            Some(actor("a"))
        );
        assert_eq!(actor_chain(None, None).unwrap(), None);
        let mut long = None;
        for i in 0..MAX_ACTOR_DEPTH {
            long = actor_chain(Some(actor(&i.to_string())), long).unwrap();
        }
        assert!(actor_chain(Some(actor("one more")), long).is_err());
    }

    #[test]
    fn a_bound_subject_needs_a_proof_from_its_own_key() {
        assert!(require_proof_key(None, None, "subject_token").is_ok());
        assert!(require_proof_key(Some("k"), Some("k"), "subject_token").is_ok());
        assert!(matches!(
            require_proof_key(Some("k"), None, "subject_token"),
            Err(OAuthError::InvalidDpopProof(_))
        ));
        assert!(matches!(
            require_proof_key(Some("k"), Some("other"), "subject_token"),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn the_result_never_holds_more_than_the_subject_and_the_client_allow() {
        let allowed = ScopeSet::parse("a b").unwrap();
        let scope = subject_scope(&access("b c"), &allowed, None);
        assert_eq!(scope.to_string(), "b");
        let consented = ScopeSet::parse("a z").unwrap();
        let scope = subject_scope(&SubjectKind::IdToken, &allowed, Some(&consented));
        assert_eq!(scope.to_string(), "a");
    }

    #[test]
    fn audiences_name_registered_resources_of_the_client() {
        let registry = Resources::new(vec![
            RegisteredResource {
                uri: uri("https://a"),
                scopes: ScopeSet::parse("a").unwrap(),
                created_at: 0,
            },
            RegisteredResource {
                uri: uri("https://b"),
                scopes: ScopeSet::parse("b").unwrap(),
                created_at: 0,
            },
        ]);
        let mine = [uri("https://a")];
        let target = exchange_target(
            &["https://a".into()],
            &["https://a".into()],
            &registry,
            &mine,
        )
        .unwrap();
        assert_eq!(target, vec![uri("https://a")]);
        for audience in ["https://b", "billing", "https://c"] {
            let error = exchange_target(&[], &[audience.into()], &registry, &mine).unwrap_err();
            assert!(matches!(error, OAuthError::InvalidTarget(_)), "{audience}");
        }
        assert!(
            exchange_target(&[], &[], &registry, &mine)
                .unwrap()
                .is_empty()
        );
    }
}
