//! Queries behind the admin API: filtered pages, updates and deletions.

use super::delegation::{
    guard_client_change, guard_role_change, guard_user_change, keep_a_full_admin,
};
use super::{
    BeginWrite, Client, SessionEnding, SessionSelection, Store, StoreError, User, end_sessions_in,
    with_pool,
};
use crate::credentials::PasswordHash;
use crate::domain::{Authority, ClientId, RoleName, Username};

/// Which users to list.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// Only holders of this role.
    pub role: Option<String>,
    /// Only users with this disabled flag.
    pub disabled: Option<bool>,
}

/// A slice of a longer list.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// At most this many items.
    pub limit: i64,
    /// Skipping this many.
    pub offset: i64,
}

/// Items of one page and the size of the whole list.
#[derive(Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// How many there are in all.
    pub total: i64,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// New email (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// New full name (`Some(None)` clears it).
    pub full_name: Option<Option<String>>,
    /// Replace the roles.
    pub roles: Option<Vec<RoleName>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<PasswordHash>,
}

impl UserChanges {
    /// Which fields change, for the audit trail (never values of secrets).
    pub fn describe(&self) -> String {
        let mut fields = Vec::new();
        if self.email.is_some() {
            fields.push("email".to_owned());
        }
        if self.full_name.is_some() {
            fields.push("full_name".to_owned());
        }
        if let Some(roles) = &self.roles {
            let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
            fields.push(format!("roles={}", names.join(",")));
        }
        if let Some(disabled) = self.disabled {
            fields.push(format!("disabled={disabled}"));
        }
        if self.password_hash.is_some() {
            fields.push("password".to_owned());
        }
        fields.join(" ")
    }
}

const USER_FILTER: &str = r"($1 is null or exists (select 1 from user_roles ur
                                where ur.user_id = users.id and ur.role_name = $1))
                            and ($2 is null or disabled = $2)";

impl Store {
    /// One page of users matching `filter`, ordered by username.
    pub async fn list_users_page(
        &self,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let ids_sql = format!(
            "select id from users where {USER_FILTER} order by username limit $3 offset $4"
        );
        let count_sql = format!("select count(*) from users where {USER_FILTER}");
        let ids: Vec<(String,)> = with_pool!(self, pool =>
            sqlx::query_as(&ids_sql)
                .bind(&filter.role)
                .bind(filter.disabled)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(pool)
                .await)?;
        let (total,): (i64,) = with_pool!(self, pool =>
            sqlx::query_as(&count_sql)
                .bind(&filter.role)
                .bind(filter.disabled)
                .fetch_one(pool)
                .await)?;
        let mut items = Vec::with_capacity(ids.len());
        for (id,) in ids {
            if let Some(user) = self.find_user_by_id(&id).await? {
                items.push(user);
            }
        }
        Ok(Page { items, total })
    }

    /// The user with this username (without the hash).
    pub async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self
            .find_user_login(username)
            .await?
            .map(|login| login.user))
    }

    /// Applies `changes` in one transaction; a new password or disabling ends the user's sessions.
    /// An API caller must hold every admin scope the user holds and the new roles grant, and may
    /// not disable or demote the last full admin.
    pub async fn update_user(
        &self,
        username: &Username,
        changes: &UserChanges,
        now: i64,
        authority: &Authority,
    ) -> Result<User, StoreError> {
        let Some(user) = self.find_user(username).await? else {
            return Err(StoreError::NotFound(format!(
                "user {username} does not exist"
            )));
        };
        let ends_sessions = changes.password_hash.is_some() || changes.disabled == Some(true);
        let may_remove_admin = changes.roles.is_some() || changes.disabled == Some(true);
        let lock = self.row_lock();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let full_admins = guard_user_change(
                &mut *tx, authority, (&user.id, &user.username), changes.roles.as_deref(), may_remove_admin,
            ).await?;
            if let Some(email) = &changes.email {
                sqlx::query(r"update users set email = $2 where id = $1")
                    .bind(&user.id).bind(email).execute(&mut *tx).await?;
            }
            if let Some(full_name) = &changes.full_name {
                sqlx::query(r"update users set full_name = $2 where id = $1")
                    .bind(&user.id).bind(full_name).execute(&mut *tx).await?;
            }
            if let Some(disabled) = changes.disabled {
                sqlx::query(r"update users set disabled = $2 where id = $1")
                    .bind(&user.id).bind(disabled).execute(&mut *tx).await?;
            }
            if let Some(hash) = &changes.password_hash {
                sqlx::query(r"update users set password_hash = $2 where id = $1")
                    .bind(&user.id).bind(hash.as_str()).execute(&mut *tx).await?;
            }
            if let Some(roles) = &changes.roles {
                for role in roles {
                    let found: Option<(String,)> =
                        sqlx::query_as(r"select name from roles where name = $1")
                            .bind(role.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                    if found.is_none() {
                        return Err(StoreError::UnknownReference(format!("role {role} does not exist")));
                    }
                }
                sqlx::query(r"delete from user_roles where user_id = $1")
                    .bind(&user.id).execute(&mut *tx).await?;
                for role in roles {
                    sqlx::query(r"insert into user_roles (user_id, role_name) values ($1, $2)")
                        .bind(&user.id).bind(role.as_str()).execute(&mut *tx).await?;
                }
            }
            if ends_sessions {
                sqlx::query(r"update users set token_generation = token_generation + 1 where id = $1")
                    .bind(&user.id).execute(&mut *tx).await?;
                sqlx::query(r"delete from refresh_families where user_id = $1")
                    .bind(&user.id).execute(&mut *tx).await?;
                // Browser sessions end as every session does (their clients are told), and
                // unredeemed codes too. The new generation already ends their access tokens.
                let ending = SessionEnding { now_ms: crate::clock::unix_now_ms(), revoke_access_until: None };
                end_sessions_in!(tx, lock, SessionSelection::User(&user.id), ending).await?;
                sqlx::query(r"delete from authorization_codes where user_id = $1")
                    .bind(&user.id).execute(&mut *tx).await?;
            }
            sqlx::query(r"update users set updated_at = $2 where id = $1")
                .bind(&user.id).bind(now).execute(&mut *tx).await?;
            keep_a_full_admin(&mut *tx, full_admins).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)?;
        self.find_user_by_id(&user.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {username} does not exist")))
    }

    /// Deletes a user, their role assignments and refresh tokens. An API caller must hold every
    /// admin scope the user holds, and may not delete the last full admin.
    pub async fn delete_user(
        &self,
        username: &Username,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        let lock = self.row_lock();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let found: Option<(String,)> = sqlx::query_as(r"select id from users where username = $1")
                .bind(username.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let Some((id,)) = found else {
                return Err(StoreError::NotFound(format!("user {username} does not exist")));
            };
            let full_admins =
                guard_user_change(&mut *tx, authority, (&id, username.as_str()), None, true).await?;
            // Before the user row goes (the sessions would cascade away unannounced): their
            // clients are told; the user's deletion already ends every token.
            let ending = SessionEnding { now_ms: crate::clock::unix_now_ms(), revoke_access_until: None };
            end_sessions_in!(tx, lock, SessionSelection::User(&id), ending).await?;
            let deleted = sqlx::query(r"delete from users where id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("user {username} does not exist")));
            }
            keep_a_full_admin(&mut *tx, full_admins).await?;
            tx.commit().await?;
            Ok(())
        }.await)
    }

    /// Checks that `authority` may act on this user's sessions and consents: an API caller must
    /// hold every admin scope the user holds (the rule for changing the user). Ending sessions or
    /// revoking consents grants nothing, so acting after this check cannot widen anyone's access.
    pub async fn may_act_on_user(
        &self,
        user_id: &str,
        username: &str,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let full_admins =
                guard_user_change(&mut *tx, authority, (user_id, username), None, false).await?;
            keep_a_full_admin(&mut *tx, full_admins).await?;
            tx.commit().await?;
            Ok(())
        }.await)
    }

    /// Deletes a role; refused while users hold it unless `force`. An API caller must hold every
    /// admin scope the role grants, and may not take the last full admin's scopes away.
    pub async fn delete_role(
        &self,
        name: &RoleName,
        force: bool,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let full_admins = guard_role_change(&mut *tx, authority, name, None).await?;
            let (holders,): (i64,) =
                sqlx::query_as(r"select count(*) from user_roles where role_name = $1")
                    .bind(name.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            if holders > 0 && !force {
                return Err(StoreError::Conflict(format!(
                    "role {name} is held by {holders} user(s); use force=true to delete it anyway"
                )));
            }
            let deleted = sqlx::query(r"delete from roles where name = $1")
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("role {name} does not exist")));
            }
            keep_a_full_admin(&mut *tx, full_admins).await?;
            tx.commit().await?;
            Ok(())
        }.await)
    }

    /// Replaces a client's secret hash; the old secret stops working at once. An API caller must
    /// hold every admin scope the client holds.
    pub async fn set_client_secret(
        &self,
        client_id: &ClientId,
        secret_hash: &str,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            guard_client_change(&mut *tx, authority, client_id.as_str()).await?;
            let updated = sqlx::query(
                r"update clients set secret_hash = $2 where client_id = $1 and secret_hash is not null",
            )
            .bind(client_id.as_str())
            .bind(secret_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Err(StoreError::NotFound(format!(
                    "confidential client {client_id} does not exist"
                )));
            }
            tx.commit().await?;
            Ok(())
        }.await)
    }

    /// Deletes a client and the refresh tokens issued to it. An API caller must hold every admin
    /// scope the client holds.
    pub async fn delete_client(
        &self,
        client_id: &ClientId,
        authority: &Authority,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            guard_client_change(&mut *tx, authority, client_id.as_str()).await?;
            let deleted = sqlx::query(r"delete from clients where client_id = $1")
                .bind(client_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("client {client_id} does not exist")));
            }
            sqlx::query(r"delete from refresh_families where client_id = $1")
                .bind(client_id.as_str())
                .execute(&mut *tx)
                .await?;
            for table in ["consents", "authorization_codes"] {
                sqlx::query(&format!("delete from {table} where client_id = $1"))
                    .bind(client_id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }.await)
    }

    /// One page of clients, ordered by client_id.
    pub async fn list_clients_page(&self, page: PageRequest) -> Result<Page<Client>, StoreError> {
        let all = self.list_clients().await?;
        Ok(paginate(all, page))
    }
}

/// Cuts a page out of a full list (for small tables: roles and clients).
pub fn paginate<T>(all: Vec<T>, page: PageRequest) -> Page<T> {
    let total = all.len() as i64;
    let items = all
        .into_iter()
        .skip(page.offset.max(0) as usize)
        .take(page.limit.max(0) as usize)
        .collect();
    Page { items, total }
}
