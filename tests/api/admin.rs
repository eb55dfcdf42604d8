//! The admin API: every route's 401 / 403 / success, and what each change does to tokens.

use authd::domain::GrantType;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

/// Asserts status and the `error` code of an admin API error; returns the body.
async fn assert_api_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
    body
}

/// Every admin route: method, path, body, the scope it needs, the status it answers with.
fn admin_routes() -> Vec<(Method, &'static str, Option<Value>, &'static str, u16)> {
    vec![
        (Method::GET, "/admin/users", None, "users:read", 200),
        (
            Method::POST,
            "/admin/users",
            Some(json!({"username": "newbie", "password": "newbie password"})),
            "users:write",
            201,
        ),
        (Method::GET, "/admin/users/alice", None, "users:read", 200),
        (
            Method::PATCH,
            "/admin/users/alice",
            Some(json!({"full_name": "Alice"})),
            "users:write",
            200,
        ),
        (Method::GET, "/admin/roles", None, "roles:read", 200),
        (
            Method::PUT,
            "/admin/roles/auditor",
            Some(json!({"scopes": ["items:read"]})),
            "roles:write",
            200,
        ),
        (Method::GET, "/admin/clients", None, "clients:read", 200),
        (
            Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "fresh", "grants": ["client_credentials"]})),
            "clients:write",
            201,
        ),
        (
            Method::POST,
            "/admin/clients/svc/secret",
            None,
            "clients:write",
            200,
        ),
        (
            Method::DELETE,
            "/admin/clients/svc",
            None,
            "clients:write",
            204,
        ),
        (
            Method::DELETE,
            "/admin/roles/unused",
            None,
            "roles:write",
            204,
        ),
        (
            Method::DELETE,
            "/admin/users/alice",
            None,
            "users:write",
            204,
        ),
    ]
}

async fn every_admin_route_answers_401_then_403_then_success(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    app.add_role("unused", &[]).await;
    app.add_client("svc", &[GrantType::ClientCredentials], &[], false)
        .await;
    let wrong_scope = app.token_with_scopes(&["items:read"]).await;

    for (method, path, body, scope, success) in admin_routes() {
        let anonymous = app.bearer(method.clone(), path, None, body.as_ref()).await;
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Bearer realm=\"authd\"",
            "{method} {path}"
        );
        assert_api_error(anonymous, 401, "invalid_request").await;

        let forbidden = app
            .bearer(method.clone(), path, Some(&wrong_scope), body.as_ref())
            .await;
        let challenge = forbidden.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!("scope=\"{scope}\"")),
            "{challenge}"
        );
        assert_api_error(forbidden, 403, "insufficient_scope").await;

        let allowed_token = app.token_with_scopes(&[scope]).await;
        let allowed = app
            .bearer(method.clone(), path, Some(&allowed_token), body.as_ref())
            .await;
        assert_eq!(allowed.status(), success, "{method} {path}");
    }
}

async fn rfc6750_errors_cover_every_kind_of_bad_credential(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tokens.access_ttl_secs = 1).await;
    let expired = app.admin_token().await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let get = |header: Option<&'static str>| {
        let mut request = app.http.get(app.url("/admin/users"));
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        request.send()
    };

    for header in [None, Some("Basic YTpi"), Some("Bearer"), Some("Bearer    ")] {
        let response = get(header).await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"authd\"",
            "{header:?}"
        );
        assert_api_error(response, 401, "invalid_request").await;
    }
    for token in ["garbage", "a.b.c", expired.as_str()] {
        let response = app
            .bearer(Method::GET, "/admin/users", Some(token), None)
            .await;
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer realm=\"authd\", error=\"invalid_token\""),
            "{challenge}"
        );
        assert_api_error(response, 401, "invalid_token").await;
    }
}

async fn revoked_disabled_and_deleted_users_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let revoked = app.admin_token().await;
    app.post_form("/revoke", &[("token", &revoked)]).await;
    app.add_role("viewer", &["users:read"]).await;
    app.add_user("dora", "dora's password", &["viewer"]).await;
    app.add_user("dean", "dean's password", &["viewer"]).await;
    let dora = app.password_token("dora", "dora's password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dean = app.password_token("dean", "dean's password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let disable = app
        .bearer(
            Method::PATCH,
            "/admin/users/dora",
            Some(&admin),
            Some(&json!({"disabled": true})),
        )
        .await;
    let delete = app
        .bearer(Method::DELETE, "/admin/users/dean", Some(&admin), None)
        .await;

    assert_eq!(disable.status(), 200);
    assert_eq!(delete.status(), 204);
    for token in [&revoked, &dora, &dean] {
        let response = app
            .bearer(Method::GET, "/admin/users", Some(token), None)
            .await;
        assert_api_error(response, 401, "invalid_token").await;
        assert_eq!(app.introspect(token).await, json!({"active": false}));
    }
}

async fn me_shows_the_callers_profile_and_token_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let token = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
                ("scope", "items:read"),
            ],
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = app
        .add_client("machine", &[GrantType::ClientCredentials], &[], false)
        .await
        .unwrap();
    let machine: Value = app
        .post_form_basic(
            "/token",
            "machine",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();

    let me: Value = app
        .bearer(Method::GET, "/me", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    let as_client = app
        .bearer(Method::GET, "/me", machine["access_token"].as_str(), None)
        .await;

    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.test");
    assert_eq!(me["roles"], json!(["reader"]));
    assert_eq!(me["scope"], "items:read");
    assert!(me.get("password_hash").is_none());
    assert_api_error(as_client, 403, "forbidden").await;
}

async fn users_can_be_created_listed_filtered_and_paged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.add_role("staff", &["items:read"]).await;
    let create = |body: Value| {
        let request = app
            .http
            .post(app.url("/admin/users"))
            .bearer_auth(&admin)
            .json(&body);
        async move { request.send().await.unwrap() }
    };

    let created = create(
        json!({"username": "Zoe", "password": "zoe password", "email": "zoe@example.com",
                                "full_name": "Zoe Z", "roles": ["staff"]}),
    )
    .await;
    let off =
        create(json!({"username": "yann", "password": "yann password", "disabled": true})).await;

    assert_eq!(created.status(), 201);
    let zoe: Value = created.json().await.unwrap();
    assert_eq!(zoe["username"], "zoe");
    assert_eq!(zoe["password_scheme"], "argon2id");
    assert!(zoe.get("password_hash").is_none() && zoe.get("password").is_none());
    assert_eq!(off.status(), 201);
    let list = |query: &'static str| app.bearer(Method::GET, query, Some(&admin), None);
    let staff: Value = list("/admin/users?role=staff").await.json().await.unwrap();
    assert_eq!(staff["total"], 1);
    assert_eq!(staff["items"][0]["username"], "zoe");
    let disabled: Value = list("/admin/users?disabled=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(disabled["items"][0]["username"], "yann");
    let page: Value = list("/admin/users?limit=1&offset=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["offset"], 1);
    assert!(page["total"].as_i64().unwrap() >= 3);
    for bad in [
        "/admin/users?limit=0",
        "/admin/users?limit=501",
        "/admin/users?offset=-1",
        "/admin/users?limit=x",
    ] {
        assert_api_error(list(bad).await, 400, "invalid_request").await;
    }
}

async fn bad_user_input_gets_400_and_duplicates_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.add_user("taken", "taken password", &[]).await;
    let create = |body: Value| {
        let request = app
            .http
            .post(app.url("/admin/users"))
            .bearer_auth(&admin)
            .json(&body);
        async move { request.send().await.unwrap() }
    };

    let cases = [
        json!({"username": "has space", "password": "long enough"}),
        json!({"username": "x".repeat(65), "password": "long enough"}),
        json!({"username": "ok", "password": "short"}),
        json!({"username": "ok", "password": "long enough", "email": "not-an-email"}),
        json!({"username": "ok", "password": "long enough", "roles": ["ghost"]}),
        json!({"username": "ok", "password": "long enough", "is_admin": true}),
        json!({"username": "ok"}),
        json!({"username": "ok", "password": "x".repeat(1025)}),
    ];
    for body in cases {
        assert_api_error(create(body.clone()).await, 400, "invalid_request").await;
    }
    let duplicate = create(json!({"username": "TAKEN", "password": "long enough"})).await;
    assert_api_error(duplicate, 409, "conflict").await;
    let not_json = app
        .http
        .post(app.url("/admin/users"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_api_error(not_json, 400, "invalid_request").await;
    let missing = app
        .bearer(Method::GET, "/admin/users/nobody", Some(&admin), None)
        .await;
    assert_api_error(missing, 404, "not_found").await;
}

async fn patching_a_users_password_ends_old_sessions_and_the_new_one_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let password = app.seed_alice().await;
    let old = app.password_token("alice", password).await;

    let response = app
        .bearer(
            Method::PATCH,
            "/admin/users/ALICE",
            Some(&admin),
            Some(&json!({"password": "a brand new password", "email": null, "roles": []})),
        )
        .await;

    assert_eq!(response.status(), 200);
    let alice: Value = response.json().await.unwrap();
    assert_eq!(alice["roles"], json!([]));
    assert_eq!(alice["email"], Value::Null);
    assert_eq!(
        app.introspect(old["access_token"].as_str().unwrap()).await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(old["refresh_token"].as_str().unwrap()).await,
        json!({"active": false})
    );
    let fresh = app.password_token("alice", "a brand new password").await;
    assert_eq!(fresh["scope"], "");
}

async fn roles_are_listed_replaced_and_deleted_only_when_unheld_or_forced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.seed_alice().await;

    let put = app
        .bearer(
            Method::PUT,
            "/admin/roles/reader",
            Some(&admin),
            Some(&json!({"scopes": ["b", "a"]})),
        )
        .await;
    let roles: Value = app
        .bearer(Method::GET, "/admin/roles", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    let held = app
        .bearer(Method::DELETE, "/admin/roles/reader", Some(&admin), None)
        .await;
    let forced = app
        .bearer(
            Method::DELETE,
            "/admin/roles/reader?force=true",
            Some(&admin),
            None,
        )
        .await;
    let gone = app
        .bearer(Method::DELETE, "/admin/roles/reader", Some(&admin), None)
        .await;

    assert_eq!(
        put.json::<Value>().await.unwrap(),
        json!({"name": "reader", "scopes": ["a", "b"], "require_mfa": false})
    );
    assert!(
        roles["items"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "reader", "scopes": ["a", "b"], "require_mfa": false}))
    );
    assert_api_error(held, 409, "conflict").await;
    assert_eq!(forced.status(), 204);
    assert_api_error(gone, 404, "not_found").await;
    let bad = app
        .bearer(
            Method::PUT,
            "/admin/roles/reader",
            Some(&admin),
            Some(&json!({"scopes": ["a\"b"]})),
        )
        .await;
    assert_api_error(bad, 400, "invalid_request").await;
}

async fn clients_are_registered_rotated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;

    let created: Value = app
        .bearer(Method::POST, "/admin/clients", Some(&admin),
                Some(&json!({"client_id": "svc", "grants": ["client_credentials"], "scopes": ["introspect"]})))
        .await
        .json()
        .await
        .unwrap();
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    let token: Value = app
        .post_form_basic(
            "/token",
            "svc",
            &first_secret,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
    let listed = app
        .bearer(Method::GET, "/admin/clients", Some(&admin), None)
        .await
        .text()
        .await
        .unwrap();
    let rotated: Value = app
        .bearer(
            Method::POST,
            "/admin/clients/svc/secret",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let second_secret = rotated["client_secret"].as_str().unwrap();
    let with_old = app
        .post_form_basic(
            "/token",
            "svc",
            &first_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    let with_new = app
        .post_form_basic(
            "/token",
            "svc",
            second_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    let deleted = app
        .bearer(Method::DELETE, "/admin/clients/svc", Some(&admin), None)
        .await;

    assert_eq!(created["public"], false);
    assert_eq!(created["scopes"], json!(["introspect"]));
    assert!(
        !listed.contains(&first_secret) && !listed.contains("secret_hash"),
        "{listed}"
    );
    assert_ne!(first_secret, second_secret);
    assert_eq!(with_old.status(), 401);
    assert_eq!(with_new.status(), 200);
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.introspect(token["access_token"].as_str().unwrap())
            .await,
        json!({"active": false})
    );
    let public_cc = app
        .bearer(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&json!({"client_id": "spa", "grants": ["client_credentials"], "public": true})),
        )
        .await;
    assert_api_error(public_cc, 400, "invalid_request").await;
}

async fn the_openapi_document_parses_and_lists_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let document: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let expected = [
        ("/token", "post"),
        ("/introspect", "post"),
        ("/revoke", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/me", "get"),
        ("/openapi.json", "get"),
        ("/admin/users", "get"),
        ("/admin/users", "post"),
        ("/admin/users/{username}", "get"),
        ("/admin/users/{username}", "patch"),
        ("/admin/users/{username}", "delete"),
        ("/admin/roles", "get"),
        ("/admin/roles/{name}", "put"),
        ("/admin/roles/{name}", "delete"),
        ("/admin/clients", "get"),
        ("/admin/clients", "post"),
        ("/admin/clients/{client_id}/secret", "post"),
        ("/admin/clients/{client_id}", "delete"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    // And the other way: everything documented is really served (never 404 or 405).
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path
                .replace("{username}", "x")
                .replace("{name}", "x")
                .replace("{client_id}", "x");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .http
                .request(method.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            // An unmatched route is a bare 404; authd's own "no such user" 404 has a JSON body.
            let body = response.text().await.unwrap();
            assert!(
                status != 405 && (status != 404 || body.contains("\"error\"")),
                "{method} {concrete}: {status}"
            );
        }
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

backend_tests!(
    every_admin_route_answers_401_then_403_then_success,
    rfc6750_errors_cover_every_kind_of_bad_credential,
    revoked_disabled_and_deleted_users_tokens_are_refused,
    me_shows_the_callers_profile_and_token_scope,
    users_can_be_created_listed_filtered_and_paged,
    bad_user_input_gets_400_and_duplicates_409,
    patching_a_users_password_ends_old_sessions_and_the_new_one_works,
    roles_are_listed_replaced_and_deleted_only_when_unheld_or_forced,
    clients_are_registered_rotated_and_deleted,
    the_openapi_document_parses_and_lists_every_route,
);
