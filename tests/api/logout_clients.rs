//! Issue 12's client fields: post-logout redirect URIs, the Back-Channel Logout URI and its
//! `sid` flag, and the id_token algorithm, from the CLI and the admin API.

use authd::domain::ClientId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::browser_clients::{assert_api_error, authd_cli, client_json, last_stderr_line};
use crate::helpers::{Backend, TestApp, TestDatabase};

/// A confidential code client with every logout field set.
fn relying_party(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "grants": ["authorization_code", "refresh_token"],
        "scopes": ["openid"],
        "redirect_uris": ["https://rp.example.com/cb"],
        "post_logout_redirect_uris": ["https://rp.example.com/bye", "http://127.0.0.1/bye"],
        "backchannel_logout_uri": "https://rp.example.com/backchannel",
        "backchannel_logout_session_required": true,
        "id_token_signed_response_alg": "ES256",
    })
}

async fn client_of(app: &TestApp, admin: &str, client_id: &str) -> Value {
    client_json(app, admin, client_id).await
}

async fn the_admin_api_registers_and_changes_logout_settings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;

    let created = app
        .bearer(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&relying_party("rp")),
        )
        .await;
    assert_eq!(created.status(), 201);
    let shown = client_of(&app, &admin, "rp").await;
    assert_eq!(
        shown["post_logout_redirect_uris"],
        json!(["https://rp.example.com/bye", "http://127.0.0.1/bye"])
    );
    assert_eq!(
        shown["backchannel_logout_uri"],
        "https://rp.example.com/backchannel"
    );
    assert_eq!(shown["backchannel_logout_session_required"], true);
    assert_eq!(shown["id_token_signed_response_alg"], "ES256");
    let stored = app
        .store
        .find_client(&ClientId::parse("rp").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.id_token_signing_alg(),
        jsonwebtoken::Algorithm::ES256
    );

    // PATCH: an empty URI removes it, an empty algorithm is the default.
    let patch = json!({
        "backchannel_logout_uri": "",
        "id_token_signed_response_alg": "",
        "post_logout_redirect_uris": ["https://rp.example.com/later"],
    });
    let patched = app
        .bearer(
            Method::PATCH,
            "/admin/clients/rp",
            Some(&admin),
            Some(&patch),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let shown = client_of(&app, &admin, "rp").await;
    assert_eq!(shown["backchannel_logout_uri"], Value::Null);
    assert_eq!(shown["id_token_signed_response_alg"], "RS256");
    assert_eq!(
        shown["post_logout_redirect_uris"],
        json!(["https://rp.example.com/later"])
    );
    assert_eq!(
        shown["backchannel_logout_session_required"], true,
        "untouched"
    );
    let stored = app
        .store
        .find_client(&ClientId::parse("rp").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.id_token_signing_alg(),
        jsonwebtoken::Algorithm::RS256
    );
    assert!(stored.browser.backchannel_logout_uri.is_none());

    let patch = json!({"backchannel_logout_uri": "http://localhost:9000/bc", "id_token_signed_response_alg": "EdDSA"});
    let patched = app
        .bearer(
            Method::PATCH,
            "/admin/clients/rp",
            Some(&admin),
            Some(&patch),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let shown = client_of(&app, &admin, "rp").await;
    assert_eq!(shown["backchannel_logout_uri"], "http://localhost:9000/bc");
    assert_eq!(shown["id_token_signed_response_alg"], "EdDSA");
}

async fn the_admin_api_refuses_bad_logout_settings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let with = |field: &str, value: Value| {
        let mut body = relying_party("bad");
        body[field] = value;
        body
    };
    let cases = [
        (
            with("backchannel_logout_uri", json!("http://rp.example.com/bc")),
            "https",
        ),
        (
            with(
                "backchannel_logout_uri",
                json!("https://rp.example.com/bc#x"),
            ),
            "fragment",
        ),
        (
            with("backchannel_logout_uri", json!("com.example.app:/bc")),
            "http or https",
        ),
        (
            with(
                "post_logout_redirect_uris",
                json!(["http://rp.example.com/bye"]),
            ),
            "post_logout_redirect_uris",
        ),
        (
            with("id_token_signed_response_alg", json!("HS256")),
            "RS256, ES256 or EdDSA",
        ),
        (
            json!({"client_id": "bad", "grants": ["client_credentials"],
                   "backchannel_logout_uri": "https://rp.example.com/bc"}),
            "authorization_code",
        ),
    ];
    for (body, needle) in cases {
        let response = app
            .bearer(Method::POST, "/admin/clients", Some(&admin), Some(&body))
            .await;
        let description = assert_api_error(response, 400, "invalid_request").await;
        assert!(description.contains(needle), "{needle}: {description}");
    }
    // PATCH checks the same rules.
    let created = app
        .bearer(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&relying_party("rp")),
        )
        .await;
    assert_eq!(created.status(), 201);
    let response = app
        .bearer(
            Method::PATCH,
            "/admin/clients/rp",
            Some(&admin),
            Some(&json!({"id_token_signed_response_alg": "none"})),
        )
        .await;
    let description = assert_api_error(response, 400, "invalid_request").await;
    assert!(
        description.contains("RS256, ES256 or EdDSA"),
        "{description}"
    );
}

async fn the_cli_registers_and_lists_logout_settings(backend: Backend) {
    let database = TestDatabase::create(backend).await;

    let added = authd_cli(
        &database,
        &[
            "client",
            "add",
            "rp",
            "--public",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "https://rp.example.com/cb",
            "--post-logout-redirect-uri",
            "https://rp.example.com/bye",
            "--post-logout-redirect-uri",
            "com.example.rp:/bye",
            "--backchannel-logout-uri",
            "http://127.0.0.1:7000/bc",
            "--backchannel-logout-session-required",
            "--id-token-alg",
            "EdDSA",
        ],
    );
    let listed = authd_cli(&database, &["client", "list"]);

    assert!(added.status.success(), "{added:?}");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = listed
        .lines()
        .find(|line| line.starts_with("rp\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    let columns: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        columns[7..],
        [
            "backchannel-logout-session-required",
            "https://rp.example.com/bye,com.example.rp:/bye",
            "http://127.0.0.1:7000/bc",
            "EdDSA",
            // The introspection response algorithm (issue 14): the server's default.
            "",
            // The resources (issue 14): none.
            "",
        ]
    );
}

async fn the_cli_refuses_bad_logout_settings(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let cases: [(&[&str], &str); 4] = [
        (
            &["--backchannel-logout-uri", "http://rp.example.com/bc"],
            "--backchannel-logout-uri",
        ),
        (&["--id-token-alg", "HS256"], "RS256, ES256 or EdDSA"),
        (
            &["--post-logout-redirect-uri", "https://rp.example.com/#x"],
            "--post-logout-redirect-uri",
        ),
        (&["--id-token-alg", "PS256"], "--id-token-alg"),
    ];
    for (flags, needle) in cases {
        let mut args = vec![
            "client",
            "add",
            "rp",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "https://rp.example.com/cb",
        ];
        args.extend_from_slice(flags);
        let output = authd_cli(&database, &args);
        assert!(!output.status.success(), "{flags:?} was accepted");
        let last = last_stderr_line(&output);
        assert!(last.contains(needle), "{flags:?}: {last}");
    }
    let listed = authd_cli(&database, &["client", "list"]);
    assert!(listed.stdout.is_empty(), "nothing was registered");
}

backend_tests!(
    the_admin_api_registers_and_changes_logout_settings,
    the_admin_api_refuses_bad_logout_settings,
    the_cli_registers_and_lists_logout_settings,
    the_cli_refuses_bad_logout_settings,
);
