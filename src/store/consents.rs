//! What people approved: per user and client, the scopes granted so far.

use super::{BeginWrite, Store, StoreError, with_pool};
use crate::domain::ScopeSet;

/// A remembered consent.
#[derive(Debug, Clone)]
pub struct Consent {
    /// The client it was given to.
    pub client_id: String,
    /// The client's registration when it was given.
    pub client_registration: String,
    /// Scopes approved.
    pub scopes: ScopeSet,
    /// When it was last extended.
    pub granted_at: i64,
}

type ConsentRow = (String, String, String, i64);

fn consent_of(row: ConsentRow) -> Result<Consent, StoreError> {
    let (client_id, client_registration, scopes, granted_at) = row;
    Ok(Consent {
        client_id,
        client_registration,
        scopes: ScopeSet::parse(&scopes)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("stored consent is invalid: {e}")))?,
        granted_at,
    })
}

/// Where refresh families issued by the authorization code grant say they came from.
pub const CONSENTED_ORIGIN: &str = "authorization_code";

impl Store {
    /// The user's consent for this client, if any.
    pub async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<Consent>, StoreError> {
        let row: Option<ConsentRow> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select client_id, client_registration, scopes, granted_at from consents
                  where user_id = $1 and client_id = $2",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(pool)
            .await)?;
        row.map(consent_of).transpose()
    }

    /// Records approval of `scopes`: added to what this registration of the client already
    /// holds, replacing what an earlier registration held.
    pub async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        registration: &str,
        scopes: &ScopeSet,
        now: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let existing: Option<(String, String)> = sqlx::query_as(
                r"select client_registration, scopes from consents
                  where user_id = $1 and client_id = $2",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            let mut granted = scopes.clone();
            if let Some((held_registration, held)) = existing
                && held_registration == registration
                && let Ok(held) = ScopeSet::parse(&held)
            {
                granted = granted.union(&held);
            }
            sqlx::query(
                r"insert into consents (user_id, client_id, client_registration, scopes, granted_at)
                  values ($1, $2, $3, $4, $5)
                  on conflict (user_id, client_id) do update
                  set client_registration = excluded.client_registration,
                      scopes = excluded.scopes, granted_at = excluded.granted_at",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(registration)
            .bind(granted.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }

    /// The user's consents, by client_id.
    pub async fn list_consents(&self, user_id: &str) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<ConsentRow> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select client_id, client_registration, scopes, granted_at from consents
                  where user_id = $1 order by client_id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(consent_of).collect()
    }

    /// Withdraws a consent and every refresh token it produced; returns whether it existed.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            // The consent first: deleting it waits for a redemption holding it (PostgreSQL's
            // key-share lock, see `store::authorization_codes`), so the family that redemption
            // inserted is committed, and seen, when families are deleted next (READ COMMITTED
            // takes a new snapshot per statement).
            let deleted = sqlx::query(r"delete from consents where user_id = $1 and client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(r"delete from authorization_codes where user_id = $1 and client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                r"delete from refresh_families where user_id = $1 and client_id = $2 and origin = $3",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(CONSENTED_ORIGIN)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(deleted > 0)
        }.await)
    }
}
