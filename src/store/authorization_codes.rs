//! Authorization codes (RFC 6749 section 4.1), by hash, redeemed once.
//!
//! Redemption claims the code and stores the refresh family it yields in one write transaction.
//! A concurrent second redemption waits on that row (PostgreSQL's row lock, SQLite's write lock),
//! then finds it claimed together with what the first issued, and revokes that (section 4.1.2).

use sqlx::FromRow;

use super::consents::CONSENTED_ORIGIN;
use super::{BeginWrite, Store, StoreError, with_pool};
use crate::openid::OFFLINE_ACCESS;

/// A code as issued.
#[derive(Debug, Clone, FromRow)]
pub struct AuthorizationCode {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// That client's registration.
    pub client_registration: String,
    /// `redirect_uri` as sent to /authorize, if it was sent.
    pub redirect_uri: Option<String>,
    /// Where the code was delivered.
    pub delivered_to: String,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Scopes granted.
    pub scope: String,
    /// The signed-in user.
    pub user_id: String,
    /// The user's token generation at issuance.
    pub user_generation: i64,
    /// The session that approved it.
    pub session_handle: String,
    /// When the user last authenticated.
    pub auth_time: i64,
    /// How.
    pub amr: String,
    /// OpenID Connect nonce.
    pub nonce: Option<String>,
    /// Last moment it may be redeemed.
    pub expires_at: i64,
    /// When it was redeemed.
    pub redeemed_at: Option<i64>,
    /// Its client registered a back-channel logout URI: the session records that it signed
    /// into it. (Other clients cost single sign-on no extra write.)
    #[sqlx(skip)]
    pub tell_on_logout: bool,
}

/// An attempt to redeem a code: everything the code must match, and what redeeming it issues.
#[derive(Debug)]
pub struct CodeClaim {
    /// SHA-256 (hex) of the presented code.
    pub code_hash: String,
    /// Now; the code must expire later.
    pub now: i64,
    /// The authenticated client and its registration.
    pub client_id: String,
    /// See `client_id`.
    pub client_registration: String,
    /// `redirect_uri` as presented at /token.
    pub redirect_uri: Option<String>,
    /// BASE64URL(SHA-256(code_verifier)) of the presented verifier.
    pub challenge: Option<String>,
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
}

/// What a claimed code grants.
#[derive(Debug, FromRow)]
pub struct ClaimedCode {
    /// The user.
    pub user_id: String,
    /// Their token generation (checked current by the claim).
    pub user_generation: i64,
    /// Scopes granted.
    pub scope: String,
    /// The session that approved it (the `sid` of its tokens).
    pub session_handle: String,
    /// When the user last authenticated.
    pub auth_time: i64,
    /// How, space-delimited RFC 8176 values.
    pub amr: String,
    /// The authorization request's OpenID Connect nonce.
    pub nonce: Option<String>,
}

impl ClaimedCode {
    /// Whether its refresh family outlives the session (OpenID Connect Core section 11).
    pub fn is_offline(&self) -> bool {
        self.scope.split(' ').any(|scope| scope == OFFLINE_ACCESS)
    }
}

/// Unredeemed codes one session keeps (a browser needs one per sign-in under way).
const MAX_OPEN_CODES_PER_SESSION: i64 = 32;
/// One code in this many (by hash) trims its session's open codes.
const TRIM_EVERY: u64 = 8;

/// A write on the code path, batched by `CodeWriter`.
#[derive(Debug)]
pub enum CodeWrite {
    /// Store a newly issued code.
    Insert(AuthorizationCode),
    /// Redeem a code if everything matches (see `CLAIM_CODE`).
    Claim(CodeClaim),
}

/// The result of one `CodeWrite`.
#[derive(Debug)]
pub enum CodeWritten {
    /// The code is stored.
    Inserted,
    /// The claimed code's grant, or `None` when something did not match and nothing was stored.
    Claimed(Option<ClaimedCode>),
}

impl CodeWrite {
    /// How many statements the write may run.
    fn statements(&self) -> usize {
        match self {
            CodeWrite::Insert(code) => {
                1 + usize::from(code.tell_on_logout) + usize::from(trims(code))
            }
            CodeWrite::Claim(claim) => 1 + usize::from(claim.refresh.is_some()),
        }
    }
}

/// About every `TRIM_EVERY`th code (by its hash) trims its session's open codes beyond
/// `MAX_OPEN_CODES_PER_SESSION`, oldest first: a signed-in script cannot grow the table at will.
fn trims(code: &AuthorizationCode) -> bool {
    u64::from_str_radix(code.code_hash.get(..4).unwrap_or("0"), 16)
        .is_ok_and(|n| n % TRIM_EVERY == 0)
}

const INSERT_CODE: &str = "insert into authorization_codes (code_hash, client_id, \
     client_registration, redirect_uri, delivered_to, code_challenge, scope, user_id, \
     user_generation, session_handle, auth_time, amr, nonce, expires_at, redeemed_at, \
     issued_at_ms) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, null, $15)";

/// The session signed into this client: whom to tell when it ends (Back-Channel Logout), for
/// clients with a back-channel logout URI. Only while the session exists; first, so that a session ending concurrently (which locks its row)
/// makes the code fail rather than leave a client it did not tell.
const RECORD_SESSION_CLIENT: &str = r"insert into session_clients (session_handle, client_id)
    select handle, $2 from sessions where handle = $1
    on conflict (session_handle, client_id) do nothing";

const TRIM_OPEN_CODES: &str = r"delete from authorization_codes
    where session_handle = $1 and redeemed_at is null and code_hash not in
      (select code_hash from authorization_codes
       where session_handle = $1 and redeemed_at is null
       order by issued_at_ms desc, code_hash limit $2)";

/// Redeems the code only if everything matches: unredeemed, unexpired, this client and
/// registration, the redirect URI, the PKCE challenge, and its user still enabled at the code's
/// generation.
const CLAIM_CODE: &str = r"update authorization_codes
    set redeemed_at = $2, access_jti = $3, access_expires_at = $4, refresh_family_id = $5
    where code_hash = $1 and redeemed_at is null and expires_at > $2
      and client_id = $6 and client_registration = $7
      and ((redirect_uri is not null and redirect_uri = $8)
           or (redirect_uri is null and ($8 is null or $8 = delivered_to)))
      and ((code_challenge is null and $9 is null) or code_challenge = $9)
      and exists (select 1 from users u
                  where u.id = authorization_codes.user_id and not u.disabled
                    and u.token_generation = authorization_codes.user_generation)
    returning user_id, user_generation, scope, session_handle, auth_time, amr, nonce";

const START_FAMILY: &str = r"insert into refresh_families
    (id, family_hash, current_hash, generation, client_id, client_registration, user_id,
     user_generation, scope, issued_at, expires_at, origin, session_handle, offline, auth_time,
     amr)
    select $2, $3, $4, 0, client_id, client_registration, user_id, user_generation, scope,
           $5, $6, $7, session_handle, $8, auth_time, amr
    from authorization_codes where code_hash = $1";

const CODE_COLUMNS: &str = "code_hash, client_id, client_registration, redirect_uri, \
     delivered_to, code_challenge, scope, user_id, user_generation, session_handle, auth_time, \
     amr, nonce, expires_at, redeemed_at";

/// One code write's statements on `$ex` (a pool, or `&mut *tx`); evaluates to
/// `Result<CodeWritten, sqlx::Error>`.
macro_rules! run_code_write {
    ($ex:expr, $write:expr) => {
        async {
            let written: Result<CodeWritten, sqlx::Error> = async {
                match $write {
                    CodeWrite::Insert(code) => {
                        if code.tell_on_logout {
                            sqlx::query(RECORD_SESSION_CLIENT)
                                .bind(&code.session_handle)
                                .bind(&code.client_id)
                                .execute($ex)
                                .await?;
                        }
                        sqlx::query(INSERT_CODE)
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
                            .execute($ex)
                            .await?;
                        if trims(code) {
                            sqlx::query(TRIM_OPEN_CODES)
                                .bind(&code.session_handle)
                                .bind(MAX_OPEN_CODES_PER_SESSION)
                                .execute($ex)
                                .await?;
                        }
                        Ok(CodeWritten::Inserted)
                    }
                    CodeWrite::Claim(claim) => {
                        let claimed: Option<ClaimedCode> = sqlx::query_as(CLAIM_CODE)
                            .bind(&claim.code_hash)
                            .bind(claim.now)
                            .bind(&claim.access_jti)
                            .bind(claim.access_expires_at)
                            .bind(claim.refresh.as_ref().map(|family| family.id.as_str()))
                            .bind(&claim.client_id)
                            .bind(&claim.client_registration)
                            .bind(&claim.redirect_uri)
                            .bind(&claim.challenge)
                            .fetch_optional($ex)
                            .await?;
                        if let (Some(claimed), Some(family)) = (&claimed, &claim.refresh) {
                            sqlx::query(START_FAMILY)
                                .bind(&claim.code_hash)
                                .bind(&family.id)
                                .bind(&family.family_hash)
                                .bind(&family.current_hash)
                                .bind(claim.now)
                                .bind(family.expires_at)
                                .bind(CONSENTED_ORIGIN)
                                .bind(claimed.is_offline())
                                .execute($ex)
                                .await?;
                        }
                        Ok(CodeWritten::Claimed(claimed))
                    }
                }
            }
            .await;
            written
        }
    };
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
                    run_code_write!(&mut *tx, write).await;
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

    /// Runs one code write on its own: one autocommit statement, or a transaction when a claim
    /// also starts a refresh family. PostgreSQL's `CodeWriter` uses it: its connections write in
    /// parallel and its commits already group, so a single writer would only queue them.
    pub async fn write_code(&self, write: &CodeWrite) -> Result<CodeWritten, StoreError> {
        let starts_family = matches!(write, CodeWrite::Claim(claim) if claim.refresh.is_some());
        with_pool!(self, pool => async {
            if !starts_family {
                return Ok::<_, StoreError>(run_code_write!(pool, write).await?);
            }
            let mut tx = pool.begin_write().await?;
            let written = run_code_write!(&mut *tx, write).await?;
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
