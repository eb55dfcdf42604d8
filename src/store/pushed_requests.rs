//! Single use of pushed authorization requests (RFC 9126): a used-marker per request_uri.

use super::{Store, StoreError, with_write};

impl Store {
    /// Marks the pushed request `request_id` used until `expires_at`; false when it was used
    /// already, on this instance or another (one conditional insert: only one use wins).
    pub async fn use_pushed_request(
        &self,
        request_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = with_write!(self, pool =>
            sqlx::query(
                r"insert into pushed_requests_used (request_id, expires_at) values ($1, $2)
                  on conflict (request_id) do nothing",
            )
            .bind(request_id)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(inserted > 0)
    }
}
