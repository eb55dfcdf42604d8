//! Authorization codes (RFC 6749 section 4.1), by hash, redeemed once.
//!
//! Redemption claims the code and stores the refresh family it yields in one write transaction.
//! A concurrent second redemption waits on that row (PostgreSQL's row lock, SQLite's write lock),
//! then finds it claimed together with what the first issued, and revokes that (section 4.1.2).

use sqlx::FromRow;

use super::consents::CONSENTED_ORIGIN;
use super::{BeginWrite, Store, StoreError, with_pool};

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

/// An attempt to redeem a code: everything the code must match, and what redeeming it issues.
#[derive(Debug)]
pub struct CodeClaim<'a> {
    /// SHA-256 (hex) of the presented code.
    pub code_hash: &'a str,
    /// Now; the code must expire later.
    pub now: i64,
    /// The authenticated client and its registration.
    pub client_id: &'a str,
    /// See `client_id`.
    pub client_registration: &'a str,
    /// `redirect_uri` as presented at /token.
    pub redirect_uri: Option<&'a str>,
    /// BASE64URL(SHA-256(code_verifier)) of the presented verifier.
    pub challenge: Option<&'a str>,
    /// The access token's `jti` and `exp`, chosen before it is signed.
    pub access_jti: &'a str,
    /// See `access_jti`.
    pub access_expires_at: i64,
    /// The refresh family to start: its id, the hashes of its family secret and first token,
    /// and when that token expires.
    pub refresh: Option<NewCodeFamily<'a>>,
}

/// A refresh family started by a code; user and scope come from the code itself.
#[derive(Debug)]
pub struct NewCodeFamily<'a> {
    /// Family id.
    pub id: &'a str,
    /// Hash of the family secret.
    pub family_hash: &'a str,
    /// Hash of the first token.
    pub current_hash: &'a str,
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
}

/// Unredeemed codes one session keeps (a browser needs one per sign-in under way).
const MAX_OPEN_CODES_PER_SESSION: i64 = 32;
/// One code in this many (by hash) trims its session's open codes.
const TRIM_EVERY: u64 = 8;

const CODE_COLUMNS: &str = "code_hash, client_id, client_registration, redirect_uri, \
     delivered_to, code_challenge, scope, user_id, user_generation, session_handle, auth_time, \
     amr, nonce, expires_at, redeemed_at";

impl Store {
    /// Stores a newly issued code. About every `TRIM_EVERY`th code (by its hash), the session's
    /// unredeemed codes beyond `MAX_OPEN_CODES_PER_SESSION` are dropped, oldest first, so a
    /// signed-in script cannot grow the table at will while single sign-on stays one write.
    pub async fn insert_authorization_code(
        &self,
        code: &AuthorizationCode,
    ) -> Result<(), StoreError> {
        let trim = u64::from_str_radix(code.code_hash.get(..4).unwrap_or("0"), 16)
            .is_ok_and(|n| n % TRIM_EVERY == 0);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => async {
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
            .execute(pool)
            .await?;
            if trim {
                sqlx::query(
                    r"delete from authorization_codes
                      where session_handle = $1 and redeemed_at is null and code_hash not in
                        (select code_hash from authorization_codes
                         where session_handle = $1 and redeemed_at is null
                         order by issued_at_ms desc, code_hash limit $2)",
                )
                .bind(&code.session_handle)
                .bind(MAX_OPEN_CODES_PER_SESSION)
                .execute(pool)
                .await?;
            }
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

    /// Redeems the code if everything matches: unredeemed, unexpired, this client and
    /// registration, the redirect URI, the PKCE challenge, and its user still enabled at the
    /// code's generation. One statement claims it (one transaction when a refresh family is
    /// started too); `None` when anything did not match, and nothing was stored.
    pub async fn claim_authorization_code(
        &self,
        claim: &CodeClaim<'_>,
    ) -> Result<Option<ClaimedCode>, StoreError> {
        const CLAIM: &str = r"update authorization_codes
            set redeemed_at = $2, access_jti = $3, access_expires_at = $4, refresh_family_id = $5
            where code_hash = $1 and redeemed_at is null and expires_at > $2
              and client_id = $6 and client_registration = $7
              and ((redirect_uri is not null and redirect_uri = $8)
                   or (redirect_uri is null and ($8 is null or $8 = delivered_to)))
              and ((code_challenge is null and $9 is null) or code_challenge = $9)
              and exists (select 1 from users u
                          where u.id = authorization_codes.user_id and not u.disabled
                            and u.token_generation = authorization_codes.user_generation)
            returning user_id, user_generation, scope";
        const START_FAMILY: &str = r"insert into refresh_families
            (id, family_hash, current_hash, generation, client_id, client_registration, user_id,
             user_generation, scope, issued_at, expires_at, origin, session_handle)
            select $2, $3, $4, 0, client_id, client_registration, user_id, user_generation, scope,
                   $5, $6, $7, session_handle
            from authorization_codes where code_hash = $1";
        let family_id = claim.refresh.as_ref().map(|family| family.id);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => async {
            let claiming = sqlx::query_as::<_, ClaimedCode>(CLAIM)
                .bind(claim.code_hash)
                .bind(claim.now)
                .bind(claim.access_jti)
                .bind(claim.access_expires_at)
                .bind(family_id)
                .bind(claim.client_id)
                .bind(claim.client_registration)
                .bind(claim.redirect_uri)
                .bind(claim.challenge);
            let Some(family) = &claim.refresh else {
                return Ok::<_, StoreError>(claiming.fetch_optional(pool).await?);
            };
            let mut tx = pool.begin_write().await?;
            let Some(claimed) = claiming.fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            sqlx::query(START_FAMILY)
                .bind(claim.code_hash)
                .bind(family.id)
                .bind(family.family_hash)
                .bind(family.current_hash)
                .bind(claim.now)
                .bind(family.expires_at)
                .bind(CONSENTED_ORIGIN)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(claimed))
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
