//! Issue 13, policy and step-up: roles that demand a second factor (CLI, admin API, delegation,
//! the credential cache), and how strong a sign-in was (`amr`, `acr`, `auth_time`) in access
//! tokens, id_tokens, introspection, /me and discovery.

use std::process::{Command, Output};
use std::time::Duration;

use authd::credential_cache::CredentialCache;
use authd::domain::{ADMIN_SCOPES, GrantType, RoleName, ScopeSet};
use authd::mfa::{ACR_MFA, ACR_PWD};
use authd::store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TEST_KEK, TestApp};
use crate::openid_connect::{PASSWORD, openid_client, seed_alice, verify_with_jwks};
use crate::signin_support::{Browser, Pkce, WebClient, json as token_json};
use crate::totp;

/// The claims of a JWT, unverified (the tests that need verification use the JWKS).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Runs the authd CLI against the app's database.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    let url = app.database.url.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHD_")) {
            command.env_remove(key);
        }
        command
            .args(&args)
            .env("RUST_LOG", "warn")
            .env("AUTHD_DATABASE__URL", url)
            .env("AUTHD_KEYS__ENCRYPTION_KEY", TEST_KEK)
            .output()
            .expect("running the authd CLI")
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs one SQL statement behind authd's back.
async fn execute(app: &TestApp, sql: &str) {
    match &app.store {
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .expect("the statement runs");
}

async fn require_mfa_of(app: &TestApp, role: &str) -> bool {
    let roles = app.store.list_roles().await.unwrap();
    roles.iter().find(|r| r.name == role).unwrap().require_mfa
}

async fn the_cli_sets_require_mfa_and_a_later_role_set_without_it_clears_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let set = stdout(&cli(&app, &["role", "set", "ops", "items:read", "--require-mfa"]).await);
    let user = app.add_user("olga", "operator password", &["ops"]).await;
    let listed = stdout(&cli(&app, &["role", "list"]).await);
    let required = app.store.user_requires_mfa(&user.id).await.unwrap();
    let cleared = stdout(&cli(&app, &["role", "set", "ops", "items:read"]).await);
    let listed_after = stdout(&cli(&app, &["role", "list"]).await);

    assert_eq!(set.trim(), "role ops: items:read (require-mfa)");
    assert_eq!(listed.trim(), "ops\titems:read\trequire-mfa");
    assert!(required, "olga holds a role that demands a second factor");
    assert_eq!(cleared.trim(), "role ops: items:read");
    assert_eq!(listed_after.trim(), "ops\titems:read");
    assert!(!require_mfa_of(&app, "ops").await);
    assert!(!app.store.user_requires_mfa(&user.id).await.unwrap());
}

async fn the_admin_api_reads_and_writes_require_mfa_and_a_put_without_it_clears_it(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let put = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.bearer(Method::PUT, "/admin/roles/ops", Some(&admin), Some(&body))
                .await
        }
    };

    let required = put(json!({"scopes": ["items:read"], "require_mfa": true})).await;
    let required_status = required.status();
    let required: Value = required.json().await.unwrap();
    let listed: Value = app
        .bearer(Method::GET, "/admin/roles", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    let stored = require_mfa_of(&app, "ops").await;
    let cleared: Value = put(json!({"scopes": ["items:read"]}))
        .await
        .json()
        .await
        .unwrap();
    let bad = put(json!({"scopes": ["items:read"], "require_mfa": "yes"})).await;

    assert_eq!(required_status, 200);
    assert_eq!(
        required,
        json!({"name": "ops", "scopes": ["items:read"], "require_mfa": true})
    );
    let ops = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == "ops")
        .unwrap();
    assert_eq!(ops["require_mfa"], true);
    assert!(stored);
    assert_eq!(cleared["require_mfa"], false);
    assert!(!require_mfa_of(&app, "ops").await);
    assert_eq!(bad.status(), 400);
    assert!(
        !require_mfa_of(&app, "ops").await,
        "a bad request changes nothing"
    );
}

async fn roles_write_cannot_clear_require_mfa_of_a_role_granting_admin_scopes_it_lacks(
    backend: Backend,
) {
    // Arrange: the admin role demands a second factor; a role manager holds only roles:*.
    let app = TestApp::spawn(backend).await;
    app.store
        .set_role(
            &RoleName::parse("admin").unwrap(),
            &ScopeSet::from_tokens(&ADMIN_SCOPES).unwrap(),
            true,
            authd::clock::unix_now(),
        )
        .await
        .unwrap();
    let manager = app.token_with_scopes(&["roles:read", "roles:write"]).await;
    let full = app.admin_token().await;
    let same_scopes = json!({"scopes": ADMIN_SCOPES, "require_mfa": false});

    // Act
    let by_manager = app
        .bearer(
            Method::PUT,
            "/admin/roles/admin",
            Some(&manager),
            Some(&same_scopes),
        )
        .await;
    let still_required = require_mfa_of(&app, "admin").await;
    let by_full_admin = app
        .bearer(
            Method::PUT,
            "/admin/roles/admin",
            Some(&full),
            Some(&same_scopes),
        )
        .await;

    // Assert
    assert_eq!(by_manager.status(), 403);
    let body: Value = by_manager.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    assert!(still_required, "the refused change left the requirement");
    assert_eq!(by_full_admin.status(), 200);
    assert!(!require_mfa_of(&app, "admin").await);
}

async fn the_cache_answers_user_requires_mfa_within_its_lifetime_then_rereads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.store
        .set_role(
            &RoleName::parse("ops").unwrap(),
            &ScopeSet::from_tokens(&["items:read"]).unwrap(),
            true,
            authd::clock::unix_now(),
        )
        .await
        .unwrap();
    let olga = app.add_user("olga", "operator password", &["ops"]).await;
    let cache = CredentialCache::new(&app.settings);

    let first = cache.user_requires_mfa(&app.store, &olga.id).await.unwrap();
    execute(&app, "update roles set require_mfa = false").await;
    let cached = cache.user_requires_mfa(&app.store, &olga.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reread = cache.user_requires_mfa(&app.store, &olga.id).await.unwrap();
    execute(&app, "update roles set require_mfa = true").await;
    cache.forget_user(&olga.id);
    let forgotten = cache.user_requires_mfa(&app.store, &olga.id).await.unwrap();

    assert!(first);
    assert!(
        cached,
        "a hit within the entry's lifetime does not read the database"
    );
    assert!(!reread, "an expired entry is read again");
    assert!(forgotten, "forget_user drops the entry at once");
}

async fn a_password_grant_token_carries_amr_pwd_acr_pwd_and_auth_time(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let before = authd::clock::unix_now();

    // Act
    let body = app.password_token("alice", password).await;
    let after = authd::clock::unix_now();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&access);
    let introspected = app.introspect(&access).await;
    let refresh_introspected = app.introspect(&refresh).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (refreshed_status, refreshed) = token_json(
        app.post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ],
        )
        .await,
    )
    .await;
    let me: Value = app
        .bearer(Method::GET, "/me", Some(&access), None)
        .await
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], ACR_PWD);
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(before <= auth_time && auth_time <= after);
    for (what, answer) in [
        ("access", &introspected),
        ("refresh", &refresh_introspected),
    ] {
        assert_eq!(answer["active"], true, "{what}");
        assert_eq!(answer["amr"], json!(["pwd"]), "{what}");
        assert_eq!(answer["acr"], ACR_PWD, "{what}");
        assert_eq!(answer["auth_time"], auth_time, "{what}");
    }
    assert_eq!(refreshed_status, 200, "{refreshed}");
    let renewed = claims_of(refreshed["access_token"].as_str().unwrap());
    assert!(renewed["iat"].as_i64() > claims["iat"].as_i64());
    assert_eq!(
        renewed["auth_time"], auth_time,
        "refreshing is no new sign-in"
    );
    assert_eq!(
        (&renewed["amr"], &renewed["acr"]),
        (&json!(["pwd"]), &json!(ACR_PWD))
    );
    assert!(refreshed.get("id_token").is_none(), "{refreshed}");
    assert_eq!((&me["acr"], &me["amr"]), (&json!(ACR_PWD), &json!(["pwd"])));
    assert_eq!(me["auth_time"], auth_time);
}

async fn a_password_grant_with_a_code_carries_acr_mfa_through_refresh(backend: Backend) {
    // Arrange: alice enrols an authenticator app through the account pages.
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = totp::enrol(&app).await;
    totp::inside_a_step(&app).await;

    // Act
    let response = totp::grant(&app, Some(&totp::code_at(&app, &enrolled.totp, 0))).await;
    let (status, body) = token_json(response).await;
    let access = body["access_token"].as_str().unwrap();
    let introspected = app.introspect(access).await;
    let (refreshed_status, refreshed) = token_json(
        app.post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);
    assert!(claims["auth_time"].is_i64());
    assert_eq!(introspected["acr"], ACR_MFA);
    assert_eq!(refreshed_status, 200, "{refreshed}");
    let renewed = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(
        (&renewed["acr"], &renewed["amr"], &renewed["auth_time"]),
        (&json!(ACR_MFA), &claims["amr"], &claims["auth_time"])
    );
}

async fn a_client_credentials_token_carries_no_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client(
            "svc",
            &[GrantType::ClientCredentials],
            &["items:read"],
            false,
        )
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/token",
            "svc",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (status, body) = token_json(response).await;
    let token = body["access_token"].as_str().unwrap();
    let introspected = app.introspect(token).await;

    assert_eq!(status, 200, "{body}");
    let claims = claims_of(token);
    assert_eq!(introspected["active"], true);
    for claim in ["amr", "acr", "auth_time"] {
        assert!(claims.get(claim).is_none(), "{claim} in {claims}");
        assert!(
            introspected.get(claim).is_none(),
            "{claim} in {introspected}"
        );
    }
}

/// The tokens for a code obtained in `browser`'s session.
async fn code_flow_tokens(app: &TestApp, browser: &Browser, client: &WebClient) -> Value {
    let pkce = Pkce::new();
    let code = browser
        .code_with(
            app,
            client,
            &pkce,
            &[("scope", "openid items:read")],
            PASSWORD,
        )
        .await;
    let (status, body) = token_json(
        client
            .exchange(app, &code, Some(&pkce.verifier), Some(&client.redirect_uri))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn code_flow_tokens_carry_the_sessions_amr_and_acr_through_refresh(backend: Backend) {
    // Arrange: a password sign-in, then the same session counting as password and TOTP (set in
    // the database, as the sign-in hub's second-factor step leaves it).
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let password_only = code_flow_tokens(&app, &browser, &client).await;
    execute(&app, "update sessions set amr = 'pwd otp mfa'").await;
    // A live session is kept in memory for half a second.
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Act
    let stepped_up = code_flow_tokens(&app, &browser, &client).await;
    let access = stepped_up["access_token"].as_str().unwrap();
    let (_, id_claims) =
        verify_with_jwks(&app, stepped_up["id_token"].as_str().unwrap(), "photos").await;
    let introspected = app.introspect(access).await;
    let refresh = stepped_up["refresh_token"].as_str().unwrap();
    let (refreshed_status, refreshed) = token_json(
        app.post_form_basic(
            "/token",
            &client.id,
            client.secret.as_deref().unwrap(),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
    )
    .await;

    // Assert: the first sign-in was a password alone.
    let weak = claims_of(password_only["access_token"].as_str().unwrap());
    assert_eq!(
        (&weak["amr"], &weak["acr"]),
        (&json!(["pwd"]), &json!(ACR_PWD))
    );
    let (_, weak_id) =
        verify_with_jwks(&app, password_only["id_token"].as_str().unwrap(), "photos").await;
    assert_eq!(weak_id["acr"], ACR_PWD);
    // Then every token of the multi-factor session says so, with the session's auth_time.
    let claims = claims_of(access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["auth_time"], weak["auth_time"]);
    assert_eq!(id_claims["acr"], ACR_MFA);
    assert_eq!(id_claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id_claims["auth_time"], claims["auth_time"]);
    assert_eq!(introspected["acr"], ACR_MFA);
    assert_eq!(introspected["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(introspected["auth_time"], claims["auth_time"]);
    assert_eq!(refreshed_status, 200, "{refreshed}");
    let renewed = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(
        (&renewed["acr"], &renewed["auth_time"]),
        (&json!(ACR_MFA), &claims["auth_time"])
    );
    let (_, renewed_id) =
        verify_with_jwks(&app, refreshed["id_token"].as_str().unwrap(), "photos").await;
    assert_eq!(renewed_id["acr"], ACR_MFA);
}

async fn discovery_lists_the_acr_values_and_the_acr_claim(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let document: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(document["acr_values_supported"], json!([ACR_PWD, ACR_MFA]));
    let claims = document["claims_supported"].as_array().unwrap();
    assert!(claims.contains(&json!("acr")) && claims.contains(&json!("amr")));
}

backend_tests!(
    the_cli_sets_require_mfa_and_a_later_role_set_without_it_clears_it,
    the_admin_api_reads_and_writes_require_mfa_and_a_put_without_it_clears_it,
    roles_write_cannot_clear_require_mfa_of_a_role_granting_admin_scopes_it_lacks,
    the_cache_answers_user_requires_mfa_within_its_lifetime_then_rereads,
    a_password_grant_token_carries_amr_pwd_acr_pwd_and_auth_time,
    a_password_grant_with_a_code_carries_acr_mfa_through_refresh,
    a_client_credentials_token_carries_no_sign_in,
    code_flow_tokens_carry_the_sessions_amr_and_acr_through_refresh,
    discovery_lists_the_acr_values_and_the_acr_claim,
);
