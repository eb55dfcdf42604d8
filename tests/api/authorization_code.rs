//! The authorization code flow with PKCE (RFC 6749 section 4.1, RFC 7636, RFC 9700, RFC 9207)
//! through authd's own pages, as a cookie-keeping client walks it.

use futures_util::future::join_all;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};
use crate::signin_support::{
    Browser, ClientSpec, Pkce, REDIRECT, add_web_client, assert_error_page, csrf_of, json,
    location, param, user_named,
};

const SCOPES: &[&str] = &["items:read", "items:write"];

async fn sign_in_consent_exchange_then_single_sign_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let third_party = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let first_party = add_web_client(
        &app,
        ClientSpec {
            skip_consent: true,
            public: true,
            redirect_uris: &["com.example.notes:/cb"],
            ..ClientSpec::third_party("notes", SCOPES)
        },
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();

    // /authorize -> /login -> /consent -> the client, with code, state and iss.
    let response = browser
        .authorize(
            &app,
            &third_party,
            &[
                ("scope", "items:read"),
                ("state", "xyz"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/login");
    let response = browser.sign_in(&app, "alice", password).await;
    assert_eq!(location(&response), "/consent");
    let consent = browser
        .get(&app.url("/consent"))
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("The gallery app") && consent.contains("items:read"));
    assert!(consent.contains(r#"name="decision" value="allow""#));
    let response = browser.decide(&app, "allow").await;
    let to = location(&response);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("xyz"));
    assert_eq!(param(&to, "iss"), Some(app.issuer()));
    let code = param(&to, "code").unwrap();
    assert!(code.len() >= 43);

    let (status, body) = json(
        third_party
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "items:read");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string());
    let introspected = app.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["username"], "alice");
    assert_eq!(introspected["client_id"], "gallery");

    // Single sign-on: another client, no password, no consent (first-party).
    let pkce = Pkce::new();
    let response = browser
        .authorize(
            &app,
            &first_party,
            &[
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let to = location(&response);
    assert!(to.starts_with("com.example.notes:/cb?code="), "{to}");
    let (status, body) = json(
        first_party
            .exchange(
                &app,
                &param(&to, "code").unwrap(),
                Some(&pkce.verifier),
                Some("com.example.notes:/cb"),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "items:read items:write");

    // The third-party client again: consent is remembered for the same scopes.
    let pkce = Pkce::new();
    let response = browser
        .authorize(
            &app,
            &third_party,
            &[
                ("scope", "items:read"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert!(location(&response).starts_with(REDIRECT));
    // More scopes ask again; prompt=consent always asks.
    for extra in [
        &[("scope", "items:read items:write")][..],
        &[("scope", "items:read"), ("prompt", "consent")][..],
    ] {
        let mut params = vec![
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        let response = browser.authorize(&app, &third_party, &params).await;
        assert_eq!(location(&response), "/consent", "{extra:?}");
    }
}

async fn untrusted_clients_and_redirect_uris_get_a_page_never_a_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec {
            redirect_uris: &[REDIRECT, "https://app.example.test/other"],
            ..ClientSpec::third_party("gallery", SCOPES)
        },
    )
    .await;
    app.add_client(
        "service",
        &[authd::domain::GrantType::ClientCredentials],
        &["a"],
        false,
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let base = [
        ("response_type", "code"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("client_id", "nobody"), ("redirect_uri", REDIRECT)],
        vec![("redirect_uri", REDIRECT)],
        vec![("client_id", "service"), ("redirect_uri", REDIRECT)],
        vec![
            ("client_id", "gallery"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        vec![
            ("client_id", "gallery"),
            ("redirect_uri", "https://app.example.test/callback/"),
        ],
        vec![
            ("client_id", "gallery"),
            ("redirect_uri", "https://app.example.test/callback#x"),
        ],
        // Two are registered, so one must be named.
        vec![("client_id", "gallery")],
        vec![
            ("client_id", "gallery"),
            ("client_id", "gallery"),
            ("redirect_uri", REDIRECT),
        ],
    ];
    for extra in cases {
        let mut query = base.to_vec();
        query.extend(extra.iter().copied());
        let url = reqwest::Url::parse_with_params(&app.url("/authorize"), &query).unwrap();
        let body = assert_error_page(browser.get(url.as_str()).await, 400).await;
        assert!(!body.contains("evil.example"), "{extra:?}");
    }
    // Input is escaped, never reflected raw.
    let url = reqwest::Url::parse_with_params(
        &app.url("/authorize"),
        &[("client_id", "<script>alert(1)</script>")],
    )
    .unwrap();
    let body = assert_error_page(browser.get(url.as_str()).await, 400).await;
    assert!(!body.contains("<script>"));
    let _ = client;
}

async fn other_errors_go_back_to_the_client_with_state_and_iss(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let challenge = pkce.challenge.as_str();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![], "invalid_request"),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (vec![("code_challenge", challenge)], "invalid_request"),
        (
            vec![
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("scope", "admin:users"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("prompt", "none login"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("max_age", "-1"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("request", "eyJ"),
            ],
            "request_not_supported",
        ),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("request_uri", "https://app.example/request.jwt"),
            ],
            "request_uri_not_supported",
        ),
        (
            vec![
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("registration", "{}"),
            ],
            "registration_not_supported",
        ),
    ];
    for (params, error) in cases {
        let mut query = vec![("state", "st&te")];
        query.extend(params.iter().copied());
        let response = if params.iter().any(|(k, _)| *k == "response_type") {
            let mut full = vec![("client_id", "gallery"), ("redirect_uri", REDIRECT)];
            full.extend(query.iter().copied());
            let url = reqwest::Url::parse_with_params(&app.url("/authorize"), &full).unwrap();
            browser.get(url.as_str()).await
        } else {
            browser.authorize(&app, &client, &query).await
        };
        assert_eq!(response.status(), 303, "{params:?}");
        let to = location(&response);
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{params:?}");
        assert!(param(&to, "error_description").is_some());
        assert_eq!(param(&to, "state").as_deref(), Some("st&te"));
        assert_eq!(param(&to, "iss"), Some(app.issuer()));
    }
    // POST /authorize takes the same parameters from a form.
    let response = browser
        .post(
            &app.url("/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", "gallery"),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/login");
}

async fn prompt_and_max_age(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let with = |extra: &'static [(&'static str, &'static str)]| {
        let mut params = vec![
            ("code_challenge", pkce.challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        params.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        params
    };
    let as_refs =
        |params: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { params.clone() };
    let go = |params: Vec<(&'static str, String)>| {
        let browser = &browser;
        let app = &app;
        let client = &client;
        async move {
            let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.authorize(app, client, &refs).await
        }
    };
    // prompt=none without a session: login_required, at the client.
    let to = location(&go(as_refs(&with(&[("prompt", "none")]))).await);
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    // Sign in; prompt=none without consent: consent_required.
    browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let to = location(&go(with(&[("prompt", "none"), ("scope", "items:write")])).await);
    assert_eq!(param(&to, "error").as_deref(), Some("consent_required"));
    // With session and consent, prompt=none answers with a code.
    let to = location(&go(with(&[("prompt", "none"), ("scope", "items:read")])).await);
    assert!(param(&to, "code").is_some(), "{to}");
    // prompt=login forces the form, and afterwards goes straight on.
    let response = go(with(&[("prompt", "login"), ("scope", "items:read")])).await;
    assert_eq!(location(&response), "/login");
    let response = browser.sign_in(&app, "alice", password).await;
    assert!(location(&response).starts_with(REDIRECT));
    // max_age: fresh enough passes, exceeded forces a login; prompt=none then says login_required.
    let to = location(&go(with(&[("max_age", "300"), ("scope", "items:read")])).await);
    assert!(param(&to, "code").is_some());
    app.clock.advance(301);
    let response = go(with(&[("max_age", "300"), ("scope", "items:read")])).await;
    assert_eq!(location(&response), "/login");
    let to = location(&go(with(&[("max_age", "300"), ("prompt", "none")])).await);
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    // max_age=0 is prompt=login (Core 3.1.2.1), even in the second of the sign-in.
    let response = go(with(&[("max_age", "0"), ("scope", "items:read")])).await;
    assert_eq!(location(&response), "/login");
    let response = browser.sign_in(&app, "alice", password).await;
    assert!(location(&response).starts_with(REDIRECT));
    let response = go(with(&[("max_age", "0"), ("scope", "items:read")])).await;
    assert_eq!(location(&response), "/login");
}

async fn deny_and_revoked_consent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let params = [
        ("scope", "items:read"),
        ("state", "d"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    browser.authorize(&app, &client, &params).await;
    browser.sign_in(&app, "alice", password).await;
    let to = location(&browser.decide(&app, "deny").await);
    assert_eq!(param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&to, "state").as_deref(), Some("d"));
    // Denial is not remembered: the next request asks again.
    assert_eq!(
        location(&browser.authorize(&app, &client, &params).await),
        "/consent"
    );

    // Allow, get a refresh token, then revoke the consent on /account.
    let code = browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let (_, tokens) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let account = browser.get(&app.url("/account")).await;
    assert_eq!(account.status(), 200);
    let page = account.text().await.unwrap();
    assert!(page.contains("gallery"));
    let csrf = csrf_of(&page);
    // Without the session's CSRF token the revocation is refused.
    let refused = browser
        .post(
            &app.url("/account/consents/revoke"),
            &[("csrf", "forged"), ("client_id", "gallery")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    let revoked = browser
        .post(
            &app.url("/account/consents/revoke"),
            &[("csrf", &csrf), ("client_id", "gallery")],
        )
        .await;
    assert_eq!(location(&revoked), "/account");
    assert_oauth_error(
        app.post_form_basic(
            "/token",
            &client.id,
            client.secret.as_deref().unwrap(),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        location(&browser.authorize(&app, &client, &params).await),
        "/consent"
    );
}

async fn a_code_works_once_and_its_replay_revokes_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let code = browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let (status, first) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, second) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(
        (status, second["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], false);
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
    assert_eq!(status, 400);
}

async fn concurrent_redemptions_issue_at_most_one_set_and_revoke_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let code = browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let attempts =
        (0..8).map(|_| client.exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT)));
    let results = join_all(attempts).await;
    let mut issued = Vec::new();
    for response in results {
        let (status, body) = json(response).await;
        match status {
            200 => issued.push(body),
            400 => assert_eq!(body["error"], "invalid_grant"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(issued.len(), 1, "exactly one redemption wins");
    // The losers saw a reuse: what the winner got is revoked everywhere.
    let access = issued[0]["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], false);
}

async fn pkce_mismatch_missing_verifier_and_downgrade_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let code = browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    assert_oauth_error(
        client
            .exchange(&app, &code, Some(&Pkce::new().verifier), Some(REDIRECT))
            .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        client.exchange(&app, &code, None, Some(REDIRECT)).await,
        400,
        "invalid_request",
    )
    .await;
    // Failed attempts do not use the code up.
    let (status, _) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200);

    // The one opt-out: a confidential client with --pkce-optional, openid and a nonce.
    let relying_party = add_web_client(
        &app,
        ClientSpec {
            pkce_optional: true,
            skip_consent: true,
            ..ClientSpec::third_party("rp", &["items:read", "openid"])
        },
    )
    .await;
    let without_nonce = browser
        .authorize(&app, &relying_party, &[("scope", "openid")])
        .await;
    assert_eq!(
        param(&location(&without_nonce), "error").as_deref(),
        Some("invalid_request")
    );
    let response = browser
        .authorize(
            &app,
            &relying_party,
            &[("scope", "items:read"), ("nonce", "n-1")],
        )
        .await;
    assert_eq!(
        param(&location(&response), "error").as_deref(),
        Some("invalid_request")
    );
    app.add_role("oidc", &["openid"]).await;
    // A verifier where no challenge was sent is a downgrade attempt.
    let response = browser
        .authorize(
            &app,
            &relying_party,
            &[("scope", "items:read openid"), ("nonce", "n-1")],
        )
        .await;
    let to = location(&response);
    // alice lacks `openid` as a role scope, which the OpenID issue changes; the request itself
    // passed the PKCE check, which is what this test is about.
    assert!(
        param(&to, "code").is_some() || param(&to, "error").as_deref() == Some("invalid_scope"),
        "{to}"
    );
    if let Some(code) = param(&to, "code") {
        assert_oauth_error(
            relying_party
                .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
                .await,
            400,
            "invalid_grant",
        )
        .await;
    }
}

async fn codes_are_bound_to_client_redirect_uri_and_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let other = add_web_client(
        &app,
        ClientSpec {
            redirect_uris: &["https://other.example/cb"],
            ..ClientSpec::third_party("other", SCOPES)
        },
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let code = browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    assert_oauth_error(
        other
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
        400,
        "invalid_grant",
    )
    .await;
    for redirect in [None, Some("https://app.example.test/elsewhere")] {
        let (status, body) = json(
            client
                .exchange(&app, &code, Some(&pkce.verifier), redirect)
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{redirect:?}"
        );
    }
    app.clock
        .advance(app.settings.oauth.code_ttl_secs as i64 + 1);
    assert_oauth_error(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn login_csrf_and_expired_transactions_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    let params = [
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // No transaction at all.
    let stranger = Browser::new();
    let response = stranger
        .post(
            &app.url("/login"),
            &[("username", "alice"), ("password", password)],
        )
        .await;
    assert_error_page(response, 400).await;

    let browser = Browser::new();
    browser.authorize(&app, &client, &params).await;
    let page = browser.get(&app.url("/login")).await;
    for (name, value) in [
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        let header = page.headers()[name].to_str().unwrap().to_owned();
        assert!(header.contains(value), "{name}: {header}");
    }
    let csrf = csrf_of(&page.text().await.unwrap());
    // Without the token, and with another transaction's token.
    let response = browser
        .post(
            &app.url("/login"),
            &[("username", "alice"), ("password", password)],
        )
        .await;
    assert_error_page(response, 403).await;
    let other = Browser::new();
    other.authorize(&app, &client, &params).await;
    let others_csrf = csrf_of(&other.get(&app.url("/login")).await.text().await.unwrap());
    let response = browser
        .post(
            &app.url("/login"),
            &[
                ("csrf", &others_csrf),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;
    assert_error_page(response, 403).await;
    // An expired transaction.
    app.clock
        .advance(app.settings.sessions.login_ttl_secs as i64 + 1);
    let response = browser
        .post(
            &app.url("/login"),
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;
    assert_error_page(response, 400).await;
}

async fn wrong_passwords_do_not_tell_which_part_was_wrong_and_lock_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    let browser = Browser::new();
    browser
        .authorize(
            &app,
            &client,
            &[
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let mut pages = Vec::new();
    for username in ["alice", "nobody"] {
        let response = browser.sign_in(&app, username, "wrong password").await;
        assert_eq!(response.status(), 400);
        let page = response.text().await.unwrap();
        assert!(page.contains("Invalid username or password."));
        pages.push(page.replace(username, "USER"));
    }
    // One answer for both, apart from the per-transaction CSRF token (the same here).
    assert_eq!(pages[0], pages[1]);
    let threshold = app.settings.security.lockout_threshold;
    let mut last = 0;
    for _ in 0..threshold {
        last = browser
            .sign_in(&app, "alice", "wrong password")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    let locked = browser
        .sign_in(&app, "alice", "correct horse battery")
        .await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().get("retry-after").is_some());
}

async fn a_password_change_or_disable_ends_browser_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let params = [
        ("scope", "items:read"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    assert!(location(&browser.authorize(&app, &client, &params).await).starts_with(REDIRECT));
    // A code issued before the change cannot be exchanged after it.
    let code = param(
        &location(&browser.authorize(&app, &client, &params).await),
        "code",
    )
    .unwrap();
    // Through the admin API of this instance: the session ends at once.
    let admin = app.admin_token().await;
    let changed = app
        .bearer(
            reqwest::Method::PATCH,
            "/admin/users/alice",
            Some(&admin),
            Some(&serde_json::json!({ "password": "a brand new password" })),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        location(&browser.authorize(&app, &client, &params).await),
        "/login"
    );
    let (status, _) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    let response = browser.sign_in(&app, "alice", "a brand new password").await;
    assert!(location(&response).starts_with(REDIRECT));
    // From another process (the CLI, another instance): within a second.
    let username = authd::domain::Username::parse("alice").unwrap();
    app.store
        .set_disabled(&username, true, authd::clock::unix_now())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        location(&browser.authorize(&app, &client, &params).await),
        "/login"
    );
}

async fn idle_and_absolute_timeouts_end_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party("gallery", SCOPES)
        },
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let params = [
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let idle = app.settings.sessions.idle_secs as i64;
    // Used just before the idle timeout, each time: the session lives on...
    for _ in 0..3 {
        app.clock.advance(idle - 100);
        assert!(location(&browser.authorize(&app, &client, &params).await).starts_with(REDIRECT));
    }
    // ...until idle too long.
    app.clock.advance(idle + 1);
    assert_eq!(
        location(&browser.authorize(&app, &client, &params).await),
        "/login"
    );
    browser.sign_in(&app, "alice", password).await;
    let absolute = app.settings.sessions.absolute_secs as i64;
    let mut elapsed = 0;
    while elapsed + idle / 2 < absolute {
        app.clock.advance(idle / 2);
        elapsed += idle / 2;
        assert!(location(&browser.authorize(&app, &client, &params).await).starts_with(REDIRECT));
    }
    app.clock.advance(absolute - elapsed + 1);
    assert_eq!(
        location(&browser.authorize(&app, &client, &params).await),
        "/login"
    );
}

async fn two_instances_honour_one_session_and_sign_out_ends_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let other = app.another_instance().await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    // The cookie jar is per host, and both instances are 127.0.0.1: the session travels.
    let response = browser
        .authorize(
            &other,
            &client,
            &[
                ("scope", "items:read"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let code = param(&location(&response), "code").expect("single sign-on on the other instance");
    let (status, _) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    // Sign out on one instance; the other no longer knows the session, even for a copy of the
    // cookie (within a second: it may have read the session just before).
    let stolen = browser.cookie_header(&app.url("/"));
    assert!(stolen.contains("authd_session="));
    let csrf = csrf_of(
        &browser
            .get(&app.url("/account"))
            .await
            .text()
            .await
            .unwrap(),
    );
    let response = browser
        .post(&app.url("/account/signout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), 200);
    let response = browser
        .authorize(
            &other,
            &client,
            &[
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/login");
    // The instance that ended it refuses the copy at once.
    let on_app = app
        .http
        .get(app.url("/account"))
        .header(reqwest::header::COOKIE, stolen.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(location(&on_app), "/login");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let url = reqwest::Url::parse_with_params(
        &other.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", "gallery"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let replayed = other
        .http
        .get(url)
        .header(reqwest::header::COOKIE, stolen)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&replayed), "/login");
}

async fn the_oauth2_crate_runs_the_code_flow_with_pkce(backend: Backend) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
        RedirectUrl, Scope, TokenResponse, TokenUrl,
    };
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let registered = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let client = BasicClient::new(ClientId::new("gallery".into()))
        .set_client_secret(ClientSecret::new(registered.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(app.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("items:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new();
    let mut response = browser.get(url.as_str()).await;
    assert_eq!(location(&response), "/login");
    response = browser.sign_in(&app, "alice", password).await;
    assert_eq!(location(&response), "/consent");
    response = browser.decide(&app, "allow").await;
    let to = location(&response);
    assert_eq!(
        param(&to, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(param(&to, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange through the oauth2 crate");
    assert_eq!(
        token.scopes().unwrap(),
        &vec![Scope::new("items:read".into())]
    );
    assert!(token.refresh_token().is_some());
}

async fn strangers_cannot_make_authd_store_anything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    for _ in 0..20 {
        let browser = Browser::new();
        browser
            .authorize(
                &app,
                &client,
                &[
                    ("code_challenge", &pkce.challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        let page = browser.get(&app.url("/login")).await;
        assert_eq!(page.status(), 200);
        let csrf = csrf_of(&page.text().await.unwrap());
        browser
            .post(
                &app.url("/login"),
                &[
                    ("csrf", &csrf),
                    ("username", "alice"),
                    ("password", "wrong"),
                ],
            )
            .await;
    }
    let alice = user_named(&app, "alice").await;
    let sessions = app
        .store
        .list_user_sessions(&alice.id, authd::clock::unix_now(), 3600)
        .await
        .unwrap();
    assert!(sessions.is_empty(), "no session without a sign-in");
}

/// A signed-in script cannot pile up codes: issuing one stores nothing (it is sealed), and only
/// a redemption writes, once per code.
async fn issuing_codes_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party("gallery", SCOPES)
        },
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let mut codes = Vec::new();
    for _ in 0..50 {
        codes.push(
            browser
                .code_for(&app, &client, &pkce, "items:read", password)
                .await,
        );
    }
    assert_eq!(stored_codes(&app).await, 0, "issuing wrote rows");
    for code in [&codes[0], &codes[49]] {
        let (status, body) = json(
            client
                .exchange(&app, code, Some(&pkce.verifier), Some(REDIRECT))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(stored_codes(&app).await, 2, "one row per redemption");
}

async fn stored_codes(app: &TestApp) -> i64 {
    use authd::store::Store;
    let sql = "select count(*) from authorization_codes";
    match &app.store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// Revoking a consent while its code is being exchanged never leaves a live refresh token.
async fn consent_revocation_racing_a_redemption_leaves_no_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let alice = user_named(&app, "alice").await;
    let browser = Browser::new();
    for _ in 0..10 {
        let pkce = Pkce::new();
        let code = browser
            .code_for(&app, &client, &pkce, "items:read", password)
            .await;
        let (exchanged, revoked) = tokio::join!(
            client.exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT)),
            app.store.revoke_consent(&alice.id, "gallery"),
        );
        assert!(revoked.unwrap());
        let (status, body) = json(exchanged).await;
        if status == 200 {
            let (status, _) = json(
                app.post_form_basic(
                    "/token",
                    &client.id,
                    client.secret.as_deref().unwrap(),
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", body["refresh_token"].as_str().unwrap()),
                    ],
                )
                .await,
            )
            .await;
            assert_eq!(status, 400, "a refresh token outlived its consent");
        }
    }
}

/// Group commit: redemptions batched into one transaction succeed or fail one by one, and a
/// redemption that fails half-way (its refresh family cannot be stored) leaves its code unused.
async fn a_failing_write_in_a_batch_does_not_undo_the_others(backend: Backend) {
    use authd::store::{AuthorizationCode, CodeClaim, CodeWrite, CodeWritten, NewCodeFamily};
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    // A live session to redeem under.
    let browser = Browser::new();
    browser
        .code_for(&app, &client, &Pkce::new(), "items:read", password)
        .await;
    let alice = user_named(&app, "alice").await;
    let session = app
        .store
        .list_user_sessions(&alice.id, authd::clock::unix_now(), 3600)
        .await
        .unwrap()
        .remove(0);
    let now = authd::clock::unix_now();
    let claim = |hash: &str, family: &str| {
        CodeWrite::Claim(CodeClaim {
            code: AuthorizationCode {
                code_hash: hash.to_owned(),
                client_id: "gallery".into(),
                client_registration: "r".into(),
                redirect_uri: None,
                delivered_to: REDIRECT.into(),
                code_challenge: None,
                scope: "items:read".into(),
                user_id: alice.id.clone(),
                user_generation: alice.token_generation,
                session_handle: session.handle.clone(),
                auth_time: 0,
                amr: "pwd".into(),
                nonce: None,
                expires_at: now + 60,
                redeemed_at: None,
                tell_on_logout: false,
                needs_consent: false,
                random: String::new(),
                resources: String::new(),
                dpop_jkt: None,
            },
            now,
            access_jti: format!("jti-{hash}"),
            access_expires_at: now + 60,
            refresh: Some(NewCodeFamily {
                id: family.to_owned(),
                family_hash: format!("fh-{hash}"),
                current_hash: format!("ch-{hash}"),
                expires_at: now + 3600,
                dpop_jkt: None,
            }),
        })
    };
    let writes = [
        claim("aaaa1", "family-1"),
        // Same family id: its refresh family cannot be stored, so its redemption fails whole.
        claim("bbbb2", "family-1"),
        claim("aaaa1", "family-3"),
        claim("cccc3", "family-4"),
    ];
    let results = app.store.write_code_batch(&writes).await.unwrap();
    assert!(matches!(results[0], Ok(CodeWritten::Claimed(true))));
    assert!(results[1].is_err(), "the clashing family is refused");
    assert!(
        matches!(results[2], Ok(CodeWritten::Claimed(false))),
        "a second redemption stores nothing"
    );
    assert!(matches!(results[3], Ok(CodeWritten::Claimed(true))));
    for (hash, stored) in [("aaaa1", true), ("bbbb2", false), ("cccc3", true)] {
        assert_eq!(
            app.store
                .find_authorization_code(hash)
                .await
                .unwrap()
                .is_some(),
            stored,
            "{hash}"
        );
    }
}

backend_tests!(
    sign_in_consent_exchange_then_single_sign_on,
    untrusted_clients_and_redirect_uris_get_a_page_never_a_redirect,
    other_errors_go_back_to_the_client_with_state_and_iss,
    prompt_and_max_age,
    deny_and_revoked_consent,
    a_code_works_once_and_its_replay_revokes_its_tokens,
    concurrent_redemptions_issue_at_most_one_set_and_revoke_it,
    pkce_mismatch_missing_verifier_and_downgrade_are_refused,
    codes_are_bound_to_client_redirect_uri_and_time,
    login_csrf_and_expired_transactions_are_refused,
    wrong_passwords_do_not_tell_which_part_was_wrong_and_lock_out,
    a_password_change_or_disable_ends_browser_sessions,
    idle_and_absolute_timeouts_end_sessions,
    two_instances_honour_one_session_and_sign_out_ends_it,
    the_oauth2_crate_runs_the_code_flow_with_pkce,
    strangers_cannot_make_authd_store_anything,
    an_omitted_redirect_uri_means_the_one_registered,
    issuing_codes_stores_nothing,
    consent_revocation_racing_a_redemption_leaves_no_refresh_token,
    a_failing_write_in_a_batch_does_not_undo_the_others,
);

/// With exactly one registered redirect URI, /authorize may omit it, and then /token must too.
async fn an_omitted_redirect_uri_means_the_one_registered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party("gallery", SCOPES)
        },
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    browser
        .code_for(&app, &client, &pkce, "items:read", password)
        .await;
    let url = reqwest::Url::parse_with_params(
        &app.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", "gallery"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let to = location(&browser.get(url.as_str()).await);
    assert!(to.starts_with(REDIRECT), "{to}");
    let code = param(&to, "code").unwrap();
    let (status, body) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), None)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
