//! Upgrading keeps what users hold: refresh tokens and clients from before migration 0005
//! (refresh-token families, client registrations) keep working after it.

use std::path::Path;
use std::sync::Arc;

use authd::clock::unix_now;
use authd::credentials::{generate_secret, hash_secret};
use authd::store::Store;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase, assert_oauth_error, test_settings};

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
    // From now on the family detects reuse like any other.
    assert_oauth_error(refresh(current).await, 400, "invalid_grant").await;
    assert_oauth_error(refresh(next).await, 400, "invalid_grant").await;
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

backend_tests!(refresh_tokens_and_clients_from_before_0005_keep_working);
