//! OpenID Connect: id_tokens (Core sections 2, 3.1.3 and 12.2), the OpenID scopes, /userinfo
//! (section 5.3), discovery (Discovery 1.0) and id_token_hint, checked with the JWKS alone.

use authd::domain::{RoleName, Username};
use authd::store::NewUser;
use aws_lc_rs::digest::{SHA256, SHA512, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::signin_support::{
    Browser, ClientSpec, Pkce, WebClient, add_web_client, json, location, param,
};

pub const PASSWORD: &str = "correct horse battery";
const OPENID_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "items:read"];

/// Alice, with a full name and an address, holding items:read through a role.
pub async fn seed_alice(app: &TestApp) -> authd::store::User {
    app.add_role("reader", &["items:read"]).await;
    let new = NewUser {
        username: Username::parse("alice").unwrap(),
        email: Some("alice@example.test".into()),
        full_name: Some("Alice Liddell".into()),
        disabled: false,
        password_hash: app
            .hasher
            .hash(&SecretString::from(PASSWORD.to_owned()))
            .await
            .unwrap(),
        roles: vec![RoleName::parse("reader").unwrap()],
    };
    app.store
        .create_user(&new, authd::clock::unix_now())
        .await
        .unwrap()
}

/// A first-party client registered for every OpenID scope.
pub async fn openid_client(app: &TestApp) -> WebClient {
    openid_client_named(app, "photos").await
}

/// Like `openid_client`, under another client_id.
pub async fn openid_client_named(app: &TestApp, id: &'static str) -> WebClient {
    add_web_client(
        app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party(id, OPENID_SCOPES)
        },
    )
    .await
}

/// The token response for a code obtained with `extra` parameters.
async fn tokens_for(
    app: &TestApp,
    browser: &Browser,
    client: &WebClient,
    extra: &[(&str, &str)],
) -> Value {
    let pkce = Pkce::new();
    let code = browser.code_with(app, client, &pkce, extra, PASSWORD).await;
    let (status, body) = json(
        client
            .exchange(app, &code, Some(&pkce.verifier), Some(&client.redirect_uri))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Verifies `token` with nothing but the published JWKS, as a relying party does; returns its
/// header algorithm and claims.
pub async fn verify_with_jwks(app: &TestApp, token: &str, audience: &str) -> (Algorithm, Value) {
    let jwks: JwkSet = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwk = jwks
        .find(header.kid.as_deref().expect("a kid"))
        .expect("the id_token's key is published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.issuer()]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
    let claims =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the id_token verifies with the JWKS")
            .claims;
    (header.alg, claims)
}

fn claims_of_access_token(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn expected_at_hash(alg: Algorithm, access_token: &str) -> String {
    let hash = match alg {
        Algorithm::EdDSA => digest(&SHA512, access_token.as_bytes()),
        _ => digest(&SHA256, access_token.as_bytes()),
    };
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

async fn an_id_token_describes_the_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let before = authd::clock::unix_now();
    let body = tokens_for(
        &app,
        &browser,
        &client,
        &[
            ("scope", "openid profile email items:read"),
            ("nonce", "n-0S6_WzA2Mj"),
        ],
    )
    .await;
    let access_token = body["access_token"].as_str().unwrap();
    let id_token = body["id_token"].as_str().expect("an id_token");
    let (alg, claims) = verify_with_jwks(&app, id_token, "photos").await;

    assert_eq!(
        alg,
        Algorithm::RS256,
        "RS256 unless the client asks otherwise"
    );
    assert_eq!(claims["iss"], app.issuer());
    assert_eq!(claims["sub"], alice.id.as_str());
    assert_eq!(claims["aud"], "photos");
    assert_eq!(claims["azp"], "photos");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before);
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 300);
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(auth_time >= before && auth_time <= iat);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["at_hash"], expected_at_hash(alg, access_token));
    let sid = claims["sid"].as_str().expect("a sid");
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["roles"], serde_json::json!(["reader"]));

    // The access token ends with the same session.
    assert_eq!(claims_of_access_token(access_token)["sid"], sid);
}

async fn claims_follow_the_granted_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let body = tokens_for(&app, &browser, &client, &[("scope", "openid")]).await;
    let (_, claims) = verify_with_jwks(&app, body["id_token"].as_str().unwrap(), "photos").await;
    for withheld in [
        "name",
        "preferred_username",
        "email",
        "email_verified",
        "nonce",
    ] {
        assert!(claims.get(withheld).is_none(), "{withheld} in {claims}");
    }
    let userinfo = bearer_get(&app, "/userinfo", body["access_token"].as_str().unwrap()).await;
    assert_eq!(userinfo.status(), 200);
    let userinfo: Value = userinfo.json().await.unwrap();
    assert_eq!(userinfo["sub"], claims["sub"]);
    assert!(userinfo.get("email").is_none() && userinfo.get("name").is_none());

    // Without openid there is no id_token at all.
    let body = tokens_for(&app, &browser, &client, &[("scope", "items:read")]).await;
    assert!(body.get("id_token").is_none(), "{body}");
}

async fn the_openid_scopes_belong_to_no_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Bob holds no role at all.
    let bob = app.add_user("bob", PASSWORD, &[]).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let response = browser
        .authorize(
            &app,
            &client,
            &[
                ("scope", "openid profile email offline_access"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/login");
    let to = location(&browser.sign_in(&app, "bob", PASSWORD).await);
    let code = param(&to, "code").expect("bob may hold the OpenID scopes");
    let (status, body) = json(
        client
            .exchange(
                &app,
                &code,
                Some(&pkce.verifier),
                Some(&client.redirect_uri),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "email offline_access openid profile");
    let (_, claims) = verify_with_jwks(&app, body["id_token"].as_str().unwrap(), "photos").await;
    assert_eq!(claims["sub"], bob.id.as_str());
    assert_eq!(claims["roles"], serde_json::json!([]));

    // Bounded by the client's registration like any scope.
    let narrow = add_web_client(
        &app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party("narrow", &["openid"])
        },
    )
    .await;
    let response = browser
        .authorize(
            &app,
            &narrow,
            &[
                ("scope", "openid profile"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let to = location(&response);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("invalid_scope"),
        "{to}"
    );
}

async fn bearer_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn userinfo_answers_by_scope_and_challenges_per_rfc_6750(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let body = tokens_for(
        &app,
        &browser,
        &client,
        &[("scope", "openid profile email")],
    )
    .await;
    let token = body["access_token"].as_str().unwrap();

    let got = bearer_get(&app, "/userinfo", token).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["cache-control"], "no-store");
    let got: Value = got.json().await.unwrap();
    let posted: Value = reqwest::Client::new()
        .post(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, posted);
    assert_eq!(got["preferred_username"], "alice");
    assert_eq!(got["name"], "Alice Liddell");
    assert_eq!(got["email"], "alice@example.test");
    assert_eq!(got["email_verified"], false);

    // No token, a bad token, a token without openid: RFC 6750 challenges.
    let none = reqwest::get(app.url("/userinfo")).await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let bad = bearer_get(&app, "/userinfo", "not-a-token").await;
    assert_eq!(bad.status(), 401);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let without_openid = tokens_for(&app, &browser, &client, &[("scope", "items:read")]).await;
    let refused = bearer_get(
        &app,
        "/userinfo",
        without_openid["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

async fn refresh_issues_an_id_token_for_the_original_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let first = tokens_for(
        &app,
        &browser,
        &client,
        &[("scope", "openid profile"), ("nonce", "n-1")],
    )
    .await;
    let (_, original) = verify_with_jwks(&app, first["id_token"].as_str().unwrap(), "photos").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refresh_token = first["refresh_token"].as_str().unwrap();
    let (status, body) = json(
        app.post_form_basic(
            "/token",
            &client.id,
            client.secret.as_deref().unwrap(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (alg, renewed) = verify_with_jwks(&app, body["id_token"].as_str().unwrap(), "photos").await;
    for same in ["iss", "sub", "aud", "auth_time", "sid", "azp", "amr"] {
        assert_eq!(renewed[same], original[same], "{same}");
    }
    assert!(renewed["iat"].as_i64() > original["iat"].as_i64());
    assert!(renewed.get("nonce").is_none(), "no nonce on refresh");
    assert_eq!(
        renewed["at_hash"],
        expected_at_hash(alg, body["access_token"].as_str().unwrap())
    );
}

async fn discovery_is_complete_and_the_same_at_both_addresses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let openid: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oauth: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openid, oauth);
    let issuer = app.issuer();
    assert_eq!(openid["issuer"], issuer);
    // Discovery 1.0 section 3: required, and what authd supports.
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("end_session_endpoint", "/logout"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(openid[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(
        openid["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        openid["subject_types_supported"],
        serde_json::json!(["public"])
    );
    let algorithms = openid["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algorithms.contains(&Value::from("RS256")), "{algorithms:?}");
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(
            openid["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&Value::from(scope)),
            "{scope}"
        );
    }
    for flag in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "authorization_response_iss_parameter_supported",
    ] {
        assert_eq!(openid[flag], true, "{flag}");
    }
    assert_eq!(openid["request_parameter_supported"], false);
    assert_eq!(openid["request_uri_parameter_supported"], false);
    assert_eq!(
        openid["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let claims = openid["claims_supported"].as_array().unwrap();
    for claim in ["sub", "auth_time", "nonce", "name", "email", "sid"] {
        assert!(claims.contains(&Value::from(claim)), "{claim}");
    }
}

async fn id_token_hint_picks_the_session_that_may_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    app.add_user("bob", PASSWORD, &[]).await;
    let client = openid_client(&app).await;
    let alice_browser = Browser::new();
    let alice = tokens_for(&app, &alice_browser, &client, &[("scope", "openid")]).await;
    let bob_browser = Browser::new();
    let pkce = Pkce::new();
    let to = location(
        &bob_browser
            .authorize(
                &app,
                &client,
                &[
                    ("scope", "openid"),
                    ("code_challenge", &pkce.challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await,
    );
    assert_eq!(to, "/login");
    let to = location(&bob_browser.sign_in(&app, "bob", PASSWORD).await);
    let code = param(&to, "code").unwrap();
    let (_, bob) = json(
        client
            .exchange(
                &app,
                &code,
                Some(&pkce.verifier),
                Some(&client.redirect_uri),
            )
            .await,
    )
    .await;

    let silently = |hint: String| {
        let pkce = Pkce::new();
        vec![
            ("scope".to_owned(), "openid".to_owned()),
            ("prompt".to_owned(), "none".to_owned()),
            ("id_token_hint".to_owned(), hint),
            ("code_challenge".to_owned(), pkce.challenge),
            ("code_challenge_method".to_owned(), "S256".to_owned()),
        ]
    };
    async fn authorize_with(
        app: &TestApp,
        browser: &Browser,
        client: &WebClient,
        params: &[(String, String)],
    ) -> String {
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        location(&browser.authorize(app, client, &params).await)
    }

    // Alice's own hint: her session answers without a page.
    let alice_hint = alice["id_token"].as_str().unwrap().to_owned();
    let to = authorize_with(&app, &alice_browser, &client, &silently(alice_hint)).await;
    assert!(param(&to, "code").is_some(), "{to}");
    // Bob's hint in Alice's browser: her session cannot answer for him.
    let bob_hint = bob["id_token"].as_str().unwrap().to_owned();
    let to = authorize_with(&app, &alice_browser, &client, &silently(bob_hint.clone())).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("login_required"),
        "{to}"
    );
    // Without prompt=none, the login page is shown instead.
    let mut interactive = silently(bob_hint);
    interactive.retain(|(name, _)| name != "prompt");
    let to = authorize_with(&app, &alice_browser, &client, &interactive).await;
    assert_eq!(to, "/login");
    // A forged or foreign hint is refused.
    let to = authorize_with(
        &app,
        &alice_browser,
        &client,
        &silently(alice["access_token"].as_str().unwrap().to_owned()),
    )
    .await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
    let mut forged = alice["id_token"].as_str().unwrap().to_owned();
    forged.push('A');
    let to = authorize_with(&app, &alice_browser, &client, &silently(forged)).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
}

async fn signing_in_again_keeps_the_session_its_sid_and_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    let first = tokens_for(&app, &browser, &client, &[("scope", "openid")]).await;
    let (_, before) = verify_with_jwks(&app, first["id_token"].as_str().unwrap(), "photos").await;
    let old_cookies = browser.cookie_header(&app.url("/authorize"));
    app.clock.advance(5);

    // prompt=login: the password again, in the same browser.
    let again = tokens_for(
        &app,
        &browser,
        &client,
        &[("scope", "openid"), ("prompt", "login")],
    )
    .await;
    let (_, after) = verify_with_jwks(&app, again["id_token"].as_str().unwrap(), "photos").await;
    assert_eq!(after["sid"], before["sid"], "the relying party's sid stays");
    assert!(after["auth_time"].as_i64() > before["auth_time"].as_i64());
    // The tokens bound to the session live on; the old cookie value does not (no fixation).
    assert_eq!(
        app.introspect(first["access_token"].as_str().unwrap())
            .await["active"],
        true
    );
    let (status, _) = json(
        app.post_form_basic(
            "/token",
            &client.id,
            client.secret.as_deref().unwrap(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let pkce = Pkce::new();
    let url = reqwest::Url::parse_with_params(
        &app.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", "photos"),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("prompt", "none"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let stale = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .header("Cookie", old_cookies)
        .send()
        .await
        .unwrap();
    let to = location(&stale);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("login_required"),
        "{to}"
    );
}

backend_tests!(
    signing_in_again_keeps_the_session_its_sid_and_its_tokens,
    an_id_token_describes_the_sign_in,
    claims_follow_the_granted_scopes,
    the_openid_scopes_belong_to_no_role,
    userinfo_answers_by_scope_and_challenges_per_rfc_6750,
    refresh_issues_an_id_token_for_the_original_sign_in,
    discovery_is_complete_and_the_same_at_both_addresses,
    id_token_hint_picks_the_session_that_may_answer,
);
