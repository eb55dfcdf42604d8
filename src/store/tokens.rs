//! Refresh-token families (by hashes) and revoked access tokens (by `jti`).

use sqlx::FromRow;

use super::{
    RefreshFamily, RefreshRotation, RotateOutcome, Store, StoreError, with_pool, with_write,
};

#[derive(FromRow)]
pub(super) struct FamilyRow {
    id: String,
    generation: i64,
    current_hash: String,
    client_id: String,
    client_registration: String,
    user_id: String,
    user_generation: i64,
    scope: String,
    issued_at: i64,
    expires_at: i64,
    session_handle: Option<String>,
    offline: bool,
    auth_time: Option<i64>,
    amr: Option<String>,
    resources: String,
    dpop_jkt: Option<String>,
}

impl From<FamilyRow> for RefreshFamily {
    fn from(row: FamilyRow) -> Self {
        Self {
            id: row.id,
            generation: row.generation,
            current_hash: row.current_hash,
            client_id: row.client_id,
            client_registration: row.client_registration,
            user_id: row.user_id,
            user_generation: row.user_generation,
            scope: row.scope,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            session_handle: row.session_handle,
            offline: row.offline,
            auth_time: row.auth_time,
            amr: row.amr,
            resources: row.resources,
            dpop_jkt: row.dpop_jkt,
        }
    }
}

pub(super) const FAMILY_COLUMNS: &str = "id, generation, current_hash, client_id, client_registration, \
                              user_id, user_generation, scope, issued_at, expires_at, \
                              session_handle, offline, auth_time, amr, resources, dpop_jkt";

impl Store {
    /// Stores the first token of a new family (with the sign-in it came from); `family_hash`
    /// is the hash of its family secret.
    pub async fn insert_refresh_family(
        &self,
        family: &RefreshFamily,
        family_hash: &str,
    ) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(
                r"insert into refresh_families
                    (id, family_hash, current_hash, generation, client_id, client_registration,
                     user_id, user_generation, scope, issued_at, expires_at, auth_time, amr,
                     resources, dpop_jkt)
                  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&family.id)
            .bind(family_hash)
            .bind(&family.current_hash)
            .bind(family.generation)
            .bind(&family.client_id)
            .bind(&family.client_registration)
            .bind(&family.user_id)
            .bind(family.user_generation)
            .bind(&family.scope)
            .bind(family.issued_at)
            .bind(family.expires_at)
            .bind(family.auth_time)
            .bind(&family.amr)
            .bind(&family.resources)
            .bind(&family.dpop_jkt)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// The family whose current token has this hash.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        self.find_family_by("current_hash", token_hash).await
    }

    /// The family whose secret has this hash (to recognise an old token of it).
    pub async fn find_refresh_family_by_secret(
        &self,
        family_hash: &str,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        self.find_family_by("family_hash", family_hash).await
    }

    /// The family carried over from before migration 0005 whose last token without a family
    /// secret had this hash (to recognise a replay of it as reuse).
    pub async fn find_legacy_refresh_family(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        self.find_family_by("legacy_hash", token_hash).await
    }

    async fn find_family_by(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let sql = format!("select {FAMILY_COLUMNS} from refresh_families where {column} = $1");
        let row: Option<FamilyRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(value).fetch_optional(pool).await)?;
        Ok(row.map(RefreshFamily::from))
    }

    /// Replaces a family's current token with its successor, in one conditional statement.
    ///
    /// It succeeds only while the exchanged token is still current, unexpired, and its user is
    /// enabled at the generation the family was issued under. A revocation deletes the row and a
    /// concurrent exchange moves the generation on, so whichever of two racing writers comes
    /// second finds nothing to update (PostgreSQL re-checks the row it waited for).
    pub async fn rotate_refresh_token(
        &self,
        rotation: &RefreshRotation<'_>,
    ) -> Result<RotateOutcome, StoreError> {
        let updated = with_write!(self, pool =>
            sqlx::query(
                r"update refresh_families
                  set legacy_hash = case when family_hash is null then current_hash
                                         else legacy_hash end,
                      previous_hash = current_hash, successor_sealed = $8, retry_until = $9,
                      current_hash = $4, family_hash = $5, generation = generation + 1,
                      issued_at = $6, expires_at = $7
                  where id = $1 and generation = $2 and current_hash = $3 and expires_at > $6
                    and exists (select 1 from users u
                                where u.id = refresh_families.user_id and not u.disabled
                                  and u.token_generation = refresh_families.user_generation)",
            )
            .bind(rotation.family_id)
            .bind(rotation.generation)
            .bind(rotation.current_hash)
            .bind(rotation.next_hash)
            .bind(rotation.family_hash)
            .bind(rotation.now)
            .bind(rotation.expires_at)
            .bind(rotation.retry.as_ref().map(|(sealed, _)| sealed.as_str()))
            .bind(rotation.retry.as_ref().map(|(_, until)| *until))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(if updated == 1 {
            RotateOutcome::Rotated
        } else {
            RotateOutcome::NotCurrent
        })
    }

    /// Deletes a rotation family; returns whether it existed.
    pub async fn revoke_refresh_family(&self, family_id: &str) -> Result<bool, StoreError> {
        let deleted = with_write!(self, pool =>
            sqlx::query(r"delete from refresh_families where id = $1")
                .bind(family_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(deleted > 0)
    }

    /// Remembers a revoked access token until it would have expired.
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(
                r"insert into revoked_access_tokens (jti, expires_at, revoked_at_ms) values ($1, $2, $3)
                  on conflict (jti) do nothing",
            )
            .bind(jti)
            .bind(expires_at)
            .bind(crate::clock::unix_now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Whether the access token with `jti` was revoked (and its record not yet swept).
    pub async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = with_pool!(self, pool =>
            sqlx::query_as(r"select jti from revoked_access_tokens where jti = $1")
                .bind(jti)
                .fetch_optional(pool)
                .await)?;
        Ok(row.is_some())
    }
}
