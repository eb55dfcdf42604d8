//! Authorization codes (RFC 6749 section 4.1), by hash, redeemed once.
//!
//! Redemption claims the code and stores the refresh family it yields in one write transaction.
//! A concurrent second redemption waits on that row (PostgreSQL's row lock, SQLite's write lock),
//! then finds it claimed together with what the first issued, and revokes that (section 4.1.2).

use sqlx::FromRow;

use super::consents::CONSENTED_ORIGIN;
use super::{BeginWrite, RefreshFamily, Store, StoreError, with_pool};

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
}

/// What redeeming a code issued, so that a second redemption can revoke it.
#[derive(Debug)]
pub struct Redemption<'a> {
    /// The access token's `jti`.
    pub access_jti: &'a str,
    /// Its `exp`.
    pub access_expires_at: i64,
    /// The refresh family started, with the hash of its family secret.
    pub refresh: Option<(&'a RefreshFamily, &'a str)>,
}

/// The result of trying to redeem.
#[derive(Debug, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// This request redeemed it; its tokens are stored.
    Redeemed,
    /// It was redeemed before (or deleted meanwhile): nothing was stored.
    AlreadyRedeemed,
    /// Its user was disabled or changed their password since: nothing was stored.
    UserChanged,
}

/// Unredeemed codes one session may have at once (a browser needs one per sign-in under way).
const MAX_OPEN_CODES_PER_SESSION: i64 = 32;

const CODE_COLUMNS: &str = "code_hash, client_id, client_registration, redirect_uri, \
     delivered_to, code_challenge, scope, user_id, user_generation, session_handle, auth_time, \
     amr, nonce, expires_at, redeemed_at";

impl Store {
    /// Stores a newly issued code; beyond `MAX_OPEN_CODES_PER_SESSION` unredeemed codes of one
    /// session, the oldest are dropped, so a signed-in script cannot grow the table at will.
    pub async fn insert_authorization_code(
        &self,
        code: &AuthorizationCode,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(&format!(
                "insert into authorization_codes ({CODE_COLUMNS}, issued_at_ms)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, null, $15)"
            ))
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
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                r"delete from authorization_codes
                  where session_handle = $1 and redeemed_at is null and code_hash not in
                    (select code_hash from authorization_codes
                     where session_handle = $1 and redeemed_at is null
                     order by issued_at_ms desc, code_hash limit $2)",
            )
            .bind(&code.session_handle)
            .bind(MAX_OPEN_CODES_PER_SESSION)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }

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

    /// Claims the code and stores what it yields, atomically.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        now: i64,
        redemption: &Redemption<'_>,
        session_handle: &str,
    ) -> Result<RedeemOutcome, StoreError> {
        let family_id = redemption.refresh.map(|(family, _)| family.id.as_str());
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let claimed = sqlx::query(
                r"update authorization_codes
                  set redeemed_at = $2, access_jti = $3, access_expires_at = $4,
                      refresh_family_id = $5
                  where code_hash = $1 and redeemed_at is null
                    and exists (select 1 from users u
                                where u.id = authorization_codes.user_id and not u.disabled
                                  and u.token_generation = authorization_codes.user_generation)",
            )
            .bind(code_hash)
            .bind(now)
            .bind(redemption.access_jti)
            .bind(redemption.access_expires_at)
            .bind(family_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let redeemed: Option<(Option<i64>,)> = sqlx::query_as(
                    r"select redeemed_at from authorization_codes where code_hash = $1",
                )
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?;
                return Ok(match redeemed {
                    Some((None,)) => RedeemOutcome::UserChanged,
                    _ => RedeemOutcome::AlreadyRedeemed,
                });
            }
            if let Some((family, family_hash)) = redemption.refresh {
                sqlx::query(
                    r"insert into refresh_families
                        (id, family_hash, current_hash, generation, client_id, client_registration,
                         user_id, user_generation, scope, issued_at, expires_at, origin,
                         session_handle)
                      values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
                .bind(CONSENTED_ORIGIN)
                .bind(session_handle)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(RedeemOutcome::Redeemed)
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
