//! Users and their role assignments.

use std::collections::HashMap;

use sqlx::FromRow;

use super::{
    BeginWrite, NewUser, Store, StoreError, User, UserChanges, UserLogin, conflict_on_unique,
    with_pool, with_write,
};
use crate::credentials::PasswordHash;
use crate::domain::{Authority, Scope, ScopeSet, Username};

#[derive(FromRow)]
struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    full_name: Option<String>,
    disabled: bool,
    password_hash: String,
    token_generation: i64,
    created_at: i64,
    updated_at: i64,
}

impl UserRow {
    fn into_user(self, roles: Vec<String>) -> (User, PasswordHash) {
        let password_hash = PasswordHash::from_stored(self.password_hash);
        let user = User {
            password_scheme: password_hash.scheme(),
            id: self.id,
            username: self.username,
            email: self.email,
            full_name: self.full_name,
            disabled: self.disabled,
            roles,
            token_generation: self.token_generation,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        (user, password_hash)
    }
}

const USER_COLUMNS: &str = "id, username, email, full_name, disabled, password_hash, \
                            token_generation, created_at, updated_at";

impl Store {
    /// Creates a user with roles; every role must exist and the username must be free.
    pub async fn create_user(&self, new: &NewUser, now: i64) -> Result<User, StoreError> {
        let ids = self.insert_users(std::slice::from_ref(new), now).await?;
        self.find_user_by_id(&ids[0])
            .await?
            .ok_or_else(|| StoreError::NotFound("user vanished after creation".into()))
    }

    /// Creates every user in one transaction, all or nothing (CLI import); returns their ids.
    pub async fn insert_users(
        &self,
        users: &[NewUser],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = users
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            for (new, id) in users.iter().zip(&ids) {
                sqlx::query(
                    r"insert into users (id, username, email, full_name, disabled, password_hash,
                                         token_generation, created_at, updated_at)
                      values ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                )
                .bind(id)
                .bind(new.username.as_str())
                .bind(&new.email)
                .bind(&new.full_name)
                .bind(new.disabled)
                .bind(new.password_hash.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, &format!("user {} already exists", new.username)))?;
                for role in &new.roles {
                    // The foreign key is the existence check: one statement, no race.
                    sqlx::query(r"insert into user_roles (user_id, role_name) values ($1, $2)")
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| match &e {
                            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                                StoreError::UnknownReference(format!("role {role} does not exist"))
                            }
                            _ => e.into(),
                        })?;
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)?;
        Ok(ids)
    }

    /// The user with this username and their password hash.
    pub async fn find_user_login(
        &self,
        username: &Username,
    ) -> Result<Option<UserLogin>, StoreError> {
        let sql = format!("select {USER_COLUMNS} from users where username = $1");
        let row: Option<UserRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(username.as_str()).fetch_optional(pool).await)?;
        let Some(row) = row else { return Ok(None) };
        let roles = self.roles_of(&row.id).await?;
        let (user, password_hash) = row.into_user(roles);
        Ok(Some(UserLogin {
            user,
            password_hash,
        }))
    }

    /// The user with this id.
    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("select {USER_COLUMNS} from users where id = $1");
        let row: Option<UserRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        let Some(row) = row else { return Ok(None) };
        let roles = self.roles_of(&row.id).await?;
        Ok(Some(row.into_user(roles).0))
    }

    /// Every user, ordered by username.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("select {USER_COLUMNS} from users order by username");
        let rows: Vec<UserRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        let assignments: Vec<(String, String)> = with_pool!(self, pool =>
            sqlx::query_as(r"select user_id, role_name from user_roles order by role_name")
                .fetch_all(pool)
                .await)?;
        let mut roles_by_user: HashMap<String, Vec<String>> = HashMap::new();
        for (user_id, role) in assignments {
            roles_by_user.entry(user_id).or_default().push(role);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let roles = roles_by_user.remove(&row.id).unwrap_or_default();
                row.into_user(roles).0
            })
            .collect())
    }

    /// Role names held by a user, sorted.
    async fn roles_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = with_pool!(self, pool =>
            sqlx::query_as(r"select role_name from user_roles where user_id = $1 order by role_name")
                .bind(user_id)
                .fetch_all(pool)
                .await)?;
        Ok(rows.into_iter().map(|(role,)| role).collect())
    }

    /// The union of the scopes granted by a user's roles.
    pub async fn scopes_of_user(&self, user_id: &str) -> Result<ScopeSet, StoreError> {
        let rows: Vec<(String,)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select distinct rs.scope from user_roles ur
                  join role_scopes rs on rs.role_name = ur.role_name
                  where ur.user_id = $1",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(scope,)| Scope::parse(&scope))
            .collect::<Result<ScopeSet, _>>()
            .map_err(|e| StoreError::Other(anyhow::anyhow!("stored scope is invalid: {e}")))
    }

    /// Sets a new password hash, ending the user's sessions (refresh tokens, older access tokens).
    pub async fn set_password(
        &self,
        username: &Username,
        hash: &PasswordHash,
        now: i64,
    ) -> Result<(), StoreError> {
        let changes = UserChanges {
            password_hash: Some(hash.clone()),
            ..UserChanges::default()
        };
        self.update_user(username, &changes, now, &Authority::Operator)
            .await
            .map(drop)
    }

    /// Disables or enables a user; disabling ends their sessions.
    pub async fn set_disabled(
        &self,
        username: &Username,
        disabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let changes = UserChanges {
            disabled: Some(disabled),
            ..UserChanges::default()
        };
        self.update_user(username, &changes, now, &Authority::Operator)
            .await
            .map(drop)
    }

    /// Replaces a hash after a successful login (upgrade to current parameters); sessions stay.
    pub async fn upgrade_password_hash(
        &self,
        user_id: &str,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(r"update users set password_hash = $2 where id = $1")
                .bind(user_id)
                .bind(hash.as_str())
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(())
    }
}
