//! Registered OAuth clients.

use sqlx::FromRow;

use super::{Client, NewClient, Store, StoreError, conflict_on_unique, with_pool};
use crate::domain::{ClientId, GrantType, ScopeSet};

#[derive(FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    grant_types: String,
    scopes: String,
    created_at: i64,
    registration: String,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, Self::Error> {
        let corrupt = |e| StoreError::Other(anyhow::anyhow!("stored client is invalid: {e}"));
        Ok(Client {
            grants: row
                .grant_types
                .split_whitespace()
                .map(GrantType::parse)
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            scopes: ScopeSet::parse(&row.scopes).map_err(corrupt)?,
            client_id: row.client_id,
            secret_hash: row.secret_hash,
            created_at: row.created_at,
            registration: row.registration,
        })
    }
}

const CLIENT_COLUMNS: &str =
    "client_id, secret_hash, grant_types, scopes, created_at, registration";

impl Store {
    /// Registers a client; the client_id must be free.
    pub async fn create_client(&self, new: &NewClient, now: i64) -> Result<Client, StoreError> {
        let grants = new
            .grants
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        with_pool!(self, pool =>
            sqlx::query(
                r"insert into clients (client_id, secret_hash, grant_types, scopes, created_at, registration)
                  values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new.client_id.as_str())
            .bind(&new.secret_hash)
            .bind(&grants)
            .bind(new.scopes.to_string())
            .bind(now)
            .bind(uuid::Uuid::new_v4().to_string())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|e| conflict_on_unique(e, "a client with that client_id already exists"))?;
        self.find_client(&new.client_id)
            .await?
            .ok_or_else(|| StoreError::NotFound("client vanished after creation".into()))
    }

    /// The client with this client_id.
    pub async fn find_client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients where client_id = $1");
        let row: Option<ClientRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(client_id.as_str()).fetch_optional(pool).await)?;
        row.map(Client::try_from).transpose()
    }

    /// Every client, ordered by client_id.
    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients order by client_id");
        let rows: Vec<ClientRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(Client::try_from).collect()
    }
}
