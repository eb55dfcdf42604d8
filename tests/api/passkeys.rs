//! Passkeys over HTTP, driven by webauthn-authenticator-rs' software authenticator (as Kanidm
//! tests with): registration on a signed-in session, the usernameless sign-in, and what must be
//! refused (replays, cloned keys, other origins, a credential registered twice, races).
//!
//! The soft passkey cannot store resident keys. Where a browser would find the credential on the
//! authenticator by itself, the test plays the browser's part: it tells the soft passkey which
//! credential to use and hands back the user handle a resident key stores.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::signin_support::{Browser, ClientSpec, Pkce, add_web_client, csrf_of, location, param};
use authd::store::Store;

const PASSWORD: &str = "correct horse battery staple";

/// authd on a port chosen here, with its pages at `http://localhost:PORT` (WebAuthn wants a
/// domain; the issuer stays `http://127.0.0.1:PORT`).
struct PasskeyApp {
    app: TestApp,
    /// `http://localhost:PORT`, the pages' origin.
    origin: String,
}

impl PasskeyApp {
    async fn spawn(backend: Backend) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let origin = format!("http://localhost:{port}");
        let pages = origin.clone();
        let app = TestApp::spawn_with(backend, move |settings| {
            settings.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
            settings.webauthn.rp_id = Some("localhost".into());
            settings.webauthn.origins = vec![pages];
        })
        .await;
        Self { app, origin }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn origin_url(&self) -> Url {
        Url::parse(&self.origin).unwrap()
    }

    /// A browser signed in with `username`'s password, and the account page's CSRF token.
    async fn signed_in(&self, username: &str) -> (Browser, String) {
        let browser = Browser::new();
        let page = browser.get(&self.url("/login")).await;
        let csrf = csrf_of(&page.text().await.unwrap());
        let signed_in = browser
            .post(
                &self.url("/login"),
                &[
                    ("csrf", csrf.as_str()),
                    ("username", username),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(signed_in.status(), 303, "password sign-in");
        let account = browser.get(&self.url("/account")).await;
        assert_eq!(account.status(), 200);
        let csrf = csrf_of(&account.text().await.unwrap());
        (browser, csrf)
    }

    /// Registers a passkey on `authenticator` for the signed-in `browser`; its credential id.
    async fn register(
        &self,
        browser: &Browser,
        csrf: &str,
        authenticator: &mut SoftPasskey,
        name: &str,
    ) -> String {
        let (begun, credential) = self.create(browser, csrf, authenticator).await;
        let (status, body) = post_json(
            browser,
            &self.url("/account/passkeys/finish"),
            &json!({"csrf": csrf, "state": begun["state"], "name": name, "credential": credential}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], name);
        body["credential_id"].as_str().unwrap().to_owned()
    }

    /// Begins a registration and has `authenticator` answer it: (begin answer, credential JSON).
    async fn create(
        &self,
        browser: &Browser,
        csrf: &str,
        authenticator: &mut SoftPasskey,
    ) -> (Value, Value) {
        let (status, begun) = post_json(
            browser,
            &self.url("/account/passkeys/begin"),
            &json!({ "csrf": csrf }),
        )
        .await;
        assert_eq!(status, 200, "{begun}");
        let mut options = begun["options"].clone();
        let selection = &mut options["publicKey"]["authenticatorSelection"];
        // authd asks for a discoverable credential, which usernameless sign-in needs...
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(selection["userVerification"], "required");
        // ...which the soft passkey cannot make (see the module comment).
        selection["requireResidentKey"] = json!(false);
        let options = serde_json::from_value(options).unwrap();
        let credential = authenticator
            .do_registration(self.origin_url(), options)
            .expect("the soft passkey registers");
        (begun, serde_json::to_value(credential).unwrap())
    }

    /// A browser at the login page: (browser, the login form's CSRF token).
    async fn at_login(&self) -> (Browser, String) {
        let browser = Browser::new();
        let page = browser.get(&self.url("/login")).await;
        assert_eq!(page.status(), 200);
        let csrf_policy = page.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csrf_policy.contains("script-src 'self'"), "{csrf_policy}");
        let html = page.text().await.unwrap();
        assert!(html.contains("Sign in with a passkey"), "{html}");
        (browser, csrf_of(&html))
    }

    /// Begins a passkey sign-in: (begin answer).
    async fn begin_sign_in(&self, browser: &Browser, csrf: &str) -> Value {
        let (status, begun) = post_json(
            browser,
            &self.url("/login/passkey/begin"),
            &json!({ "csrf": csrf }),
        )
        .await;
        assert_eq!(status, 200, "{begun}");
        // The button asks outright (no conditional mediation), for any discoverable credential.
        assert!(begun["options"].get("mediation").is_none(), "{begun}");
        assert_eq!(begun["options"]["publicKey"]["allowCredentials"], json!([]));
        assert_eq!(
            begun["options"]["publicKey"]["userVerification"],
            "required"
        );
        begun
    }

    /// `authenticator`'s assertion for `begun`, made at `origin`, with the user handle a resident
    /// key of `user_id` returns.
    fn assert_with(
        &self,
        authenticator: &mut SoftPasskey,
        begun: &Value,
        credential_id: &str,
        user_id: &str,
        origin: Url,
    ) -> Value {
        let mut options = begun["options"].clone();
        options["publicKey"]["allowCredentials"] =
            json!([{"type": "public-key", "id": credential_id}]);
        let options = serde_json::from_value(options).unwrap();
        let assertion = authenticator
            .do_authentication(origin, options)
            .expect("the soft passkey signs");
        let mut assertion = serde_json::to_value(assertion).unwrap();
        let handle = uuid::Uuid::parse_str(user_id).unwrap();
        assertion["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(handle.as_bytes()));
        assertion
    }

    async fn finish_sign_in(
        &self,
        browser: &Browser,
        csrf: &str,
        begun: &Value,
        assertion: &Value,
    ) -> (u16, Value) {
        post_json(
            browser,
            &self.url("/login/passkey/finish"),
            &json!({"csrf": csrf, "state": begun["state"], "credential": assertion}),
        )
        .await
    }

    /// The `amr` of each live session of `username`, from the admin API.
    async fn session_methods(&self, username: &str) -> Vec<Value> {
        let token = self.app.admin_token().await;
        let page: Value = self
            .app
            .bearer(
                Method::GET,
                &format!("/admin/users/{username}/sessions"),
                Some(&token),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|session| session["amr"].clone())
            .collect()
    }

    /// The audit events with `action`, waiting up to 3 s for one (writes are batched).
    async fn audited(&self, action: &str) -> Vec<Value> {
        let token = self.app.admin_token().await;
        self.app
            .audit_rows(&token, action, Duration::from_secs(3), |rows| {
                !rows.is_empty()
            })
            .await
    }
}

/// POSTs JSON with the browser's cookies: (status, JSON body).
async fn post_json(browser: &Browser, url: &str, body: &Value) -> (u16, Value) {
    let response = browser.http.post(url).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs JSON with an explicit `Cookie` header (an attacker replaying a captured request).
async fn post_json_with_cookies(url: &str, cookies: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header(COOKIE, cookies)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A user `username` with `PASSWORD`; its id.
async fn add_user(app: &PasskeyApp, username: &str) -> String {
    app.app.add_user(username, PASSWORD, &[]).await.id
}

async fn a_passkey_registered_on_the_account_page_signs_in_alone_as_multi_factor(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let credential_id = app
        .register(&browser, &csrf, &mut authenticator, "Laptop")
        .await;

    // Listed on the account page, which runs the passkey script under a CSP that allows only it.
    let account = browser.get(&app.url("/account")).await;
    let policy = account.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
    let html = account.text().await.unwrap();
    assert!(html.contains("<strong>Laptop</strong>"), "{html}");
    assert!(html.contains(&credential_id));
    let script = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script tag")
        .to_owned();
    let served = browser.get(&app.url(&script)).await;
    assert_eq!(served.status(), 200);
    assert!(
        served.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // Another browser, nobody signed in: the passkey alone.
    let (other, login_csrf) = app.at_login().await;
    let begun = app.begin_sign_in(&other, &login_csrf).await;
    let assertion = app.assert_with(
        &mut authenticator,
        &begun,
        &credential_id,
        &alice,
        app.origin_url(),
    );
    let (status, body) = app
        .finish_sign_in(&other, &login_csrf, &begun, &assertion)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["location"], "/account");
    let account = other.get(&app.url("/account")).await;
    assert_eq!(
        account.status(),
        200,
        "the passkey's session opens the account page"
    );
    assert!(
        account
            .text()
            .await
            .unwrap()
            .contains("<strong>Laptop</strong>, added")
    );

    let methods = app.session_methods("alice").await;
    assert!(methods.contains(&json!(["pwd"])), "{methods:?}");
    assert!(methods.contains(&json!(["pop", "mfa"])), "{methods:?}");
    let stored = app
        .app
        .store
        .find_passkey(&credential_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sign_count, 1);
    assert!(stored.last_used_at.is_some());
}

async fn a_replayed_assertion_is_refused(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let credential_id = app
        .register(&browser, &csrf, &mut authenticator, "Key")
        .await;

    let (victim, login_csrf) = app.at_login().await;
    let begun = app.begin_sign_in(&victim, &login_csrf).await;
    let assertion = app.assert_with(
        &mut authenticator,
        &begun,
        &credential_id,
        &alice,
        app.origin_url(),
    );
    // Everything the victim's browser sends, captured before it is sent.
    let cookies = victim.cookie_header(&app.url("/login/passkey/finish"));
    let request = json!({"csrf": login_csrf, "state": begun["state"], "credential": assertion});
    let (status, body) = post_json(&victim, &app.url("/login/passkey/finish"), &request).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) =
        post_json_with_cookies(&app.url("/login/passkey/finish"), &cookies, &request).await;
    assert_eq!(status, 400, "{body}");
    let refused = body["error"].as_str().unwrap();
    assert!(
        refused == "ceremony_used" || refused == "passkey_refused",
        "{body}"
    );
    assert_eq!(
        app.session_methods("alice").await.len(),
        2,
        "no third session"
    );
}

async fn a_cloned_passkey_whose_counter_goes_back_is_refused_and_audited(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let credential_id = app
        .register(&browser, &csrf, &mut authenticator, "Key")
        .await;

    // Two ceremonies signed in order (counters 1 and 2): the later one is used first, so the
    // earlier one carries a counter the server has seen pass, as a copy of the key would.
    let (first, first_csrf) = app.at_login().await;
    let (second, second_csrf) = app.at_login().await;
    let first_begun = app.begin_sign_in(&first, &first_csrf).await;
    let second_begun = app.begin_sign_in(&second, &second_csrf).await;
    let older = app.assert_with(
        &mut authenticator,
        &first_begun,
        &credential_id,
        &alice,
        app.origin_url(),
    );
    let newer = app.assert_with(
        &mut authenticator,
        &second_begun,
        &credential_id,
        &alice,
        app.origin_url(),
    );
    let (status, body) = app
        .finish_sign_in(&second, &second_csrf, &second_begun, &newer)
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = app
        .finish_sign_in(&first, &first_csrf, &first_begun, &older)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "passkey_refused");
    let audited = app.audited("passkey.cloned").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor"], "alice");
    assert_eq!(app.session_methods("alice").await.len(), 2);
}

async fn an_assertion_made_for_another_origin_is_refused(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let credential_id = app
        .register(&browser, &csrf, &mut authenticator, "Key")
        .await;

    let (phished, login_csrf) = app.at_login().await;
    let begun = app.begin_sign_in(&phished, &login_csrf).await;
    // A look-alike page on another port of the same host relays authd's challenge.
    let elsewhere = Url::parse("http://localhost:1").unwrap();
    let assertion = app.assert_with(
        &mut authenticator,
        &begun,
        &credential_id,
        &alice,
        elsewhere,
    );
    let client_data = URL_SAFE_NO_PAD
        .decode(assertion["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&client_data).contains("http://localhost:1"));
    let (status, body) = app
        .finish_sign_in(&phished, &login_csrf, &begun, &assertion)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "passkey_refused");
    assert_eq!(app.session_methods("alice").await, vec![json!(["pwd"])]);
}

/// The attestation object of a registration, re-encoded with the "none" format around the same
/// authenticator data: the credential, its key and flags, with nothing that binds it to one
/// challenge (WebAuthn 8.7).
fn none_attestation(attestation_object: &[u8]) -> Vec<u8> {
    let key = b"\x68authData";
    let at = attestation_object
        .windows(key.len())
        .position(|window| window == key)
        .expect("authData in the attestation object")
        + key.len();
    let (length, start) = match attestation_object[at] {
        0x58 => (usize::from(attestation_object[at + 1]), at + 2),
        0x59 => (
            usize::from(u16::from_be_bytes([
                attestation_object[at + 1],
                attestation_object[at + 2],
            ])),
            at + 3,
        ),
        other => panic!("unexpected CBOR header {other:#x}"),
    };
    let mut encoded = vec![0xa3];
    encoded.extend_from_slice(b"\x63fmt\x64none\x67attStmt\xa0");
    encoded.extend_from_slice(key);
    encoded.extend_from_slice(&attestation_object[at..start]);
    encoded.extend_from_slice(&attestation_object[start..start + length]);
    encoded
}

async fn a_credential_registered_already_is_refused_for_anyone_else(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    add_user(&app, "alice").await;
    add_user(&app, "mallory").await;
    let (alice, alice_csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let (begun, credential) = app.create(&alice, &alice_csrf, &mut authenticator).await;
    let (status, body) = post_json(
        &alice,
        &app.url("/account/passkeys/finish"),
        &json!({"csrf": alice_csrf, "state": begun["state"], "name": "Key", "credential": credential}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let credential_id = body["credential_id"].as_str().unwrap().to_owned();

    // Mallory presents Alice's credential in her own registration, answering her own challenge.
    let (mallory, mallory_csrf) = app.signed_in("mallory").await;
    let (status, mallory_begun) = post_json(
        &mallory,
        &app.url("/account/passkeys/begin"),
        &json!({ "csrf": mallory_csrf }),
    )
    .await;
    assert_eq!(status, 200);
    let attestation = URL_SAFE_NO_PAD
        .decode(
            credential["response"]["attestationObject"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": mallory_begun["options"]["publicKey"]["challenge"],
        "origin": app.origin,
        "crossOrigin": false,
    });
    let mut copied = credential.clone();
    copied["response"]["attestationObject"] =
        json!(URL_SAFE_NO_PAD.encode(none_attestation(&attestation)));
    copied["response"]["clientDataJSON"] = json!(URL_SAFE_NO_PAD.encode(client_data.to_string()));
    let (status, body) = post_json(
        &mallory,
        &app.url("/account/passkeys/finish"),
        &json!({"csrf": mallory_csrf, "state": mallory_begun["state"], "name": "Mine", "credential": copied}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "already_registered");
    let stored = app
        .app
        .store
        .find_passkey(&credential_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Key", "still Alice's");

    // The same answer once more for Alice herself: its ceremony is spent.
    let (status, body) = post_json(
        &alice,
        &app.url("/account/passkeys/finish"),
        &json!({"csrf": alice_csrf, "state": begun["state"], "name": "Again", "credential": credential}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "ceremony_used");
}

async fn concurrent_finishes_of_one_ceremony_sign_in_once(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let credential_id = app
        .register(&browser, &csrf, &mut authenticator, "Key")
        .await;

    let (racer, login_csrf) = app.at_login().await;
    let begun = app.begin_sign_in(&racer, &login_csrf).await;
    let assertion = app.assert_with(
        &mut authenticator,
        &begun,
        &credential_id,
        &alice,
        app.origin_url(),
    );
    let cookies = racer.cookie_header(&app.url("/login/passkey/finish"));
    let request = json!({"csrf": login_csrf, "state": begun["state"], "credential": assertion});
    let url = app.url("/login/passkey/finish");
    let answers = futures_util::future::join_all(
        (0..6).map(|_| post_json_with_cookies(&url, &cookies, &request)),
    )
    .await;
    let won = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(won, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == 200 || *status == 400)
    );
    assert_eq!(app.session_methods("alice").await.len(), 2);
}

async fn adding_a_passkey_needs_a_recent_sign_in_and_the_page_token(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;

    let (status, body) = post_json(
        &browser,
        &app.url("/account/passkeys/begin"),
        &json!({ "csrf": "not-the-token" }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );
    // A cross-site form can post only form encodings, which are refused.
    let form = browser
        .post(
            &app.url("/account/passkeys/begin"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(form.status(), 415);
    let garbage = browser
        .http
        .post(app.url("/account/passkeys/finish"))
        .header(CONTENT_TYPE, "application/json")
        .body("{\"csrf\": 1")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let (status, body) = post_json(
        &browser,
        &app.url("/account/passkeys/finish"),
        &json!({"csrf": csrf, "state": "x", "name": "Key", "credential": {"id": 5}}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    app.app.clock.advance(601);
    let (status, body) = post_json(
        &browser,
        &app.url("/account/passkeys/begin"),
        &json!({ "csrf": csrf }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("login_required")),
        "{body}"
    );
    let html = browser
        .get(&app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("sign in again</a> first"), "{html}");
}

async fn passkeys_are_renamed_deleted_and_administered(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut laptop = SoftPasskey::new(true);
    let mut phone = SoftPasskey::new(true);
    let laptop_id = app.register(&browser, &csrf, &mut laptop, "Laptop").await;
    let phone_id = app.register(&browser, &csrf, &mut phone, "Phone").await;
    // A passkey cannot be presented to /token: the password grant sends the person to a browser.
    let grant = app
        .app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    crate::helpers::assert_oauth_error(grant, 400, "invalid_grant").await;

    let renamed = browser
        .post(
            &app.url("/account/passkeys/rename"),
            &[
                ("csrf", csrf.as_str()),
                ("credential_id", laptop_id.as_str()),
                ("name", "  Work laptop "),
            ],
        )
        .await;
    assert_eq!(renamed.status(), 303);
    let deleted = browser
        .post(
            &app.url("/account/passkeys/delete"),
            &[
                ("csrf", csrf.as_str()),
                ("credential_id", phone_id.as_str()),
            ],
        )
        .await;
    assert_eq!(deleted.status(), 303);
    let listed = app.app.store.list_passkeys(&alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Work laptop");

    // A disabled user's passkey is refused like any other refusal.
    let token = app.app.admin_token().await;
    let disabled = app
        .app
        .bearer(
            Method::PATCH,
            "/admin/users/alice",
            Some(&token),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    let (other, login_csrf) = app.at_login().await;
    let begun = app.begin_sign_in(&other, &login_csrf).await;
    let assertion = app.assert_with(&mut laptop, &begun, &laptop_id, &alice, app.origin_url());
    let (status, body) = app
        .finish_sign_in(&other, &login_csrf, &begun, &assertion)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("passkey_refused"))
    );
    let enabled = app
        .app
        .bearer(
            Method::PATCH,
            "/admin/users/alice",
            Some(&token),
            Some(&json!({"disabled": false})),
        )
        .await;
    assert_eq!(enabled.status(), 200);

    let page: Value = app
        .app
        .bearer(
            Method::GET,
            "/admin/users/alice/passkeys",
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["credential_id"], laptop_id.as_str());
    assert_eq!(page["items"][0]["name"], "Work laptop");
    let gone = app
        .app
        .bearer(
            Method::DELETE,
            &format!("/admin/users/alice/passkeys/{laptop_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(gone.status(), 204);
    let again = app
        .app
        .bearer(
            Method::DELETE,
            &format!("/admin/users/alice/passkeys/{laptop_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(again.status(), 404);
    assert_eq!(app.audited("passkey.deleted_by_admin").await.len(), 1);
    let document: Value = app
        .app
        .http
        .get(app.app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &document["paths"];
    assert!(paths["/admin/users/{username}/passkeys"]["get"].is_object());
    assert!(paths["/admin/users/{username}/passkeys/{credential_id}"]["delete"].is_object());

    // The deleted passkey signs nobody in.
    let (other, login_csrf) = app.at_login().await;
    let begun = app.begin_sign_in(&other, &login_csrf).await;
    let assertion = app.assert_with(&mut laptop, &begun, &laptop_id, &alice, app.origin_url());
    let (status, body) = app
        .finish_sign_in(&other, &login_csrf, &begun, &assertion)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("passkey_refused"))
    );
}

async fn after_a_password_only_that_persons_passkey_finishes_the_sign_in(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let bob = add_user(&app, "bob").await;
    let mut alices_key = SoftPasskey::new(true);
    let mut bobs_key = SoftPasskey::new(true);
    let (browser, csrf) = app.signed_in("alice").await;
    let alices_id = app
        .register(&browser, &csrf, &mut alices_key, "Alice's")
        .await;
    let (browser, csrf) = app.signed_in("bob").await;
    let bobs_id = app.register(&browser, &csrf, &mut bobs_key, "Bob's").await;

    // Bob's password; his sign-in now waits for his second factor.
    let browser = Browser::new();
    let page = browser.get(&app.url("/login")).await;
    let csrf = csrf_of(&page.text().await.unwrap());
    let password = browser
        .post(
            &app.url("/login"),
            &[
                ("csrf", csrf.as_str()),
                ("username", "bob"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(password.status(), 303);
    assert_eq!(
        password.headers()["location"].to_str().unwrap(),
        "/login/second-factor"
    );
    let page = browser.get(&app.url("/login/second-factor")).await;
    assert_eq!(page.status(), 200);
    let policy = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Use a passkey"), "{html}");
    // Bob has no one-time code, so the page has no form: the button carries the token.
    let csrf = button_token(&html);

    // Alice's passkey, valid in itself, is not Bob's.
    let begun = app.begin_sign_in(&browser, &csrf).await;
    let assertion = app.assert_with(
        &mut alices_key,
        &begun,
        &alices_id,
        &alice,
        app.origin_url(),
    );
    let (status, body) = app
        .finish_sign_in(&browser, &csrf, &begun, &assertion)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("passkey_refused")),
        "{body}"
    );
    assert_eq!(
        app.session_methods("bob").await.len(),
        1,
        "only the first browser's"
    );

    let begun = app.begin_sign_in(&browser, &csrf).await;
    let assertion = app.assert_with(&mut bobs_key, &begun, &bobs_id, &bob, app.origin_url());
    let (status, body) = app
        .finish_sign_in(&browser, &csrf, &begun, &assertion)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["location"], "/account");
    let methods = app.session_methods("bob").await;
    assert!(methods.contains(&json!(["pop", "mfa"])), "{methods:?}");
}

async fn answered_challenges_stay_single_use_until_the_janitor_sweeps_them_after_expiry(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let store = &app.store;
    let now = authd::clock::unix_now();
    assert!(
        store
            .use_webauthn_challenge("live", now + 300)
            .await
            .unwrap()
    );
    assert!(
        store
            .use_webauthn_challenge("spent", now - 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_webauthn_challenge("live", now + 300)
            .await
            .unwrap()
    );

    // The app's own janitor may sweep first (it runs once at start-up); either sweep will do.
    let swept = store.sweep(now, 60, 0, 3600).await.unwrap();
    assert!(swept.webauthn_challenges <= 1);
    // Still remembered while its ceremony could be finished; forgotten once none can.
    assert!(
        !store
            .use_webauthn_challenge("live", now + 300)
            .await
            .unwrap()
    );
    assert!(
        store
            .use_webauthn_challenge("spent", now + 300)
            .await
            .unwrap()
    );
}

/// The token a passkey button carries (`data-csrf`).
fn button_token(html: &str) -> String {
    html.split("data-csrf=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a passkey button's token")
        .to_owned()
}

async fn a_person_whose_role_demands_a_second_factor_enrols_a_passkey_and_finishes_with_it(
    backend: Backend,
) {
    let app = PasskeyApp::spawn(backend).await;
    app.app.add_role("operators", &["items:read"]).await;
    let carol = app.app.add_user("carol", PASSWORD, &["operators"]).await.id;
    let demand = "update roles set require_mfa = true where name = 'operators'";
    match &app.app.store {
        Store::Postgres(pool) => sqlx::query(demand).execute(pool).await.map(|_| ()),
        Store::Sqlite(pool) => sqlx::query(demand).execute(pool).await.map(|_| ()),
    }
    .unwrap();
    let client = add_web_client(
        &app.app,
        ClientSpec {
            skip_consent: true,
            ..ClientSpec::third_party("console", &["items:read"])
        },
    )
    .await;
    let pkce = Pkce::new();

    // These pages are on the issuer (127.0.0.1); the authenticator signs for the pages' origin.
    let browser = Browser::new();
    let params = [
        ("scope", "items:read"),
        ("state", "s-1"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let response = browser.authorize(&app.app, &client, &params).await;
    assert_eq!(location(&response), "/login");
    let response = browser.sign_in(&app.app, "carol", PASSWORD).await;
    assert_eq!(location(&response), "/login/enrol", "no second factor yet");

    // The account page: a passkey, then "Continue signing in".
    let html = browser
        .get(&app.app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Continue signing in"), "{html}");
    let enrolling = csrf_of(&html);
    let account_csrf = button_token(&html);
    let mut key = SoftPasskey::new(true);
    let (status, begun) = post_json(
        &browser,
        &app.app.url("/account/passkeys/begin"),
        &json!({ "csrf": account_csrf }),
    )
    .await;
    assert_eq!(status, 200, "{begun}");
    let mut options = begun["options"].clone();
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    let credential = key
        .do_registration(app.origin_url(), serde_json::from_value(options).unwrap())
        .unwrap();
    let (status, body) = post_json(
        &browser,
        &app.app.url("/account/passkeys/finish"),
        &json!({"csrf": account_csrf, "state": begun["state"], "name": "Key", "credential": credential}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let credential_id = body["credential_id"].as_str().unwrap().to_owned();
    let response = browser
        .post(
            &app.app.url("/login/enrol"),
            &[("csrf", enrolling.as_str())],
        )
        .await;
    assert_eq!(location(&response), "/login/second-factor");

    // The new passkey finishes the sign-in, and the code goes to the client.
    let html = browser
        .get(&app.app.url("/login/second-factor"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = button_token(&html);
    let (status, begun) = post_json(
        &browser,
        &app.app.url("/login/passkey/begin"),
        &json!({ "csrf": csrf }),
    )
    .await;
    assert_eq!(status, 200, "{begun}");
    let assertion = app.assert_with(&mut key, &begun, &credential_id, &carol, app.origin_url());
    let (status, body) = post_json(
        &browser,
        &app.app.url("/login/passkey/finish"),
        &json!({"csrf": csrf, "state": begun["state"], "credential": assertion}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let to = body["location"].as_str().unwrap();
    assert!(to.starts_with(&client.redirect_uri), "{to}");
    assert!(param(to, "code").is_some(), "{to}");
    let methods = app.session_methods("carol").await;
    assert_eq!(methods, vec![json!(["pop", "mfa"])], "{methods:?}");
}

async fn concurrent_finishes_of_one_registration_store_one_passkey(backend: Backend) {
    let app = PasskeyApp::spawn(backend).await;
    let alice = add_user(&app, "alice").await;
    let (browser, csrf) = app.signed_in("alice").await;
    let mut authenticator = SoftPasskey::new(true);
    let (begun, credential) = app.create(&browser, &csrf, &mut authenticator).await;
    let cookies = browser.cookie_header(&app.url("/account/passkeys/finish"));
    let request =
        json!({"csrf": csrf, "state": begun["state"], "name": "Key", "credential": credential});
    let url = app.url("/account/passkeys/finish");
    let answers = futures_util::future::join_all(
        (0..6).map(|_| post_json_with_cookies(&url, &cookies, &request)),
    )
    .await;
    let stored = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(stored, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, body)| *status == 200 || body["error"] == "ceremony_used"),
        "{answers:?}"
    );
    assert_eq!(app.app.store.count_passkeys(&alice).await.unwrap(), 1);
}

backend_tests!(
    concurrent_finishes_of_one_registration_store_one_passkey,
    a_person_whose_role_demands_a_second_factor_enrols_a_passkey_and_finishes_with_it,
    answered_challenges_stay_single_use_until_the_janitor_sweeps_them_after_expiry,
    after_a_password_only_that_persons_passkey_finishes_the_sign_in,
    a_passkey_registered_on_the_account_page_signs_in_alone_as_multi_factor,
    a_replayed_assertion_is_refused,
    a_cloned_passkey_whose_counter_goes_back_is_refused_and_audited,
    an_assertion_made_for_another_origin_is_refused,
    a_credential_registered_already_is_refused_for_anyone_else,
    concurrent_finishes_of_one_ceremony_sign_in_once,
    adding_a_passkey_needs_a_recent_sign_in_and_the_page_token,
    passkeys_are_renamed_deleted_and_administered,
);
