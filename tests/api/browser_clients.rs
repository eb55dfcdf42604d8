//! Browser clients (issue 11): registration from the CLI and the admin API, `PATCH
//! /admin/clients/{client_id}`, a user's sessions and consents in the admin API, and CORS on the
//! endpoints JavaScript calls.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use authd::domain::{Authority, BrowserChanges, ClientId, GrantType, ScopeSet};
use authd::store::NewSession;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase};

const AUTHD: &str = env!("CARGO_BIN_EXE_authd");
const APP_ORIGIN: &str = "https://app.example.com";
const OTHER_ORIGIN: &str = "https://evil.example";

/// Runs the authd binary on `database` (no other AUTHD_* settings).
pub(crate) fn authd_cli(database: &TestDatabase, args: &[&str]) -> Output {
    let mut command = Command::new(AUTHD);
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .env("AUTHD_DATABASE__URL", &database.url)
        .env("AUTHD_KEYS__ENCRYPTION_KEY", crate::helpers::TEST_KEK)
        .stdin(Stdio::null());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHD_")) {
        if key != "AUTHD_DATABASE__URL" && key != "AUTHD_KEYS__ENCRYPTION_KEY" {
            command.env_remove(key);
        }
    }
    command.output().expect("running authd")
}

pub(crate) fn last_stderr_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// Asserts an admin API error: status, `error` code and a description; returns the description.
pub(crate) async fn assert_api_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    body["error_description"]
        .as_str()
        .expect("an error description")
        .to_owned()
}

/// Ending sessions from a test: nothing to revoke.
fn no_revocation() -> authd::store::SessionEnding {
    authd::store::SessionEnding {
        now_ms: authd::clock::unix_now_ms(),
        revoke_access_until: None,
    }
}

/// A confidential authorization_code client as the admin API registers it.
fn browser_client(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "grants": ["authorization_code", "refresh_token"],
        "scopes": ["items:read"],
        "client_name": "Photo Book",
        "redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1/cb"],
        "allowed_origins": [APP_ORIGIN],
        "skip_consent": true,
        "pkce_optional": true,
    })
}

pub(crate) async fn client_json(app: &TestApp, token: &str, client_id: &str) -> Value {
    let page: Value = app
        .bearer(Method::GET, "/admin/clients?limit=500", Some(token), None)
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client_id)
        .cloned()
        .unwrap_or_else(|| panic!("client {client_id} is not listed: {page}"))
}

/// The audit events with `action`, waiting up to 3 s for `expected` of them.
async fn audit_events(app: &TestApp, token: &str, action: &str, expected: usize) -> Vec<Value> {
    app.audit_rows(token, action, Duration::from_secs(3), |rows| {
        rows.len() >= expected
    })
    .await
}

async fn the_cli_registers_a_browser_client_and_lists_its_settings(backend: Backend) {
    let database = TestDatabase::create(backend).await;

    let added = authd_cli(
        &database,
        &[
            "client",
            "add",
            "photos",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            "https://photos.example.com/cb",
            "--redirect-uri",
            "com.example.photos:/oauth2redirect",
            "--scope",
            "items:read",
            "--public",
            "--skip-consent",
            "--name",
            "Photo Book",
            "--allowed-origin",
            "https://photos.example.com",
        ],
    );
    let confidential = authd_cli(
        &database,
        &[
            "client",
            "add",
            "rp",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "https://rp.example.com/cb",
            "--pkce-optional",
        ],
    );
    let listed = authd_cli(&database, &["client", "list"]);

    assert!(added.status.success(), "{added:?}");
    assert!(added.stdout.is_empty(), "a public client has no secret");
    assert!(confidential.status.success(), "{confidential:?}");
    let secret = String::from_utf8_lossy(&confidential.stdout)
        .trim()
        .to_owned();
    assert!(secret.len() >= 43, "a confidential client gets a secret");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let photos = listed
        .lines()
        .find(|line| line.starts_with("photos\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(
        photos.split('\t').collect::<Vec<_>>(),
        [
            "photos",
            "public",
            "refresh_token,authorization_code",
            "items:read",
            "Photo Book",
            "https://photos.example.com/cb,com.example.photos:/oauth2redirect",
            "https://photos.example.com",
            "skip-consent",
            "",
            "",
            "RS256",
            // The introspection response algorithm (issue 14): the server's default.
            "",
            // The resources (issue 14): none.
            "",
        ]
    );
    let rp = listed.lines().find(|l| l.starts_with("rp\t")).unwrap();
    assert!(rp.ends_with("\tpkce-optional\t\t\tRS256\t\t"), "{rp}");
    assert!(!listed.contains(&secret), "secrets are never listed");
}

async fn the_cli_refuses_unusable_browser_registrations(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let code = ["--grant", "authorization_code"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--redirect-uri", "http://app.example.com/cb"], "https"),
        (
            vec!["--redirect-uri", "https://app.example.com/cb#top"],
            "fragment",
        ),
        (vec!["--redirect-uri", "/cb"], "absolute"),
        (vec![], "at least one redirect URI"),
        (
            vec![
                "--redirect-uri",
                "https://app.example.com/cb",
                "--allowed-origin",
                "https://app.example.com/path",
            ],
            "scheme://host",
        ),
        (
            vec![
                "--redirect-uri",
                "https://app.example.com/cb",
                "--public",
                "--pkce-optional",
            ],
            "confidential",
        ),
    ];

    for (index, (extra, needle)) in cases.iter().enumerate() {
        let id = format!("bad{index}");
        let mut args = vec!["client", "add", id.as_str()];
        args.extend(code);
        args.extend(extra);
        let output = authd_cli(&database, &args);

        assert!(!output.status.success(), "{args:?} was accepted");
        let last = last_stderr_line(&output);
        assert!(
            last.starts_with("error: ") && last.contains(needle),
            "{args:?}: {last}"
        );
    }
    for (flags, needle) in [
        (
            vec!["--redirect-uri", "https://app.example.com/cb"],
            "authorization_code",
        ),
        (
            vec!["--allowed-origin", "https://app.example.com"],
            "authorization_code",
        ),
        (vec!["--skip-consent"], "authorization_code"),
        (vec!["--pkce-optional"], "authorization_code"),
    ] {
        let mut args = vec!["client", "add", "svc", "--grant", "client_credentials"];
        args.extend(&flags);
        let output = authd_cli(&database, &args);

        assert!(!output.status.success(), "{flags:?} was accepted");
        let last = last_stderr_line(&output);
        assert!(last.contains(needle), "{flags:?}: {last}");
    }
    let listed = authd_cli(&database, &["client", "list"]);
    assert!(listed.stdout.is_empty(), "nothing was registered");
}

async fn the_admin_api_registers_a_browser_client_and_shows_its_settings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;

    let created = app
        .bearer(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&browser_client("photos")),
        )
        .await;

    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert!(body["client_secret"].is_string());
    let listed = client_json(&app, &admin, "photos").await;
    for shown in [&body, &listed] {
        assert_eq!(shown["client_name"], "Photo Book");
        assert_eq!(
            shown["redirect_uris"],
            json!(["https://app.example.com/cb", "http://127.0.0.1/cb"])
        );
        assert_eq!(shown["allowed_origins"], json!([APP_ORIGIN]));
        assert_eq!(shown["skip_consent"], true);
        assert_eq!(shown["pkce_optional"], true);
    }
    let stored = app
        .store
        .find_client(&ClientId::parse("photos").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.browser.redirect_uris.len(), 2);
    // A service client shows empty browser settings.
    app.add_client("svc", &[GrantType::ClientCredentials], &[], false)
        .await;
    let service = client_json(&app, &admin, "svc").await;
    assert_eq!(service["redirect_uris"], json!([]));
    assert_eq!(service["client_name"], "");
    assert_eq!(service["skip_consent"], false);
}

async fn the_admin_api_refuses_unusable_browser_registrations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let with = |field: &str, value: Value| {
        let mut body = browser_client("bad");
        body[field] = value;
        body
    };
    let cases = [
        with("redirect_uris", json!(["http://app.example.com/cb"])),
        with("redirect_uris", json!(["https://app.example.com/cb#top"])),
        with("redirect_uris", json!(["/cb"])),
        with("redirect_uris", json!([])),
        with("allowed_origins", json!(["https://app.example.com/app"])),
        with("allowed_origins", json!(["null"])),
        with("client_name", json!("bell\u{7}")),
        with("grants", json!(["client_credentials"])),
        {
            let mut public = browser_client("bad");
            public["public"] = json!(true);
            public
        },
    ];

    for body in cases {
        let response = app
            .bearer(Method::POST, "/admin/clients", Some(&admin), Some(&body))
            .await;

        assert_eq!(response.status(), 400, "{body}");
        assert_api_error(response, 400, "invalid_request").await;
    }
    let page: Value = app
        .bearer(Method::GET, "/admin/clients", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0, "nothing was registered: {page}");
}

async fn patch_changes_only_the_browser_settings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.bearer(
        Method::POST,
        "/admin/clients",
        Some(&admin),
        Some(&browser_client("photos")),
    )
    .await;
    let before = client_json(&app, &admin, "photos").await;

    let patched = app
        .bearer(
            Method::PATCH,
            "/admin/clients/photos",
            Some(&admin),
            Some(&json!({
                "client_name": "Photo Book 2",
                "redirect_uris": ["com.example.photos:/cb"],
                "skip_consent": false,
            })),
        )
        .await;

    assert_eq!(patched.status(), 200);
    let body: Value = patched.json().await.unwrap();
    assert_eq!(body["client_name"], "Photo Book 2");
    assert_eq!(body["redirect_uris"], json!(["com.example.photos:/cb"]));
    assert_eq!(body["skip_consent"], false);
    // Fields not sent stay as they were.
    assert_eq!(body["allowed_origins"], before["allowed_origins"]);
    assert_eq!(body["pkce_optional"], true);
    assert_eq!(client_json(&app, &admin, "photos").await, body);
    let updated = audit_events(&app, &admin, "client.updated", 1).await;
    assert_eq!(
        updated[0]["detail"], "client_name redirect_uris skip_consent",
        "{updated:?}"
    );

    // Grants, scopes, the secret and the kind are not PATCH's to change.
    for body in [
        json!({"grants": ["authorization_code", "client_credentials"]}),
        json!({"scopes": ["items:read", "users:write"]}),
        json!({"public": true}),
        json!({"client_secret": "chosen"}),
        json!({"client_name": "x", "scopes": ["users:write"]}),
    ] {
        let response = app
            .bearer(
                Method::PATCH,
                "/admin/clients/photos",
                Some(&admin),
                Some(&body),
            )
            .await;
        assert_api_error(response, 400, "invalid_request").await;
    }
    let after = client_json(&app, &admin, "photos").await;
    assert_eq!(after, body);
    assert_eq!(after["grants"], before["grants"]);
    assert_eq!(after["scopes"], before["scopes"]);
}

async fn patch_validates_as_create_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.bearer(
        Method::POST,
        "/admin/clients",
        Some(&admin),
        Some(&browser_client("photos")),
    )
    .await;
    app.add_client("spa", &[GrantType::AuthorizationCode], &[], true)
        .await;
    app.add_client("svc", &[GrantType::ClientCredentials], &[], false)
        .await;
    let before = client_json(&app, &admin, "photos").await;

    let refused = [
        (
            "photos",
            json!({"redirect_uris": ["http://app.example.com/cb"]}),
        ),
        (
            "photos",
            json!({"redirect_uris": ["https://a.example/cb#x"]}),
        ),
        ("photos", json!({"redirect_uris": ["cb"]})),
        ("photos", json!({"redirect_uris": []})),
        (
            "photos",
            json!({"allowed_origins": ["https://a.example/x"]}),
        ),
        ("photos", json!({"client_name": "tab\there"})),
        ("photos", json!({"skip_consent": "yes"})),
        ("spa", json!({"pkce_optional": true})),
        ("svc", json!({"redirect_uris": ["https://a.example/cb"]})),
        ("svc", json!({"allowed_origins": ["https://a.example"]})),
        ("svc", json!({"skip_consent": true})),
    ];
    for (client_id, body) in refused {
        let response = app
            .bearer(
                Method::PATCH,
                &format!("/admin/clients/{client_id}"),
                Some(&admin),
                Some(&body),
            )
            .await;
        let why = assert_api_error(response, 400, "invalid_request").await;
        assert!(!why.is_empty(), "{body}");
    }
    assert_eq!(client_json(&app, &admin, "photos").await, before);

    for unknown in ["nobody", "not%20a%20client"] {
        let response = app
            .bearer(
                Method::PATCH,
                &format!("/admin/clients/{unknown}"),
                Some(&admin),
                Some(&json!({"client_name": "x"})),
            )
            .await;
        assert_api_error(response, 404, "not_found").await;
    }
}

async fn patch_needs_clients_write_and_the_client_s_admin_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_client(
        "console",
        &[GrantType::AuthorizationCode],
        &["users:write"],
        false,
    )
    .await;
    app.add_client(
        "photos",
        &[GrantType::AuthorizationCode],
        &["items:read"],
        false,
    )
    .await;
    let reader = app.token_with_scopes(&["clients:read"]).await;
    let writer = app.token_with_scopes(&["clients:write"]).await;
    let change = json!({"redirect_uris": ["https://attacker.example/cb"]});

    let without_scope = app
        .bearer(
            Method::PATCH,
            "/admin/clients/photos",
            Some(&reader),
            Some(&change),
        )
        .await;
    // Redirecting an admin console's codes elsewhere would hand its admin scopes to the caller.
    let admin_client = app
        .bearer(
            Method::PATCH,
            "/admin/clients/console",
            Some(&writer),
            Some(&change),
        )
        .await;
    let allowed = app
        .bearer(
            Method::PATCH,
            "/admin/clients/photos",
            Some(&writer),
            Some(&change),
        )
        .await;

    assert_api_error(without_scope, 403, "insufficient_scope").await;
    assert_api_error(admin_client, 403, "insufficient_scope").await;
    assert_eq!(allowed.status(), 200);
    let console = app
        .store
        .find_client(&ClientId::parse("console").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(console.browser.redirect_uris.is_empty());
}

async fn two_racing_patches_leave_one_complete_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.bearer(
        Method::POST,
        "/admin/clients",
        Some(&admin),
        Some(&browser_client("photos")),
    )
    .await;
    let first = json!({
        "client_name": "First",
        "redirect_uris": ["https://first.example/cb", "https://first.example/cb2"],
        "allowed_origins": ["https://first.example"],
        "skip_consent": true,
        "pkce_optional": true,
    });
    let second = json!({
        "client_name": "Second",
        "redirect_uris": ["https://second.example/cb"],
        "allowed_origins": [],
        "skip_consent": false,
        "pkce_optional": false,
    });
    let settings = |client: &Value| {
        json!({
            "client_name": client["client_name"],
            "redirect_uris": client["redirect_uris"],
            "allowed_origins": client["allowed_origins"],
            "skip_consent": client["skip_consent"],
            "pkce_optional": client["pkce_optional"],
        })
    };

    for round in 0..10 {
        let (a, b) = tokio::join!(
            app.bearer(
                Method::PATCH,
                "/admin/clients/photos",
                Some(&admin),
                Some(&first)
            ),
            app.bearer(
                Method::PATCH,
                "/admin/clients/photos",
                Some(&admin),
                Some(&second)
            ),
        );

        assert_eq!(a.status(), 200, "round {round}");
        assert_eq!(b.status(), 200, "round {round}");
        let stored = settings(&client_json(&app, &admin, "photos").await);
        assert!(
            stored == first || stored == second,
            "round {round}: a mix of two changes: {stored}"
        );
    }
}

async fn admins_list_and_end_a_user_s_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let bob = app.add_user("bob", "bob's password", &[]).await;
    let alice = app
        .store
        .find_user(&authd::domain::Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = authd::clock::unix_now();
    for (user, handle, ip) in [
        (&alice, "h-alice-1", Some("203.0.113.7")),
        (&alice, "h-alice-2", None),
        (&bob, "h-bob", None),
    ] {
        let id_hash = format!("hash-of-{handle}");
        let session = NewSession {
            id_hash: &id_hash,
            handle,
            user_id: &user.id,
            user_generation: user.token_generation,
            amr: "pwd mfa",
            now,
            expires_at: now + 3600,
            ip,
        };
        app.store
            .create_session(&session, 10, no_revocation())
            .await
            .unwrap();
    }
    let reader = app.token_with_scopes(&["users:read"]).await;
    let writer = app.token_with_scopes(&["users:write"]).await;
    let auditor = app.token_with_scopes(&["audit:read"]).await;

    let listed = app
        .bearer(
            Method::GET,
            "/admin/users/Alice/sessions",
            Some(&reader),
            None,
        )
        .await;
    let refused = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/sessions",
            Some(&reader),
            None,
        )
        .await;
    let ended = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/sessions",
            Some(&writer),
            None,
        )
        .await;
    let after = app
        .bearer(
            Method::GET,
            "/admin/users/alice/sessions",
            Some(&reader),
            None,
        )
        .await;

    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["total"], 2, "{listed}");
    let session = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["handle"] == "h-alice-1")
        .unwrap();
    assert_eq!(session["amr"], json!(["pwd", "mfa"]));
    assert_eq!(session["ip"], "203.0.113.7");
    for field in ["created_at", "last_seen_at", "expires_at", "auth_time"] {
        let at = session[field].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{field}: {at}"
        );
    }
    assert!(
        !listed.to_string().contains("hash-of-"),
        "never the cookie hash"
    );
    assert_api_error(refused, 403, "insufficient_scope").await;
    assert_eq!(ended.status(), 204);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["total"], 0);
    let bobs = app
        .store
        .list_user_sessions(&bob.id, now, 3600)
        .await
        .unwrap();
    assert_eq!(bobs.len(), 1, "other users keep their sessions");
    let events = audit_events(&app, &auditor, "session.ended_by_admin", 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"], "alice");
    assert_eq!(events[0]["detail"], "sessions=2");
    for (method, path) in [
        (Method::GET, "/admin/users/nobody/sessions"),
        (Method::DELETE, "/admin/users/nobody/sessions"),
        (Method::GET, "/admin/users/no%20body/sessions"),
    ] {
        let token = if method == Method::GET {
            &reader
        } else {
            &writer
        };
        let response = app.bearer(method, path, Some(token), None).await;
        assert_api_error(response, 404, "not_found").await;
    }
}

/// The delegation rule: ending a user's sessions or revoking their consents takes every admin
/// scope that user holds, as changing the user does.
async fn a_lesser_admin_cannot_end_a_full_admin_s_sessions_or_consents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let full_admin = app.admin_token().await;
    let writer = app.token_with_scopes(&["users:write"]).await;
    let admin_id = app
        .bearer(Method::GET, "/me", Some(&full_admin), None)
        .await
        .json::<Value>()
        .await
        .unwrap()["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = authd::clock::unix_now();
    let user = app
        .store
        .find_user(&authd::domain::Username::parse(&admin_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let session = NewSession {
        id_hash: "hash-of-admin-session",
        handle: "h-admin",
        user_id: &user.id,
        user_generation: user.token_generation,
        amr: "pwd",
        now,
        expires_at: now + 3600,
        ip: None,
    };
    app.store
        .create_session(&session, 10, no_revocation())
        .await
        .unwrap();
    let sessions = format!("/admin/users/{admin_id}/sessions");
    let refused = app
        .bearer(Method::DELETE, &sessions, Some(&writer), None)
        .await;
    assert_api_error(refused, 403, "insufficient_scope").await;
    let consent = format!("/admin/users/{admin_id}/consents/gallery");
    let refused = app
        .bearer(Method::DELETE, &consent, Some(&writer), None)
        .await;
    assert_api_error(refused, 403, "insufficient_scope").await;
    let kept = app
        .store
        .list_user_sessions(&user.id, now, 3600)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "the refused call ended nothing");
    let ended = app
        .bearer(Method::DELETE, &sessions, Some(&full_admin), None)
        .await;
    assert_eq!(ended.status(), 204);
}

async fn admins_list_and_revoke_a_user_s_consents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let alice = app
        .store
        .find_user(&authd::domain::Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    for client_id in ["photos", "notes"] {
        app.add_client(
            client_id,
            &[GrantType::AuthorizationCode],
            &["items:read"],
            true,
        )
        .await;
        let client = app
            .store
            .find_client(&ClientId::parse(client_id).unwrap())
            .await
            .unwrap()
            .unwrap();
        app.store
            .grant_consent(
                &alice.id,
                client_id,
                &client.registration,
                &ScopeSet::from_tokens(&["items:read"]).unwrap(),
                authd::clock::unix_now(),
            )
            .await
            .unwrap();
    }
    let reader = app.token_with_scopes(&["users:read"]).await;
    let writer = app.token_with_scopes(&["users:write"]).await;
    let auditor = app.token_with_scopes(&["audit:read"]).await;

    let listed = app
        .bearer(
            Method::GET,
            "/admin/users/alice/consents",
            Some(&reader),
            None,
        )
        .await;
    let refused = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/consents/photos",
            Some(&reader),
            None,
        )
        .await;
    let revoked = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/consents/photos",
            Some(&writer),
            None,
        )
        .await;
    let again = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/consents/photos",
            Some(&writer),
            None,
        )
        .await;

    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["items"][0]["client_id"], "notes");
    assert_eq!(listed["items"][1]["scopes"], json!(["items:read"]));
    assert!(
        listed["items"][1]["granted_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_api_error(refused, 403, "insufficient_scope").await;
    assert_eq!(revoked.status(), 204);
    assert_api_error(again, 404, "not_found").await;
    let left = app.store.list_consents(&alice.id).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|c| c.client_id.as_str())
            .collect::<Vec<_>>(),
        ["notes"]
    );
    let events = audit_events(&app, &auditor, "consent.revoked", 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"], "alice");
    assert_eq!(events[0]["detail"], "client=photos");
    for path in [
        "/admin/users/nobody/consents/photos",
        "/admin/users/alice/consents/nothing",
        "/admin/users/alice/consents/bad%20id",
    ] {
        let response = app.bearer(Method::DELETE, path, Some(&writer), None).await;
        assert_api_error(response, 404, "not_found").await;
    }
}

/// Registers a public browser client allowing `APP_ORIGIN` through the admin API.
async fn register_browser_origin(app: &TestApp) {
    let admin = app.admin_token().await;
    let response = app
        .bearer(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&json!({
                "client_id": "spa",
                "grants": ["authorization_code", "refresh_token"],
                "public": true,
                "redirect_uris": ["https://app.example.com/cb"],
                "allowed_origins": [APP_ORIGIN],
            })),
        )
        .await;
    assert_eq!(response.status(), 201);
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    let values: Vec<String> = response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

async fn cors_requests(app: &TestApp, origin: Option<&str>) -> Vec<(String, reqwest::Response)> {
    let with_origin = |request: reqwest::RequestBuilder| match origin {
        Some(origin) => request.header("origin", origin),
        None => request,
    };
    let mut responses = Vec::new();
    let token_form = [("grant_type", "authorization_code"), ("code", "nope")];
    for (name, request) in [
        ("/token", app.http.post(app.url("/token")).form(&token_form)),
        (
            "/revoke",
            app.http
                .post(app.url("/revoke"))
                .form(&[("token", "x"), ("client_id", "spa")]),
        ),
        (
            "metadata",
            app.http
                .get(app.url("/.well-known/oauth-authorization-server")),
        ),
        ("jwks", app.http.get(app.url("/.well-known/jwks.json"))),
    ] {
        let response = with_origin(request).send().await.unwrap();
        responses.push((name.to_owned(), response));
    }
    responses
}

async fn a_registered_origin_may_call_the_browser_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register_browser_origin(&app).await;

    let allowed = cors_requests(&app, Some(APP_ORIGIN)).await;
    let stranger = cors_requests(&app, Some(OTHER_ORIGIN)).await;
    let no_origin = cors_requests(&app, None).await;
    let introspect = app
        .http
        .post(app.url("/introspect"))
        .header("origin", APP_ORIGIN)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();

    for (name, response) in &allowed {
        assert_eq!(
            header(response, "access-control-allow-origin").as_deref(),
            Some(APP_ORIGIN),
            "{name}"
        );
        assert!(
            header(response, "vary").unwrap().contains("Origin"),
            "{name}"
        );
        assert_eq!(header(response, "access-control-allow-credentials"), None);
    }
    for (name, response) in stranger.iter().chain(&no_origin) {
        assert_eq!(
            header(response, "access-control-allow-origin"),
            None,
            "{name}"
        );
        assert!(
            header(response, "vary").unwrap().contains("Origin"),
            "{name}"
        );
    }
    assert_eq!(header(&introspect, "access-control-allow-origin"), None);
    // The answers themselves are the usual ones.
    let (_, token) = allowed.into_iter().next().unwrap();
    assert_eq!(token.status(), 400);
}

async fn preflights_are_answered_for_registered_origins_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register_browser_origin(&app).await;
    let preflight = |path: &str, origin: &str, method: &str| {
        app.http
            .request(Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type, dpop")
            .send()
    };

    for (path, method) in [
        ("/token", "POST"),
        ("/revoke", "POST"),
        ("/.well-known/jwks.json", "GET"),
        ("/.well-known/oauth-authorization-server", "GET"),
    ] {
        let allowed = preflight(path, APP_ORIGIN, method).await.unwrap();
        let refused = preflight(path, OTHER_ORIGIN, method).await.unwrap();

        assert_eq!(allowed.status(), 204, "{path}");
        assert_eq!(
            header(&allowed, "access-control-allow-origin").as_deref(),
            Some(APP_ORIGIN)
        );
        assert_eq!(
            header(&allowed, "access-control-allow-methods").as_deref(),
            Some(method)
        );
        let headers = header(&allowed, "access-control-allow-headers").unwrap();
        for name in ["Authorization", "Content-Type", "DPoP"] {
            assert!(headers.contains(name), "{headers}");
        }
        let max_age: u32 = header(&allowed, "access-control-max-age")
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age > 0);
        assert_eq!(header(&allowed, "access-control-allow-credentials"), None);
        assert_eq!(header(&refused, "access-control-allow-origin"), None);
        assert_eq!(header(&refused, "access-control-allow-methods"), None);
        assert_api_error(refused, 403, "forbidden").await;
    }
    // Not a preflight (no Access-Control-Request-Method): the usual 405.
    let plain = app
        .http
        .request(Method::OPTIONS, app.url("/token"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 405);
    // Paths outside the browser-facing set take no preflight.
    let admin = preflight("/admin/users", APP_ORIGIN, "GET").await.unwrap();
    assert_eq!(header(&admin, "access-control-allow-origin"), None);
}

async fn an_origin_change_is_honoured_within_a_second(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_client("spa", &[GrantType::AuthorizationCode], &[], true)
        .await;
    let allows = |origin: &'static str| {
        let request = app
            .http
            .get(app.url("/.well-known/jwks.json"))
            .header("origin", origin);
        async move {
            let response = request.send().await.unwrap();
            header(&response, "access-control-allow-origin").as_deref() == Some(origin)
        }
    };
    assert!(!allows(APP_ORIGIN).await);
    // Changed behind the server's back (as another instance or the CLI would): no local hint.
    let change = |origins: Vec<String>| {
        let store = app.store.clone();
        async move {
            let client = store
                .find_client(&ClientId::parse("spa").unwrap())
                .await
                .unwrap()
                .unwrap();
            let changes = BrowserChanges {
                allowed_origins: Some(origins),
                ..BrowserChanges::default()
            };
            store
                .update_client_browser(
                    &ClientId::parse("spa").unwrap(),
                    &client.registration,
                    &changes,
                    &Authority::Operator,
                )
                .await
                .unwrap();
            Instant::now()
        }
    };

    for (origins, expected) in [(vec![APP_ORIGIN.to_owned()], true), (vec![], false)] {
        let changed_at = change(origins).await;
        while allows(APP_ORIGIN).await != expected {
            assert!(
                changed_at.elapsed() < Duration::from_millis(1300),
                "not honoured within a second"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Through the admin API, the instance that made the change honours it at once.
    let admin = app.admin_token().await;
    let patched = app
        .bearer(
            Method::PATCH,
            "/admin/clients/spa",
            Some(&admin),
            Some(&json!({"allowed_origins": [APP_ORIGIN]})),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert!(allows(APP_ORIGIN).await);
}

backend_tests!(
    the_cli_registers_a_browser_client_and_lists_its_settings,
    the_cli_refuses_unusable_browser_registrations,
    the_admin_api_registers_a_browser_client_and_shows_its_settings,
    the_admin_api_refuses_unusable_browser_registrations,
    patch_changes_only_the_browser_settings,
    patch_validates_as_create_does,
    patch_needs_clients_write_and_the_client_s_admin_scopes,
    two_racing_patches_leave_one_complete_state,
    admins_list_and_end_a_user_s_sessions,
    admins_list_and_revoke_a_user_s_consents,
    a_lesser_admin_cannot_end_a_full_admin_s_sessions_or_consents,
    a_registered_origin_may_call_the_browser_endpoints,
    preflights_are_answered_for_registered_origins_only,
    an_origin_change_is_honoured_within_a_second,
);
