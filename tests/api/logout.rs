//! RP-Initiated Logout 1.0 at `/logout`: a hint that names the signed-in person ends the
//! session at once, anything else is confirmed first, and the browser only ever goes back to a
//! registered post-logout URI. Ending the session ends its refresh and access tokens too.

use futures_util::future::join_all;
use reqwest::header::SET_COOKIE;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::openid_connect::{PASSWORD, seed_alice};
use crate::signin_support::{
    Browser, ClientSpec, Pkce, WebClient, add_web_client, assert_error_page, csrf_of, json,
    location, param,
};

const BYE: &str = "https://photos.example.test/signed-out";

async fn photos(app: &TestApp) -> WebClient {
    let client = add_web_client(
        app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party("photos", &["openid", "profile", "offline_access"])
        },
    )
    .await;
    let response = reqwest::Client::new()
        .patch(app.url("/admin/clients/photos"))
        .bearer_auth(app.admin_token().await)
        .json(&serde_json::json!({ "post_logout_redirect_uris": [BYE] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    client
}

/// Signs alice in through `client` in `browser`; returns the token response.
async fn signed_in(app: &TestApp, browser: &Browser, client: &WebClient, scope: &str) -> Value {
    let pkce = Pkce::new();
    let code = browser
        .code_with(app, client, &pkce, &[("scope", scope)], PASSWORD)
        .await;
    let (status, body) = json(
        client
            .exchange(app, &code, Some(&pkce.verifier), Some(&client.redirect_uri))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&app.url("/logout"), params)
        .unwrap()
        .to_string()
}

/// Whether the browser's session still signs it in without a page.
async fn still_signed_in(app: &TestApp, browser: &Browser, client: &WebClient) -> bool {
    let pkce = Pkce::new();
    let to = location(
        &browser
            .authorize(
                app,
                client,
                &[
                    ("scope", "openid"),
                    ("code_challenge", &pkce.challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await,
    );
    to != "/login"
}

async fn refresh(app: &TestApp, client: &WebClient, token: &str) -> u16 {
    app.post_form_basic(
        "/token",
        &client.id,
        client.secret.as_deref().unwrap(),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
    .status()
    .as_u16()
}

async fn a_hint_naming_the_person_ends_the_session_and_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = photos(&app).await;
    let browser = Browser::new();
    let online = signed_in(&app, &browser, &client, "openid profile").await;
    let offline = signed_in(&app, &browser, &client, "openid offline_access").await;

    let response = browser
        .get(&logout_url(
            &app,
            &[
                ("id_token_hint", online["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", BYE),
                ("state", "bye-1"),
            ],
        ))
        .await;
    let to = location(&response);
    assert!(to.starts_with(BYE), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("bye-1"));
    assert!(!still_signed_in(&app, &browser, &client).await);

    // The session's tokens end with it; the offline grant outlives it (Core section 11).
    let access = online["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], false);
    let me = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(
        refresh(&app, &client, online["refresh_token"].as_str().unwrap()).await,
        400
    );
    assert_eq!(
        refresh(&app, &client, offline["refresh_token"].as_str().unwrap()).await,
        200
    );
}

async fn without_a_matching_hint_the_person_confirms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = photos(&app).await;
    let browser = Browser::new();
    signed_in(&app, &browser, &client, "openid").await;

    // A bare link (another site could embed it) only shows the question.
    let page = browser
        .get(&logout_url(
            &app,
            &[
                ("client_id", "photos"),
                ("post_logout_redirect_uri", BYE),
                ("state", "s<1>"),
            ],
        ))
        .await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://photos.example.test"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Sign out?") && html.contains("The photos app"),
        "{html}"
    );
    assert!(
        html.contains("s&lt;1&gt;") || html.contains("s&#60;1&#62;"),
        "escaped state"
    );
    assert!(still_signed_in(&app, &browser, &client).await);

    // A forged confirmation (no CSRF token of this session) changes nothing.
    let response = browser
        .post(
            &app.url("/logout"),
            &[("csrf", "forged"), ("client_id", "photos")],
        )
        .await;
    assert_eq!(response.status(), 200, "the question again");
    assert!(still_signed_in(&app, &browser, &client).await);

    let response = browser
        .post(
            &app.url("/logout"),
            &[
                ("csrf", &csrf_of(&html)),
                ("client_id", "photos"),
                ("post_logout_redirect_uri", BYE),
                ("state", "s<1>"),
            ],
        )
        .await;
    let to = location(&response);
    assert!(to.starts_with(BYE), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("s<1>"));
    let cleared = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|c| c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the session cookie is cleared");
    assert!(!still_signed_in(&app, &browser, &client).await);
}

async fn someone_elses_hint_is_confirmed_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    app.add_user("bob", PASSWORD, &[]).await;
    let client = photos(&app).await;
    let alice = Browser::new();
    signed_in(&app, &alice, &client, "openid").await;
    let bob = Browser::new();
    let pkce = Pkce::new();
    bob.authorize(
        &app,
        &client,
        &[
            ("scope", "openid"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = param(&location(&bob.sign_in(&app, "bob", PASSWORD).await), "code").unwrap();
    let (_, bobs) = json(
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

    let page = alice
        .get(&logout_url(
            &app,
            &[("id_token_hint", bobs["id_token"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign out?"));
    assert!(still_signed_in(&app, &alice, &client).await);
}

async fn an_expired_hint_still_names_the_person(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.tokens.id_token_ttl_secs = 1).await;
    seed_alice(&app).await;
    let client = photos(&app).await;
    let browser = Browser::new();
    let tokens = signed_in(&app, &browser, &client, "openid").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = browser
        .get(&logout_url(
            &app,
            &[("id_token_hint", tokens["id_token"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("signed out"));
    assert!(!still_signed_in(&app, &browser, &client).await);
}

async fn bad_logout_requests_get_a_page_never_a_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = photos(&app).await;
    let browser = Browser::new();
    let tokens = signed_in(&app, &browser, &client, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let mut forged = hint.to_owned();
    forged.push('A');
    for params in [
        vec![("id_token_hint", forged.as_str())],
        vec![("id_token_hint", tokens["access_token"].as_str().unwrap())],
        vec![
            ("client_id", "photos"),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![("post_logout_redirect_uri", BYE)],
        vec![("id_token_hint", hint), ("client_id", "someone-else")],
        vec![("client_id", "unknown"), ("post_logout_redirect_uri", BYE)],
    ] {
        let response = browser.get(&logout_url(&app, &params)).await;
        assert_error_page(response, 400).await;
    }
    assert!(still_signed_in(&app, &browser, &client).await);

    // Without a session there is nothing to end: straight back, or the signed-out page.
    let stranger = Browser::new();
    let to = location(
        &stranger
            .get(&logout_url(
                &app,
                &[("client_id", "photos"), ("post_logout_redirect_uri", BYE)],
            ))
            .await,
    );
    assert!(to.starts_with(BYE), "{to}");
}

async fn concurrent_logouts_of_one_session_all_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = photos(&app).await;
    let browser = Browser::new();
    let tokens = signed_in(&app, &browser, &client, "openid").await;
    let url = logout_url(
        &app,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", BYE),
        ],
    );
    let answers = join_all((0..6).map(|_| browser.get(&url))).await;
    for answer in answers {
        assert_eq!(answer.status(), 303);
        assert!(location(&answer).starts_with(BYE));
    }
    assert!(!still_signed_in(&app, &browser, &client).await);
    assert_eq!(
        refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await,
        400
    );
}

backend_tests!(
    a_hint_naming_the_person_ends_the_session_and_its_tokens,
    without_a_matching_hint_the_person_confirms,
    someone_elses_hint_is_confirmed_first,
    an_expired_hint_still_names_the_person,
    bad_logout_requests_get_a_page_never_a_redirect,
    concurrent_logouts_of_one_session_all_answer,
);
