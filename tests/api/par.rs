//! RFC 9126 pushed authorization requests: `/par` checks a request at push time and answers with
//! a request_uri that `/authorize` takes once, from the client that pushed it, within 60 s.

use authd::domain::GrantType;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::browser_clients::authd_cli;
use crate::helpers::{Backend, TestApp, TestDatabase, assert_oauth_error};
use crate::signin_support::{
    Browser, ClientSpec, Pkce, REDIRECT, WebClient, add_web_client, assert_error_page, csrf_of,
    json, location, param,
};
use crate::totp;

const SCOPES: &[&str] = &["items:read", "items:write"];
const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

backend_tests!(
    rfc9126_2_a_pushed_request_runs_the_code_flow_through_login_and_consent_to_tokens,
    rfc9126_2_a_public_client_pushes_with_its_client_id_alone,
    rfc9126_4_a_sign_in_through_the_second_factor_page_keeps_the_pushed_request,
    rfc9126_4_parameters_sent_to_authorize_besides_the_request_uri_are_ignored,
    rfc9126_4_a_request_uri_is_used_once,
    rfc9126_4_concurrent_uses_on_two_instances_let_exactly_one_through,
    rfc9126_2_2_a_request_uri_expires_after_60_seconds,
    rfc9126_4_a_request_uri_is_bound_to_the_client_that_pushed_it,
    rfc9126_4_an_unknown_or_altered_request_uri_is_an_error_page,
    rfc9126_2_1_a_push_is_checked_as_authorize_would_check_it,
    rfc9126_2_a_push_needs_client_authentication,
    rfc9126_5_a_client_can_require_pushed_requests_for_itself,
    rfc9126_5_the_server_can_require_pushed_requests_for_every_client,
    rfc9126_5_metadata_names_the_endpoint_in_both_documents,
    the_cli_registers_and_sets_a_client_that_requires_pushed_requests,
);

/// POSTs `form` to /par as `client` (Basic for confidential clients, client_id for public).
async fn push(app: &TestApp, client: &WebClient, form: &[(&str, &str)]) -> reqwest::Response {
    match &client.secret {
        Some(secret) => app.post_form_basic("/par", &client.id, secret, form).await,
        None => {
            let mut form = form.to_vec();
            form.push(("client_id", &client.id));
            app.post_form("/par", &form).await
        }
    }
}

/// The parameters of a good request for `client` with `pkce`, `state=s-1`.
fn request_for<'a>(
    client: &'a WebClient,
    pkce: &'a Pkce,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", scope),
        ("state", "s-1"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
}

/// Pushes a good request; returns its request_uri.
async fn pushed_uri(app: &TestApp, client: &WebClient, pkce: &Pkce, scope: &str) -> String {
    let response = push(app, client, &request_for(client, pkce, scope)).await;
    assert_eq!(response.status(), 201, "push refused");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with(URN_PREFIX), "{uri}");
    uri
}

/// GET /authorize with exactly `params`.
async fn authorize_with(
    app: &TestApp,
    browser: &Browser,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let url = reqwest::Url::parse_with_params(&app.url("/authorize"), params).unwrap();
    browser.get(url.as_str()).await
}

/// Follows the sign-in from `response` (login as alice, consent) to the client's redirect.
pub async fn finish_sign_in(
    app: &TestApp,
    browser: &Browser,
    mut response: reqwest::Response,
    password: &str,
) -> String {
    loop {
        assert_eq!(response.status(), 303, "expected a redirect");
        let to = location(&response);
        if to == "/login" {
            response = browser.sign_in(app, "alice", password).await;
        } else if to == "/consent" {
            response = browser.decide(app, "allow").await;
        } else {
            return to;
        }
    }
}

async fn rfc9126_2_a_pushed_request_runs_the_code_flow_through_login_and_consent_to_tokens(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    let request_uri = pushed_uri(&app, &client, &pkce, "items:read").await;

    let browser = Browser::new();
    let first = authorize_with(
        &app,
        &browser,
        &[("client_id", "gallery"), ("request_uri", &request_uri)],
    )
    .await;
    assert_eq!(location(&first), "/login", "login first, then consent");
    let answer = finish_sign_in(&app, &browser, first, password).await;

    assert!(answer.starts_with(REDIRECT), "{answer}");
    assert_eq!(param(&answer, "state").as_deref(), Some("s-1"));
    assert_eq!(param(&answer, "iss"), Some(app.issuer()));
    let code = param(&answer, "code").expect("a code");
    let (status, tokens) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "items:read");
    assert!(tokens["access_token"].is_string());
}

async fn rfc9126_2_a_public_client_pushes_with_its_client_id_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let spec = ClientSpec {
        public: true,
        skip_consent: true,
        ..ClientSpec::third_party("phone", SCOPES)
    };
    let client = add_web_client(&app, spec).await;
    let pkce = Pkce::new();
    let request_uri = pushed_uri(&app, &client, &pkce, "items:write").await;

    let browser = Browser::new();
    let first = authorize_with(
        &app,
        &browser,
        &[("client_id", "phone"), ("request_uri", &request_uri)],
    )
    .await;
    let answer = finish_sign_in(&app, &browser, first, password).await;

    let code = param(&answer, "code").expect("a code");
    let (status, tokens) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "items:write");
}

async fn rfc9126_4_a_sign_in_through_the_second_factor_page_keeps_the_pushed_request(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let enrolled = totp::enrol(&app).await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    let request_uri = pushed_uri(&app, &client, &pkce, "items:read").await;
    let params = [
        ("client_id", "gallery"),
        ("request_uri", request_uri.as_str()),
    ];

    let browser = Browser::new();
    let first = authorize_with(&app, &browser, &params).await;
    assert_eq!(location(&first), "/login");
    let signed_in = browser.sign_in(&app, "alice", password).await;
    assert_eq!(location(&signed_in), "/login/second-factor");
    let page = browser.get(&app.url("/login/second-factor")).await;
    let csrf = csrf_of(&page.text().await.unwrap());
    totp::inside_a_step(&app).await;
    let code = totp::code_at(&app, &enrolled.totp, 0);
    let second = browser
        .post(
            &app.url("/login/second-factor"),
            &[("csrf", csrf.as_str()), ("otp", code.as_str())],
        )
        .await;
    assert_eq!(location(&second), "/consent");
    let answer = finish_sign_in(&app, &browser, second, password).await;
    // Meanwhile the request_uri stays used.
    let replay = authorize_with(&app, &Browser::new(), &params).await;

    assert_eq!(param(&answer, "state").as_deref(), Some("s-1"), "{answer}");
    let code = param(&answer, "code").expect("a code");
    let (status, tokens) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_error_page(replay, 400).await;
}

async fn rfc9126_4_parameters_sent_to_authorize_besides_the_request_uri_are_ignored(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let spec = ClientSpec {
        redirect_uris: &[REDIRECT, "https://app.example.test/other"],
        ..ClientSpec::third_party("gallery", SCOPES)
    };
    let client = add_web_client(&app, spec).await;
    let pkce = Pkce::new();
    let request_uri = pushed_uri(&app, &client, &pkce, "items:read").await;
    let other_pkce = Pkce::new();

    let browser = Browser::new();
    let first = authorize_with(
        &app,
        &browser,
        &[
            ("client_id", "gallery"),
            ("request_uri", &request_uri),
            ("response_type", "token"),
            ("redirect_uri", "https://app.example.test/other"),
            ("scope", "items:write"),
            ("state", "forged"),
            ("code_challenge", &other_pkce.challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ],
    )
    .await;
    let answer = finish_sign_in(&app, &browser, first, password).await;

    assert!(
        answer.starts_with(REDIRECT),
        "the pushed redirect_uri: {answer}"
    );
    assert_eq!(param(&answer, "state").as_deref(), Some("s-1"));
    let code = param(&answer, "code").expect("a code, despite prompt=none and response_type");
    let (status, _) = json(
        client
            .exchange(&app, &code, Some(&other_pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 400, "the challenge sent to /authorize was ignored");
    // A wrong verifier does not use the code up; the pushed one redeems it.
    let (status, tokens) = json(
        client
            .exchange(&app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "items:read", "the pushed scope");
}

async fn rfc9126_4_a_request_uri_is_used_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let request_uri = pushed_uri(&app, &client, &Pkce::new(), "items:read").await;
    let params = [
        ("client_id", "gallery"),
        ("request_uri", request_uri.as_str()),
    ];

    let first = authorize_with(&app, &Browser::new(), &params).await;
    assert_eq!(location(&first), "/login");
    let second = authorize_with(&app, &Browser::new(), &params).await;

    let page = assert_error_page(second, 400).await;
    assert!(page.contains("used already"), "{page}");
}

async fn rfc9126_4_concurrent_uses_on_two_instances_let_exactly_one_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let other = app.another_instance().await;
    let request_uri = pushed_uri(&app, &client, &Pkce::new(), "items:read").await;
    let params = [
        ("client_id", "gallery"),
        ("request_uri", request_uri.as_str()),
    ];

    let attempts = (0..8).map(|i| {
        let instance = if i % 2 == 0 { &app } else { &other };
        let params = &params;
        async move {
            authorize_with(instance, &Browser::new(), params)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(attempts).await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
}

async fn rfc9126_2_2_a_request_uri_expires_after_60_seconds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    let fresh = pushed_uri(&app, &client, &pkce, "items:read").await;
    let stale = pushed_uri(&app, &client, &pkce, "items:read").await;

    app.clock.advance(55);
    let in_time = authorize_with(
        &app,
        &Browser::new(),
        &[("client_id", "gallery"), ("request_uri", &fresh)],
    )
    .await;
    app.clock.advance(6);
    let late = authorize_with(
        &app,
        &Browser::new(),
        &[("client_id", "gallery"), ("request_uri", &stale)],
    )
    .await;

    assert_eq!(location(&in_time), "/login");
    let page = assert_error_page(late, 400).await;
    assert!(page.contains("expired"), "{page}");
    // The janitor's sweep forgets the used marker of the expired request_uri.
    let swept = app
        .store
        .sweep(app.clock.now() + 1, 0, 0, 3600)
        .await
        .unwrap();
    assert_eq!(swept.pushed_requests, 1);
}

async fn rfc9126_4_a_request_uri_is_bound_to_the_client_that_pushed_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let gallery = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    add_web_client(&app, ClientSpec::third_party("intruder", SCOPES)).await;
    let request_uri = pushed_uri(&app, &gallery, &Pkce::new(), "items:read").await;

    let stolen = authorize_with(
        &app,
        &Browser::new(),
        &[("client_id", "intruder"), ("request_uri", &request_uri)],
    )
    .await;
    let nameless = authorize_with(&app, &Browser::new(), &[("request_uri", &request_uri)]).await;
    let rightful = authorize_with(
        &app,
        &Browser::new(),
        &[("client_id", "gallery"), ("request_uri", &request_uri)],
    )
    .await;

    let page = assert_error_page(stolen, 400).await;
    assert!(page.contains("another application"), "{page}");
    assert_error_page(nameless, 400).await;
    // The refused attempts did not use it up.
    assert_eq!(location(&rightful), "/login");
}

async fn rfc9126_4_an_unknown_or_altered_request_uri_is_an_error_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let genuine = pushed_uri(&app, &client, &Pkce::new(), "items:read").await;
    let mut altered = genuine.clone().into_bytes();
    let last = altered.len() - 5;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();

    // (A request_uri that is not our URN is a request object by reference: refused at the
    // redirect URI with request_uri_not_supported, see authorization_code.rs.)
    for request_uri in [
        format!("{URN_PREFIX}nothing-we-issued"),
        URN_PREFIX.to_owned(),
        altered,
        format!("{genuine}A"),
    ] {
        let response = authorize_with(
            &app,
            &Browser::new(),
            &[("client_id", "gallery"), ("request_uri", &request_uri)],
        )
        .await;
        assert_error_page(response, 400).await;
    }
}

async fn rfc9126_2_1_a_push_is_checked_as_authorize_would_check_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();
    let good = request_for(&client, &pkce, "items:read");
    let with = |name: &'static str, value: &'static str| {
        let mut form: Vec<(&str, &str)> =
            good.iter().filter(|(n, _)| *n != name).copied().collect();
        form.push((name, value));
        form
    };
    let without = |name: &str| -> Vec<(&str, &str)> {
        good.iter().filter(|(n, _)| *n != name).copied().collect()
    };

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            with("redirect_uri", "https://attacker.example/cb"),
            "invalid_request",
        ),
        (with("scope", "admin:users"), "invalid_scope"),
        (with("scope", "bad\"scope"), "invalid_scope"),
        (with("response_type", "token"), "unsupported_response_type"),
        (without("response_type"), "invalid_request"),
        (without("code_challenge"), "invalid_request"),
        (with("code_challenge_method", "plain"), "invalid_request"),
        (with("prompt", "none login"), "invalid_request"),
        (
            with("request_uri", "urn:ietf:params:oauth:request_uri:abc"),
            "invalid_request",
        ),
        (
            with("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        // Basic authentication and a client_id in the body are two methods at once.
        (with("client_id", "someone-else"), "invalid_request"),
        (with("id_token_hint", "not-a-token"), "invalid_request"),
    ];
    for (form, code) in cases {
        let response = push(&app, &client, &form).await;
        let body = assert_oauth_error(response, 400, code).await;
        assert!(body["error_description"].is_string(), "{form:?}: {body}");
    }
    // A repeated parameter is refused too (RFC 6749 section 3.1).
    let mut repeated = good.clone();
    repeated.push(("scope", "items:write"));
    assert_oauth_error(push(&app, &client, &repeated).await, 400, "invalid_request").await;
}

async fn rfc9126_2_a_push_needs_client_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let service = app
        .add_client(
            "reports",
            &[GrantType::ClientCredentials],
            &["items:read"],
            false,
        )
        .await
        .unwrap();
    let pkce = Pkce::new();
    let form = request_for(&client, &pkce, "items:read");

    let wrong_secret = app
        .post_form_basic("/par", "gallery", "not-the-secret", &form)
        .await;
    let mut named_only = form.clone();
    named_only.push(("client_id", "gallery"));
    let unauthenticated = app.post_form("/par", &named_only).await;
    let anonymous = app.post_form("/par", &form).await;
    let unknown = app.post_form_basic("/par", "nobody", "secret", &form).await;
    let builtin = {
        let mut form = form.clone();
        form.push(("client_id", "public"));
        app.post_form("/par", &form).await
    };
    let without_code_grant = app
        .post_form_basic("/par", "reports", &service, &form)
        .await;

    let body = assert_oauth_error(wrong_secret, 401, "invalid_client").await;
    assert!(body["error_description"].is_string());
    assert_oauth_error(unauthenticated, 401, "invalid_client").await;
    assert_oauth_error(anonymous, 401, "invalid_client").await;
    assert_oauth_error(unknown, 401, "invalid_client").await;
    assert_oauth_error(builtin, 400, "unauthorized_client").await;
    assert_oauth_error(without_code_grant, 400, "unauthorized_client").await;
}

async fn rfc9126_5_a_client_can_require_pushed_requests_for_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let relaxed = add_web_client(&app, ClientSpec::third_party("relaxed", SCOPES)).await;
    let admin = app.admin_token().await;
    let patched = app
        .bearer(
            reqwest::Method::PATCH,
            "/admin/clients/gallery",
            Some(&admin),
            Some(&json!({"require_pushed_authorization_requests": true})),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let shown: Value = patched.json().await.unwrap();
    assert_eq!(shown["require_pushed_authorization_requests"], true);
    let pkce = Pkce::new();
    let params = [
        ("scope", "items:read"),
        ("state", "s-1"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    let plain = Browser::new().authorize(&app, &client, &params).await;
    let other_client = Browser::new().authorize(&app, &relaxed, &params).await;
    let request_uri = pushed_uri(&app, &client, &pkce, "items:read").await;
    let browser = Browser::new();
    let pushed = authorize_with(
        &app,
        &browser,
        &[("client_id", "gallery"), ("request_uri", &request_uri)],
    )
    .await;

    let refused = location(&plain);
    assert!(refused.starts_with(REDIRECT), "{refused}");
    assert_eq!(param(&refused, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&refused, "state").as_deref(), Some("s-1"));
    assert_eq!(
        location(&other_client),
        "/login",
        "only gallery requires it"
    );
    let answer = finish_sign_in(&app, &browser, pushed, password).await;
    assert!(param(&answer, "code").is_some(), "{answer}");
}

async fn rfc9126_5_the_server_can_require_pushed_requests_for_every_client(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.oauth.require_pushed_authorization_requests = true;
    })
    .await;
    app.seed_alice().await;
    let client = add_web_client(&app, ClientSpec::third_party("gallery", SCOPES)).await;
    let pkce = Pkce::new();

    let plain = Browser::new()
        .authorize(
            &app,
            &client,
            &[
                ("scope", "items:read"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let unregistered = Browser::new()
        .authorize(
            &app,
            &WebClient {
                redirect_uri: "https://attacker.example/cb".into(),
                id: client.id.clone(),
                secret: None,
            },
            &[("scope", "items:read")],
        )
        .await;
    let request_uri = pushed_uri(&app, &client, &pkce, "items:read").await;
    let pushed = authorize_with(
        &app,
        &Browser::new(),
        &[("client_id", "gallery"), ("request_uri", &request_uri)],
    )
    .await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        param(&location(&plain), "error").as_deref(),
        Some("invalid_request")
    );
    // Never a redirect to an unregistered URI, required or not.
    assert_error_page(unregistered, 400).await;
    assert_eq!(location(&pushed), "/login");
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
}

async fn rfc9126_5_metadata_names_the_endpoint_in_both_documents(backend: Backend) {
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
        assert_eq!(
            metadata["pushed_authorization_request_endpoint"],
            format!("{}/par", app.issuer()),
            "{path}"
        );
        assert_eq!(metadata["require_pushed_authorization_requests"], false);
        // OpenID request objects by reference are still not supported.
        assert_eq!(metadata["request_uri_parameter_supported"], false);
    }
}

async fn the_cli_registers_and_sets_a_client_that_requires_pushed_requests(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let code_client = [
        "client",
        "add",
        "bank",
        "--grant",
        "authorization_code",
        "--redirect-uri",
        "https://bank.example/cb",
        "--public",
    ];

    let added = authd_cli(&database, &[&code_client[..], &["--require-par"]].concat());
    let service = authd_cli(
        &database,
        &[
            "client",
            "add",
            "svc",
            "--grant",
            "client_credentials",
            "--require-par",
        ],
    );
    let listed = authd_cli(&database, &["client", "list"]);

    assert!(added.status.success(), "{added:?}");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = listed
        .lines()
        .find(|line| line.starts_with("bank\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(line.split('\t').nth(7), Some("require-par"), "{line}");
    assert!(!service.status.success());
    let refusal = String::from_utf8_lossy(&service.stderr);
    assert!(refusal.contains("--require-par"), "{refusal}");

    // `client set` turns it off and on again, and refuses unknown clients.
    let cleared = authd_cli(
        &database,
        &["client", "set", "bank", "--require-par", "false"],
    );
    let listed_cleared = authd_cli(&database, &["client", "list"]);
    let set_again = authd_cli(&database, &["client", "set", "bank", "--require-par"]);
    let unknown = authd_cli(
        &database,
        &["client", "set", "nobody", "--require-par", "true"],
    );
    let listed = authd_cli(&database, &["client", "list"]);

    assert!(cleared.status.success(), "{cleared:?}");
    assert!(set_again.status.success(), "{set_again:?}");
    assert!(!unknown.status.success());
    let flags_of = |output: &std::process::Output| {
        let listed = String::from_utf8_lossy(&output.stdout).into_owned();
        let line = listed
            .lines()
            .find(|l| l.starts_with("bank\t"))
            .unwrap()
            .to_owned();
        line.split('\t').nth(7).unwrap().to_owned()
    };
    assert_eq!(flags_of(&listed_cleared), "");
    assert_eq!(flags_of(&listed), "require-par");
}
