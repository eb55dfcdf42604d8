//! The chain of parties acting on a token subject's behalf: the `act` claim of a token issued by
//! token exchange (RFC 8693 section 4.1).

use serde::Deserialize;

/// Longest chain of actors accepted; authd never issues deeper ones, and a deeper claim would
/// only cost memory and stack.
pub const MAX_ACTOR_DEPTH: usize = 16;

/// One party that acts for the token's subject (`act`), and through `prior` the parties it in
/// turn acted for. The outermost one is the current actor (RFC 8693 section 4.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Actor {
    /// `sub`: the actor's subject; for a service, its client_id.
    #[serde(rename = "sub")]
    pub subject: String,
    /// `client_id`: the client the actor's own token was issued to, when authd names it.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `act`: the actor before this one, when the subject token had been exchanged already.
    #[serde(default, rename = "act")]
    pub prior: Option<Box<Actor>>,
}

impl Actor {
    /// The actors from the current one back to the first.
    pub fn chain(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(Some(self), |actor| actor.prior.as_deref())
    }

    /// How many actors the chain holds (at least one).
    pub fn depth(&self) -> usize {
        self.chain().count()
    }

    /// The actor if its chain is no deeper than [`MAX_ACTOR_DEPTH`].
    pub(crate) fn within_depth(self) -> Option<Actor> {
        (self.depth() <= MAX_ACTOR_DEPTH).then_some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_act_claim_becomes_a_chain_from_the_current_actor_back() {
        let actor: Actor = serde_json::from_value(serde_json::json!({
            "sub": "prices", "client_id": "prices",
            "act": {"sub": "items", "client_id": "items", "act": {"sub": "gateway"}}
        }))
        .unwrap();
        let chain: Vec<_> = actor
            .chain()
            .map(|a| (a.subject.as_str(), a.client_id.as_deref()))
            .collect();
        assert_eq!(
            chain,
            [
                ("prices", Some("prices")),
                ("items", Some("items")),
                ("gateway", None)
            ]
        );
        assert_eq!(actor.depth(), 3);
    }

    #[test]
    fn unknown_members_are_ignored_and_a_missing_sub_is_refused() {
        let actor: Actor =
            serde_json::from_value(serde_json::json!({"sub": "items", "iss": "http://x"})).unwrap();
        assert_eq!(actor.client_id, None);
        assert_eq!(actor.prior, None);
        assert!(
            serde_json::from_value::<Actor>(serde_json::json!({"client_id": "items"})).is_err()
        );
        assert!(serde_json::from_value::<Actor>(serde_json::json!("items")).is_err());
    }

    #[test]
    fn a_chain_deeper_than_the_limit_is_refused() {
        let mut claim = serde_json::json!({"sub": "a0"});
        for depth in 1..MAX_ACTOR_DEPTH {
            claim = serde_json::json!({"sub": format!("a{depth}"), "act": claim});
        }
        let at_limit: Actor = serde_json::from_value(claim.clone()).unwrap();
        assert_eq!(at_limit.depth(), MAX_ACTOR_DEPTH);
        assert!(at_limit.within_depth().is_some());
        let deeper: Actor =
            serde_json::from_value(serde_json::json!({"sub": "top", "act": claim})).unwrap();
        assert!(deeper.within_depth().is_none());
    }
}
