//! RFC 9701 JWT introspection responses: with `Accept: application/token-introspection+jwt` the
//! introspection answer comes signed by authd, verifiable with the published JWKS alone. The
//! signatures are checked with openidconnect's own JOSE verifiers (RSA, ECDSA, Ed25519), not
//! with jsonwebtoken or authd's code.

use authd::config::SigningAlgorithm;
use authd::credentials::{generate_secret, hash_secret};
use authd::domain::{ClientId, GrantType, IntrospectionAlg, ScopeSet};
use authd::store::{BrowserSettings, NewClient};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::browser_clients::authd_cli;
use crate::helpers::{Backend, INTROSPECTOR, TestApp, TestDatabase, assert_oauth_error};

const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

backend_tests!(
    rfc9701_5_an_active_token_is_answered_with_a_jwt_the_jwks_verifies,
    rfc9701_5_inactive_tokens_are_answered_signed_too,
    rfc9701_6_each_client_gets_the_algorithm_it_registered,
    rfc9701_4_other_accept_values_keep_the_json_answer,
    rfc9701_6_the_algorithm_is_registered_through_the_admin_api,
    rfc9701_7_metadata_lists_the_signing_algorithms,
    rfc9701_a_signed_answer_still_needs_client_authentication,
    the_cli_registers_and_sets_the_introspection_algorithm,
    rfc9701_with_hs256_alone_nothing_is_published_and_the_answer_stays_json,
    rfc9701_8_a_signed_answer_is_never_taken_for_an_access_token,
);

/// POSTs /introspect as `client_id` with `accept`.
async fn introspect_accepting(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    token: &str,
    accept: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)]);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

/// Registers a confidential introspecting client with `alg` (empty: the server's default).
async fn add_introspector(app: &TestApp, client_id: &str, alg: &str) -> String {
    let secret = generate_secret();
    let new = NewClient {
        client_id: ClientId::parse(client_id).unwrap(),
        secret_hash: Some(hash_secret(&secret)),
        grants: [GrantType::ClientCredentials].into(),
        scopes: ScopeSet::from_tokens(&["introspect"]).unwrap(),
        browser: BrowserSettings {
            introspection_signed_response_alg: IntrospectionAlg::parse(alg).unwrap(),
            ..BrowserSettings::default()
        },
    };
    app.store
        .create_client(&new, authd::clock::unix_now())
        .await
        .unwrap();
    secret
}

/// The JOSE header and claims of `jwt` once its signature verifies with a key of the JWKS
/// named by its `kid`.
async fn verified(app: &TestApp, jwt: &str) -> (Value, Value) {
    let jwks: CoreJsonWebKeySet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS in compact serialisation");
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).unwrap();
    let kid = header["kid"].as_str().expect("a kid");
    let key = jwks
        .keys()
        .iter()
        .find(|key| key.key_id().map(|id| id.as_str()) == Some(kid))
        .expect("the kid is published in the JWKS");
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    key.verify_signature(&alg, signing_input.as_bytes(), &decode(parts[2]))
        .expect("the signature verifies");
    (header, claims)
}

/// The signed answer for `token` as the standard introspector, checked and verified.
async fn signed_answer(app: &TestApp, token: &str) -> (Value, Value) {
    let secret = app.introspector_secret().await;
    let response =
        introspect_accepting(app, INTROSPECTOR, &secret, token, Some(JWT_MEDIA_TYPE)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], JWT_MEDIA_TYPE);
    assert_eq!(response.headers()["cache-control"], "no-store");
    verified(app, &response.text().await.unwrap()).await
}

async fn rfc9701_5_an_active_token_is_answered_with_a_jwt_the_jwks_verifies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let token = app.password_token("alice", password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = authd::clock::unix_now();

    let (header, claims) = signed_answer(&app, &token).await;
    let plain = app.introspect(&token).await;

    assert_eq!(header["typ"], "token-introspection+jwt");
    assert_eq!(claims["iss"], app.issuer());
    assert_eq!(claims["aud"], INTROSPECTOR);
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((before..=before + 5).contains(&iat), "{iat}");
    let answer = &claims["token_introspection"];
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], "alice");
    // The same answer as the JSON one.
    assert_eq!(*answer, plain);
}

async fn rfc9701_5_inactive_tokens_are_answered_signed_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let issued = app.password_token("alice", password).await;
    let revoked = issued["refresh_token"].as_str().unwrap();
    let response = app
        .post_form("/revoke", &[("token", revoked), ("client_id", "public")])
        .await;
    assert_eq!(response.status(), 200);

    for token in ["not-a-token", "eyJhbGciOiJub25lIn0.e30.", revoked] {
        let (header, claims) = signed_answer(&app, token).await;
        assert_eq!(header["typ"], "token-introspection+jwt");
        assert_eq!(
            claims["token_introspection"],
            json!({"active": false}),
            "{token}"
        );
        assert_eq!(claims["aud"], INTROSPECTOR);
    }
}

async fn rfc9701_6_each_client_gets_the_algorithm_it_registered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_with_scopes(&["items:read"]).await;
    let default_alg = format!("{:?}", app.settings.tokens.algorithm);

    for (client_id, registered, expected) in [
        ("rs", "RS256", "RS256"),
        ("es", "ES256", "ES256"),
        ("ed", "EdDSA", "EdDSA"),
        ("default", "", default_alg.as_str()),
    ] {
        let secret = add_introspector(&app, client_id, registered).await;
        let response =
            introspect_accepting(&app, client_id, &secret, &token, Some(JWT_MEDIA_TYPE)).await;
        assert_eq!(response.status(), 200);
        let (header, claims) = verified(&app, &response.text().await.unwrap()).await;
        assert_eq!(header["alg"], expected, "{client_id}");
        assert_eq!(claims["aud"], client_id);
        assert_eq!(claims["token_introspection"]["active"], true);
    }
}

async fn rfc9701_4_other_accept_values_keep_the_json_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_with_scopes(&["items:read"]).await;
    let secret = app.introspector_secret().await;

    for accept in [
        None,
        Some("application/json"),
        Some("*/*"),
        Some("application/jwt"),
        Some("application/token-introspection+jwt;q=0"),
    ] {
        let response = introspect_accepting(&app, INTROSPECTOR, &secret, &token, accept).await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{accept:?}: {content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true, "{accept:?}");
    }
}

async fn rfc9701_6_the_algorithm_is_registered_through_the_admin_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let create = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            app.bearer(
                reqwest::Method::POST,
                "/admin/clients",
                Some(admin),
                Some(&body),
            )
            .await
        }
    };

    let created = create(json!({
        "client_id": "rs-api", "grants": ["client_credentials"],
        "introspection_signed_response_alg": "ES256"
    }))
    .await;
    let unsupported = create(json!({
        "client_id": "rs-hs", "grants": ["client_credentials"],
        "introspection_signed_response_alg": "HS256"
    }))
    .await;
    let public = create(json!({
        "client_id": "spa", "grants": ["authorization_code"], "public": true,
        "redirect_uris": ["https://app.example.test/cb"],
        "introspection_signed_response_alg": "ES256"
    }))
    .await;
    let reset = app
        .bearer(
            reqwest::Method::PATCH,
            "/admin/clients/rs-api",
            Some(&admin),
            Some(&json!({"introspection_signed_response_alg": ""})),
        )
        .await;

    assert_eq!(created.status(), 201);
    let shown: Value = created.json().await.unwrap();
    assert_eq!(shown["introspection_signed_response_alg"], "ES256");
    assert_eq!(unsupported.status(), 400);
    let body: Value = unsupported.json().await.unwrap();
    assert!(body.to_string().contains("RS256, ES256 or EdDSA"), "{body}");
    assert_eq!(public.status(), 400);
    assert_eq!(reset.status(), 200);
    let shown: Value = reset.json().await.unwrap();
    assert_eq!(shown["introspection_signed_response_alg"], Value::Null);
}

async fn rfc9701_7_metadata_lists_the_signing_algorithms(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata: Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let algorithms = metadata["introspection_signing_alg_values_supported"]
            .as_array()
            .expect("a list");
        for alg in ["RS256", "ES256", "EdDSA"] {
            assert!(algorithms.contains(&json!(alg)), "{path}: {algorithms:?}");
        }
    }
}

async fn rfc9701_a_signed_answer_still_needs_client_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token_with_scopes(&["items:read"]).await;
    app.introspector_secret().await;

    let wrong =
        introspect_accepting(&app, INTROSPECTOR, "wrong", &token, Some(JWT_MEDIA_TYPE)).await;
    let anonymous = app
        .http
        .post(app.url("/introspect"))
        .header("accept", JWT_MEDIA_TYPE)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();

    assert_oauth_error(wrong, 401, "invalid_client").await;
    assert_oauth_error(anonymous, 401, "invalid_client").await;
}

async fn the_cli_registers_and_sets_the_introspection_algorithm(backend: Backend) {
    let database = TestDatabase::create(backend).await;

    let added = authd_cli(
        &database,
        &[
            "client",
            "add",
            "reports",
            "--grant",
            "client_credentials",
            "--scope",
            "introspect",
            "--introspection-alg",
            "ES256",
        ],
    );
    let unsupported = authd_cli(
        &database,
        &[
            "client",
            "add",
            "other",
            "--grant",
            "client_credentials",
            "--introspection-alg",
            "HS256",
        ],
    );
    let listed = authd_cli(&database, &["client", "list"]);

    assert!(added.status.success(), "{added:?}");
    assert!(!unsupported.status.success());
    let refusal = String::from_utf8_lossy(&unsupported.stderr);
    assert!(refusal.contains("--introspection-alg"), "{refusal}");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = listed
        .lines()
        .find(|line| line.starts_with("reports\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(line.split('\t').nth(11), Some("ES256"), "{line}");

    let changed = authd_cli(
        &database,
        &["client", "set", "reports", "--introspection-alg", "EdDSA"],
    );
    let listed = authd_cli(&database, &["client", "list"]);
    assert!(changed.status.success(), "{changed:?}");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = listed.lines().find(|l| l.starts_with("reports\t")).unwrap();
    assert_eq!(line.split('\t').nth(11), Some("EdDSA"), "{line}");
}

async fn rfc9701_with_hs256_alone_nothing_is_published_and_the_answer_stays_json(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.tokens.algorithm = SigningAlgorithm::HS256;
        s.tokens.hs256_secret = Some(SecretString::from(
            "0123456789abcdef0123456789abcdef".to_owned(),
        ));
    })
    .await;
    let token = app.token_with_scopes(&["items:read"]).await;
    let secret = app.introspector_secret().await;

    let response =
        introspect_accepting(&app, INTROSPECTOR, &secret, &token, Some(JWT_MEDIA_TYPE)).await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(
        metadata["introspection_signing_alg_values_supported"],
        json!([])
    );
}

async fn rfc9701_8_a_signed_answer_is_never_taken_for_an_access_token(backend: Backend) {
    // The answers are signed with the access tokens' keys: their `typ` (and missing `exp`) must
    // keep them from passing as one.
    let app = TestApp::spawn(backend).await;
    let token = app.token_with_scopes(&["items:read"]).await;
    let secret = add_introspector(&app, "default", "").await;
    let response =
        introspect_accepting(&app, "default", &secret, &token, Some(JWT_MEDIA_TYPE)).await;
    let signed = response.text().await.unwrap();
    let (header, _) = verified(&app, &signed).await;
    assert_eq!(
        header["alg"],
        format!("{:?}", app.settings.tokens.algorithm)
    );

    let as_bearer = app
        .bearer(reqwest::Method::GET, "/me", Some(&signed), None)
        .await;
    let introspected = app.introspect(&signed).await;

    assert_eq!(as_bearer.status(), 401);
    assert_eq!(introspected, json!({"active": false}));
}
