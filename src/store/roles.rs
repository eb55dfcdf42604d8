//! Roles and the scopes they grant.

use super::delegation::{guard_role_change, keep_a_full_admin};
use super::{BeginWrite, Role, Store, StoreError, with_pool};
use crate::domain::{Authority, RoleName, Scope, ScopeSet};

impl Store {
    /// Creates the role or replaces its scopes and whether it demands a second factor, as the
    /// operator.
    pub async fn set_role(
        &self,
        name: &RoleName,
        scopes: &ScopeSet,
        require_mfa: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        self.set_role_as(name, scopes, require_mfa, now, &Authority::Operator)
            .await
    }

    /// Creates the role or replaces everything about it: its scopes and whether its holders
    /// must sign in with a second factor. An API caller must hold every admin scope the role
    /// grants before and after, and may not take the last full admin's scopes away.
    pub async fn set_role_as(
        &self,
        name: &RoleName,
        scopes: &ScopeSet,
        require_mfa: bool,
        now: i64,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            // Clearing require_mfa weakens the role as much as changing its scopes does: the same
            // guard covers both, as they change in one statement.
            let full_admins = guard_role_change(&mut *tx, authority, name, Some(scopes)).await?;
            sqlx::query(
                r"insert into roles (name, created_at, require_mfa) values ($1, $2, $3)
                  on conflict (name) do update set require_mfa = excluded.require_mfa",
            )
            .bind(name.as_str())
            .bind(now)
            .bind(require_mfa)
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

    /// Every role with its scopes and second-factor policy, ordered by name.
    pub async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows: Vec<(String, bool, Option<String>)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select r.name, r.require_mfa, rs.scope from roles r
                  left join role_scopes rs on rs.role_name = r.name
                  order by r.name, rs.scope",
            )
            .fetch_all(pool)
            .await)?;
        let mut roles: Vec<(String, bool, Vec<Scope>)> = Vec::new();
        for (name, require_mfa, scope) in rows {
            if roles.last().is_none_or(|(last, _, _)| *last != name) {
                roles.push((name, require_mfa, Vec::new()));
            }
            if let (Some(scope), Some((_, _, scopes))) = (scope, roles.last_mut()) {
                let scope = Scope::parse(&scope).map_err(|e| {
                    StoreError::Other(anyhow::anyhow!("stored scope is invalid: {e}"))
                })?;
                scopes.push(scope);
            }
        }
        Ok(roles
            .into_iter()
            .map(|(name, require_mfa, scopes)| Role {
                name,
                scopes: scopes.into_iter().collect(),
                require_mfa,
            })
            .collect())
    }
}
