//! The registered resources and the scopes each claims, as every token issuance reads them: from
//! memory, re-read from the database once it is a second old.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::target::AccessGrant;
use crate::domain::{ResourceUri, ScopeSet};
use crate::snapshot::Snapshot;
use crate::store::{RegisteredResource, Store, StoreError};
use crate::tokens::Audience;

/// How long a read of the registry is used before it is read again; changes made on another
/// instance apply within it.
const FRESHNESS: Duration = Duration::from_secs(1);

/// The registry as read at one moment.
#[derive(Debug, Default)]
pub struct Resources {
    registered: Vec<RegisteredResource>,
    claimed: ScopeSet,
}

impl Resources {
    /// Indexes `registered`.
    pub fn new(registered: Vec<RegisteredResource>) -> Self {
        let claimed = registered
            .iter()
            .fold(ScopeSet::default(), |all, resource| {
                all.union(&resource.scopes)
            });
        Self {
            registered,
            claimed,
        }
    }

    /// The registered resource whose URI is exactly `name`.
    pub fn registered(&self, name: &str) -> Option<&ResourceUri> {
        self.registered
            .iter()
            .map(|resource| &resource.uri)
            .find(|uri| uri.as_str() == name)
    }

    /// What a token for `target` carries of `scope`, and its audience. For resources: the scopes
    /// they claim, so a token for one API never holds another's. For none (`target` empty):
    /// `default_audience`, and the scopes no resource claims, so a token that every API would
    /// accept holds no API's own scopes.
    pub fn grant(
        &self,
        scope: ScopeSet,
        target: &[ResourceUri],
        default_audience: &str,
    ) -> AccessGrant {
        let Some(audience) = Audience::of(target) else {
            return AccessGrant {
                scope: scope.without(&self.claimed),
                audience: Audience::One(default_audience.to_owned()),
            };
        };
        let claimed = self
            .registered
            .iter()
            .filter(|resource| target.contains(&resource.uri))
            .fold(ScopeSet::default(), |all, resource| {
                all.union(&resource.scopes)
            });
        AccessGrant {
            scope: scope.intersection(&claimed),
            audience,
        }
    }
}

/// Reads and caches the registry.
pub struct ResourceRegistry {
    store: Store,
    /// The last read and when it was made; `None` until the first read and after `forget`.
    cached: Snapshot<Option<(Instant, Arc<Resources>)>>,
}

impl std::fmt::Debug for ResourceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceRegistry").finish_non_exhaustive()
    }
}

impl ResourceRegistry {
    /// A registry read from `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cached: Snapshot::new(Arc::new(None)),
        }
    }

    /// The registry, at most `FRESHNESS` old.
    pub async fn current(&self) -> Result<Arc<Resources>, StoreError> {
        if let Some(resources) = self.cached.with(|cached| fresh(cached).cloned()) {
            return Ok(resources);
        }
        let read_at = Instant::now();
        let resources = Arc::new(Resources::new(self.store.list_resources().await?));
        self.cached
            .replace(Arc::new(Some((read_at, resources.clone()))));
        Ok(resources)
    }

    /// Calls `read` with the registry as `current` returns it, without sharing it: for every
    /// token issued.
    pub async fn with_current<R>(
        &self,
        read: impl FnOnce(&Resources) -> R,
    ) -> Result<R, StoreError> {
        let mut read = Some(read);
        let from_cache = self.cached.with(|cached| {
            let resources = fresh(cached)?;
            read.take().map(|read| read(resources))
        });
        if let Some(answer) = from_cache {
            return Ok(answer);
        }
        let resources = self.current().await?;
        let read = read.expect("`read` runs once, and has not");
        Ok(read(&resources))
    }

    /// Drops the cached read (after a change on this instance).
    pub fn forget(&self) {
        self.cached.replace(Arc::new(None));
    }
}

/// The cached read, if it is at most `FRESHNESS` old.
fn fresh(cached: &Option<(Instant, Arc<Resources>)>) -> Option<&Arc<Resources>> {
    cached
        .as_ref()
        .filter(|(read_at, _)| read_at.elapsed() < FRESHNESS)
        .map(|(_, resources)| resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(uri: &str, scopes: &str) -> RegisteredResource {
        RegisteredResource {
            uri: ResourceUri::parse(uri).unwrap(),
            scopes: ScopeSet::parse(scopes).unwrap(),
            created_at: 0,
        }
    }

    #[test]
    fn tokens_carry_only_their_audiences_scopes() {
        let resources = Resources::new(vec![
            resource("https://items", "items:read items:write"),
            resource("https://billing", "billing:read"),
        ]);
        let asked = ScopeSet::parse("openid items:read billing:read").unwrap();
        let items = [ResourceUri::parse("https://items").unwrap()];

        let for_items = resources.grant(asked.clone(), &items, "https://authd");
        assert_eq!(for_items.scope.to_string(), "items:read");
        assert_eq!(for_items.audience, Audience::One("https://items".into()));

        let for_none = resources.grant(asked.clone(), &[], "https://authd");
        assert_eq!(for_none.scope.to_string(), "openid");
        assert_eq!(for_none.audience, Audience::One("https://authd".into()));

        let both = [
            items[0].clone(),
            ResourceUri::parse("https://billing").unwrap(),
        ];
        let for_both = resources.grant(asked.clone(), &both, "https://authd");
        assert_eq!(for_both.scope.to_string(), "billing:read items:read");
        assert!(matches!(for_both.audience, Audience::Many(ref many) if many.len() == 2));
    }
}
