//! Roles and the scopes they grant.

use super::delegation::{guard_role_change, keep_a_full_admin};
use super::{BeginWrite, Role, Store, StoreError, with_pool};
use crate::domain::{Authority, RoleName, Scope, ScopeSet};

impl Store {
    /// Creates the role or replaces its scopes, as the operator.
    pub async fn set_role(
        &self,
        name: &RoleName,
        scopes: &ScopeSet,
        now: i64,
    ) -> Result<(), StoreError> {
        self.set_role_as(name, scopes, now, &Authority::Operator)
            .await
    }

    /// Creates the role or replaces its scopes. An API caller must hold every admin scope the
    /// role grants before and after, and may not take the last full admin's scopes away.
    pub async fn set_role_as(
        &self,
        name: &RoleName,
        scopes: &ScopeSet,
        now: i64,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let full_admins = guard_role_change(&mut *tx, authority, name, Some(scopes)).await?;
            sqlx::query(
                r"insert into roles (name, created_at) values ($1, $2)
                  on conflict (name) do nothing",
            )
            .bind(name.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(r"delete from role_scopes where role_name = $1")
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
            for scope in scopes.iter() {
                sqlx::query(r"insert into role_scopes (role_name, scope) values ($1, $2)")
                    .bind(name.as_str())
                    .bind(scope.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            keep_a_full_admin(&mut *tx, full_admins).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }

    /// Every role with its scopes, ordered by name.
    pub async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows: Vec<(String, Option<String>)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select r.name, rs.scope from roles r
                  left join role_scopes rs on rs.role_name = r.name
                  order by r.name, rs.scope",
            )
            .fetch_all(pool)
            .await)?;
        let mut roles: Vec<(String, Vec<Scope>)> = Vec::new();
        for (name, scope) in rows {
            if roles.last().is_none_or(|(last, _)| *last != name) {
                roles.push((name, Vec::new()));
            }
            if let (Some(scope), Some((_, scopes))) = (scope, roles.last_mut()) {
                let scope = Scope::parse(&scope).map_err(|e| {
                    StoreError::Other(anyhow::anyhow!("stored scope is invalid: {e}"))
                })?;
                scopes.push(scope);
            }
        }
        Ok(roles
            .into_iter()
            .map(|(name, scopes)| Role {
                name,
                scopes: scopes.into_iter().collect(),
            })
            .collect())
    }
}
