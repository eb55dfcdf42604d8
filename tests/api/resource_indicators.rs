//! Resource indicators (RFC 8707, issue 14): a token asked for one API carries that API as its
//! `aud` and only the scopes it claims; a resource the client may not ask for is `invalid_target`.

use authd::domain::{ClientId, GrantType, ResourceUri, ScopeSet};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::BasicClient;
use oauth2::{ClientId as OAuthClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TEST_KEK, TestApp, assert_oauth_error};
use crate::signin_support::{
    Browser, ClientSpec, Pkce, add_web_client, assert_error_page, location, param,
};

const ITEMS: &str = "https://items.example.test";
const BILLING: &str = "https://billing.example.test/api";
const PASSWORD: &str = "correct horse battery";

/// The payload of a JWT, unverified (introspection checks the signature).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn uri(raw: &str) -> ResourceUri {
    ResourceUri::parse(raw).unwrap()
}

/// Two APIs (items claims items:read, billing claims billing:read); `profile:read` belongs to
/// neither. A confidential client `svc` may ask for both; alice holds all three scopes.
async fn two_apis(app: &TestApp) -> String {
    for (resource, scope) in [(ITEMS, "items:read"), (BILLING, "billing:read")] {
        let scopes = ScopeSet::parse(scope).unwrap();
        app.store
            .put_resource(&uri(resource), &scopes, 0)
            .await
            .unwrap();
    }
    let scopes = ["items:read", "billing:read", "profile:read"];
    app.add_role("staff", &scopes).await;
    app.add_user("alice", PASSWORD, &["staff"]).await;
    let grants = [
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
    let secret = app
        .add_client("svc", &grants, &scopes, false)
        .await
        .unwrap();
    let client_id = ClientId::parse("svc").unwrap();
    let operator = authd::domain::Authority::Operator;
    app.store
        .set_client_resources(&client_id, &[uri(ITEMS), uri(BILLING)], &operator)
        .await
        .unwrap();
    secret
}

async fn password_grant(app: &TestApp, secret: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    form.extend_from_slice(extra);
    app.post_form_basic("/token", "svc", secret, &form).await
}

async fn ok_json(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200, "expected success");
    response.json().await.unwrap()
}

async fn a_resource_the_client_may_not_ask_for_is_invalid_target_at_the_token_endpoint(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let secret = two_apis(&app).await;

    for resource in [
        "https://elsewhere.example.test",
        "not-a-uri",
        "https://items.example.test#x",
    ] {
        let refused = password_grant(&app, &secret, &[("resource", resource)]).await;
        assert_oauth_error(refused, 400, "invalid_target").await;
        let form = [("grant_type", "client_credentials"), ("resource", resource)];
        let refused = app.post_form_basic("/token", "svc", &secret, &form).await;
        assert_oauth_error(refused, 400, "invalid_target").await;
    }
    // One refused resource among allowed ones refuses the request.
    let mixed = [
        ("resource", ITEMS),
        ("resource", "https://elsewhere.example.test"),
    ];
    assert_oauth_error(
        password_grant(&app, &secret, &mixed).await,
        400,
        "invalid_target",
    )
    .await;
    // The built-in client has no resources at all.
    let builtin = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
                ("resource", ITEMS),
            ],
        )
        .await;
    assert_oauth_error(builtin, 400, "invalid_target").await;
}

async fn a_token_for_one_api_has_its_audience_and_none_of_another_apis_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = two_apis(&app).await;
    // The oauth2 crate (not authd's code) makes the request.
    let client = BasicClient::new(OAuthClientId::new("svc".into()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let token = client
        .exchange_client_credentials()
        .add_extra_param("resource", ITEMS)
        .request_async(&http)
        .await
        .expect("client_credentials for the items API");

    assert_eq!(
        token.scopes().unwrap(),
        &vec![Scope::new("items:read".into())]
    );
    let access = token.access_token().secret();
    let claims = claims_of(access);
    assert_eq!(claims["aud"], ITEMS, "one resource: aud is a string");
    assert_eq!(claims["scope"], "items:read");
    let introspected = app.introspect(access).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["aud"], ITEMS);

    // A user token for billing, asking for every scope, gets billing's alone.
    let billing = ok_json(
        password_grant(
            &app,
            &secret,
            &[
                ("resource", BILLING),
                ("scope", "items:read billing:read profile:read"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(billing["scope"], "billing:read");
    let claims = claims_of(billing["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["scope"], "billing:read");
    // Neither is for authd's own API.
    let me = app.bearer(Method::GET, "/me", Some(access), None).await;
    assert_eq!(me.status(), 401);
}

async fn several_resources_give_an_array_audience_and_the_union_of_their_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = two_apis(&app).await;

    let body =
        ok_json(password_grant(&app, &secret, &[("resource", BILLING), ("resource", ITEMS)]).await)
            .await;

    assert_eq!(body["scope"], "billing:read items:read");
    let access = body["access_token"].as_str().unwrap();
    let expected = json!([BILLING, ITEMS]);
    assert_eq!(claims_of(access)["aud"], expected);
    assert_eq!(app.introspect(access).await["aud"], expected);
}

async fn a_token_without_resource_gets_the_default_audience_and_only_unclaimed_scopes(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let secret = two_apis(&app).await;

    let body = ok_json(password_grant(&app, &secret, &[]).await).await;

    assert_eq!(body["scope"], "profile:read");
    let access = body["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(
        claims["aud"],
        app.issuer(),
        "tokens.audience defaults to the issuer"
    );
    assert_eq!(claims["scope"], "profile:read");
    // authd's own API accepts it.
    let me = app.bearer(Method::GET, "/me", Some(access), None).await;
    assert_eq!(me.status(), 200);
    // client_credentials alike.
    let form = [("grant_type", "client_credentials")];
    let body = ok_json(app.post_form_basic("/token", "svc", &secret, &form).await).await;
    assert_eq!(body["scope"], "profile:read");
}

async fn refresh(
    app: &TestApp,
    secret: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    app.post_form_basic("/token", "svc", secret, &form).await
}

async fn a_refresh_narrows_to_one_of_the_grants_resources_and_never_widens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = two_apis(&app).await;
    let both =
        ok_json(password_grant(&app, &secret, &[("resource", ITEMS), ("resource", BILLING)]).await)
            .await;
    let first = both["refresh_token"].as_str().unwrap();

    let narrowed = ok_json(refresh(&app, &secret, first, &[("resource", ITEMS)]).await).await;

    assert_eq!(narrowed["scope"], "items:read");
    assert_eq!(
        claims_of(narrowed["access_token"].as_str().unwrap())["aud"],
        ITEMS
    );
    // The family keeps both: the next refresh may name the other one, or both (by default).
    let token = narrowed["refresh_token"].as_str().unwrap();
    let other = ok_json(refresh(&app, &secret, token, &[("resource", BILLING)]).await).await;
    assert_eq!(
        claims_of(other["access_token"].as_str().unwrap())["aud"],
        BILLING
    );
    let token = other["refresh_token"].as_str().unwrap();
    let all = ok_json(refresh(&app, &secret, token, &[]).await).await;
    assert_eq!(
        claims_of(all["access_token"].as_str().unwrap())["aud"],
        json!([BILLING, ITEMS])
    );

    // A family for items alone cannot be widened to billing, nor to authd's own audience.
    let items_only = ok_json(password_grant(&app, &secret, &[("resource", ITEMS)]).await).await;
    let token = items_only["refresh_token"].as_str().unwrap();
    let widened = refresh(&app, &secret, token, &[("resource", BILLING)]).await;
    assert_oauth_error(widened, 400, "invalid_target").await;
    let unchanged = ok_json(refresh(&app, &secret, token, &[]).await).await;
    assert_eq!(
        claims_of(unchanged["access_token"].as_str().unwrap())["aud"],
        ITEMS
    );
    // A family without resources gets none later either.
    let plain = ok_json(password_grant(&app, &secret, &[]).await).await;
    let token = plain["refresh_token"].as_str().unwrap();
    let widened = refresh(&app, &secret, token, &[("resource", ITEMS)]).await;
    assert_oauth_error(widened, 400, "invalid_target").await;
}

async fn a_client_that_lost_a_resource_cannot_refresh_into_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = two_apis(&app).await;
    let body = ok_json(password_grant(&app, &secret, &[("resource", BILLING)]).await).await;
    let token = body["refresh_token"].as_str().unwrap();
    let client_id = ClientId::parse("svc").unwrap();
    app.store
        .set_client_resources(
            &client_id,
            &[uri(ITEMS)],
            &authd::domain::Authority::Operator,
        )
        .await
        .unwrap();
    // Past the client cache's freshness.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let refused = refresh(&app, &secret, token, &[]).await;

    assert_oauth_error(refused, 400, "invalid_target").await;
    // Its access token for billing no longer introspects as active either.
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await, json!({"active": false}));
}

async fn the_code_grant_issues_for_the_resources_asked_at_authorize(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    two_apis(&app).await;
    let scopes = ["openid", "items:read", "billing:read", "profile:read"];
    let web = add_web_client(&app, ClientSpec::third_party("web", &scopes)).await;
    let client_id = ClientId::parse("web").unwrap();
    app.store
        .set_client_resources(
            &client_id,
            &[uri(ITEMS), uri(BILLING)],
            &authd::domain::Authority::Operator,
        )
        .await
        .unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let extra = [
        ("scope", "openid items:read billing:read profile:read"),
        ("resource", ITEMS),
        ("resource", BILLING),
    ];
    let code = browser.code_with(&app, &web, &pkce, &extra, PASSWORD).await;

    // At /token, one of them.
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("redirect_uri", web.redirect_uri.as_str()),
        ("resource", ITEMS),
    ];
    let secret = web.secret.clone().unwrap();
    let body = ok_json(app.post_form_basic("/token", "web", &secret, &form).await).await;

    assert_eq!(body["scope"], "items:read");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["aud"],
        ITEMS
    );
    assert!(body["id_token"].is_string(), "the id_token is still issued");
    // Its refresh family covers both.
    let refreshed = app
        .post_form_basic(
            "/token",
            "web",
            &secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
                ("resource", BILLING),
            ],
        )
        .await;
    let refreshed = ok_json(refreshed).await;
    assert_eq!(
        claims_of(refreshed["access_token"].as_str().unwrap())["aud"],
        BILLING
    );

    // A resource not asked for at /authorize is refused at /token, and the code is not spent.
    let code = browser
        .code_with(
            &app,
            &web,
            &pkce,
            &[("scope", "items:read"), ("resource", ITEMS)],
            PASSWORD,
        )
        .await;
    form[1].1 = code.as_str();
    form[4].1 = BILLING;
    let refused = app.post_form_basic("/token", "web", &secret, &form).await;
    assert_oauth_error(refused, 400, "invalid_target").await;
    form.pop();
    let body = ok_json(app.post_form_basic("/token", "web", &secret, &form).await).await;
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["aud"],
        ITEMS
    );

    // A code asked for no resource gives authd's own audience, and /token cannot add one.
    let code = browser
        .code_with(
            &app,
            &web,
            &pkce,
            &[("scope", "openid profile:read")],
            PASSWORD,
        )
        .await;
    form[1].1 = code.as_str();
    form.push(("resource", ITEMS));
    let refused = app.post_form_basic("/token", "web", &secret, &form).await;
    assert_oauth_error(refused, 400, "invalid_target").await;
}

async fn a_resource_the_client_may_not_ask_for_is_an_error_redirect_at_authorize(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    two_apis(&app).await;
    let web = add_web_client(&app, ClientSpec::third_party("web", &["items:read"])).await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let base = [
        ("state", "s-1"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    for resource in [ITEMS, "relative/uri"] {
        let mut params = base.to_vec();
        params.push(("resource", resource));
        let response = browser.authorize(&app, &web, &params).await;
        assert_eq!(response.status(), 303);
        let to = location(&response);
        assert!(to.starts_with(&web.redirect_uri), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some("invalid_target"));
        assert_eq!(param(&to, "state").as_deref(), Some("s-1"));
    }
    // With a redirect URI that is not registered, never a redirect.
    let url = reqwest::Url::parse_with_params(
        &app.url("/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", "https://attacker.example.test/cb"),
            ("resource", ITEMS),
        ],
    )
    .unwrap();
    assert_error_page(browser.get(url.as_str()).await, 400).await;
}

async fn resources_and_client_resources_are_managed_with_the_admin_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;

    let put = app
        .bearer(
            Method::PUT,
            "/admin/resources",
            Some(&admin),
            Some(&json!({"uri": ITEMS, "scopes": ["items:read", "items:write"]})),
        )
        .await;
    assert_eq!(put.status(), 200);
    let put: Value = put.json().await.unwrap();
    assert_eq!(put["scopes"], json!(["items:read", "items:write"]));
    let bad = app
        .bearer(
            Method::PUT,
            "/admin/resources",
            Some(&admin),
            Some(&json!({"uri": "https://x.example.test/#f", "scopes": []})),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let listed: Value = app
        .bearer(Method::GET, "/admin/resources", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["uri"], ITEMS);

    // Clients: `resources` on creation and on PATCH.
    let created = app
        .bearer(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&json!({
                "client_id": "svc",
                "grants": ["client_credentials"],
                "scopes": ["items:read"],
                "resources": [ITEMS],
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["resources"], json!([ITEMS]));
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let form = [("grant_type", "client_credentials"), ("resource", ITEMS)];
    let body = ok_json(app.post_form_basic("/token", "svc", &secret, &form).await).await;
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["aud"],
        ITEMS
    );
    let patched = app
        .bearer(
            Method::PATCH,
            "/admin/clients/svc",
            Some(&admin),
            Some(&json!({"resources": [BILLING]})),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["resources"], json!([BILLING]));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = app.post_form_basic("/token", "svc", &secret, &form).await;
    assert_oauth_error(refused, 400, "invalid_target").await;

    // Delegation: a caller cannot tie (or untie) admin scopes it does not hold.
    let limited = app
        .token_with_scopes(&["clients:read", "clients:write"])
        .await;
    let tie_admin = app
        .bearer(
            Method::PUT,
            "/admin/resources",
            Some(&limited),
            Some(&json!({"uri": BILLING, "scopes": ["users:write"]})),
        )
        .await;
    assert_eq!(tie_admin.status(), 403);

    let deleted = app
        .bearer(
            Method::DELETE,
            &format!("/admin/resources?uri={}", urlencode(ITEMS)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    let again = app
        .bearer(
            Method::DELETE,
            &format!("/admin/resources?uri={}", urlencode(ITEMS)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(again.status(), 404);
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// Runs the authd binary against the app's database.
fn authd(app: &TestApp, args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("AUTHD_DATABASE__URL", &app.database.url)
        .env("AUTHD_KEYS__ENCRYPTION_KEY", TEST_KEK)
        .output()
        .expect("running authd");
    assert!(output.status.success(), "{args:?}: {output:?}");
    output
}

async fn resources_and_client_resources_are_managed_with_the_cli(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client(
            "svc",
            &[GrantType::ClientCredentials],
            &["items:read", "billing:read"],
            false,
        )
        .await
        .unwrap();

    authd(&app, &["resource", "add", ITEMS, "--scope", "items:read"]);
    authd(
        &app,
        &["resource", "add", BILLING, "--scope", "billing:read"],
    );
    authd(
        &app,
        &[
            "client",
            "set",
            "svc",
            "--resource",
            ITEMS,
            "--resource",
            BILLING,
        ],
    );

    let listed = String::from_utf8(authd(&app, &["resource", "list"]).stdout).unwrap();
    assert!(listed.contains(&format!("{ITEMS}\titems:read")), "{listed}");
    let clients = String::from_utf8(authd(&app, &["client", "list"]).stdout).unwrap();
    assert!(clients.contains(&format!("{BILLING},{ITEMS}")), "{clients}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let form = [("grant_type", "client_credentials"), ("resource", BILLING)];
    let body = ok_json(app.post_form_basic("/token", "svc", &secret, &form).await).await;
    assert_eq!(body["scope"], "billing:read");

    authd(&app, &["resource", "remove", BILLING]);
    authd(&app, &["client", "set", "svc", "--resource", ITEMS]);
    let clients = String::from_utf8(authd(&app, &["client", "list"]).stdout).unwrap();
    assert!(
        clients
            .lines()
            .any(|l| l.starts_with("svc\t") && l.ends_with(&format!("\t{ITEMS}"))),
        "{clients}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = app.post_form_basic("/token", "svc", &secret, &form).await;
    assert_oauth_error(refused, 400, "invalid_target").await;
    // billing:read is nobody's now: it is back in default tokens.
    let form = [("grant_type", "client_credentials")];
    let body = ok_json(app.post_form_basic("/token", "svc", &secret, &form).await).await;
    assert_eq!(body["scope"], "billing:read");
    authd(&app, &["client", "set", "svc", "--no-resources"]);
    let clients = String::from_utf8(authd(&app, &["client", "list"]).stdout).unwrap();
    assert!(
        clients
            .lines()
            .any(|l| l.starts_with("svc\t") && l.ends_with('\t')),
        "{clients}"
    );
}

backend_tests!(
    a_resource_the_client_may_not_ask_for_is_invalid_target_at_the_token_endpoint,
    a_token_for_one_api_has_its_audience_and_none_of_another_apis_scopes,
    several_resources_give_an_array_audience_and_the_union_of_their_scopes,
    a_token_without_resource_gets_the_default_audience_and_only_unclaimed_scopes,
    a_refresh_narrows_to_one_of_the_grants_resources_and_never_widens,
    a_client_that_lost_a_resource_cannot_refresh_into_it,
    the_code_grant_issues_for_the_resources_asked_at_authorize,
    a_resource_the_client_may_not_ask_for_is_an_error_redirect_at_authorize,
    resources_and_client_resources_are_managed_with_the_admin_api,
    resources_and_client_resources_are_managed_with_the_cli,
);
