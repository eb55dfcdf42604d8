//! Delegation in the admin API: an admin scope passes only from a holder of it, nobody acts on a
//! holder of admin scopes they lack, and the last full admin stays (issue 10, finding 7).

use std::time::{Duration, Instant};

use authd::domain::{ADMIN_SCOPES, Authority, GrantType, Username};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

const PASSWORD: &str = "delegation password";

/// A user holding `roles`, and an access token of theirs.
async fn user_with_token(app: &TestApp, username: &str, roles: &[&str]) -> String {
    app.add_user(username, PASSWORD, roles).await;
    app.password_token(username, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `admin` role (every admin scope), an `items` role, and `root`, the one full admin.
async fn seed(app: &TestApp) -> String {
    app.add_role("admin", &ADMIN_SCOPES).await;
    app.add_role("items", &["items:read", "items:write"]).await;
    user_with_token(app, "root", &["admin"]).await
}

/// Asserts a delegation refusal: 403 `insufficient_scope` naming each `missing` scope.
async fn assert_refused(response: reqwest::Response, missing: &[&str]) {
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    let description = body["error_description"].as_str().unwrap();
    for scope in missing {
        assert!(description.contains(scope), "{description} names {scope}");
        assert!(challenge.contains(scope), "{challenge} names {scope}");
    }
}

/// Asserts the last-full-admin refusal: 409 `conflict`.
async fn assert_last_admin_kept(response: reqwest::Response) {
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "conflict", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("every admin scope"),
        "{body}"
    );
}

async fn roles_of(app: &TestApp, username: &str) -> Vec<String> {
    app.store
        .find_user(&Username::parse(username).unwrap())
        .await
        .unwrap()
        .expect("user exists")
        .roles
}

async fn scopes_of_role(app: &TestApp, role: &str) -> Vec<String> {
    let roles = app.store.list_roles().await.unwrap();
    let role = roles.iter().find(|r| r.name == role).expect("role exists");
    role.scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

/// Usernames of enabled users whose roles grant every admin scope.
async fn full_admins(app: &TestApp) -> Vec<String> {
    let roles = app.store.list_roles().await.unwrap();
    let mut admins = Vec::new();
    for user in app.store.list_users().await.unwrap() {
        let holds = |scope: &str| {
            roles
                .iter()
                .filter(|r| user.roles.contains(&r.name))
                .any(|r| r.scopes.contains(scope))
        };
        if !user.disabled && ADMIN_SCOPES.iter().all(|s| holds(s)) {
            admins.push(user.username.clone());
        }
    }
    admins
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    let body = (!body.is_null()).then_some(body);
    app.bearer(method, path, Some(token), body.as_ref()).await
}

async fn users_write_cannot_put_its_holder_into_the_admin_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = seed(&app).await;
    app.add_role("helpdesk", &["users:read", "users:write"])
        .await;
    let eve = user_with_token(&app, "eve", &["helpdesk"]).await;

    let promote = json!({"roles": ["helpdesk", "admin"]});
    let response = send(&app, Method::PATCH, "/admin/users/eve", &eve, promote).await;

    assert_refused(response, &["roles:write", "clients:write", "audit:read"]).await;
    assert_eq!(roles_of(&app, "eve").await, ["helpdesk"]);
    // Application scopes stay grantable with users:write alone.
    let widen = json!({"roles": ["helpdesk", "items"]});
    let response = send(&app, Method::PATCH, "/admin/users/eve", &eve, widen).await;
    assert_eq!(response.status(), 200);
    // The refusal is in the audit trail.
    let started = Instant::now();
    let refused = loop {
        let page: Value = send(
            &app,
            Method::GET,
            "/admin/audit?action=admin.refused",
            &root,
            Value::Null,
        )
        .await
        .json()
        .await
        .unwrap();
        let items = page["items"].as_array().unwrap().clone();
        if !items.is_empty() || started.elapsed() > Duration::from_secs(3) {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["actor"], "eve");
    assert_eq!(refused[0]["subject"], "eve");
    assert!(refused[0]["detail"].as_str().unwrap().starts_with(
        "user.updated needs audit:read clients:read clients:write roles:read roles:write"
    ));
}

async fn users_write_cannot_create_a_user_holding_admin_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let helpdesk = app.token_with_scopes(&["users:write"]).await;

    let mole = json!({"username": "mole", "password": PASSWORD, "roles": ["admin"]});
    let response = send(&app, Method::POST, "/admin/users", &helpdesk, mole).await;

    assert_refused(response, &["users:read", "roles:write", "audit:read"]).await;
    let mole = Username::parse("mole").unwrap();
    assert!(app.store.find_user(&mole).await.unwrap().is_none());
    let worker = json!({"username": "worker", "password": PASSWORD, "roles": ["items"]});
    let response = send(&app, Method::POST, "/admin/users", &helpdesk, worker).await;
    assert_eq!(response.status(), 201);
}

async fn clients_write_cannot_register_a_client_holding_admin_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let registrar = app.token_with_scopes(&["clients:write"]).await;

    let backdoor = json!({
        "client_id": "backdoor",
        "grants": ["client_credentials"],
        "scopes": ["users:write", "audit:read"],
    });
    let response = send(&app, Method::POST, "/admin/clients", &registrar, backdoor).await;

    assert_refused(response, &["users:write", "audit:read"]).await;
    let id = authd::domain::ClientId::parse("backdoor").unwrap();
    assert!(app.store.find_client(&id).await.unwrap().is_none());
    // A client token is bounded the same way: its own scopes.
    let secret = app
        .add_client(
            "registrar",
            &[GrantType::ClientCredentials],
            &["clients:write"],
            false,
        )
        .await
        .unwrap();
    let token: Value = app
        .post_form_basic(
            "/token",
            "registrar",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
    let client_token = token["access_token"].as_str().unwrap();
    let backdoor = json!({"client_id": "backdoor2", "grants": ["client_credentials"], "scopes": ["clients:write", "users:write"]});
    let response = send(&app, Method::POST, "/admin/clients", client_token, backdoor).await;
    assert_refused(response, &["users:write"]).await;
    // Other scopes, and admin scopes the caller holds, stay grantable.
    let service = json!({
        "client_id": "service",
        "grants": ["client_credentials"],
        "scopes": ["introspect", "items:read", "openid", "clients:write"],
    });
    let response = send(&app, Method::POST, "/admin/clients", &registrar, service).await;
    assert_eq!(response.status(), 201);
}

async fn roles_write_cannot_widen_a_role_with_admin_scopes_it_lacks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    app.add_role("rolemgr", &["roles:read", "roles:write"])
        .await;
    let manager = user_with_token(&app, "manager", &["rolemgr"]).await;

    let widen = json!({"scopes": ["roles:read", "roles:write", "users:write"]});
    let response = send(&app, Method::PUT, "/admin/roles/rolemgr", &manager, widen).await;

    assert_refused(response, &["users:write"]).await;
    assert_eq!(
        scopes_of_role(&app, "rolemgr").await,
        ["roles:read", "roles:write"]
    );
    let sneaky = json!({"scopes": ["clients:write"]});
    let response = send(&app, Method::PUT, "/admin/roles/sneaky", &manager, sneaky).await;
    assert_refused(response, &["clients:write"]).await;
    assert!(
        app.store
            .list_roles()
            .await
            .unwrap()
            .iter()
            .all(|r| r.name != "sneaky")
    );
    let widen = json!({"scopes": ["roles:read", "roles:write", "items:read"]});
    let response = send(&app, Method::PUT, "/admin/roles/rolemgr", &manager, widen).await;
    assert_eq!(response.status(), 200);
}

async fn roles_write_cannot_narrow_or_delete_a_role_granting_scopes_it_lacks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let manager = app.token_with_scopes(&["roles:read", "roles:write"]).await;

    let narrow = json!({"scopes": ["roles:read", "roles:write"]});
    let response = send(&app, Method::PUT, "/admin/roles/admin", &manager, narrow).await;
    assert_refused(response, &["users:write", "clients:write", "audit:read"]).await;
    let path = "/admin/roles/admin?force=true";
    let response = send(&app, Method::DELETE, path, &manager, Value::Null).await;
    assert_refused(response, &["users:write", "clients:write", "audit:read"]).await;

    assert_eq!(
        scopes_of_role(&app, "admin").await.len(),
        ADMIN_SCOPES.len()
    );
    assert_eq!(roles_of(&app, "root").await, ["admin"]);
}

async fn users_write_cannot_reset_disable_change_or_delete_a_user_with_more_admin_scopes(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    app.seed_alice().await;
    let helpdesk = app.token_with_scopes(&["users:read", "users:write"]).await;

    for change in [
        json!({"password": "taken over password"}),
        json!({"disabled": true}),
        json!({"email": "attacker@example.test"}),
        json!({"roles": []}),
    ] {
        let response = send(&app, Method::PATCH, "/admin/users/root", &helpdesk, change).await;
        assert_refused(response, &["roles:write", "clients:read", "audit:read"]).await;
    }
    let response = send(
        &app,
        Method::DELETE,
        "/admin/users/root",
        &helpdesk,
        Value::Null,
    )
    .await;
    assert_refused(response, &["roles:write", "clients:read", "audit:read"]).await;

    let root = app.password_token("root", PASSWORD).await;
    assert!(root["scope"].as_str().unwrap().contains("audit:read"));
    assert_eq!(roles_of(&app, "root").await, ["admin"]);
    // Users without admin scopes beyond the caller's are managed as before.
    let reset = json!({"password": "a fresh password"});
    let response = send(&app, Method::PATCH, "/admin/users/alice", &helpdesk, reset).await;
    assert_eq!(response.status(), 200);
}

async fn clients_write_cannot_rotate_or_delete_a_client_with_more_admin_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let ops_secret = app
        .add_client(
            "ops",
            &[GrantType::ClientCredentials],
            &["users:read", "audit:read"],
            false,
        )
        .await
        .unwrap();
    app.add_client(
        "svc",
        &[GrantType::ClientCredentials],
        &["items:read"],
        false,
    )
    .await;
    let registrar = app
        .token_with_scopes(&["clients:read", "clients:write"])
        .await;

    let rotate = send(
        &app,
        Method::POST,
        "/admin/clients/ops/secret",
        &registrar,
        Value::Null,
    )
    .await;
    assert_refused(rotate, &["users:read", "audit:read"]).await;
    let delete = send(
        &app,
        Method::DELETE,
        "/admin/clients/ops",
        &registrar,
        Value::Null,
    )
    .await;
    assert_refused(delete, &["users:read", "audit:read"]).await;

    let token = app
        .post_form_basic(
            "/token",
            "ops",
            &ops_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(token.status(), 200, "ops keeps its secret");
    let rotate = send(
        &app,
        Method::POST,
        "/admin/clients/svc/secret",
        &registrar,
        Value::Null,
    )
    .await;
    assert_eq!(rotate.status(), 200);
    let delete = send(
        &app,
        Method::DELETE,
        "/admin/clients/svc",
        &registrar,
        Value::Null,
    )
    .await;
    assert_eq!(delete.status(), 204);
}

async fn a_demoted_admin_cannot_use_its_old_token_to_restore_its_admin_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = seed(&app).await;
    let bob = user_with_token(&app, "bob", &["admin"]).await;

    let demote = send(
        &app,
        Method::PATCH,
        "/admin/users/bob",
        &root,
        json!({"roles": []}),
    )
    .await;
    assert_eq!(demote.status(), 200);
    // bob's token still carries every admin scope until it expires, but his roles no longer do.
    let restore = json!({"roles": ["admin"]});
    let response = send(&app, Method::PATCH, "/admin/users/bob", &bob, restore).await;

    assert_refused(response, &["users:write", "roles:write", "audit:read"]).await;
    assert!(roles_of(&app, "bob").await.is_empty());
}

async fn the_last_full_admin_cannot_be_deleted_disabled_demoted_or_stripped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = seed(&app).await;
    // A disabled full admin does not count.
    app.add_user("sleeper", PASSWORD, &["admin"]).await;
    app.store
        .set_disabled(&Username::parse("sleeper").unwrap(), true, 1)
        .await
        .unwrap();
    let all_but_audit: Vec<&str> = ADMIN_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "audit:read")
        .collect();

    for (method, path, body) in [
        (Method::DELETE, "/admin/users/root", Value::Null),
        (
            Method::PATCH,
            "/admin/users/root",
            json!({"disabled": true}),
        ),
        (
            Method::PATCH,
            "/admin/users/root",
            json!({"roles": ["items"]}),
        ),
        (
            Method::PUT,
            "/admin/roles/admin",
            json!({"scopes": all_but_audit}),
        ),
        (Method::DELETE, "/admin/roles/admin?force=true", Value::Null),
    ] {
        let response = send(&app, method.clone(), path, &root, body).await;
        assert_last_admin_kept(response).await;
        assert_eq!(full_admins(&app).await, ["root"], "{method} {path}");
    }
    let response = send(&app, Method::GET, "/admin/users", &root, Value::Null).await;
    assert_eq!(response.status(), 200, "root's token still works");

    // With a second full admin, either may go.
    app.add_user("deputy", PASSWORD, &["admin"]).await;
    let demote = send(
        &app,
        Method::PATCH,
        "/admin/users/root",
        &root,
        json!({"roles": ["items"]}),
    )
    .await;
    assert_eq!(demote.status(), 200);
    assert_eq!(full_admins(&app).await, ["deputy"]);
}

/// What one full admin does to the other in a trial of the race test.
fn removal(kind: usize, victim: &str) -> (Method, String, Value) {
    match kind {
        0 => (
            Method::DELETE,
            format!("/admin/users/{victim}"),
            Value::Null,
        ),
        1 => (
            Method::PATCH,
            format!("/admin/users/{victim}"),
            json!({"disabled": true}),
        ),
        2 => (
            Method::PATCH,
            format!("/admin/users/{victim}"),
            json!({"roles": []}),
        ),
        3 => (
            Method::PUT,
            format!("/admin/roles/r{victim}"),
            json!({"scopes": []}),
        ),
        _ => (
            Method::DELETE,
            format!("/admin/roles/r{victim}?force=true"),
            Value::Null,
        ),
    }
}

async fn two_full_admins_removing_each_other_at_once_leave_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for trial in 0..20 {
        let kind = trial % 5;
        let (x, y) = (format!("x{trial}"), format!("y{trial}"));
        for name in [&x, &y] {
            app.add_role(&format!("r{name}"), &ADMIN_SCOPES).await;
        }
        let x_token = user_with_token(&app, &x, &[&format!("r{x}")]).await;
        let y_token = user_with_token(&app, &y, &[&format!("r{y}")]).await;
        assert_eq!(full_admins(&app).await.len(), 2);

        let (x_method, x_path, x_body) = removal(kind, &y);
        let (y_method, y_path, y_body) = removal(kind, &x);
        let (by_x, by_y) = tokio::join!(
            send(&app, x_method, &x_path, &x_token, x_body),
            send(&app, y_method, &y_path, &y_token, y_body),
        );

        let statuses = [by_x.status().as_u16(), by_y.status().as_u16()];
        let succeeded = statuses.iter().filter(|s| **s < 300).count();
        assert_eq!(succeeded, 1, "trial {trial} (kind {kind}): {statuses:?}");
        // The loser was refused as the last admin, lost its roles first (403), or its token
        // ended with the winner's change (401).
        assert!(
            statuses
                .iter()
                .all(|s| [200, 204, 401, 403, 409].contains(s)),
            "trial {trial} (kind {kind}): {statuses:?}"
        );
        assert_eq!(
            full_admins(&app).await.len(),
            1,
            "trial {trial} (kind {kind})"
        );

        // The CLI can always repair: it clears the survivor for the next trial.
        for name in [&x, &y] {
            let _ = app
                .store
                .delete_user(&Username::parse(name).unwrap(), &Authority::Operator)
                .await;
        }
    }
}

backend_tests!(
    users_write_cannot_put_its_holder_into_the_admin_role,
    users_write_cannot_create_a_user_holding_admin_scopes,
    clients_write_cannot_register_a_client_holding_admin_scopes,
    roles_write_cannot_widen_a_role_with_admin_scopes_it_lacks,
    roles_write_cannot_narrow_or_delete_a_role_granting_scopes_it_lacks,
    users_write_cannot_reset_disable_change_or_delete_a_user_with_more_admin_scopes,
    clients_write_cannot_rotate_or_delete_a_client_with_more_admin_scopes,
    a_demoted_admin_cannot_use_its_old_token_to_restore_its_admin_role,
    the_last_full_admin_cannot_be_deleted_disabled_demoted_or_stripped,
    two_full_admins_removing_each_other_at_once_leave_one,
);
