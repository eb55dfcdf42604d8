//! PostgreSQL's group commit for code redemptions: every redemption waiting is inserted by one
//! multi-row statement (`unnest` over one array per column) in one transaction, so a burst of
//! sign-ins costs one statement and one commit instead of one of each per sign-in. Each row keeps
//! its own checks (`CLAIM_CODES`, the same as `store::authorization_codes::CLAIM_CODE`).

use sqlx::PgPool;

use super::authorization_codes::{RECORD_SESSION_CLIENT, START_FAMILY};
use super::consents::CONSENTED_ORIGIN;
use super::{BeginWrite, CodeClaim, StoreError};

/// Many redemptions at once: a row is stored only if none exists for its code, its user is
/// enabled at the code's generation, its session exists and (when the code needs it) its consent
/// is still given. Key-share locks on the session and consent rows order it against logouts and
/// consent withdrawals, as for one redemption. Returns the access token ids of the rows
/// stored: when a code is twice in the batch, which occurrence is stored is the plan's choice,
/// and only its claim may issue (its jti is the one a second redemption revokes).
const CLAIM_CODES: &str = r"insert into authorization_codes (code_hash, client_id,
     client_registration, redirect_uri, delivered_to, code_challenge, scope, user_id,
     user_generation, session_handle, auth_time, amr, nonce, expires_at, issued_at_ms,
     redeemed_at, access_jti, access_expires_at, refresh_family_id)
    select v.code_hash, v.client_id, v.client_registration, v.redirect_uri, v.delivered_to,
           v.code_challenge, v.scope, v.user_id, v.user_generation, v.session_handle,
           v.auth_time, v.amr, v.nonce, v.expires_at, v.issued_at_ms, v.redeemed_at,
           v.access_jti, v.access_expires_at, v.refresh_family_id
    from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::int8[], $10::text[], $11::int8[], $12::text[],
                $13::text[], $14::int8[], $15::int8[], $16::int8[], $17::text[], $18::int8[],
                $19::text[], $20::bool[])
      as v(code_hash, client_id, client_registration, redirect_uri, delivered_to,
           code_challenge, scope, user_id, user_generation, session_handle, auth_time, amr,
           nonce, expires_at, issued_at_ms, redeemed_at, access_jti, access_expires_at,
           refresh_family_id, needs_consent)
    where exists (select 1 from users u
                  where u.id = v.user_id and not u.disabled
                    and u.token_generation = v.user_generation)
      and exists (select 1 from sessions s where s.handle = v.session_handle for key share)
      and (not v.needs_consent or exists (select 1 from consents c
                                          where c.user_id = v.user_id
                                            and c.client_id = v.client_id
                                            and c.client_registration = v.client_registration
                                          for key share))
    on conflict (code_hash) do nothing
    returning access_jti";

/// Redeems `claims` in one transaction; for each, whether it was redeemed now. `Err` when the
/// transaction failed: then nothing was written.
pub async fn claim_codes(pool: &PgPool, claims: &[&CodeClaim]) -> Result<Vec<bool>, StoreError> {
    let column = |f: &dyn Fn(&CodeClaim) -> Option<String>| -> Vec<Option<String>> {
        claims.iter().map(|c| f(c)).collect()
    };
    let number =
        |f: &dyn Fn(&CodeClaim) -> i64| -> Vec<i64> { claims.iter().map(|c| f(c)).collect() };
    let issued_at_ms = crate::clock::unix_now_ms();
    let mut tx = pool.begin_write().await?;
    let stored: Vec<(String,)> = sqlx::query_as(CLAIM_CODES)
        .bind(column(&|c| Some(c.code.code_hash.clone())))
        .bind(column(&|c| Some(c.code.client_id.clone())))
        .bind(column(&|c| Some(c.code.client_registration.clone())))
        .bind(column(&|c| c.code.redirect_uri.clone()))
        .bind(column(&|c| Some(c.code.delivered_to.clone())))
        .bind(column(&|c| c.code.code_challenge.clone()))
        .bind(column(&|c| Some(c.code.scope.clone())))
        .bind(column(&|c| Some(c.code.user_id.clone())))
        .bind(number(&|c| c.code.user_generation))
        .bind(column(&|c| Some(c.code.session_handle.clone())))
        .bind(number(&|c| c.code.auth_time))
        .bind(column(&|c| Some(c.code.amr.clone())))
        .bind(column(&|c| c.code.nonce.clone()))
        .bind(number(&|c| c.code.expires_at))
        .bind(number(&|_| issued_at_ms))
        .bind(number(&|c| c.now))
        .bind(column(&|c| Some(c.access_jti.clone())))
        .bind(number(&|c| c.access_expires_at))
        .bind(column(&|c| {
            c.refresh.as_ref().map(|family| family.id.clone())
        }))
        .bind(
            claims
                .iter()
                .map(|c| c.code.needs_consent)
                .collect::<Vec<bool>>(),
        )
        .fetch_all(&mut *tx)
        .await?;
    let mut results = Vec::with_capacity(claims.len());
    for claim in claims {
        let code = &claim.code;
        let now = stored.iter().any(|(jti,)| *jti == claim.access_jti);
        if now {
            if code.tell_on_logout {
                sqlx::query(RECORD_SESSION_CLIENT)
                    .bind(&code.session_handle)
                    .bind(&code.client_id)
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
                    .await?;
            }
        }
        results.push(now);
    }
    tx.commit().await?;
    Ok(results)
}
