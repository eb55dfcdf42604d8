//! `authd user import`: passlib/bcrypt users log in unchanged and are rehashed to argon2id.

use std::process::{Command, Output};

use authd::credentials::PasswordScheme;
use authd::domain::Username;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};

// The FastAPI tutorial's user: passlib bcrypt hash of "secret".
const JOHNDOE: &str = r#"{"username": "johndoe", "full_name": "John Doe", "email": "johndoe@example.com", "password_hash": "$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW", "disabled": false, "roles": ["reader"]}"#;

fn import(database: &TestDatabase, file: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["user", "import", file.to_str().unwrap()])
        .env("AUTHD_DATABASE__URL", &database.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

async fn a_bcrypt_user_logs_in_unchanged_and_is_rehashed_to_argon2id(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let app = TestApp::start(test_settings(&database), database).await;
    app.add_role("reader", &["items:read"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, format!("{JOHNDOE}\n\n")).unwrap();

    let output = import(&app.database, &file);
    assert!(output.status.success(), "{output:?}");
    let before = app
        .store
        .find_user(&Username::parse("johndoe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.password_scheme, PasswordScheme::Bcrypt);

    let token = app.password_token("johndoe", "secret").await;

    assert_eq!(token["scope"], "items:read");
    let after = app
        .store
        .find_user(&Username::parse("johndoe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.password_scheme, PasswordScheme::Argon2id);
    let again = app.password_token("johndoe", "secret").await;
    assert_eq!(
        again["scope"], "items:read",
        "the new argon2id hash verifies too"
    );
    let wrong = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "johndoe"),
                ("password", "Secret"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 400);
}

async fn a_malformed_import_file_changes_nothing(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let app = TestApp::start(test_settings(&database), database).await;
    app.add_role("reader", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let broken_line = dir.path().join("broken.jsonl");
    std::fs::write(
        &broken_line,
        format!("{JOHNDOE}\n{{\"username\": \"eve\", \"password_hash\": \"plain\"}}\n"),
    )
    .unwrap();
    let unknown_role = dir.path().join("role.jsonl");
    std::fs::write(
        &unknown_role,
        format!(
            "{JOHNDOE}\n{}\n",
            JOHNDOE
                .replace("johndoe", "jane")
                .replace("reader", "ghost")
        ),
    )
    .unwrap();
    let duplicate = dir.path().join("dup.jsonl");
    std::fs::write(
        &duplicate,
        format!("{JOHNDOE}\n{}\n", JOHNDOE.replace("johndoe", "JohnDoe")),
    )
    .unwrap();

    let outputs = [
        import(&app.database, &broken_line),
        import(&app.database, &unknown_role),
        import(&app.database, &duplicate),
    ];

    let expected = ["line 2", "role ghost does not exist", "already exists"];
    for (output, needle) in outputs.iter().zip(expected) {
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.lines().last().unwrap().contains(needle), "{stderr}");
    }
    assert!(
        app.store.list_users().await.unwrap().is_empty(),
        "nothing was half-imported"
    );
}

backend_tests!(
    a_bcrypt_user_logs_in_unchanged_and_is_rehashed_to_argon2id,
    a_malformed_import_file_changes_nothing,
);
