//! Issue 12, "Tests and proof": a person signs in to two clients, logs out through `/logout` from
//! one, and both clients' back-channel logout URIs receive a logout token; the second client's
//! next `/authorize` shows the login page again.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use url::Url;

use crate::backend_tests;
use crate::helpers::Backend;
use crate::sign_in::keep_screenshot;
use crate::site::{CodeTokenResponse, Site, WebClient, sign_in_on_the_page};
use crate::webdriver::{describe, wait_for, wait_for_address, with_browser};

/// How long a back-channel delivery may take: it runs from a background queue.
const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(30);

/// Back-Channel Logout 1.0 section 2.4: the member of `events` that marks a logout token.
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The claims of an id_token, read without verifying it: the code exchange got it straight from
/// authd (tests/api verify id_tokens; here the logout tokens are the ones verified).
fn id_token_claims(tokens: &CodeTokenResponse) -> Value {
    let id_token = tokens
        .extra_fields()
        .id_token
        .as_deref()
        .expect("an id_token: the scope holds openid");
    let payload = id_token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Verifies a logout token with authd's JWKS alone, as a relying party does (Back-Channel Logout
/// 1.0 section 2.6), and returns its claims.
async fn verify_logout_token(site: &Site, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = reqwest::get(site.app.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).expect("a JWS logout token");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"), "{header:?}");
    let jwk = jwks
        .find(header.kid.as_deref().expect("a kid"))
        .expect("the logout token's key is published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[site.app.issuer()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    let claims =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the logout token verifies with the JWKS")
            .claims;
    assert!(claims["jti"].is_string(), "a jti: {claims}");
    assert!(
        claims["events"][BACKCHANNEL_LOGOUT_EVENT].is_object(),
        "the back-channel logout event: {claims}"
    );
    assert!(claims.get("nonce").is_none(), "never a nonce: {claims}");
    claims
}

/// Waits for `client`'s back-channel call and checks it names the session `id_claims` came from.
async fn assert_back_channel_called(site: &Site, client: &WebClient, id_claims: &Value) {
    let post = site
        .callback
        .wait_for_post(
            &client.backchannel_logout_path(),
            BACKCHANNEL_TIMEOUT,
            &format!("back-channel logout of {}", client.client_id),
        )
        .await;
    let form = post
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    assert!(
        form,
        "Back-Channel Logout 1.0 section 2.5: a form POST, {post:?}"
    );
    let token = url::form_urlencoded::parse(post.body.as_bytes())
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no logout_token in {:?}", post.body));
    let claims = verify_logout_token(site, &token, client.client_id).await;
    assert_eq!(claims["sid"], id_claims["sid"], "{claims}");
    assert_eq!(claims["sub"], id_claims["sub"], "{claims}");
}

/// Signs the browser in to `client` (through the login page when `password` is set) and returns
/// the tokens it redeems.
async fn sign_in_to(
    site: &Site,
    browser: &fantoccini::Client,
    client: &WebClient,
    password: bool,
) -> CodeTokenResponse {
    let request = client.authorization_request();
    browser.goto(request.url.as_str()).await.unwrap();
    if password {
        wait_for(browser, "input[name='username']").await;
        sign_in_on_the_page(browser, "carol").await;
    }
    let landed = wait_for_address(browser, &client.redirect_uri).await;
    client.redeem(&landed, request, &site.app.issuer()).await
}

async fn logout_from_one_client_calls_both_back_channels_and_the_other_client_asks_to_sign_in(
    backend: Backend,
) {
    let site = Site::start(backend).await;
    site.add_person("carol").await;
    let notes = site.add_openid_client("notes").await;
    let photos = site.add_openid_client("photos").await;

    with_browser(true, move |browser| async move {
        // Arrange: one sign-in, two clients, one browser session.
        let notes_tokens = sign_in_to(&site, &browser, &notes, true).await;
        let photos_tokens = sign_in_to(&site, &browser, &photos, false).await;
        let notes_id = id_token_claims(&notes_tokens);
        let photos_id = id_token_claims(&photos_tokens);
        assert!(notes_id["sid"].is_string(), "{notes_id}");
        assert_eq!(notes_id["sid"], photos_id["sid"], "one browser session");

        // Act: notes logs the person out, speaking for them with its id_token.
        let signed_out = notes.post_logout_redirect_uri.clone().unwrap();
        let logout = Url::parse_with_params(
            &site.url("/logout"),
            [
                (
                    "id_token_hint",
                    notes_tokens.extra_fields().id_token.as_deref().unwrap(),
                ),
                ("post_logout_redirect_uri", signed_out.as_str()),
                ("state", "bye"),
            ],
        )
        .unwrap();
        browser.goto(logout.as_str()).await.unwrap();
        let landed = wait_for_address(&browser, &signed_out).await;

        // Assert: back at notes with its state, the session gone for photos too.
        assert_eq!(landed.query(), Some("state=bye"), "{landed}");
        let request = photos.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "form[action='/login'] input[name='username']").await;
        let path = browser.current_url().await.unwrap().path().to_owned();
        assert_eq!(path, "/login", "{}", describe(&browser).await);
        assert_back_channel_called(&site, &notes, &notes_id).await;
        assert_back_channel_called(&site, &photos, &photos_id).await;
    })
    .await;
}

/// A bare link to `/logout` (another site could embed one) only asks; the page's own button,
/// without JavaScript, signs the person out and returns to the registered URI with `state`.
async fn a_logout_without_a_hint_is_confirmed_on_the_page(backend: Backend) {
    let site = Site::start(backend).await;
    site.add_person("carol").await;
    let notes = site.add_openid_client("notes").await;

    with_browser(false, move |browser| async move {
        sign_in_to(&site, &browser, &notes, true).await;
        let signed_out = notes.post_logout_redirect_uri.clone().unwrap();
        let logout = Url::parse_with_params(
            &site.url("/logout"),
            [
                ("client_id", "notes"),
                ("post_logout_redirect_uri", signed_out.as_str()),
                ("state", "asked"),
            ],
        )
        .unwrap();
        browser.goto(logout.as_str()).await.unwrap();
        let sign_out = wait_for(&browser, "form[action='/logout'] button[type='submit']").await;
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "logout-page.png").await;
        }
        let page = browser.source().await.unwrap();
        assert!(
            page.contains("Sign out?") && page.contains("carol"),
            "{}",
            describe(&browser).await
        );
        assert_eq!(sign_out.text().await.unwrap(), "Sign out");

        sign_out.click().await.unwrap();
        let landed = wait_for_address(&browser, &signed_out).await;
        assert_eq!(landed.query(), Some("state=asked"), "{landed}");
        let request = notes.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "form[action='/login'] input[name='username']").await;
    })
    .await;
}

backend_tests!(
    logout_from_one_client_calls_both_back_channels_and_the_other_client_asks_to_sign_in,
    a_logout_without_a_hint_is_confirmed_on_the_page,
);
