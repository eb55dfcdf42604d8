//! Token exchange (RFC 8693, issue 15): a service exchanges a user's token for a narrower one
//! addressed to another service, acting for the user (`act`) or, when allowed, as the user.
//!
//! The world: two APIs (items claims `items:*`, notes claims `notes:*`); alice signs in at the
//! `web` client with a token for both; the `items-svc` service may exchange tokens addressed to
//! either and call notes; `notes-svc` only knows notes. Issued tokens are checked with the JWKS
//! through jsonwebtoken used from the test, and by introspection.

use std::time::{Duration, Instant};

use authd::credentials::{generate_secret, hash_secret};
use authd::domain::{Authority, ClientId, GrantType, RedirectUri, ResourceUri, ScopeSet};
use authd::store::{BrowserSettings, NewClient};
use authd::tokens::KeyManager;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::dpop::ClientKey;
use crate::helpers::{Backend, INTROSPECTOR, TestApp, assert_oauth_error};
use crate::signin_support::{Browser, Pkce, REDIRECT, WebClient};

const ITEMS: &str = "https://items.example.test";
const NOTES: &str = "https://notes.example.test";
const PASSWORD: &str = "correct horse battery";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The running app, alice, and the secrets of its clients.
struct World {
    app: TestApp,
    alice_id: String,
    web: String,
    items: String,
    notes: String,
}

fn uri(raw: &str) -> ResourceUri {
    ResourceUri::parse(raw).unwrap()
}

/// Registers a confidential client with `grants`, `scopes` and `resources`.
async fn add_client(
    app: &TestApp,
    id: &str,
    grants: &[GrantType],
    scopes: &[&str],
    resources: &[&str],
    browser: BrowserSettings,
) -> String {
    let secret = generate_secret();
    let new = NewClient {
        client_id: ClientId::parse(id).unwrap(),
        secret_hash: Some(hash_secret(&secret)),
        grants: grants.iter().copied().collect(),
        scopes: ScopeSet::from_tokens(scopes).unwrap(),
        browser,
    };
    app.store
        .create_client(&new, authd::clock::unix_now())
        .await
        .unwrap();
    let resources: Vec<ResourceUri> = resources.iter().map(|r| uri(r)).collect();
    app.store
        .set_client_resources(&new.client_id, &resources, &Authority::Operator)
        .await
        .unwrap();
    secret
}

/// A service that may exchange tokens (and get its own actor token by client_credentials).
async fn add_service(
    app: &TestApp,
    id: &str,
    scopes: &[&str],
    resources: &[&str],
    allow_impersonation: bool,
) -> String {
    let grants = [GrantType::ClientCredentials, GrantType::TokenExchange];
    let browser = BrowserSettings {
        allow_impersonation,
        ..BrowserSettings::default()
    };
    add_client(app, id, &grants, scopes, resources, browser).await
}

async fn world_with(
    backend: Backend,
    customize: impl FnOnce(&mut authd::config::Settings),
) -> World {
    let app = TestApp::spawn_with(backend, customize).await;
    for (resource, scopes) in [
        (ITEMS, "items:read items:write"),
        (NOTES, "notes:read notes:write"),
    ] {
        app.store
            .put_resource(&uri(resource), &ScopeSet::parse(scopes).unwrap(), 0)
            .await
            .unwrap();
    }
    let all = [
        "items:read",
        "items:write",
        "notes:read",
        "notes:write",
        "profile:read",
    ];
    app.add_role("staff", &all).await;
    let alice = app.add_user("alice", PASSWORD, &["staff"]).await;
    let web = add_client(
        &app,
        "web",
        &[GrantType::Password],
        &all,
        &[ITEMS, NOTES],
        BrowserSettings::default(),
    )
    .await;
    let items = add_service(
        &app,
        "items-svc",
        &["items:read", "notes:read", "notes:write", "profile:read"],
        &[ITEMS, NOTES],
        false,
    )
    .await;
    let notes = add_service(&app, "notes-svc", &["notes:read"], &[NOTES], false).await;
    World {
        app,
        alice_id: alice.id,
        web,
        items,
        notes,
    }
}

async fn world(backend: Backend) -> World {
    world_with(backend, |_| {}).await
}

impl World {
    /// Alice's token from the web client, for `resources` (both APIs when empty).
    async fn alice_token(&self, resources: &[&str]) -> String {
        let resources = if resources.is_empty() {
            &[ITEMS, NOTES][..]
        } else {
            resources
        };
        let mut form = vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        let response = self
            .app
            .post_form_basic("/token", "web", &self.web, &form)
            .await;
        assert_eq!(response.status(), 200, "alice's token");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn secret_of(&self, client: &str) -> &str {
        match client {
            "web" => &self.web,
            "items-svc" => &self.items,
            "notes-svc" => &self.notes,
            other => panic!("no secret for {other}"),
        }
    }

    /// A service's own client_credentials token: its actor token.
    async fn actor_token(&self, client: &str) -> String {
        client_credentials(&self.app, client, self.secret_of(client)).await
    }

    /// POSTs an exchange as `client` with `form` (grant_type added).
    async fn exchange(&self, client: &str, form: &[(&str, &str)]) -> reqwest::Response {
        exchange(&self.app, client, self.secret_of(client), form).await
    }

    /// Delegation: `client` exchanges `subject` with its own actor token for `resource`.
    async fn delegate(&self, client: &str, subject: &str, resource: &str) -> reqwest::Response {
        let actor = self.actor_token(client).await;
        self.exchange(
            client,
            &[
                ("subject_token", subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", &actor),
                ("actor_token_type", ACCESS_TOKEN),
                ("resource", resource),
            ],
        )
        .await
    }
}

async fn client_credentials(app: &TestApp, client: &str, secret: &str) -> String {
    let response = app
        .post_form_basic(
            "/token",
            client,
            secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), 200, "client_credentials for {client}");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn exchange(
    app: &TestApp,
    client: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut full = vec![("grant_type", EXCHANGE)];
    full.extend_from_slice(form);
    app.post_form_basic("/token", client, secret, &full).await
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "expected success, got {body}");
    body
}

/// Verifies an access token with authd's JWKS (alg from the published key, `aud` as given).
async fn verified_claims(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.issuer()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the issued token verifies with the JWKS")
        .claims
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn delegation_through_two_services_nests_act_and_introspection_shows_it(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;

    // items-svc received alice's token and calls notes on her behalf.
    let first = ok_json(w.delegate("items-svc", &alice, NOTES).await).await;
    assert_eq!(first["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["scope"], "notes:read notes:write");
    assert!(first["expires_in"].as_i64().unwrap() > 0);
    assert!(first.get("refresh_token").is_none(), "{first}");
    let to_notes = first["access_token"].as_str().unwrap();
    let claims = verified_claims(&w.app, to_notes, NOTES).await;
    assert_eq!(claims["sub"], w.alice_id.as_str());
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["client_id"], "items-svc");
    assert_eq!(claims["aud"], NOTES);
    assert_eq!(
        claims["act"],
        json!({"sub": "items-svc", "client_id": "items-svc"})
    );

    // notes-svc passes it on once more: the new actor outermost, the chain inside.
    let second = ok_json(w.delegate("notes-svc", to_notes, NOTES).await).await;
    assert_eq!(second["scope"], "notes:read");
    let twice = second["access_token"].as_str().unwrap();
    let claims = verified_claims(&w.app, twice, NOTES).await;
    let chain = json!({
        "sub": "notes-svc",
        "client_id": "notes-svc",
        "act": {"sub": "items-svc", "client_id": "items-svc"}
    });
    assert_eq!(claims["act"], chain);
    assert_eq!(claims["sub"], w.alice_id.as_str());

    let introspected = w.app.introspect(twice).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["act"], chain);
    assert_eq!(introspected["client_id"], "notes-svc");
    assert_eq!(introspected["aud"], NOTES);
    assert_eq!(introspected["sub"], w.alice_id.as_str());

    // The signed introspection answer (RFC 9701) carries it too.
    let secret = w.app.introspector_secret().await;
    let signed = w
        .app
        .http
        .post(w.app.url("/introspect"))
        .basic_auth(INTROSPECTOR, Some(&secret))
        .header("accept", "application/token-introspection+jwt")
        .form(&[("token", twice)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let jwt = signed.text().await.unwrap();
    assert_eq!(payload(&jwt)["token_introspection"]["act"], chain);

    // Tokens without act still introspect without it.
    let plain = w.app.introspect(&alice).await;
    assert_eq!(plain["active"], true);
    assert!(plain.get("act").is_none(), "{plain}");
}

async fn impersonation_is_refused_unless_the_client_is_allowed(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let form = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", NOTES),
    ];
    let refused = w.exchange("items-svc", &form).await;
    let body = assert_oauth_error(refused, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("impersonate"),
        "{body}"
    );

    let secret = add_service(&w.app, "proxy", &["notes:read"], &[ITEMS, NOTES], true).await;
    let issued = ok_json(exchange(&w.app, "proxy", &secret, &form).await).await;
    assert_eq!(issued["scope"], "notes:read");
    let claims = verified_claims(&w.app, issued["access_token"].as_str().unwrap(), NOTES).await;
    assert!(
        claims.get("act").is_none(),
        "impersonation carries no act: {claims}"
    );
    assert_eq!(claims["sub"], w.alice_id.as_str());
    assert_eq!(claims["client_id"], "proxy");

    // Impersonating a delegated token keeps who acted before: the chain is never dropped.
    let delegated = ok_json(w.delegate("items-svc", &alice, NOTES).await).await;
    let passed_on = [
        ("subject_token", delegated["access_token"].as_str().unwrap()),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", NOTES),
    ];
    let again = ok_json(exchange(&w.app, "proxy", &secret, &passed_on).await).await;
    let claims = payload(again["access_token"].as_str().unwrap());
    assert_eq!(
        claims["act"],
        json!({"sub": "items-svc", "client_id": "items-svc"})
    );
}

async fn scope_narrows_and_never_widens(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let actor = w.actor_token("items-svc").await;
    let with_scope = |scope: &'static str| {
        vec![
            ("subject_token", alice.clone()),
            ("subject_token_type", ACCESS_TOKEN.to_owned()),
            ("actor_token", actor.clone()),
            ("actor_token_type", ACCESS_TOKEN.to_owned()),
            ("resource", NOTES.to_owned()),
            ("scope", scope.to_owned()),
        ]
    };
    let w = &w;
    let send = |form: Vec<(&'static str, String)>| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        w.exchange("items-svc", &form).await
    };

    let narrowed = ok_json(send(with_scope("notes:read")).await).await;
    assert_eq!(narrowed["scope"], "notes:read");

    // items:write is alice's but not items-svc's; profile:read is items-svc's but not in her
    // token: neither can be had by exchange.
    for wider in ["notes:read items:write", "profile:read", "notes:read admin"] {
        let refused = send(with_scope(wider)).await;
        assert_oauth_error(refused, 400, "invalid_scope").await;
    }

    // A narrowed token cannot be widened back by exchanging it again.
    let narrow = narrowed["access_token"].as_str().unwrap().to_owned();
    let form = [
        ("subject_token", narrow.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("resource", NOTES),
        ("scope", "notes:read notes:write"),
    ];
    assert_oauth_error(w.exchange("items-svc", &form).await, 400, "invalid_scope").await;

    // Roles lost since the subject token was issued are not exchanged either.
    w.app.add_role("staff", &["notes:read"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = send(with_scope("notes:write")).await;
    assert_oauth_error(after, 400, "invalid_scope").await;
}

async fn audience_and_resource_narrow_the_target_and_anything_else_is_invalid_target(
    backend: Backend,
) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let actor = w.actor_token("items-svc").await;
    let base = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form = base.to_vec();
        form.extend_from_slice(extra);
        form
    };

    // audience names a registered resource by its URI, like resource.
    let by_audience = ok_json(w.exchange("items-svc", &with(&[("audience", NOTES)])).await).await;
    assert_eq!(by_audience["scope"], "notes:read notes:write");
    let token = by_audience["access_token"].as_str().unwrap();
    assert_eq!(verified_claims(&w.app, token, NOTES).await["aud"], NOTES);

    // Both APIs at once; items-svc holds only items:read of items' scopes.
    let both = ok_json(
        w.exchange(
            "items-svc",
            &with(&[("resource", ITEMS), ("audience", NOTES)]),
        )
        .await,
    )
    .await;
    assert_eq!(both["scope"], "items:read notes:read notes:write");
    let claims = payload(both["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!([ITEMS, NOTES]));

    for refused in [
        &[("audience", "notes")][..],
        &[("audience", "https://billing.example.test")][..],
        &[("resource", "https://billing.example.test")][..],
        &[("resource", "not a uri")][..],
        &[("resource", NOTES), ("audience", "notes")][..],
    ] {
        let response = w.exchange("items-svc", &with(refused)).await;
        assert_oauth_error(response, 400, "invalid_target").await;
    }

    // notes-svc may not address items, although items is registered.
    let notes_actor = w.actor_token("notes-svc").await;
    let form = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", notes_actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("audience", ITEMS),
    ];
    let response = w.exchange("notes-svc", &form).await;
    assert_oauth_error(response, 400, "invalid_target").await;

    // No target: authd's own audience, which carries none of the APIs' scopes.
    let untargeted = ok_json(w.exchange("items-svc", &base).await).await;
    assert_eq!(untargeted["scope"], "");
    let introspected = w
        .app
        .introspect(untargeted["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspected["aud"], w.app.introspect(&actor).await["aud"]);
}

async fn revoked_and_disabled_users_subject_tokens_are_refused_and_exchanged_tokens_end_with_the_user(
    backend: Backend,
) {
    let w = world(backend).await;
    let revoked = w.alice_token(&[]).await;
    let response = w
        .app
        .post_form_basic("/revoke", "web", &w.web, &[("token", &revoked)])
        .await;
    assert_eq!(response.status(), 200);
    let refused = w.delegate("items-svc", &revoked, NOTES).await;
    assert_oauth_error(refused, 400, "invalid_request").await;

    // An exchanged token is revocable like any other, by the client it was issued to.
    let alice = w.alice_token(&[]).await;
    let issued = ok_json(w.delegate("items-svc", &alice, NOTES).await).await;
    let exchanged = issued["access_token"].as_str().unwrap().to_owned();
    let response = w
        .app
        .post_form_basic("/revoke", "items-svc", &w.items, &[("token", &exchanged)])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(w.app.introspect(&exchanged).await["active"], false);

    // Disabling alice ends her exchanged tokens, and her tokens can no longer be exchanged.
    let issued = ok_json(w.delegate("items-svc", &alice, NOTES).await).await;
    let exchanged = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(w.app.introspect(&exchanged).await["active"], true);
    let admin = w.app.admin_token().await;
    let disabled = w
        .app
        .bearer(
            Method::PATCH,
            "/admin/users/alice",
            Some(&admin),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    assert_eq!(w.app.introspect(&exchanged).await["active"], false);
    let refused = w.delegate("items-svc", &alice, NOTES).await;
    assert_oauth_error(refused, 400, "invalid_request").await;
}

async fn an_expired_subject_token_is_refused(backend: Backend) {
    let w = world_with(backend, |settings| settings.tokens.access_ttl_secs = 1).await;
    let alice = w.alice_token(&[]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refused = w.delegate("items-svc", &alice, NOTES).await;
    assert_oauth_error(refused, 400, "invalid_request").await;
}

async fn cross_client_rules_refuse_tokens_that_are_not_the_clients_to_exchange(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;

    // A service none of whose resources the token is addressed to.
    let stranger = add_service(&w.app, "stranger", &["notes:read"], &[], false).await;
    let actor = client_credentials(&w.app, "stranger", &stranger).await;
    let form = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
    ];
    let refused = exchange(&w.app, "stranger", &stranger, &form).await;
    assert_oauth_error(refused, 400, "invalid_request").await;

    // A token of web's for authd itself is addressed to neither API.
    let response = w
        .app
        .post_form_basic(
            "/token",
            "web",
            &w.web,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let for_authd: Value = ok_json(response).await;
    let refused = w
        .delegate(
            "items-svc",
            for_authd["access_token"].as_str().unwrap(),
            NOTES,
        )
        .await;
    assert_oauth_error(refused, 400, "invalid_request").await;

    // Another client's actor token, and a client's own token as subject.
    let notes_actor = w.actor_token("notes-svc").await;
    let form = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", notes_actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("resource", NOTES),
    ];
    let refused = w.exchange("items-svc", &form).await;
    assert_oauth_error(refused, 400, "invalid_request").await;
    let own = w.actor_token("items-svc").await;
    let refused = w.delegate("items-svc", &own, NOTES).await;
    assert_oauth_error(refused, 400, "invalid_request").await;

    // An access token declared as an id_token is not one; as jwt, its typ decides.
    let actor = w.actor_token("items-svc").await;
    for (declared, status) in [(ID_TOKEN, 400), (JWT, 200)] {
        let form = [
            ("subject_token", alice.as_str()),
            ("subject_token_type", declared),
            ("actor_token", actor.as_str()),
            ("actor_token_type", JWT),
            ("resource", NOTES),
        ];
        let response = w.exchange("items-svc", &form).await;
        assert_eq!(response.status(), status, "{declared}");
    }
}

/// A client that signs people in with the code flow and exchanges their id_tokens.
async fn add_portal(app: &TestApp) -> WebClient {
    let browser = BrowserSettings {
        client_name: "Portal".into(),
        redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
        allow_impersonation: true,
        ..BrowserSettings::default()
    };
    let grants = [GrantType::AuthorizationCode, GrantType::TokenExchange];
    let secret = add_client(
        app,
        "portal",
        &grants,
        &["openid", "items:read", "items:write"],
        &[ITEMS],
        browser,
    )
    .await;
    WebClient {
        id: "portal".into(),
        secret: Some(secret),
        redirect_uri: REDIRECT.into(),
    }
}

async fn an_id_token_is_exchanged_only_by_its_client_within_consent_and_before_it_expires(
    backend: Backend,
) {
    let w = world(backend).await;
    let portal = add_portal(&w.app).await;
    let secret = portal.secret.clone().unwrap();
    let pkce = Pkce::new();
    let code = Browser::new()
        .code_with(
            &w.app,
            &portal,
            &pkce,
            &[("scope", "openid items:read"), ("nonce", "n-1")],
            PASSWORD,
        )
        .await;
    let tokens = ok_json(
        portal
            .exchange(&w.app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();

    let mut exchanged = String::new();
    for declared in [ID_TOKEN, JWT] {
        let form = [
            ("subject_token", id_token.as_str()),
            ("subject_token_type", declared),
            ("resource", ITEMS),
        ];
        let issued = ok_json(exchange(&w.app, "portal", &secret, &form).await).await;
        exchanged = issued["access_token"].as_str().unwrap().to_owned();
        // alice approved items:read only, though portal may hold items:write.
        assert_eq!(issued["scope"], "items:read", "{declared}");
        let claims = verified_claims(&w.app, issued["access_token"].as_str().unwrap(), ITEMS).await;
        assert_eq!(claims["sub"], w.alice_id.as_str());
        assert_eq!(claims["client_id"], "portal");
        assert!(
            claims["sid"].is_string(),
            "the session comes along: {claims}"
        );
    }
    let wider = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN),
        ("resource", ITEMS),
        ("scope", "items:write"),
    ];
    let refused = exchange(&w.app, "portal", &secret, &wider).await;
    assert_oauth_error(refused, 400, "invalid_scope").await;

    // The id_token's aud is portal: items-svc may not exchange it.
    let actor = w.actor_token("items-svc").await;
    let form = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
    ];
    let refused = w.exchange("items-svc", &form).await;
    assert_oauth_error(refused, 400, "invalid_request").await;

    // Past its expiry (tokens.id_token_ttl_secs) it is refused.
    w.app
        .clock
        .advance(w.app.settings.tokens.id_token_ttl_secs as i64 + 1);
    let form = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN),
        ("resource", ITEMS),
    ];
    let refused = exchange(&w.app, "portal", &secret, &form).await;
    assert_oauth_error(refused, 400, "invalid_request").await;

    // The exchanged token carries the session's sid: ending the session ends it.
    assert_eq!(w.app.introspect(&exchanged).await["active"], true);
    let admin = w.app.admin_token().await;
    let ended = w
        .app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/sessions",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(ended.status(), 204);
    assert_eq!(w.app.introspect(&exchanged).await["active"], false);
}

async fn a_dpop_bound_subject_token_needs_a_proof_from_its_key(backend: Backend) {
    let w = world(backend).await;
    let key = ClientKey::es256();
    let token_url = w.app.url("/token");
    let response = w
        .app
        .http
        .post(&token_url)
        .basic_auth("web", Some(&w.web))
        .header("DPoP", key.proof("POST", &token_url, None))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("resource", ITEMS),
            ("resource", NOTES),
        ])
        .send()
        .await
        .unwrap();
    let bound = ok_json(response).await;
    assert_eq!(bound["token_type"], "DPoP");
    let bound = bound["access_token"].as_str().unwrap().to_owned();
    let actor = w.actor_token("items-svc").await;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", bound.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("resource", NOTES),
    ];
    let send = |proof: Option<String>| {
        let mut request = w
            .app
            .http
            .post(&token_url)
            .basic_auth("items-svc", Some(&w.items))
            .form(&form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };

    let without = send(None).await.unwrap();
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
    let other_key = ClientKey::es256();
    let wrong = send(Some(other_key.proof("POST", &token_url, None)))
        .await
        .unwrap();
    assert_oauth_error(wrong, 400, "invalid_request").await;

    let right = ok_json(
        send(Some(key.proof("POST", &token_url, None)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(right["token_type"], "DPoP");
    let claims = payload(right["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
}

async fn only_confidential_clients_with_the_grant_may_exchange(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let form = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    // web has no token-exchange grant.
    let refused = w.exchange("web", &form).await;
    assert_oauth_error(refused, 400, "unauthorized_client").await;

    // A public client, even one registered with the grant, is not authenticated.
    w.app
        .add_client(
            "public-app",
            &[GrantType::TokenExchange],
            &["notes:read"],
            true,
        )
        .await;
    let mut public = vec![("grant_type", EXCHANGE), ("client_id", "public-app")];
    public.extend_from_slice(&form);
    let refused = w.app.post_form("/token", &public).await;
    assert_oauth_error(refused, 401, "invalid_client").await;

    // Discovery lists the grant by its URN; the alias is not a grant type on the wire.
    let metadata: Value = w
        .app
        .http
        .get(w.app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(EXCHANGE)), "{metadata}");
    let alias = w
        .app
        .post_form_basic(
            "/token",
            "items-svc",
            &w.items,
            &[("grant_type", "token-exchange")],
        )
        .await;
    assert_oauth_error(alias, 400, "unsupported_grant_type").await;
}

async fn malformed_exchange_requests_get_400_json(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let actor = w.actor_token("items-svc").await;
    let a = alice.as_str();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("subject_token", a)],
        vec![("subject_token_type", ACCESS_TOKEN)],
        vec![
            ("subject_token", a),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
        vec![("subject_token", a), ("subject_token_type", "access_token")],
        vec![
            ("subject_token", a),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
        ],
        vec![
            ("subject_token", a),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token_type", ACCESS_TOKEN),
        ],
        vec![
            ("subject_token", a),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ID_TOKEN),
        ],
        vec![
            ("subject_token", a),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
        vec![
            ("subject_token", a),
            ("subject_token", a),
            ("subject_token_type", ACCESS_TOKEN),
        ],
        vec![
            ("subject_token", "not.a.token"),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
        ],
        vec![
            ("subject_token", "\u{0}\u{1}garbage"),
            ("subject_token_type", JWT),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
        ],
        vec![
            ("subject_token", a),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", "x.y.z"),
            ("actor_token_type", JWT),
        ],
    ];
    for form in cases {
        let response = w.exchange("items-svc", &form).await;
        assert_oauth_error(response, 400, "invalid_request").await;
    }
    let huge = "a.".repeat(40_000) + "b";
    let form = [
        ("subject_token", huge.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
    ];
    let response = w.exchange("items-svc", &form).await;
    assert!(response.status().is_client_error(), "{}", response.status());
}

async fn the_exchanged_token_works_at_authds_own_api_only_without_a_target(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let for_notes = ok_json(w.delegate("items-svc", &alice, NOTES).await).await;
    let narrowed = for_notes["access_token"].as_str().unwrap();
    // A token addressed to notes is not accepted by authd's own API.
    let me = w.app.bearer(Method::GET, "/me", Some(narrowed), None).await;
    assert_eq!(me.status(), 401);

    let actor = w.actor_token("items-svc").await;
    let untargeted = ok_json(
        w.exchange(
            "items-svc",
            &[
                ("subject_token", alice.as_str()),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", actor.as_str()),
                ("actor_token_type", ACCESS_TOKEN),
            ],
        )
        .await,
    )
    .await;
    let token = untargeted["access_token"].as_str().unwrap();
    let me = w.app.bearer(Method::GET, "/me", Some(token), None).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["id"], w.alice_id.as_str());
}

async fn every_exchange_is_an_audit_event_naming_subject_actor_and_target(backend: Backend) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    ok_json(w.delegate("items-svc", &alice, NOTES).await).await;
    let admin = w.app.admin_token().await;
    let events = w
        .app
        .audit_rows(&admin, "token.exchanged", Duration::from_secs(3), |rows| {
            !rows.is_empty()
        })
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["actor"], "items-svc@items-svc");
    assert_eq!(event["subject"], "alice");
    assert_eq!(event["client_id"], "items-svc");
    let detail = event["detail"].as_str().unwrap();
    assert!(detail.contains("delegation"), "{detail}");
    assert!(detail.contains(&format!("target={NOTES}")), "{detail}");
    assert!(detail.contains("subject_client=web"), "{detail}");
    assert!(!detail.contains(&alice), "no token in the audit trail");
}

async fn may_act_in_a_subject_token_names_who_may_act(backend: Backend) {
    let w = world(backend).await;
    let key = KeyManager::start(w.app.store.clone(), &w.app.settings)
        .await
        .unwrap()
        .signing_key()
        .unwrap();
    let web = w
        .app
        .store
        .find_client(&ClientId::parse("web").unwrap())
        .await
        .unwrap()
        .unwrap();
    // A token as authd signs them, carrying may_act (authd honours it; it does not issue it).
    let forge = |may_act: Value| {
        let now = authd::clock::unix_now();
        let claims = json!({
            "iss": w.app.issuer(), "sub": w.alice_id, "aud": [ITEMS, NOTES],
            "exp": now + 300, "iat": now, "nbf": now, "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": "web", "client_reg": web.registration, "scope": "notes:read",
            "username": "alice", "roles": ["staff"], "gen": 0, "may_act": may_act,
        });
        let mut header = jsonwebtoken::Header::new(key.algorithm);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    };
    let for_notes = forge(json!({"client_id": "notes-svc"}));
    let refused = w.delegate("items-svc", &for_notes, NOTES).await;
    let body = assert_oauth_error(refused, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("may_act")
    );
    ok_json(w.delegate("notes-svc", &for_notes, NOTES).await).await;
    let for_items = forge(json!({"sub": "items-svc", "client_id": "items-svc"}));
    ok_json(w.delegate("items-svc", &for_items, NOTES).await).await;
}

async fn admin_api_sets_allow_impersonation_under_the_delegation_rule(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clients_admin = app
        .token_with_scopes(&["clients:read", "clients:write"])
        .await;
    let create = |body: Value| {
        let token = clients_admin.clone();
        let app = &app;
        async move {
            app.bearer(Method::POST, "/admin/clients", Some(&token), Some(&body))
                .await
        }
    };
    let created = create(json!({
        "client_id": "proxy", "grants": ["token-exchange"], "scopes": ["items:read"],
        "allow_impersonation": true
    }))
    .await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["allow_impersonation"], true);
    assert_eq!(body["grants"], json!([EXCHANGE]));

    // Only a confidential client with the grant can be allowed to impersonate.
    for invalid in [
        json!({"client_id": "a", "grants": ["client_credentials"], "allow_impersonation": true}),
        json!({"client_id": "b", "grants": [EXCHANGE], "public": true, "allow_impersonation": true}),
    ] {
        let response = create(invalid).await;
        assert_eq!(response.status(), 400);
    }

    // The delegation rule: a client holding admin scopes the caller lacks is out of reach,
    // on creation and on change; so impersonation never yields scopes the caller lacks.
    let response = create(json!({
        "client_id": "root-proxy", "grants": [EXCHANGE], "scopes": ["users:write"],
        "allow_impersonation": true
    }))
    .await;
    assert_eq!(response.status(), 403);
    app.add_client(
        "user-admin-svc",
        &[GrantType::TokenExchange],
        &["users:read"],
        false,
    )
    .await;
    let patch = json!({"allow_impersonation": true});
    let response = app
        .bearer(
            Method::PATCH,
            "/admin/clients/user-admin-svc",
            Some(&clients_admin),
            Some(&patch),
        )
        .await;
    assert_eq!(response.status(), 403);
    let full_admin = app.admin_token().await;
    let response = app
        .bearer(
            Method::PATCH,
            "/admin/clients/user-admin-svc",
            Some(&full_admin),
            Some(&patch),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["allow_impersonation"], true);

    let off = json!({"allow_impersonation": false});
    let response = app
        .bearer(
            Method::PATCH,
            "/admin/clients/proxy",
            Some(&clients_admin),
            Some(&off),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["allow_impersonation"], false);
}

async fn revoking_the_subject_while_exchanges_race_lets_none_succeed_after_it_returns(
    backend: Backend,
) {
    let w = world(backend).await;
    let alice = w.alice_token(&[]).await;
    let actor = w.actor_token("items-svc").await;
    let form = [
        ("subject_token", alice.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
        ("resource", NOTES),
    ];
    let exchanges = (0..24).map(|i| {
        let w = &w;
        let form = &form;
        async move {
            tokio::time::sleep(Duration::from_millis(5 * i)).await;
            let started = Instant::now();
            let status = w.exchange("items-svc", form).await.status().as_u16();
            (started, status)
        }
    });
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let response = w
            .app
            .post_form_basic("/revoke", "web", &w.web, &[("token", alice.as_str())])
            .await;
        assert_eq!(response.status(), 200);
        Instant::now()
    };
    let (results, revoked_at) = tokio::join!(join_all(exchanges), revoke);
    for (started, status) in &results {
        assert!(status == &200 || status == &400, "{status}");
        if *started > revoked_at {
            assert_eq!(
                *status, 400,
                "an exchange started after revocation succeeded"
            );
        }
    }
    for _ in 0..3 {
        let status = w.exchange("items-svc", &form).await.status();
        assert_eq!(status, 400);
    }
}

backend_tests!(
    delegation_through_two_services_nests_act_and_introspection_shows_it,
    impersonation_is_refused_unless_the_client_is_allowed,
    scope_narrows_and_never_widens,
    audience_and_resource_narrow_the_target_and_anything_else_is_invalid_target,
    revoked_and_disabled_users_subject_tokens_are_refused_and_exchanged_tokens_end_with_the_user,
    an_expired_subject_token_is_refused,
    cross_client_rules_refuse_tokens_that_are_not_the_clients_to_exchange,
    an_id_token_is_exchanged_only_by_its_client_within_consent_and_before_it_expires,
    a_dpop_bound_subject_token_needs_a_proof_from_its_key,
    only_confidential_clients_with_the_grant_may_exchange,
    malformed_exchange_requests_get_400_json,
    the_exchanged_token_works_at_authds_own_api_only_without_a_target,
    every_exchange_is_an_audit_event_naming_subject_actor_and_target,
    may_act_in_a_subject_token_names_who_may_act,
    admin_api_sets_allow_impersonation_under_the_delegation_rule,
    revoking_the_subject_while_exchanges_race_lets_none_succeed_after_it_returns,
);

#[test]
fn the_cli_allows_impersonation_only_with_the_grant_and_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let authd = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
        command
            .current_dir(dir.path())
            .args(args)
            .env("RUST_LOG", "warn");
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AUTHD_")) {
            command.env_remove(key);
        }
        command.output().unwrap()
    };
    let line_of = |client: &str| {
        let list = authd(&["client", "list"]);
        assert!(list.status.success());
        String::from_utf8(list.stdout)
            .unwrap()
            .lines()
            .find(|line| line.starts_with(&format!("{client}\t")))
            .unwrap()
            .to_owned()
    };
    let added = authd(&[
        "client",
        "add",
        "proxy",
        "--grant",
        "token-exchange",
        "--scope",
        "items:read",
        "--allow-impersonation",
    ]);
    assert!(added.status.success(), "{added:?}");
    let line = line_of("proxy");
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[2], EXCHANGE, "the wire name is stored: {line}");
    assert_eq!(fields[7], "allow-impersonation");

    let lifted = authd(&["client", "set", "proxy", "--allow-impersonation", "false"]);
    assert!(lifted.status.success(), "{lifted:?}");
    assert_eq!(line_of("proxy").split('\t').nth(7), Some(""));

    let without_grant = authd(&[
        "client",
        "add",
        "svc",
        "--grant",
        "client_credentials",
        "--allow-impersonation",
    ]);
    assert!(!without_grant.status.success());
    let stderr = String::from_utf8_lossy(&without_grant.stderr);
    assert!(stderr.contains("--allow-impersonation"), "{stderr}");
    let public = authd(&[
        "client",
        "add",
        "tv",
        "--grant",
        EXCHANGE,
        "--public",
        "--allow-impersonation",
    ]);
    assert!(!public.status.success());
}
