//! A token lives no longer than its key, its lifetime cap and its revocation: `keys revoke`,
//! deleted and expired keys, `tokens.max_lifetime_secs`, the bounded revoked set, clock skew.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::clock::{unix_now, unix_now_ms};
use authd::config::Settings;
use authd::store::{PageRequest, Store};
use authd::tokens::{KeyManager, KeyState, SigningKey};
use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TEST_KEK, TestApp};

const TEN_YEARS: i64 = 10 * 365 * 86_400;

/// An app, a user, and the key authd signs with: what someone holding a leaked key has.
struct Leak {
    app: TestApp,
    manager: KeyManager,
    key: Arc<SigningKey>,
    user_id: String,
}

impl Leak {
    async fn new(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Self {
        let app = TestApp::spawn_with(backend, customize).await;
        app.add_role("reader", &["items:read"]).await;
        let user = app
            .add_user("alice", "correct horse battery", &["reader"])
            .await;
        let manager = KeyManager::start(app.store.clone(), &app.settings)
            .await
            .unwrap();
        let key = manager.signing_key().unwrap();
        Leak {
            app,
            manager,
            key,
            user_id: user.id,
        }
    }

    /// A token for alice signed with the leaked key, with these times.
    fn token(&self, iat: i64, nbf: i64, exp: i64) -> String {
        self.token_signed_by(&self.key, iat, nbf, exp)
    }

    /// A token for alice signed with `key`, with these times.
    fn token_signed_by(&self, key: &SigningKey, iat: i64, nbf: i64, exp: i64) -> String {
        let claims = json!({
            "iss": self.app.issuer(),
            "sub": self.user_id,
            "aud": self.app.issuer(),
            "exp": exp,
            "iat": iat,
            "nbf": nbf,
            "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": "public",
            "scope": "items:read",
            "username": "alice",
            "roles": ["reader"],
            "gen": 0,
        });
        let mut header = jsonwebtoken::Header::new(key.algorithm);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    }

    /// A token that expires ten years from now, as in the review's reproduction.
    fn far_token(&self) -> String {
        let now = unix_now();
        self.token(now, now, now + TEN_YEARS)
    }
}

/// Settings under which a ten-year token verifies at first, as it did before the lifetime cap.
fn uncapped(settings: &mut Settings) {
    settings.tokens.max_lifetime_secs = 20 * 365 * 86_400;
}

/// Instances behind one load balancer share one configured issuer.
fn shared_issuer(settings: &mut Settings) {
    settings.tokens.issuer = Some("http://authd.test".into());
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.bearer(Method::GET, "/me", Some(token), None)
        .await
        .status()
        .as_u16()
}

/// Whether `token` introspects active and `/me` accepts it.
async fn accepted(app: &TestApp, token: &str) -> bool {
    let active = app.introspect(token).await["active"] == true;
    let me = me_status(app, token).await;
    assert_eq!(
        active,
        me == 200,
        "introspection and /me disagree (/me {me})"
    );
    active
}

async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    assert!(accepted(app, token).await, "{what} was refused");
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    assert_eq!(
        app.introspect(token).await,
        json!({"active": false}),
        "{what}"
    );
    assert_eq!(me_status(app, token).await, 401, "{what} on /me");
}

/// Polls until `token` is refused by introspection and by `/me`, for at most `limit`.
async fn refused_within(app: &TestApp, token: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if app.introspect(token).await["active"] == false {
            assert_refused(app, token, "a token refused a moment ago").await;
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let body: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Runs the `authd` binary on the app's database.
async fn authd_cli(app: &TestApp, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHD_")) {
        command.env_remove(key);
    }
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .env("AUTHD_DATABASE__URL", &app.database.url)
        .env("AUTHD_KEYS__ENCRYPTION_KEY", TEST_KEK);
    tokio::task::spawn_blocking(move || command.output().expect("running authd"))
        .await
        .unwrap()
}

async fn a_cached_token_from_a_key_revoked_with_the_cli_is_refused_on_every_instance(
    backend: Backend,
) {
    let leak = Leak::new(backend, |s| {
        uncapped(s);
        shared_issuer(s);
    })
    .await;
    let other = leak.app.another_instance().await;
    let token = leak.far_token();
    assert_accepted(
        &leak.app,
        &token,
        "the leaked key's token before revocation",
    )
    .await;
    assert_accepted(
        &other,
        &token,
        "the leaked key's token on the other instance",
    )
    .await;

    let others: Vec<String> = [Algorithm::RS256, Algorithm::ES256]
        .into_iter()
        .map(|alg| leak.manager.signing_key_for(alg).unwrap().kid.clone())
        .collect();

    let output = authd_cli(&leak.app, &["keys", "revoke", &leak.key.kid]).await;

    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        printed.starts_with(&format!("revoked {}\n", leak.key.kid)),
        "{printed}"
    );
    let new_kid = printed.lines().nth(1).unwrap().split('\t').next().unwrap();
    for app in [&leak.app, &other] {
        assert!(
            refused_within(app, &token, Duration::from_secs(2)).await,
            "a cached token of the revoked key still works after 2 s"
        );
        let mut published = jwks_kids(app).await;
        published.sort();
        let mut expected = vec![new_kid.to_owned(), others[0].clone(), others[1].clone()];
        expected.sort();
        assert_eq!(published, expected, "the other algorithms' keys must stay");
        let fresh = app.password_token("alice", "correct horse battery").await;
        let fresh = fresh["access_token"].as_str().unwrap();
        assert_eq!(
            kid_of(fresh),
            new_kid,
            "new tokens must come from the new key"
        );
        assert_accepted(app, fresh, "a token of the new key").await;
    }
    let audit = leak
        .app
        .store
        .list_audit_records(
            Some("key.revoked"),
            PageRequest {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.items.len(), 1);
    assert_eq!(
        audit.items[0].subject.as_deref(),
        Some(leak.key.kid.as_str())
    );
    assert_eq!(audit.items[0].actor.as_deref(), Some("cli"));
}

async fn a_cached_token_is_refused_once_its_key_row_is_deleted(backend: Backend) {
    let leak = Leak::new(backend, uncapped).await;
    let token = leak.far_token();
    assert_accepted(&leak.app, &token, "the token before rotation").await;
    leak.manager.rotate(None, true).await.unwrap();
    // A retired key still verifies what it signed while such tokens may be alive.
    assert_accepted(&leak.app, &token, "the token of the just retired key").await;

    leak.app
        .store
        .delete_signing_key(&leak.key.kid)
        .await
        .unwrap();

    assert!(
        refused_within(&leak.app, &token, Duration::from_secs(2)).await,
        "a cached token outlived its deleted key"
    );
}

async fn a_cached_token_is_refused_once_its_key_is_retired_for_a_token_lifetime(backend: Backend) {
    let leak = Leak::new(backend, |s| {
        uncapped(s);
        s.tokens.access_ttl_secs = 1;
        s.tokens.id_token_ttl_secs = 1;
    })
    .await;
    let token = leak.far_token();
    assert_accepted(&leak.app, &token, "the token before rotation").await;

    leak.manager
        .rotate(Some(leak.key.algorithm), true)
        .await
        .unwrap();

    assert!(
        refused_within(&leak.app, &token, Duration::from_secs(5)).await,
        "a cached token outlived its key's retirement"
    );
}

async fn a_never_seen_token_living_longer_than_the_max_lifetime_is_refused(backend: Backend) {
    let leak = Leak::new(backend, |_| {}).await;
    let now = unix_now();
    let max = leak.app.settings.tokens.max_lifetime_secs as i64;

    assert_accepted(
        &leak.app,
        &leak.token(now, now, now + max),
        "a day-long token",
    )
    .await;
    assert_refused(
        &leak.app,
        &leak.token(now, now, now + max + 1),
        "a day and a second",
    )
    .await;
    let backdated = leak.token(now - max, now - max, now + 60);
    assert_refused(&leak.app, &backdated, "a backdated day-long token").await;
    assert_refused(&leak.app, &leak.far_token(), "a ten-year token").await;
}

async fn revoking_a_pending_key_unpublishes_it_and_keeps_the_active_one(backend: Backend) {
    let leak = Leak::new(backend, |_| {}).await;
    let pending = leak
        .manager
        .rotate(Some(leak.key.algorithm), false)
        .await
        .unwrap()
        .remove(0);
    let token = leak.far_token();
    let now = unix_now();
    let current = leak.token(now, now, now + 300);

    let replacement = leak.manager.revoke(&pending.kid).await.unwrap();

    assert!(
        replacement.is_none(),
        "only revoking the active key rotates"
    );
    let start = Instant::now();
    while jwks_kids(&leak.app).await.contains(&pending.kid) {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "revoked key still published"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = jwks_kids(&leak.app).await;
    assert_eq!(published.len(), 3, "{published:?}");
    assert!(published.contains(&leak.key.kid));
    assert_accepted(&leak.app, &current, "a token of the untouched active key").await;
    assert_refused(&leak.app, &token, "a ten-year token").await;
    let error = leak.manager.revoke("no-such-kid").await.unwrap_err();
    assert!(error.to_string().contains("no signing key"), "{error}");
}

async fn revoking_the_active_rs256_key_activates_a_new_one_and_leaves_eddsa_alone(
    backend: Backend,
) {
    let leak = Leak::new(backend, |_| {}).await;
    let rsa = leak.manager.signing_key_for(Algorithm::RS256).unwrap();
    let es256 = leak.manager.signing_key_for(Algorithm::ES256).unwrap();
    let now = unix_now();
    let rsa_token = leak.token_signed_by(&rsa, now, now, now + 300);
    assert_accepted(&leak.app, &rsa_token, "an RS256 token before revocation").await;

    let replacement = leak.manager.revoke(&rsa.kid).await.unwrap().unwrap();

    assert_eq!(replacement.algorithm, Algorithm::RS256);
    assert_eq!(replacement.state, KeyState::Active);
    assert_eq!(
        leak.manager.signing_key_for(Algorithm::RS256).unwrap().kid,
        replacement.kid
    );
    assert_eq!(leak.manager.signing_key().unwrap().kid, leak.key.kid);
    assert_eq!(
        leak.manager.signing_key_for(Algorithm::ES256).unwrap().kid,
        es256.kid
    );
    assert!(
        refused_within(&leak.app, &rsa_token, Duration::from_secs(2)).await,
        "a token of the revoked RS256 key still verifies"
    );
    let mut published = jwks_kids(&leak.app).await;
    published.sort();
    let mut expected = vec![
        replacement.kid.clone(),
        es256.kid.clone(),
        leak.key.kid.clone(),
    ];
    expected.sort();
    assert_eq!(published, expected);
    let fresh = leak
        .app
        .password_token("alice", "correct horse battery")
        .await;
    assert_eq!(
        kid_of(fresh["access_token"].as_str().unwrap()),
        leak.key.kid,
        "access tokens keep the untouched EdDSA key"
    );
}

async fn a_token_from_an_instance_whose_clock_runs_ahead_is_accepted(backend: Backend) {
    let leak = Leak::new(backend, |_| {}).await;
    assert_eq!(leak.app.settings.tokens.leeway_secs, 0);
    let ahead = unix_now() + 2;

    // An older instance wrote nbf = iat; a clock two seconds ahead must not make it unusable.
    let token = leak.token(ahead, ahead, ahead + 300);

    assert_accepted(&leak.app, &token, "a token issued 2 s in the future").await;
    let far_ahead = unix_now() + 60;
    let future = leak.token(far_ahead, far_ahead, far_ahead + 300);
    assert_refused(&leak.app, &future, "a token issued a minute in the future").await;
    let issued = leak
        .app
        .password_token("alice", "correct horse battery")
        .await;
    let body = leak
        .app
        .introspect(issued["access_token"].as_str().unwrap())
        .await;
    let (iat, nbf) = (body["iat"].as_i64().unwrap(), body["nbf"].as_i64().unwrap());
    assert!(
        nbf <= iat - 5,
        "nbf {nbf} leaves no room for lagging clocks (iat {iat})"
    );
}

async fn insert_revocation(store: &Store, jti: &str, expires_at: i64, revoked_at_ms: i64) {
    let sql = "insert into revoked_access_tokens (jti, expires_at, revoked_at_ms) \
               values ($1, $2, $3)";
    match store {
        Store::Postgres(pool) => sqlx::query(sql)
            .bind(jti)
            .bind(expires_at)
            .bind(revoked_at_ms)
            .execute(pool)
            .await
            .map(|_| ()),
        Store::Sqlite(pool) => sqlx::query(sql)
            .bind(jti)
            .bind(expires_at)
            .bind(revoked_at_ms)
            .execute(pool)
            .await
            .map(|_| ()),
    }
    .unwrap();
}

async fn a_revocation_stamped_by_a_lagging_clock_is_picked_up_by_polling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issued = app.password_token("alice", app.seed_alice().await).await;
    let token = issued["access_token"].as_str().unwrap();
    let body = app.introspect(token).await;
    assert_eq!(body["active"], true);

    // Another instance, its clock six seconds behind, revokes the token.
    let jti = body["jti"].as_str().unwrap();
    let exp = body["exp"].as_i64().unwrap();
    insert_revocation(&app.store, jti, exp, unix_now_ms() - 6_000).await;

    assert!(
        refused_within(&app, token, Duration::from_secs(2)).await,
        "the revocation was never polled"
    );
}

async fn more_revocations_than_the_memory_bound_all_stay_revoked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        shared_issuer(s);
        s.tokens.revocation_cache_entries = 4;
    })
    .await;
    let other = app.another_instance().await;
    let password = app.seed_alice().await;
    let mut revoked = Vec::new();
    for _ in 0..12 {
        let issued = app.password_token("alice", password).await;
        revoked.push(issued["access_token"].as_str().unwrap().to_owned());
    }
    let kept = app.password_token("alice", password).await;
    let kept = kept["access_token"].as_str().unwrap();

    for token in &revoked {
        let response = app
            .post_form("/revoke", &[("client_id", "public"), ("token", token)])
            .await;
        assert_eq!(response.status(), 200);
    }

    for (index, token) in revoked.iter().enumerate() {
        assert_refused(&app, token, &format!("revoked token {index}")).await;
        assert!(
            refused_within(&other, token, Duration::from_secs(2)).await,
            "revoked token {index} still active on the polling instance"
        );
    }
    assert_accepted(&app, kept, "a token that was never revoked").await;
    assert_accepted(
        &other,
        kept,
        "a token never revoked, on the polling instance",
    )
    .await;
}

backend_tests!(
    a_cached_token_from_a_key_revoked_with_the_cli_is_refused_on_every_instance,
    a_cached_token_is_refused_once_its_key_row_is_deleted,
    a_cached_token_is_refused_once_its_key_is_retired_for_a_token_lifetime,
    a_never_seen_token_living_longer_than_the_max_lifetime_is_refused,
    revoking_a_pending_key_unpublishes_it_and_keeps_the_active_one,
    revoking_the_active_rs256_key_activates_a_new_one_and_leaves_eddsa_alone,
    a_token_from_an_instance_whose_clock_runs_ahead_is_accepted,
    a_revocation_stamped_by_a_lagging_clock_is_picked_up_by_polling,
    more_revocations_than_the_memory_bound_all_stay_revoked,
);
