//! Registered OAuth clients.

use sqlx::FromRow;

use super::{BrowserSettings, Client, NewClient, Store, StoreError, conflict_on_unique, with_pool};
use crate::domain::{ClientId, GrantType, RedirectUri, ScopeSet};

#[derive(FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    grant_types: String,
    scopes: String,
    created_at: i64,
    registration: String,
    client_name: String,
    redirect_uris: String,
    allowed_origins: String,
    skip_consent: bool,
    pkce_optional: bool,
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
            browser: BrowserSettings {
                client_name: row.client_name,
                redirect_uris: row
                    .redirect_uris
                    .split_whitespace()
                    .map(RedirectUri::parse)
                    .collect::<Result<_, _>>()
                    .map_err(corrupt)?,
                allowed_origins: row
                    .allowed_origins
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                skip_consent: row.skip_consent,
                pkce_optional: row.pkce_optional,
            },
        })
    }
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, grant_types, scopes, created_at, \
     registration, client_name, redirect_uris, allowed_origins, skip_consent, pkce_optional";

/// Space-delimited, as stored.
fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

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
                r"insert into clients (client_id, secret_hash, grant_types, scopes, created_at,
                    registration, client_name, redirect_uris, allowed_origins, skip_consent,
                    pkce_optional)
                  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(new.client_id.as_str())
            .bind(&new.secret_hash)
            .bind(&grants)
            .bind(new.scopes.to_string())
            .bind(now)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&new.browser.client_name)
            .bind(joined(&new.browser.redirect_uris))
            .bind(joined(&new.browser.allowed_origins))
            .bind(new.browser.skip_consent)
            .bind(new.browser.pkce_optional)
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
