//! DPoP proofs accepted at `/token` (migration 0013): each once, across instances.

use super::{Store, StoreError, with_write};

impl Store {
    /// Records a proof (`proof_hash`: SHA-256 of its key thumbprint and `jti`) as used until
    /// `expires_at`; false when it was used before and is still inside its window: a replay,
    /// on this instance or another. One statement, so two racing requests cannot both pass.
    pub async fn record_dpop_proof(
        &self,
        proof_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted = with_write!(self, pool =>
            sqlx::query(
                r"insert into dpop_proofs (proof_hash, expires_at) values ($1, $2)
                  on conflict (proof_hash) do update set expires_at = excluded.expires_at
                  where dpop_proofs.expires_at < $3",
            )
            .bind(proof_hash)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(inserted > 0)
    }
}
