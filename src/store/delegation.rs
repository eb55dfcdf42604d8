//! The delegation rule inside the transactions that change users, roles and clients.
//!
//! Every change that can alter who holds admin scopes takes one lock first, then checks the rule
//! against what is committed, so two checks can never both pass on the same old state: two full
//! admins removing each other at once cannot leave none. SQLite needs no extra lock: `BEGIN
//! IMMEDIATE` already holds the database's write lock. PostgreSQL takes a transaction advisory
//! lock, released at commit or rollback.

use std::future::Future;
use std::sync::LazyLock;

use super::StoreError;
use crate::domain::{
    ADMIN_SCOPES, Authority, Refusal, RoleName, Scope, ScopeSet, require_admin_scopes,
};

/// The advisory lock (two-key form, a key space of its own) for admin changes on PostgreSQL.
const PG_ADMIN_LOCK: (i32, i32) = (0x6175_7468, 7);

/// Enabled users whose roles grant every admin scope; `$1` is `false`, then the admin scopes.
static FULL_ADMIN_COUNT: LazyLock<String> = LazyLock::new(|| {
    let binds: Vec<String> = (2..ADMIN_SCOPES.len() + 2)
        .map(|i| format!("${i}"))
        .collect();
    format!(
        r"select count(*) from users u
          where u.disabled = $1
            and (select count(distinct rs.scope) from user_roles ur
                   join role_scopes rs on rs.role_name = ur.role_name
                  where ur.user_id = u.id and rs.scope in ({})) = {}",
        binds.join(", "),
        ADMIN_SCOPES.len()
    )
});

/// Queries the guard runs on the connection of the change's own transaction.
pub(super) trait AdminGuard {
    /// Serialises admin changes until the transaction ends.
    fn lock_admin_changes(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The scopes a user's roles grant now, whether or not the user is enabled.
    fn user_scopes(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = Result<ScopeSet, StoreError>> + Send;

    /// The scopes an enabled user's roles grant now; empty for a disabled or deleted user.
    fn enabled_user_scopes(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = Result<ScopeSet, StoreError>> + Send;

    /// The union of the scopes these roles grant (roles that do not exist grant nothing).
    fn role_scopes(
        &mut self,
        roles: &[RoleName],
    ) -> impl Future<Output = Result<ScopeSet, StoreError>> + Send;

    /// A registered client's scopes.
    fn client_scopes(
        &mut self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ScopeSet>, StoreError>> + Send;

    /// How many enabled users hold every admin scope.
    fn count_full_admins(&mut self) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

fn parse_scopes(rows: Vec<(String,)>) -> Result<ScopeSet, StoreError> {
    rows.into_iter()
        .map(|(scope,)| Scope::parse(&scope))
        .collect::<Result<ScopeSet, _>>()
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored scope is invalid: {e}")))
}

/// Implements the shared queries for one driver's connection; `$lock` is its lock statement.
macro_rules! admin_guard {
    ($connection:ty, $lock:expr) => {
        impl AdminGuard for $connection {
            async fn lock_admin_changes(&mut self) -> Result<(), StoreError> {
                let lock: Option<&str> = $lock;
                if let Some(sql) = lock {
                    sqlx::query(sql)
                        .bind(PG_ADMIN_LOCK.0)
                        .bind(PG_ADMIN_LOCK.1)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(())
            }

            async fn user_scopes(&mut self, user_id: &str) -> Result<ScopeSet, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    r"select distinct rs.scope from user_roles ur
                      join role_scopes rs on rs.role_name = ur.role_name
                      where ur.user_id = $1",
                )
                .bind(user_id)
                .fetch_all(&mut *self)
                .await?;
                parse_scopes(rows)
            }

            async fn enabled_user_scopes(&mut self, user_id: &str) -> Result<ScopeSet, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    r"select distinct rs.scope from users u
                      join user_roles ur on ur.user_id = u.id
                      join role_scopes rs on rs.role_name = ur.role_name
                      where u.id = $1 and u.disabled = $2",
                )
                .bind(user_id)
                .bind(false)
                .fetch_all(&mut *self)
                .await?;
                parse_scopes(rows)
            }

            async fn role_scopes(&mut self, roles: &[RoleName]) -> Result<ScopeSet, StoreError> {
                let mut rows = Vec::new();
                for role in roles {
                    let granted: Vec<(String,)> =
                        sqlx::query_as(r"select scope from role_scopes where role_name = $1")
                            .bind(role.as_str())
                            .fetch_all(&mut *self)
                            .await?;
                    rows.extend(granted);
                }
                parse_scopes(rows)
            }

            async fn client_scopes(
                &mut self,
                client_id: &str,
            ) -> Result<Option<ScopeSet>, StoreError> {
                let row: Option<(String,)> =
                    sqlx::query_as(r"select scopes from clients where client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&mut *self)
                        .await?;
                row.map(|(scopes,)| {
                    ScopeSet::parse(&scopes).map_err(|e| {
                        StoreError::Other(anyhow::anyhow!("stored client is invalid: {e}"))
                    })
                })
                .transpose()
            }

            async fn count_full_admins(&mut self) -> Result<i64, StoreError> {
                let mut query = sqlx::query_as(FULL_ADMIN_COUNT.as_str()).bind(false);
                for scope in ADMIN_SCOPES {
                    query = query.bind(scope);
                }
                let (count,): (i64,) = query.fetch_one(&mut *self).await?;
                Ok(count)
            }
        }
    };
}

admin_guard!(
    sqlx::PgConnection,
    Some(r"select pg_advisory_xact_lock($1, $2)")
);
admin_guard!(sqlx::SqliteConnection, None);

/// The admin scopes `authority` may grant or act on, read inside the change's transaction;
/// `None` for the operator. A user's token counts only as far as their current roles reach, so a
/// demoted admin's unexpired token cannot restore what was taken away.
async fn held_by<C: AdminGuard + Send>(
    connection: &mut C,
    authority: &Authority,
) -> Result<Option<ScopeSet>, StoreError> {
    match authority {
        Authority::Operator => Ok(None),
        Authority::Caller {
            scopes,
            user_id: None,
        } => Ok(Some(scopes.clone())),
        Authority::Caller {
            scopes,
            user_id: Some(id),
        } => Ok(Some(
            scopes.intersection(&connection.enabled_user_scopes(id).await?),
        )),
    }
}

fn refuse(result: Result<(), Refusal>) -> Result<(), StoreError> {
    result.map_err(StoreError::Refused)
}

/// Full admins counted before a change that may remove one; `None` when nothing is guarded.
#[must_use = "pass it to keep_a_full_admin before committing"]
pub(super) struct FullAdmins(Option<i64>);

/// Counts full admins before an API change that `may_remove` one (the operator is not guarded).
async fn full_admins_before<C: AdminGuard + Send>(
    connection: &mut C,
    authority: &Authority,
    may_remove: bool,
) -> Result<FullAdmins, StoreError> {
    if matches!(authority, Authority::Operator) || !may_remove {
        return Ok(FullAdmins(None));
    }
    Ok(FullAdmins(Some(connection.count_full_admins().await?)))
}

/// Refuses (the caller rolls back) a change that took the last full admin away. Where there was
/// none to begin with, there is nothing to keep.
pub(super) async fn keep_a_full_admin<C: AdminGuard + Send>(
    connection: &mut C,
    before: FullAdmins,
) -> Result<(), StoreError> {
    match before.0 {
        Some(before) if before > 0 && connection.count_full_admins().await? == 0 => {
            Err(StoreError::Refused(Refusal::LastFullAdmin))
        }
        _ => Ok(()),
    }
}

/// Locks, then checks a change to a user: the caller must hold every admin scope the user holds
/// and every one the new roles grant.
pub(super) async fn guard_user_change<C: AdminGuard + Send>(
    connection: &mut C,
    authority: &Authority,
    user: (&str, &str),
    new_roles: Option<&[RoleName]>,
    may_remove: bool,
) -> Result<FullAdmins, StoreError> {
    let (user_id, username) = user;
    connection.lock_admin_changes().await?;
    let held = held_by(connection, authority).await?;
    if let Some(held) = &held {
        let holds = connection.user_scopes(user_id).await?;
        refuse(require_admin_scopes(
            Some(held),
            &holds,
            format_args!("user {username} holds"),
        ))?;
        if let Some(roles) = new_roles {
            let grants = connection.role_scopes(roles).await?;
            let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
            refuse(require_admin_scopes(
                Some(held),
                &grants,
                format_args!("roles {} grant", names.join(", ")),
            ))?;
        }
    }
    full_admins_before(connection, authority, may_remove).await
}

/// Locks, then checks a change to a role: the caller must hold every admin scope it grants now
/// and every one it will grant (`None` when the role is deleted).
pub(super) async fn guard_role_change<C: AdminGuard + Send>(
    connection: &mut C,
    authority: &Authority,
    role: &RoleName,
    new_scopes: Option<&ScopeSet>,
) -> Result<FullAdmins, StoreError> {
    connection.lock_admin_changes().await?;
    let held = held_by(connection, authority).await?;
    if let Some(held) = &held {
        let grants = connection.role_scopes(std::slice::from_ref(role)).await?;
        refuse(require_admin_scopes(
            Some(held),
            &grants,
            format_args!("role {role} grants"),
        ))?;
        if let Some(scopes) = new_scopes {
            refuse(require_admin_scopes(
                Some(held),
                scopes,
                format_args!("the new scopes of role {role} include"),
            ))?;
        }
    }
    full_admins_before(connection, authority, true).await
}

/// Locks, then checks a change to a client: the caller must hold every admin scope it holds.
/// A client that does not exist passes; the change itself reports it.
pub(super) async fn guard_client_change<C: AdminGuard + Send>(
    connection: &mut C,
    authority: &Authority,
    client_id: &str,
) -> Result<(), StoreError> {
    connection.lock_admin_changes().await?;
    let held = held_by(connection, authority).await?;
    if let (Some(held), Some(holds)) = (&held, connection.client_scopes(client_id).await?) {
        refuse(require_admin_scopes(
            Some(held),
            &holds,
            format_args!("client {client_id} holds"),
        ))?;
    }
    Ok(())
}

/// Checks a grant of roles (`roles`) or scopes (`scopes`) to a new user or client.
pub(super) async fn guard_grant<C: AdminGuard + Send>(
    connection: &mut C,
    authority: &Authority,
    roles: &[RoleName],
    scopes: &ScopeSet,
) -> Result<(), StoreError> {
    let Some(held) = held_by(connection, authority).await? else {
        return Ok(());
    };
    if !roles.is_empty() {
        let grants = connection.role_scopes(roles).await?;
        let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
        refuse(require_admin_scopes(
            Some(&held),
            &grants,
            format_args!("roles {} grant", names.join(", ")),
        ))?;
    }
    refuse(require_admin_scopes(
        Some(&held),
        scopes,
        "the scopes asked for include",
    ))
}

impl super::Store {
    /// Refuses unless `authority` holds every admin scope that `roles` (for a new user) and
    /// `scopes` (for a new client) grant. Nothing else can be granted yet, so no lock is needed:
    /// a role widened meanwhile is as if widened just after.
    pub async fn authorize_grant(
        &self,
        authority: &Authority,
        roles: &[RoleName],
        scopes: &ScopeSet,
    ) -> Result<(), StoreError> {
        if matches!(authority, Authority::Operator) {
            return Ok(());
        }
        super::with_pool!(self, pool => async {
            let mut connection = pool.acquire().await?;
            guard_grant(&mut *connection, authority, roles, scopes).await
        }.await)
    }
}
