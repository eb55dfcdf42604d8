//! RFC 8628, the device authorization grant: `/device_authorization` issues a device code and
//! a user code, a signed-in person enters the code at `/device` and allows or denies, and the
//! device polls `/token` until it gets tokens once.

use authd::domain::{GrantType, Username};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::browser_clients::authd_cli;
use crate::helpers::{Backend, TestApp, TestDatabase, assert_oauth_error};
use crate::signin_support::{Browser, assert_error_page, csrf_of, location};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const TV: &str = "tv";
const SCOPES: &[&str] = &["openid", "items:read", "items:write"];
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";

backend_tests!(
    rfc8628_3_a_device_is_signed_in_through_login_code_entry_and_approval,
    rfc8628_3_2_the_response_carries_both_codes_the_uris_and_the_timing,
    rfc8628_3_5_polls_before_a_decision_are_pending_and_too_fast_ones_slow_down,
    rfc8628_3_5_a_denied_code_answers_access_denied,
    rfc8628_3_5_an_expired_code_answers_expired_token_and_is_refused_on_the_page,
    rfc8628_3_5_a_code_is_redeemed_once_even_by_concurrent_polls,
    rfc8628_3_5_concurrent_redemptions_in_the_store_let_exactly_one_through,
    rfc8628_3_4_another_client_cannot_poll_or_redeem_the_code,
    rfc8628_5_1_wrong_user_codes_are_throttled_per_address,
    rfc8628_3_1_clients_scopes_and_resources_are_checked,
    rfc8628_3_1_a_client_holds_a_bounded_number_of_live_codes,
    rfc8628_5_4_the_confirmation_is_shown_even_after_a_consent,
    rfc8628_3_3_of_a_concurrent_approval_and_denial_exactly_one_wins,
    a_user_disabled_or_with_a_new_password_after_approval_gets_no_tokens,
    the_device_page_asks_for_the_second_factor_a_role_demands,
    the_device_page_escapes_what_it_echoes_and_needs_its_csrf_token,
    the_oauth2_crate_completes_the_device_flow,
    rfc8628_4_metadata_names_the_endpoint_and_the_grant,
    the_cli_and_admin_api_register_device_clients_by_urn_or_alias,
    the_janitor_sweeps_expired_device_codes,
);

/// Registers the public device client `tv` (device code and refresh grants).
pub(crate) async fn add_tv(app: &TestApp) {
    app.add_client(
        TV,
        &[GrantType::DeviceCode, GrantType::RefreshToken],
        SCOPES,
        true,
    )
    .await;
}

/// POST /device_authorization as the public client `client_id` with `extra` parameters.
async fn authorize_device(
    app: &TestApp,
    client_id: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("client_id", client_id)];
    form.extend_from_slice(extra);
    app.post_form("/device_authorization", &form).await
}

/// A fresh device authorization of `tv` for `scope`: the response body.
async fn start(app: &TestApp, scope: &str) -> Value {
    let response = authorize_device(app, TV, &[("scope", scope)]).await;
    assert_eq!(response.status(), 200, "device authorization refused");
    response.json().await.unwrap()
}

/// One poll of /token by `client_id` with `device_code`.
async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> reqwest::Response {
    app.post_form(
        "/token",
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client_id),
        ],
    )
    .await
}

fn device_code(started: &Value) -> &str {
    started["device_code"].as_str().unwrap()
}

/// The user code as a person might type it: lower case, without the dash.
fn typed(started: &Value) -> String {
    started["user_code"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase()
}

/// A browser signed in as alice (through `/device`, which sends it to the login page).
async fn signed_in_browser(app: &TestApp, password: &str) -> Browser {
    let browser = Browser::new();
    let first = browser.get(&app.url("/device")).await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), "/login");
    let signed_in = browser.sign_in(app, "alice", password).await;
    assert_eq!(signed_in.status(), 303, "sign-in failed");
    assert_eq!(location(&signed_in), "/device");
    browser
}

/// Enters `code` on /device: the response (the confirmation page, or an error).
async fn enter_code(app: &TestApp, browser: &Browser, code: &str) -> reqwest::Response {
    let page = browser.get(&app.url("/device")).await;
    assert_eq!(page.status(), 200, "device page");
    let csrf = csrf_of(&page.text().await.unwrap());
    browser
        .post(&app.url("/device"), &[("csrf", &csrf), ("user_code", code)])
        .await
}

/// Enters `code` and answers the confirmation with `decision`: the final response.
async fn decide(app: &TestApp, browser: &Browser, code: &str, decision: &str) -> reqwest::Response {
    let confirm = enter_code(app, browser, code).await;
    assert_eq!(confirm.status(), 200, "confirmation page");
    let html = confirm.text().await.unwrap();
    let csrf = csrf_of(&html);
    let shown = hidden_user_code(&html);
    browser
        .post(
            &app.url("/device/decision"),
            &[
                ("csrf", &csrf),
                ("user_code", &shown),
                ("decision", decision),
            ],
        )
        .await
}

fn hidden_user_code(html: &str) -> String {
    let marker = r#"name="user_code" value=""#;
    let start = html.find(marker).expect("a user_code field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn rfc8628_3_a_device_is_signed_in_through_login_code_entry_and_approval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = start(&app, "openid items:read").await;
    let browser = Browser::new();

    // verification_uri_complete, without a session: the login page first, then back with the
    // code prefilled.
    let complete = started["verification_uri_complete"].as_str().unwrap();
    let first = browser.get(complete).await;
    assert_eq!(first.status(), 303);
    assert_eq!(location(&first), "/login");
    let signed_in = browser.sign_in(&app, "alice", password).await;
    assert_eq!(signed_in.status(), 303);
    let back = location(&signed_in);
    let page = browser.get(&app.url(&back)).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="user_code""#), "{html}");
    assert!(
        html.contains(started["user_code"].as_str().unwrap()),
        "prefilled: {html}"
    );
    assert!(!html.contains("<script"), "works without JavaScript");

    // The person types the code in lower case without the dash; the confirmation names the
    // client and the scopes, with the two decision buttons of the consent page.
    let confirm = enter_code(&app, &browser, &typed(&started)).await;
    assert_eq!(confirm.status(), 200);
    let html = confirm.text().await.unwrap();
    assert!(html.contains("<strong>tv</strong>"), "{html}");
    assert!(html.contains("items:read"), "{html}");
    assert!(!html.contains("items:write"), "only what was asked: {html}");
    assert!(html.contains(r#"name="decision" value="allow""#), "{html}");
    assert!(html.contains(r#"name="decision" value="deny""#), "{html}");
    let pending = poll(&app, TV, device_code(&started)).await;
    assert_oauth_error(pending, 400, "authorization_pending").await;

    let done = decide(&app, &browser, &typed(&started), "allow").await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Device connected"));
    app.clock.advance(5);
    let response = poll(&app, TV, device_code(&started)).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "items:read openid");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let introspected = app.introspect(access).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["client_id"], TV);
    assert_eq!(introspected["username"], "alice");
    // The id_token names the client and the sign-in that approved the device.
    let id_token = tokens["id_token"].as_str().expect("an id_token for openid");
    let claims = jwt_claims(id_token);
    assert_eq!(claims["aud"], TV);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["auth_time"].is_i64());
    // The refresh token works like any other.
    let refreshed = app
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", TV),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
}

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn rfc8628_3_2_the_response_carries_both_codes_the_uris_and_the_timing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tv(&app).await;

    let response = authorize_device(&app, TV, &[]).await;
    let second = start(&app, "items:read").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let user_code = body["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .replace('-', "")
            .chars()
            .all(|c| ALPHABET.contains(c)),
        "{user_code}"
    );
    assert_ne!(body["user_code"], second["user_code"]);
    assert_ne!(body["device_code"], second["device_code"]);
    assert!(device_code(&body).len() >= 43, "256 bits");
    assert_eq!(body["verification_uri"], app.url("/device"));
    assert_eq!(
        body["verification_uri_complete"],
        format!(
            "{}?user_code={}",
            app.url("/device"),
            user_code.replace('-', "")
        )
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    // Only hashes are stored.
    let stored: Vec<(String,)> = match &app.store {
        authd::store::Store::Sqlite(pool) => {
            sqlx::query_as("select device_code_hash from device_codes")
                .fetch_all(pool)
                .await
                .unwrap()
        }
        authd::store::Store::Postgres(pool) => {
            sqlx::query_as("select device_code_hash from device_codes")
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|(hash,)| hash.len() == 64 && hash != device_code(&body))
    );
    // The settings change the timing.
    let custom = TestApp::spawn_with(backend, |s| {
        s.oauth.device_code_ttl_secs = 120;
        s.oauth.device_code_interval_secs = 9;
    })
    .await;
    add_tv(&custom).await;
    let timed = start(&custom, "items:read").await;
    assert_eq!(timed["expires_in"], 120);
    assert_eq!(timed["interval"], 9);
}

async fn rfc8628_3_5_polls_before_a_decision_are_pending_and_too_fast_ones_slow_down(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    add_tv(&app).await;
    let started = start(&app, "items:read").await;
    let code = device_code(&started);

    let first = poll(&app, TV, code).await;
    let too_soon = poll(&app, TV, code).await;
    app.clock.advance(5);
    // The interval is 10 seconds now, counted from the last poll.
    let still_too_soon = poll(&app, TV, code).await;
    app.clock.advance(14);
    let again_too_soon = poll(&app, TV, code).await;
    app.clock.advance(20);
    let on_time = poll(&app, TV, code).await;

    assert_oauth_error(first, 400, "authorization_pending").await;
    let slow = assert_oauth_error(too_soon, 400, "slow_down").await;
    assert!(
        slow["error_description"]
            .as_str()
            .unwrap()
            .contains("10 seconds"),
        "{slow}"
    );
    let slower = assert_oauth_error(still_too_soon, 400, "slow_down").await;
    assert!(
        slower["error_description"]
            .as_str()
            .unwrap()
            .contains("15 seconds"),
        "{slower}"
    );
    let slowest = assert_oauth_error(again_too_soon, 400, "slow_down").await;
    assert!(
        slowest["error_description"]
            .as_str()
            .unwrap()
            .contains("20 seconds"),
        "{slowest}"
    );
    assert_oauth_error(on_time, 400, "authorization_pending").await;
}

async fn rfc8628_3_5_a_denied_code_answers_access_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = start(&app, "items:read").await;
    let browser = signed_in_browser(&app, password).await;

    let done = decide(&app, &browser, &typed(&started), "deny").await;
    let denied = poll(&app, TV, device_code(&started)).await;
    let again = enter_code(&app, &browser, &typed(&started)).await;

    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Device refused"));
    assert_oauth_error(denied, 400, "access_denied").await;
    // A decided code cannot be entered again.
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("not valid"));
}

async fn rfc8628_3_5_an_expired_code_answers_expired_token_and_is_refused_on_the_page(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = start(&app, "items:read").await;
    let browser = signed_in_browser(&app, password).await;
    let confirm = enter_code(&app, &browser, &typed(&started)).await;
    let html = confirm.text().await.unwrap();

    app.clock.advance(601);
    let expired = poll(&app, TV, device_code(&started)).await;
    let late_entry = enter_code(&app, &browser, &typed(&started)).await;
    let late_approval = browser
        .post(
            &app.url("/device/decision"),
            &[
                ("csrf", &csrf_of(&html)),
                ("user_code", &hidden_user_code(&html)),
                ("decision", "allow"),
            ],
        )
        .await;

    assert_oauth_error(expired, 400, "expired_token").await;
    assert_eq!(late_entry.status(), 400);
    let page = assert_error_page(late_approval, 400).await;
    assert!(page.contains("expired"), "{page}");
}

/// A device authorization of `tv` for `scope`, approved by alice: its body.
pub(crate) async fn approved(app: &TestApp, password: &str, scope: &str) -> Value {
    let started = start(app, scope).await;
    let browser = signed_in_browser(app, password).await;
    let done = decide(app, &browser, &typed(&started), "allow").await;
    assert_eq!(done.status(), 200, "approval");
    started
}

async fn rfc8628_3_5_a_code_is_redeemed_once_even_by_concurrent_polls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = approved(&app, password, "items:read").await;
    let code = device_code(&started);

    let answers = join_all((0..8).map(|_| poll(&app, TV, code))).await;
    let mut statuses = Vec::new();
    for answer in answers {
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        statuses.push((status, body["error"].as_str().map(str::to_owned)));
    }
    app.clock.advance(60);
    let later = poll(&app, TV, code).await;

    let issued = statuses.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(issued, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|(status, error)| *status == 200
            || matches!(error.as_deref(), Some("slow_down" | "invalid_grant"))),
        "{statuses:?}"
    );
    assert_oauth_error(later, 400, "invalid_grant").await;
}

async fn rfc8628_3_5_concurrent_redemptions_in_the_store_let_exactly_one_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = approved(&app, password, "items:read").await;
    let hash = authd::credentials::hash_secret(device_code(&started));
    let now = app.clock.now();

    let redeemed = join_all((0..10).map(|_| app.store.redeem_device_code(&hash, now))).await;

    let winners = redeemed
        .into_iter()
        .map(Result::unwrap)
        .filter(Option::is_some)
        .count();
    assert_eq!(winners, 1);
}

async fn rfc8628_3_4_another_client_cannot_poll_or_redeem_the_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    app.add_client("radio", &[GrantType::DeviceCode], SCOPES, true)
        .await;
    let started = approved(&app, password, "items:read").await;
    let code = device_code(&started);

    let stolen = poll(&app, "radio", code).await;
    let stolen_again = poll(&app, "radio", code).await;
    // The other client's polls neither slowed the owner down nor used the code.
    let owner = poll(&app, TV, code).await;

    assert_oauth_error(stolen, 400, "invalid_grant").await;
    assert_oauth_error(stolen_again, 400, "invalid_grant").await;
    assert_eq!(owner.status(), 200);
    let made_up = poll(&app, TV, "not-a-device-code").await;
    assert_oauth_error(made_up, 400, "invalid_grant").await;
    let missing = app
        .post_form("/token", &[("grant_type", DEVICE_GRANT), ("client_id", TV)])
        .await;
    assert_oauth_error(missing, 400, "invalid_request").await;
}

async fn rfc8628_5_1_wrong_user_codes_are_throttled_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.security.trust_forwarded_for = true;
        s.oauth.device_user_code_attempts = 3;
    })
    .await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = start(&app, "items:read").await;
    let browser = signed_in_browser(&app, password).await;
    let page = browser.get(&app.url("/device")).await;
    let csrf = csrf_of(&page.text().await.unwrap());
    let enter = |code: String, address: &'static str| {
        let request = browser
            .http
            .post(app.url("/device"))
            .header("X-Forwarded-For", address)
            .form(&[("csrf", csrf.clone()), ("user_code", code)]);
        async move { request.send().await.unwrap() }
    };

    let mut wrong = Vec::new();
    for guess in ["BBBBBBBB", "CCCCCCCC", "DDDDDDDD"] {
        wrong.push(enter(guess.to_owned(), "203.0.113.9").await.status());
    }
    // The budget is spent: even the right code is refused from this address ...
    let refused = enter(typed(&started), "203.0.113.9").await;
    // ... but not from another.
    let elsewhere = enter(typed(&started), "198.51.100.4").await;

    assert_eq!(wrong, vec![400, 400, 400]);
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(elsewhere.status(), 200);
    // A malformed code is not a guess at all.
    let malformed = enter("AEIOU".to_owned(), "198.51.100.4").await;
    assert_eq!(malformed.status(), 400);
    assert!(malformed.text().await.unwrap().contains("eight letters"));
}

async fn rfc8628_3_1_clients_scopes_and_resources_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tv(&app).await;
    app.add_client("web", &[GrantType::AuthorizationCode], SCOPES, true)
        .await;
    let secret = app
        .add_client("box", &[GrantType::DeviceCode], &["items:read"], false)
        .await
        .unwrap();

    let anonymous = app
        .post_form("/device_authorization", &[("scope", "items:read")])
        .await;
    let unknown = authorize_device(&app, "nobody", &[]).await;
    let without_grant = authorize_device(&app, "web", &[]).await;
    let built_in = authorize_device(&app, "public", &[]).await;
    let bad_scope = authorize_device(&app, TV, &[("scope", "items:read admin:users")]).await;
    let bad_resource = authorize_device(&app, TV, &[("resource", "https://billing.example")]).await;
    let wrong_secret = app
        .post_form_basic("/device_authorization", "box", "wrong", &[])
        .await;
    let confidential = app
        .post_form_basic(
            "/device_authorization",
            "box",
            &secret,
            &[("scope", "items:read")],
        )
        .await;
    let public_named_only = authorize_device(&app, "box", &[]).await;

    assert_oauth_error(anonymous, 401, "invalid_client").await;
    assert_oauth_error(unknown, 401, "invalid_client").await;
    assert_oauth_error(without_grant, 400, "unauthorized_client").await;
    assert_oauth_error(built_in, 400, "unauthorized_client").await;
    assert_oauth_error(bad_scope, 400, "invalid_scope").await;
    assert_oauth_error(bad_resource, 400, "invalid_target").await;
    assert_oauth_error(wrong_secret, 401, "invalid_client").await;
    assert_eq!(confidential.status(), 200);
    assert_oauth_error(public_named_only, 401, "invalid_client").await;
    // A client without the grant may not poll either.
    let started = start(&app, "items:read").await;
    let poll_by_web = poll(&app, "web", device_code(&started)).await;
    assert_oauth_error(poll_by_web, 400, "unauthorized_client").await;
}

async fn rfc8628_3_1_a_client_holds_a_bounded_number_of_live_codes(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.oauth.device_codes_per_client = 2).await;
    add_tv(&app).await;
    app.add_client("radio", &[GrantType::DeviceCode], SCOPES, true)
        .await;

    let first = authorize_device(&app, TV, &[]).await;
    let second = authorize_device(&app, TV, &[]).await;
    let third = authorize_device(&app, TV, &[]).await;
    let other_client = authorize_device(&app, "radio", &[]).await;
    app.clock.advance(601);
    let after_expiry = authorize_device(&app, TV, &[]).await;

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    assert_oauth_error(third, 503, "temporarily_unavailable").await;
    assert_eq!(other_client.status(), 200);
    assert_eq!(after_expiry.status(), 200);
}

async fn rfc8628_5_4_the_confirmation_is_shown_even_after_a_consent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let alice = crate::signin_support::user_named(&app, "alice").await;
    let tv = app
        .store
        .find_client(&authd::domain::ClientId::parse(TV).unwrap())
        .await
        .unwrap()
        .unwrap();
    app.store
        .grant_consent(
            &alice.id,
            TV,
            &tv.registration,
            &authd::domain::ScopeSet::parse("items:read").unwrap(),
            app.clock.now(),
        )
        .await
        .unwrap();
    let started = start(&app, "items:read").await;
    let browser = signed_in_browser(&app, password).await;

    // Even arriving with the code in the URL and a consent on record, nothing is approved
    // until the person presses Allow.
    let prefilled = browser
        .get(started["verification_uri_complete"].as_str().unwrap())
        .await;
    let confirm = enter_code(&app, &browser, &typed(&started)).await;
    let still_pending = poll(&app, TV, device_code(&started)).await;

    assert_eq!(prefilled.status(), 200);
    assert_eq!(confirm.status(), 200);
    assert!(confirm.text().await.unwrap().contains(r#"value="allow""#));
    assert_oauth_error(still_pending, 400, "authorization_pending").await;
}

async fn rfc8628_3_3_of_a_concurrent_approval_and_denial_exactly_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let started = start(&app, "items:read").await;
    let browser = signed_in_browser(&app, password).await;
    let html = enter_code(&app, &browser, &typed(&started))
        .await
        .text()
        .await
        .unwrap();
    let (csrf, code) = (csrf_of(&html), hidden_user_code(&html));

    let url = app.url("/device/decision");
    let answers = join_all(["allow", "deny", "allow", "deny"].map(|decision| {
        let request = browser.http.post(&url).form(&[
            ("csrf", csrf.as_str()),
            ("user_code", code.as_str()),
            ("decision", decision),
        ]);
        async move { request.send().await.unwrap() }
    }))
    .await;
    let mut outcomes = Vec::new();
    for answer in answers {
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        outcomes.push((status, text.contains("Device connected")));
    }
    let polled = poll(&app, TV, device_code(&started)).await;

    let winners: Vec<_> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(status, _)| *status == 200 || *status == 400)
    );
    if winners[0].1 {
        assert_eq!(polled.status(), 200);
    } else {
        assert_oauth_error(polled, 400, "access_denied").await;
    }
}

async fn a_user_disabled_or_with_a_new_password_after_approval_gets_no_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let alice = Username::parse("alice").unwrap();
    let for_disabling = approved(&app, password, "items:read").await;
    let for_new_password = approved(&app, password, "items:read").await;

    app.store
        .set_disabled(&alice, true, authd::clock::unix_now())
        .await
        .unwrap();
    let while_disabled = poll(&app, TV, device_code(&for_disabling)).await;
    app.store
        .set_disabled(&alice, false, authd::clock::unix_now())
        .await
        .unwrap();
    let new_hash = app
        .hasher
        .hash(&secrecy::SecretString::from("a brand new password"))
        .await
        .unwrap();
    app.store
        .set_password(&alice, &new_hash, authd::clock::unix_now())
        .await
        .unwrap();
    let after_password_change = poll(&app, TV, device_code(&for_new_password)).await;

    assert_oauth_error(while_disabled, 400, "invalid_grant").await;
    assert_oauth_error(after_password_change, 400, "invalid_grant").await;
    // Re-enabling does not bring the disabled approval back: disabling changed the generation.
    app.clock.advance(10);
    let after_reenable = poll(&app, TV, device_code(&for_disabling)).await;
    assert_oauth_error(after_reenable, 400, "invalid_grant").await;
}

async fn the_device_page_asks_for_the_second_factor_a_role_demands(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    // alice's one role demands a second factor, and she has none yet.
    app.store
        .set_role(
            &authd::domain::RoleName::parse("reader").unwrap(),
            &authd::domain::ScopeSet::parse("items:read items:write").unwrap(),
            true,
            authd::clock::unix_now(),
        )
        .await
        .unwrap();
    add_tv(&app).await;
    let started = start(&app, "items:read").await;

    let browser = signed_in_browser(&app, password).await;
    let page = browser
        .get(started["verification_uri_complete"].as_str().unwrap())
        .await;

    // Enrolment first; the code waits in the login transaction meanwhile.
    assert_eq!(page.status(), 303);
    assert_eq!(location(&page), "/login/enrol");
    let pending = poll(&app, TV, device_code(&started)).await;
    assert_oauth_error(pending, 400, "authorization_pending").await;
}

async fn the_device_page_escapes_what_it_echoes_and_needs_its_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let browser = signed_in_browser(&app, password).await;
    let page = browser.get(&app.url("/device")).await;
    let csrf = csrf_of(&page.text().await.unwrap());

    let echoed = browser
        .post(
            &app.url("/device"),
            &[("csrf", &csrf), ("user_code", "<script>alert(1)</script>")],
        )
        .await;
    let forged = browser
        .post(
            &app.url("/device"),
            &[("csrf", "forged"), ("user_code", "BCDFGHJK")],
        )
        .await;
    let forged_decision = browser
        .post(
            &app.url("/device/decision"),
            &[
                ("csrf", "forged"),
                ("user_code", "BCDFGHJK"),
                ("decision", "allow"),
            ],
        )
        .await;
    let no_session = Browser::new()
        .post(
            &app.url("/device"),
            &[("csrf", &csrf), ("user_code", "BCDFGHJK")],
        )
        .await;
    let bad_prefill = browser.get(&app.url("/device?user_code=%3Cb%3E")).await;

    assert_eq!(echoed.status(), 400);
    let html = echoed.text().await.unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&lt;script&gt;") || html.contains("&#60;script"),
        "{html}"
    );
    assert_error_page(forged, 403).await;
    assert_error_page(forged_decision, 403).await;
    assert_eq!(no_session.status(), 303);
    assert_eq!(bad_prefill.status(), 200);
    assert!(!bad_prefill.text().await.unwrap().contains("<b>"));
}

async fn the_oauth2_crate_completes_the_device_flow(backend: Backend) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthType, ClientId, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse,
        TokenResponse, TokenUrl,
    };
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    add_tv(&app).await;
    let client = BasicClient::new(ClientId::new(TV.into()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(app.url("/device_authorization")).unwrap(),
        );
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("items:read".into()))
        .request_async(&http)
        .await
        .expect("device authorization through the oauth2 crate");
    let user_code = details.user_code().secret().clone();
    assert_eq!(details.verification_uri().as_str(), app.url("/device"));
    assert_eq!(details.interval().as_secs(), 5);
    // The person approves while the crate polls; its waits move the test clock instead of
    // sleeping through them.
    let clock = app.clock.clone();
    let approval = async {
        let browser = signed_in_browser(&app, password).await;
        let done = decide(&app, &browser, &user_code.to_lowercase(), "allow").await;
        assert_eq!(done.status(), 200);
    };
    let polling = client.exchange_device_access_token(&details).request_async(
        &http,
        move |wait: std::time::Duration| {
            let clock = clock.clone();
            async move {
                clock.advance(wait.as_secs() as i64);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        },
        None,
    );
    let (token, ()) = tokio::join!(polling, approval);

    let token = token.expect("the oauth2 crate's device flow");
    assert_eq!(token.scopes().unwrap()[0].as_str(), "items:read");
    assert!(token.refresh_token().is_some());
    let introspected = app.introspect(token.access_token().secret()).await;
    assert_eq!(introspected["active"], true);
}

async fn rfc8628_4_metadata_names_the_endpoint_and_the_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
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
            metadata["device_authorization_endpoint"],
            format!(
                "{}/device_authorization",
                app.issuer().trim_end_matches('/')
            ),
            "{path}"
        );
        let grants = metadata["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&json!(DEVICE_GRANT)), "{path}: {grants:?}");
    }
}

async fn the_cli_and_admin_api_register_device_clients_by_urn_or_alias(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let by_urn = authd_cli(
        &database,
        &["client", "add", "tv", "--grant", DEVICE_GRANT, "--public"],
    );
    let by_alias = authd_cli(
        &database,
        &["client", "add", "cli", "--grant", "device_code", "--public"],
    );
    let listed = authd_cli(&database, &["client", "list"]);

    assert!(by_urn.status.success(), "{by_urn:?}");
    assert!(by_alias.status.success(), "{by_alias:?}");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for client in ["tv\t", "cli\t"] {
        let line = listed
            .lines()
            .find(|line| line.starts_with(client))
            .unwrap_or_else(|| panic!("{listed}"));
        assert!(line.contains(DEVICE_GRANT), "{line}");
    }

    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let created = app
        .bearer(
            reqwest::Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&json!({
                "client_id": "kiosk",
                "grants": ["device_code"],
                "scopes": ["items:read"],
                "public": true,
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["grants"], json!([DEVICE_GRANT]), "{body}");
    let kiosk = authorize_device(&app, "kiosk", &[]).await;
    assert_eq!(kiosk.status(), 200);
}

async fn the_janitor_sweeps_expired_device_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tv(&app).await;
    start(&app, "items:read").await;

    let kept = app
        .store
        .sweep(app.clock.now() + 599, 0, 0, 3600)
        .await
        .unwrap();
    let swept = app
        .store
        .sweep(app.clock.now() + 601, 0, 0, 3600)
        .await
        .unwrap();

    assert_eq!(kept.device_codes, 0);
    assert_eq!(swept.device_codes, 1);
}
