//! Upgrading keeps what users hold: refresh tokens and clients from before migration 0005
//! (refresh-token families, client registrations) keep working after it, and a key ring of
//! one algorithm gains the others without touching the key that signs.

use std::path::Path;
use std::sync::Arc;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use authd::clock::{unix_now, unix_now_ms};
use authd::credentials::{generate_secret, hash_secret};
use authd::store::Store;
use authd::tokens::{KeyEncryptionKey, generate_key};
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TEST_KEK, TestApp, TestDatabase, assert_oauth_error, test_settings};

/// Applies the migrations numbered below `before` from the backend's folder.
async fn migrate_up_to(store: &Store, folder: &str, before: u32) {
    let staged = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let number: u32 = name[..4].parse().unwrap();
        if number < before {
            std::fs::copy(&path, staged.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(staged.path()).await.unwrap();
    match store {
        Store::Postgres(pool) => migrator.run(pool).await,
        Store::Sqlite(pool) => migrator.run(pool).await,
    }
    .unwrap();
}

async fn execute(store: &Store, sql: &str, binds: &[&str]) {
    match store {
        Store::Postgres(pool) => {
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query.execute(pool).await.map(|_| ())
        }
        Store::Sqlite(pool) => {
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query.execute(pool).await.map(|_| ())
        }
    }
    .unwrap();
}

async fn refresh_tokens_and_clients_from_before_0005_keep_working(backend: Backend) {
    // A database as the previous release left it: a user, a client, and a refresh family with
    // one rotated and one current token.
    let database = Arc::new(TestDatabase::create(backend).await);
    let settings = test_settings(&database);
    let old = Store::connect(&settings.database).await.unwrap();
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    migrate_up_to(&old, folder, 5).await;
    let now = unix_now().to_string();
    let later = (unix_now() + 3600).to_string();
    let client_secret = generate_secret();
    let (rotated, current) = (generate_secret(), generate_secret());
    let (client_hash, rotated_hash, current_hash) = (
        hash_secret(&client_secret),
        hash_secret(&rotated),
        hash_secret(&current),
    );
    let statements: [(&str, Vec<&str>); 4] = [
        (
            r"insert into users (id, username, password_hash, created_at, updated_at)
              values ('u1', 'alice', 'x', cast($1 as bigint), cast($1 as bigint))",
            vec![&now],
        ),
        (
            r"insert into clients (client_id, secret_hash, grant_types, scopes, created_at)
              values ('svc', $1, 'password refresh_token client_credentials', 'items:read',
                      cast($2 as bigint))",
            vec![&client_hash, &now],
        ),
        (
            r"insert into refresh_tokens
                (token_hash, family_id, client_id, user_id, scope, issued_at, expires_at, rotated_at)
              values ($1, 'f1', 'svc', 'u1', 'items:read', cast($2 as bigint), cast($3 as bigint),
                      cast($2 as bigint))",
            vec![&rotated_hash, &now, &later],
        ),
        (
            r"insert into refresh_tokens
                (token_hash, family_id, client_id, user_id, scope, issued_at, expires_at, rotated_at)
              values ($1, 'f1', 'svc', 'u1', 'items:read', cast($2 as bigint), cast($3 as bigint),
                      null)",
            vec![&current_hash, &now, &later],
        ),
    ];
    for (sql, binds) in &statements {
        execute(&old, sql, binds).await;
    }
    old.close().await;

    // The new release migrates at start-up.
    let app = TestApp::start(settings, database).await;
    let refresh = |token: String| {
        let app = &app;
        let secret = client_secret.clone();
        async move {
            app.post_form_basic(
                "/token",
                "svc",
                &secret,
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };

    assert_oauth_error(refresh(rotated).await, 400, "invalid_grant").await;
    let renewed = refresh(current.clone()).await;
    assert_eq!(
        renewed.status(),
        200,
        "the live token of the old family works"
    );
    let renewed: Value = renewed.json().await.unwrap();
    let next = renewed["refresh_token"].as_str().unwrap().to_owned();
    assert!(next.contains("~1~"), "the family now has a secret: {next}");
    assert_eq!(
        app.introspect(renewed["access_token"].as_str().unwrap())
            .await["active"],
        true
    );
    // From now on the family detects reuse like any other: once its successor was used, the
    // old-format token is no retry (refresh_retry.rs) but reuse.
    let after_next: Value = refresh(next).await.json().await.unwrap();
    let after_next = after_next["refresh_token"].as_str().unwrap().to_owned();
    assert_oauth_error(refresh(current).await, 400, "invalid_grant").await;
    assert_oauth_error(refresh(after_next).await, 400, "invalid_grant").await;
    let client_token = app
        .post_form_basic(
            "/token",
            "svc",
            &client_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(client_token.status(), 200, "the old client authenticates");
}

async fn jwks_kids_and_algs(app: &TestApp) -> BTreeSet<(String, String)> {
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
        .map(|k| {
            let field = |name: &str| k[name].as_str().unwrap().to_owned();
            (field("kid"), field("alg"))
        })
        .collect()
}

async fn a_database_with_only_an_eddsa_key_gains_rs256_and_es256_keys_at_start(backend: Backend) {
    // What the previous release left: one sealed EdDSA key, signing for a minute already.
    let database = Arc::new(TestDatabase::create(backend).await);
    let settings = test_settings(&database);
    let old = Store::connect(&settings.database).await.unwrap();
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    migrate_up_to(&old, folder, 8).await;
    let minute_ago = unix_now_ms() - 60_000;
    let mut eddsa = generate_key(Algorithm::EdDSA, minute_ago, minute_ago).unwrap();
    let kek = KeyEncryptionKey::from_base64(TEST_KEK).unwrap();
    eddsa.private_key = kek.seal(&eddsa.private_key, &eddsa.kid).unwrap();
    old.insert_signing_key(&eddsa).await.unwrap();
    // The new release's migrations run once (`authd migrate`); then three instances start
    // together (SQLite does not serialise migrations between processes).
    old.migrate().await.unwrap();
    old.close().await;

    let (a, b, c) = tokio::join!(
        TestApp::start(settings.clone(), database.clone()),
        TestApp::start(settings.clone(), database.clone()),
        TestApp::start(settings.clone(), database.clone()),
    );

    let stored = a.store.list_signing_keys().await.unwrap();
    let of = |alg: &str| stored.iter().filter(|k| k.algorithm == alg).count();
    assert_eq!(of("EdDSA"), 1, "the existing EdDSA lineage got a new key");
    // Each instance may have added first keys of its own; at least one each, at most three.
    for alg in ["RS256", "ES256"] {
        assert!((1..=3).contains(&of(alg)), "{} {alg} keys", of(alg));
    }
    let expected: BTreeSet<(String, String)> = stored
        .iter()
        .map(|k| (k.kid.clone(), k.algorithm.clone()))
        .collect();
    let password = a.seed_alice().await;
    for app in [&a, &b, &c] {
        let start = Instant::now();
        while jwks_kids_and_algs(app).await != expected {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "an instance does not publish every stored key"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let token = app.password_token("alice", password).await;
        let access = token["access_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(access).unwrap();
        assert_eq!(header.kid.as_deref(), Some(eddsa.kid.as_str()));
        assert_eq!(header.alg, Algorithm::EdDSA);
        let me = app
            .bearer(reqwest::Method::GET, "/me", Some(access), None)
            .await;
        assert_eq!(me.status(), 200, "the EdDSA token does not verify");
    }
}

backend_tests!(
    refresh_tokens_and_clients_from_before_0005_keep_working,
    a_database_with_only_an_eddsa_key_gains_rs256_and_es256_keys_at_start,
);
