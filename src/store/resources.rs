//! Registered resources (RFC 8707) and the scopes each claims; which resources each client may
//! ask for.

use super::delegation::guard_client_change;
use super::{BeginWrite, Store, StoreError, with_pool, with_write};
use crate::domain::{Authority, ClientId, ResourceUri, ScopeSet};

/// A registered resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredResource {
    /// Its indicator.
    pub uri: ResourceUri,
    /// The scopes it claims: tokens for it carry only these, other tokens never.
    pub scopes: ScopeSet,
    /// Unix time of registration.
    pub created_at: i64,
}

/// Space-delimited, as stored (resource URIs contain no spaces).
pub(super) fn joined_resources(resources: &[ResourceUri]) -> String {
    resources
        .iter()
        .map(ResourceUri::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The stored list back.
pub(super) fn parse_resources(stored: &str) -> Result<Vec<ResourceUri>, StoreError> {
    stored
        .split_whitespace()
        .map(ResourceUri::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored resource is invalid: {e}")))
}

impl Store {
    /// Every registered resource, ordered by URI.
    pub async fn list_resources(&self) -> Result<Vec<RegisteredResource>, StoreError> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, pool =>
            sqlx::query_as(r"select uri, scopes, created_at from resources order by uri")
                .fetch_all(pool)
                .await)?;
        rows.into_iter()
            .map(|(uri, scopes, created_at)| {
                let corrupt =
                    |e| StoreError::Other(anyhow::anyhow!("stored resource is invalid: {e}"));
                Ok(RegisteredResource {
                    uri: ResourceUri::parse(&uri).map_err(corrupt)?,
                    scopes: ScopeSet::parse(&scopes).map_err(corrupt)?,
                    created_at,
                })
            })
            .collect()
    }

    /// Registers a resource, or replaces the scopes it claims.
    pub async fn put_resource(
        &self,
        uri: &ResourceUri,
        scopes: &ScopeSet,
        now: i64,
    ) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(
                r"insert into resources (uri, scopes, created_at) values ($1, $2, $3)
                  on conflict (uri) do update set scopes = excluded.scopes",
            )
            .bind(uri.as_str())
            .bind(scopes.to_string())
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Removes a resource; returns whether it existed. Clients keep it in their lists: tokens
    /// for it then carry no scopes.
    pub async fn delete_resource(&self, uri: &ResourceUri) -> Result<bool, StoreError> {
        let deleted = with_write!(self, pool =>
            sqlx::query(r"delete from resources where uri = $1")
                .bind(uri.as_str())
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(deleted > 0)
    }

    /// Replaces the resources a client may ask for. An API caller must hold every admin scope
    /// the client holds.
    pub async fn set_client_resources(
        &self,
        client_id: &ClientId,
        resources: &[ResourceUri],
        authority: &Authority,
    ) -> Result<(), StoreError> {
        let updated = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            guard_client_change(&mut *tx, authority, client_id.as_str()).await?;
            let updated = sqlx::query(r"update clients set resources = $2 where client_id = $1")
                .bind(client_id.as_str())
                .bind(joined_resources(resources))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, StoreError>(updated)
        }.await)?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!(
                "client {client_id} does not exist"
            )));
        }
        Ok(())
    }
}
