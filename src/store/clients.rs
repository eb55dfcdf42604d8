//! Registered OAuth clients.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::FromRow;

use super::delegation::guard_client_change;
use super::resources::parse_resources;
use super::{
    BeginWrite, BrowserSettings, Client, NewClient, Store, StoreError, conflict_on_unique,
    with_pool, with_write,
};
use crate::domain::{
    Authority, BackchannelLogoutUri, BrowserChanges, ClientId, GrantType, IdTokenAlg,
    IntrospectionAlg, RedirectUri, ScopeSet,
};

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
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    id_token_signed_response_alg: String,
    resources: String,
    require_pushed_authorization_requests: bool,
    introspection_signed_response_alg: String,
    dpop_bound_access_tokens: bool,
    allow_impersonation: bool,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, Self::Error> {
        let corrupt = |e| StoreError::Other(anyhow::anyhow!("stored client is invalid: {e}"));
        Ok(Client {
            resources: parse_resources(&row.resources)?,
            grants: Arc::new(
                row.grant_types
                    .split_whitespace()
                    .map(GrantType::parse)
                    .collect::<Result<_, _>>()
                    .map_err(corrupt)?,
            ),
            scopes: Arc::new(ScopeSet::parse(&row.scopes).map_err(corrupt)?),
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
                post_logout_redirect_uris: row
                    .post_logout_redirect_uris
                    .split_whitespace()
                    .map(RedirectUri::parse)
                    .collect::<Result<_, _>>()
                    .map_err(corrupt)?,
                backchannel_logout_uri: row
                    .backchannel_logout_uri
                    .as_deref()
                    .map(BackchannelLogoutUri::parse)
                    .transpose()
                    .map_err(corrupt)?,
                backchannel_logout_session_required: row.backchannel_logout_session_required,
                id_token_signed_response_alg: IdTokenAlg::parse(&row.id_token_signed_response_alg)
                    .map_err(corrupt)?,
                require_pushed_authorization_requests: row.require_pushed_authorization_requests,
                introspection_signed_response_alg: IntrospectionAlg::parse(
                    &row.introspection_signed_response_alg,
                )
                .map_err(corrupt)?,
                dpop_bound_access_tokens: row.dpop_bound_access_tokens,
                allow_impersonation: row.allow_impersonation,
            },
        })
    }
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, grant_types, scopes, created_at, \
     registration, client_name, redirect_uris, allowed_origins, skip_consent, pkce_optional, \
     post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, \
     id_token_signed_response_alg, require_pushed_authorization_requests, \
     introspection_signed_response_alg, dpop_bound_access_tokens, resources, \
     allow_impersonation";

/// Space-delimited, as stored.
fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl From<BrowserChanges> for BrowserSettings {
    /// The settings of a new client: what `changes` sets, the rest empty.
    fn from(changes: BrowserChanges) -> Self {
        Self {
            client_name: changes.client_name.unwrap_or_default(),
            redirect_uris: changes.redirect_uris.unwrap_or_default(),
            allowed_origins: changes.allowed_origins.unwrap_or_default(),
            skip_consent: changes.skip_consent.unwrap_or_default(),
            pkce_optional: changes.pkce_optional.unwrap_or_default(),
            post_logout_redirect_uris: changes.post_logout_redirect_uris.unwrap_or_default(),
            backchannel_logout_uri: changes.backchannel_logout_uri.flatten(),
            backchannel_logout_session_required: changes
                .backchannel_logout_session_required
                .unwrap_or_default(),
            id_token_signed_response_alg: changes.id_token_signed_response_alg.unwrap_or_default(),
            require_pushed_authorization_requests: changes
                .require_pushed_authorization_requests
                .unwrap_or_default(),
            introspection_signed_response_alg: changes
                .introspection_signed_response_alg
                .unwrap_or_default(),
            dpop_bound_access_tokens: changes.dpop_bound_access_tokens.unwrap_or_default(),
            allow_impersonation: changes.allow_impersonation.unwrap_or_default(),
        }
    }
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
        with_write!(self, pool =>
            sqlx::query(
                r"insert into clients (client_id, secret_hash, grant_types, scopes, created_at,
                    registration, client_name, redirect_uris, allowed_origins, skip_consent,
                    pkce_optional, post_logout_redirect_uris, backchannel_logout_uri,
                    backchannel_logout_session_required, id_token_signed_response_alg,
                    require_pushed_authorization_requests, introspection_signed_response_alg,
                    dpop_bound_access_tokens, allow_impersonation)
                  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $19)",
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
            .bind(joined(&new.browser.post_logout_redirect_uris))
            .bind(new.browser.backchannel_logout_uri.as_ref().map(BackchannelLogoutUri::as_str))
            .bind(new.browser.backchannel_logout_session_required)
            .bind(new.browser.id_token_signed_response_alg.stored())
            .bind(new.browser.require_pushed_authorization_requests)
            .bind(new.browser.introspection_signed_response_alg.stored())
            .bind(new.browser.dpop_bound_access_tokens)
            .bind(new.browser.allow_impersonation)
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

    /// Applies `changes` to the browser settings of this registration of the client, in one
    /// statement (concurrent changes never interleave field by field), and returns the client.
    /// Grants, scopes and secret are untouched. An API caller must hold every admin scope the
    /// client holds.
    pub async fn update_client_browser(
        &self,
        client_id: &ClientId,
        registration: &str,
        changes: &BrowserChanges,
        authority: &Authority,
    ) -> Result<Client, StoreError> {
        let sql = format!(
            r"update clients set
                client_name = coalesce($3, client_name),
                redirect_uris = coalesce($4, redirect_uris),
                allowed_origins = coalesce($5, allowed_origins),
                skip_consent = coalesce($6, skip_consent),
                pkce_optional = coalesce($7, pkce_optional),
                post_logout_redirect_uris = coalesce($8, post_logout_redirect_uris),
                backchannel_logout_uri = case when $9 then $10 else backchannel_logout_uri end,
                backchannel_logout_session_required =
                    coalesce($11, backchannel_logout_session_required),
                id_token_signed_response_alg = coalesce($12, id_token_signed_response_alg),
                require_pushed_authorization_requests =
                    coalesce($13, require_pushed_authorization_requests),
                introspection_signed_response_alg =
                    coalesce($14, introspection_signed_response_alg),
                dpop_bound_access_tokens = coalesce($15, dpop_bound_access_tokens),
                allow_impersonation = coalesce($16, allow_impersonation)
              where client_id = $1 and registration = $2
              returning {CLIENT_COLUMNS}"
        );
        let row: Option<ClientRow> = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            guard_client_change(&mut *tx, authority, client_id.as_str()).await?;
            let row: Option<ClientRow> = sqlx::query_as(&sql)
                .bind(client_id.as_str())
                .bind(registration)
                .bind(changes.client_name.as_deref())
                .bind(changes.redirect_uris.as_deref().map(joined))
                .bind(changes.allowed_origins.as_deref().map(joined))
                .bind(changes.skip_consent)
                .bind(changes.pkce_optional)
                .bind(changes.post_logout_redirect_uris.as_deref().map(joined))
                .bind(changes.backchannel_logout_uri.is_some())
                .bind(
                    changes
                        .backchannel_logout_uri
                        .as_ref()
                        .and_then(|uri| uri.as_ref().map(BackchannelLogoutUri::as_str)),
                )
                .bind(changes.backchannel_logout_session_required)
                .bind(changes.id_token_signed_response_alg.map(IdTokenAlg::stored))
                .bind(changes.require_pushed_authorization_requests)
                .bind(
                    changes
                        .introspection_signed_response_alg
                        .map(IntrospectionAlg::stored),
                )
                .bind(changes.dpop_bound_access_tokens)
                .bind(changes.allow_impersonation)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(row)
        }.await)?;
        // A client deleted (and perhaps registered again) since the caller read it is gone.
        row.map(Client::try_from)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("client {client_id} does not exist")))
    }

    /// Every origin any client allows, for CORS.
    pub async fn allowed_origins(&self) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = with_pool!(self, pool =>
            sqlx::query_as(r"select allowed_origins from clients where allowed_origins <> ''")
                .fetch_all(pool)
                .await)?;
        Ok(rows
            .iter()
            .flat_map(|(origins,)| origins.split_whitespace().map(str::to_owned))
            .collect())
    }
}
