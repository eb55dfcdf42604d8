//! Redeemed authorization codes (RFC 6749 section 4.1), by hash.
//!
//! A code is a sealed value that carries what it grants (`signin::code`), so issuing one writes
//! nothing. Redeeming it is the one write: a row under the code's hash, inserted only if no row
//! is there yet, its user is still enabled at the code's generation and its session still
//! exists, together with the refresh family it starts, in one write transaction. A concurrent
//! second redemption finds the row (PostgreSQL's unique index waits for the first, SQLite's
//! single writer runs them in turn) and revokes what the first issued (section 4.1.2). Rows
//! stay until the janitor sweeps them an hour after the code expired, for that detection.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::consents::CONSENTED_ORIGIN;
use super::{BeginWrite, Store, StoreError, with_pool};
use crate::openid::OFFLINE_ACCESS;

/// A code: sealed into the code itself when issued (short names keep the code short), and
/// stored when redeemed.
#[derive(Debug, Clone, FromRow, Serialize, Deserialize)]
pub struct AuthorizationCode {
    /// SHA-256 (hex) of the code.
    #[serde(skip)]
    pub code_hash: String,
    /// The client it was issued to.
    #[serde(rename = "c")]
    pub client_id: String,
    /// That client's registration.
    #[serde(rename = "r")]
    pub client_registration: String,
    /// `redirect_uri` as sent to /authorize, if it was sent.
    #[serde(rename = "u")]
    pub redirect_uri: Option<String>,
    /// Where the code was delivered.
    #[serde(rename = "d")]
    pub delivered_to: String,
    /// PKCE S256 challenge.
    #[serde(rename = "p")]
    pub code_challenge: Option<String>,
    /// Scopes granted.
    #[serde(rename = "s")]
    pub scope: String,
    /// The signed-in user.
    #[serde(rename = "i")]
    pub user_id: String,
    /// The user's token generation at issuance.
    #[serde(rename = "g")]
    pub user_generation: i64,
    /// The session that approved it.
    #[serde(rename = "h")]
    pub session_handle: String,
    /// When the user last authenticated.
    #[serde(rename = "t")]
    pub auth_time: i64,
    /// How.
    #[serde(rename = "a")]
    pub amr: String,
    /// OpenID Connect nonce.
    #[serde(rename = "n")]
    pub nonce: Option<String>,
    /// Last moment it may be redeemed.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// When it was redeemed.
    #[serde(skip)]
    pub redeemed_at: Option<i64>,
    /// Its client registered a back-channel logout URI: the session records that it signed
    /// into it. (Other clients cost single sign-on no extra write.)
    #[sqlx(skip)]
    #[serde(rename = "b")]
    pub tell_on_logout: bool,
    /// Its client asks for consent: redeeming it needs the consent still given.
    #[sqlx(skip)]
    #[serde(rename = "k")]
    pub needs_consent: bool,
    /// 256 random bits (base64url): every code is unguessable on its own, sealed or not.
    #[sqlx(skip)]
    #[serde(rename = "x", default)]
    pub random: String,
    /// The resources (RFC 8707) asked for at /authorize, space-delimited: the redemption may ask
    /// for these (or some of them), and its refresh family keeps them.
    #[sqlx(skip)]
    #[serde(rename = "o", default, skip_serializing_if = "String::is_empty")]
    pub resources: String,
    /// `dpop_jkt` sent to /authorize: only a proof from that key redeems it (RFC 9449
    /// section 10).
    #[sqlx(skip)]
    #[serde(rename = "j", default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// A redemption: the code's content (checked against the request by the caller), and what
/// redeeming it issues.
#[derive(Debug)]
pub struct CodeClaim {
    /// The code, as it will be stored: `code_hash` is the SHA-256 (hex) of the presented code.
    pub code: AuthorizationCode,
    /// Now: the redemption time.
    pub now: i64,
    /// The access token's `jti` and `exp`, chosen before it is signed.
    pub access_jti: String,
    /// See `access_jti`.
    pub access_expires_at: i64,
    /// The refresh family to start: its id, the hashes of its family secret and first token,
    /// and when that token expires.
    pub refresh: Option<NewCodeFamily>,
}

/// A refresh family started by a code; user and scope come from the code itself.
#[derive(Debug)]
pub struct NewCodeFamily {
    /// Family id.
    pub id: String,
    /// Hash of the family secret.
    pub family_hash: String,
    /// Hash of the first token.
    pub current_hash: String,
    /// When that token expires.
    pub expires_at: i64,
    /// The DPoP key a public client's family is bound to (RFC 9449 section 5).
    pub dpop_jkt: Option<String>,
}

impl CodeClaim {
    /// Whether its refresh family outlives the session (OpenID Connect Core section 11).
    pub fn is_offline(&self) -> bool {
        self.code
            .scope
            .split(' ')
            .any(|scope| scope == OFFLINE_ACCESS)
    }
}

/// A write on the code path, batched by `CodeWriter`.
#[derive(Debug)]
pub enum CodeWrite {
    /// Redeem a code if it was not redeemed before and its user and session still stand.
    Claim(CodeClaim),
}

/// The result of one `CodeWrite`.
#[derive(Debug)]
pub enum CodeWritten {
    /// Whether the code was redeemed now (`false`: redeemed before, or its user or session
    /// ended; nothing was stored).
    Claimed(bool),
}

impl CodeWrite {
    /// How many statements the write may run.
    fn statements(&self) -> usize {
        match self {
            CodeWrite::Claim(claim) => {
                1 + usize::from(claim.code.tell_on_logout) + usize::from(claim.refresh.is_some())
            }
        }
    }
}

/// The redemption: stores the code as redeemed unless a row for it exists, its user is no
/// longer enabled at the code's generation, its session has ended, or the consent it needs was
/// withdrawn. `{lock}` takes key-share locks on the session and consent rows on PostgreSQL, so
/// that a logout or a consent withdrawal (which delete those rows first) either waits for this
/// redemption and then ends the family it starts, or commits first and this finds nothing.
/// (SQLite runs one write at a time.)
const CLAIM_CODE: &str = r"insert into authorization_codes (code_hash, client_id,
     client_registration, redirect_uri, delivered_to, code_challenge, scope, user_id,
     user_generation, session_handle, auth_time, amr, nonce, expires_at, issued_at_ms,
     redeemed_at, access_jti, access_expires_at, refresh_family_id)
    select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19
    where exists (select 1 from users u
                  where u.id = $8 and not u.disabled and u.token_generation = $9)
      and exists (select 1 from sessions s where s.handle = $10 {lock})
      and (not $20 or exists (select 1 from consents c
                              where c.user_id = $8 and c.client_id = $2
                                and c.client_registration = $3 {lock}))
    on conflict (code_hash) do nothing
    returning code_hash";

/// The session signed into this client: whom to tell when it ends (Back-Channel Logout), for
/// clients with a back-channel logout URI.
pub(super) const RECORD_SESSION_CLIENT: &str = r"insert into session_clients (session_handle, client_id)
    values ($1, $2) on conflict (session_handle, client_id) do nothing";

pub(super) const START_FAMILY: &str = r"insert into refresh_families
    (id, family_hash, current_hash, generation, client_id, client_registration, user_id,
     user_generation, scope, issued_at, expires_at, origin, session_handle, offline, auth_time,
     amr, resources, dpop_jkt)
    select $2, $3, $4, 0, client_id, client_registration, user_id, user_generation, scope,
           $5, $6, $7, session_handle, $8, auth_time, amr, $9, $10
    from authorization_codes where code_hash = $1";

const CODE_COLUMNS: &str = "code_hash, client_id, client_registration, redirect_uri, \
     delivered_to, code_challenge, scope, user_id, user_generation, session_handle, auth_time, \
     amr, nonce, expires_at, redeemed_at";

/// One code write's statements on `$ex` (a pool, or `&mut *tx`), `$claim_sql` being
/// `CLAIM_CODE` for the backend; evaluates to `Result<CodeWritten, sqlx::Error>`.
macro_rules! run_code_write {
    ($ex:expr, $write:expr, $claim_sql:expr) => {
        async {
            let written: Result<CodeWritten, sqlx::Error> = async {
                match $write {
                    CodeWrite::Claim(claim) => {
                        let code = &claim.code;
                        let claimed: Option<(String,)> = sqlx::query_as($claim_sql)
                            .bind(&code.code_hash)
                            .bind(&code.client_id)
                            .bind(&code.client_registration)
                            .bind(&code.redirect_uri)
                            .bind(&code.delivered_to)
                            .bind(&code.code_challenge)
                            .bind(&code.scope)
                            .bind(&code.user_id)
                            .bind(code.user_generation)
                            .bind(&code.session_handle)
                            .bind(code.auth_time)
                            .bind(&code.amr)
                            .bind(&code.nonce)
                            .bind(code.expires_at)
                            .bind(crate::clock::unix_now_ms())
                            .bind(claim.now)
                            .bind(&claim.access_jti)
                            .bind(claim.access_expires_at)
                            .bind(claim.refresh.as_ref().map(|family| family.id.as_str()))
                            .bind(code.needs_consent)
                            .fetch_optional($ex)
                            .await?;
                        if claimed.is_none() {
                            return Ok(CodeWritten::Claimed(false));
                        }
                        if code.tell_on_logout {
                            sqlx::query(RECORD_SESSION_CLIENT)
                                .bind(&code.session_handle)
                                .bind(&code.client_id)
                                .execute($ex)
                                .await?;
                        }
                        if let Some(family) = &claim.refresh {
                            sqlx::query(START_FAMILY)
                                .bind(&code.code_hash)
                                .bind(&family.id)
                                .bind(&family.family_hash)
                                .bind(&family.current_hash)
                                .bind(claim.now)
                                .bind(family.expires_at)
                                .bind(CONSENTED_ORIGIN)
                                .bind(claim.is_offline())
                                .bind(&code.resources)
                                .bind(&family.dpop_jkt)
                                .execute($ex)
                                .await?;
                        }
                        Ok(CodeWritten::Claimed(true))
                    }
                }
            }
            .await;
            written
        }
    };
}

/// `CLAIM_CODE` with the locks PostgreSQL needs (see there); built once per backend, not per
/// redemption.
fn claim_sql(store: &Store) -> &'static str {
    static POSTGRES: LazyLock<String> =
        LazyLock::new(|| CLAIM_CODE.replace("{lock}", "for key share"));
    static SQLITE: LazyLock<String> = LazyLock::new(|| CLAIM_CODE.replace("{lock}", ""));
    match store {
        Store::Postgres(_) => &POSTGRES,
        Store::Sqlite(_) => &SQLITE,
    }
}

impl Store {
    /// The code with this hash, redeemed or not.
    pub async fn find_authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        let sql = format!("select {CODE_COLUMNS} from authorization_codes where code_hash = $1");
        let row = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(code_hash).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Runs code writes in one transaction, so concurrent sign-ins and exchanges share one
    /// commit (one `fsync`), and one failing write cannot undo the others: SQLite undoes just
    /// the failing statement, and a write of several statements runs under a savepoint. `Err`
    /// only when the transaction itself failed: then nothing was written. SQLite's `CodeWriter`
    /// uses it; see `write_code` for PostgreSQL.
    pub async fn write_code_batch(
        &self,
        writes: &[CodeWrite],
    ) -> Result<Vec<Result<CodeWritten, StoreError>>, StoreError> {
        let statement_rollback = matches!(self, Store::Sqlite(_));
        let claim_sql = claim_sql(self);
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let mut results = Vec::with_capacity(writes.len());
            for write in writes {
                // On SQLite a failing statement undoes only itself, so only a write of several
                // statements needs a savepoint; a PostgreSQL error aborts the whole transaction.
                let savepoint = write.statements() > 1 || !statement_rollback;
                if savepoint {
                    sqlx::query("savepoint code_write").execute(&mut *tx).await?;
                }
                let result: Result<CodeWritten, sqlx::Error> =
                    run_code_write!(&mut *tx, write, claim_sql).await;
                if savepoint {
                    if result.is_err() {
                        sqlx::query("rollback to savepoint code_write").execute(&mut *tx).await?;
                    }
                    sqlx::query("release savepoint code_write").execute(&mut *tx).await?;
                }
                results.push(result.map_err(StoreError::from));
            }
            tx.commit().await?;
            Ok::<_, StoreError>(results)
        }.await)
    }

    /// Runs one code write on its own: one autocommit statement, or a transaction when it has
    /// several. PostgreSQL's `CodeWriter` uses it: its connections write in parallel and its
    /// commits already group, so a single writer would only queue them.
    pub async fn write_code(&self, write: &CodeWrite) -> Result<CodeWritten, StoreError> {
        let claim_sql = claim_sql(self);
        let several = write.statements() > 1;
        with_pool!(self, pool => async {
            if !several {
                return Ok::<_, StoreError>(run_code_write!(pool, write, claim_sql).await?);
            }
            let mut tx = pool.begin_write().await?;
            let written = run_code_write!(&mut *tx, write, claim_sql).await?;
            tx.commit().await?;
            Ok(written)
        }.await)
    }

    /// After a second redemption: revokes the tokens the first one issued. Returns the access
    /// token's (jti, exp) so the caller can also drop it from memory.
    pub async fn revoke_code_tokens(
        &self,
        code_hash: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row: Option<(Option<String>, Option<i64>, Option<String>)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select access_jti, access_expires_at, refresh_family_id
                  from authorization_codes where code_hash = $1",
            )
            .bind(code_hash)
            .fetch_optional(pool)
            .await)?;
        let Some((jti, exp, family)) = row else {
            return Ok(None);
        };
        if let Some(family) = family {
            self.revoke_refresh_family(&family).await?;
        }
        match (jti, exp) {
            (Some(jti), Some(exp)) => {
                self.revoke_access_token(&jti, exp).await?;
                Ok(Some((jti, exp)))
            }
            _ => Ok(None),
        }
    }
}
