//! The extractors against a small fake authd (a real HTTP server on port 0), in both modes.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use authd_client::{AuthdClient, Caller, Config, Require};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

mod common;
use common::{ISSUER, SECRET, TestKey, now, spawn_fake_authd};

authd_client::scope!(ItemsRead, "items:read");
authd_client::scope!(ItemsWrite, "items:write");
authd_client::role!(Admin, "admin");
authd_client::step_up!(Mfa, acr = [authd_client::ACR_MFA]);
authd_client::step_up!(Recent, max_age = 60);

/// `items:write` and a multi-factor sign-in.
struct DeleteItems;

impl authd_client::Requirement for DeleteItems {
    const SCOPES: &'static [&'static str] = &["items:write"];
    const ACR_VALUES: &'static [&'static str] = &[authd_client::ACR_MFA];
}

const MFA_CHALLENGE: &str = r#"Bearer realm="items", error="insufficient_user_authentication", error_description="a stronger sign-in is required", acr_values="urn:authd:acr:mfa""#;
const RECENT_CHALLENGE: &str = r#"Bearer realm="items", error="insufficient_user_authentication", error_description="a more recent sign-in is required", max_age=60"#;

async fn read_items(caller: Require<ItemsRead>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": caller.username}))
}

async fn write_items(_: Require<ItemsWrite>) -> HttpResponse {
    HttpResponse::Created().finish()
}

async fn admin_only(_: Require<Admin>) -> HttpResponse {
    HttpResponse::Ok().finish()
}

async fn needs_mfa(caller: Require<Mfa>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"acr": caller.acr, "amr": caller.amr}))
}

async fn needs_recent(_: Require<Recent>) -> HttpResponse {
    HttpResponse::Ok().finish()
}

async fn delete_items(_: Require<DeleteItems>) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

async fn whoami(caller: Caller) -> HttpResponse {
    let actors: Vec<Value> = caller
        .actor
        .iter()
        .flat_map(|actor| actor.chain())
        .map(|actor| json!({"sub": actor.subject, "client_id": actor.client_id}))
        .collect();
    HttpResponse::Ok().json(json!({"sub": caller.subject, "actors": actors}))
}

/// Starts the resource server under test, guarding its routes with `client`; returns its URL.
fn resource_server(client: AuthdClient) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = web::Data::new(client);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(client.clone())
            .route("/items", web::get().to(read_items))
            .route("/items", web::post().to(write_items))
            .route("/admin-only", web::get().to(admin_only))
            .route("/mfa", web::get().to(needs_mfa))
            .route("/recent", web::get().to(needs_recent))
            .route("/items", web::delete().to(delete_items))
            .route("/whoami", web::get().to(whoami))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    url
}

fn active(scope: &str, roles: &[&str]) -> Value {
    json!({
        "active": true, "scope": scope, "client_id": "public", "username": "demo",
        "token_type": "Bearer", "exp": now() + 600, "iat": now(), "nbf": now(), "sub": "u1",
        "aud": ISSUER, "iss": ISSUER, "jti": "j1", "roles": roles
    })
}

/// Sends `method path` with an optional bearer token; returns status, challenge and JSON body.
async fn call(
    app: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>, Value) {
    let http = reqwest::Client::new();
    let mut request = match method {
        "POST" => http.post(format!("{app}{path}")),
        "DELETE" => http.delete(format!("{app}{path}")),
        _ => http.get(format!("{app}{path}")),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("resource server answers");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

fn introspect_config(url: &str) -> Config {
    Config::introspect(url, "items", SECRET.into())
        .issuer(ISSUER)
        .realm("items")
}

#[actix_web::test]
async fn introspect_mode_maps_every_outcome_to_rfc_6750() {
    // Arrange
    let (fake, url) = spawn_fake_authd();
    fake.answers
        .lock()
        .unwrap()
        .insert("reader".into(), active("items:read", &["demo"]));
    let app = resource_server(AuthdClient::new(introspect_config(&url)).unwrap());

    // Act + Assert: no token.
    let (status, challenge, body) = call(&app, "GET", "/items", None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="items""#));
    assert_eq!(body["error"], "invalid_request");

    // A token authd calls inactive.
    let (status, challenge, body) = call(&app, "GET", "/items", Some("junk")).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    assert_eq!(body["error"], "invalid_token");

    // A live token with the scope, without the other scope, without the role.
    let (status, _, body) = call(&app, "GET", "/items", Some("reader")).await;
    assert_eq!((status, body["user"].as_str()), (200, Some("demo")));
    let (status, challenge, body) = call(&app, "POST", "/items", Some("reader")).await;
    assert_eq!(status, 403);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="items:write""#), "{challenge}");
    assert_eq!(body["error"], "insufficient_scope");
    let (status, challenge, _) = call(&app, "GET", "/admin-only", Some("reader")).await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains(r#"error="insufficient_scope""#));
    let (status, _, body) = call(&app, "GET", "/whoami", Some("reader")).await;
    assert_eq!((status, body["sub"].as_str()), (200, Some("u1")));
}

#[actix_web::test]
async fn introspect_mode_reuses_answers_until_the_cache_ttl_then_sees_revocation() {
    // Arrange
    let (fake, url) = spawn_fake_authd();
    fake.answers
        .lock()
        .unwrap()
        .insert("t".into(), active("items:read", &[]));
    let config = introspect_config(&url).cache_ttl(Duration::from_millis(400));
    let app = resource_server(AuthdClient::new(config).unwrap());

    // Act
    for _ in 0..3 {
        assert_eq!(call(&app, "GET", "/items", Some("t")).await.0, 200);
    }
    fake.answers.lock().unwrap().remove("t"); // revoked at authd
    let within_ttl = call(&app, "GET", "/items", Some("t")).await.0;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let after_ttl = call(&app, "GET", "/items", Some("t")).await.0;

    // Assert
    assert_eq!(fake.introspections.load(Ordering::SeqCst), 2);
    assert_eq!(within_ttl, 200);
    assert_eq!(after_ttl, 401);
}

#[actix_web::test]
async fn an_unreachable_authd_is_a_503_and_rejected_credentials_a_500() {
    // Arrange: nothing listens on the first URL; the fake refuses the wrong secret.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (_fake, url) = spawn_fake_authd();
    let down = resource_server(AuthdClient::new(introspect_config(&closed_url)).unwrap());
    let wrong = Config::introspect(&url, "items", "wrong".into()).issuer(ISSUER);
    let wrong = resource_server(AuthdClient::new(wrong).unwrap());

    // Act
    let (down_status, down_challenge, down_body) = call(&down, "GET", "/items", Some("t")).await;
    let (wrong_status, _, wrong_body) = call(&wrong, "GET", "/items", Some("t")).await;

    // Assert
    assert_eq!(down_status, 503);
    assert_eq!(down_challenge, None);
    assert_eq!(down_body["error"], "temporarily_unavailable");
    assert_eq!(wrong_status, 500);
    assert_eq!(wrong_body["error"], "server_error");
}

fn claims(scope: &str) -> Value {
    json!({
        "iss": ISSUER, "sub": "u1", "aud": ISSUER, "exp": now() + 600, "iat": now(),
        "nbf": now(), "jti": "j1", "client_id": "public", "scope": scope,
        "username": "demo", "roles": ["demo"], "gen": 0
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[actix_web::test]
async fn local_mode_checks_signature_typ_iss_aud_exp_and_nbf() {
    // Arrange
    let (fake, url) = spawn_fake_authd();
    let key = TestKey::generate("k1");
    fake.jwks.lock().unwrap().push(key.jwk.clone());
    let app = resource_server(AuthdClient::new(Config::local(&url).issuer(ISSUER)).unwrap());
    let good = key.sign("at+jwt", &claims("items:read"));
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &claims("items:read"),
            &EncodingKey::from_secret(b"x"),
        )
        .unwrap()
    };

    // Act + Assert
    assert_eq!(call(&app, "GET", "/items", Some(&good)).await.0, 200);
    assert_eq!(call(&app, "POST", "/items", Some(&good)).await.0, 403);
    let refused = [
        ("id token typ", key.sign("JWT", &claims("items:read"))),
        (
            "other issuer",
            key.sign(
                "at+jwt",
                &with(claims("items:read"), "iss", json!("http://evil")),
            ),
        ),
        (
            "other audience",
            key.sign("at+jwt", &with(claims("items:read"), "aud", json!("other"))),
        ),
        (
            "expired",
            key.sign(
                "at+jwt",
                &with(claims("items:read"), "exp", json!(now() - 1)),
            ),
        ),
        (
            "not yet valid",
            key.sign(
                "at+jwt",
                &with(claims("items:read"), "nbf", json!(now() + 60)),
            ),
        ),
        (
            "living longer than a day",
            key.sign(
                "at+jwt",
                &with(claims("items:read"), "exp", json!(now() + 86_401)),
            ),
        ),
        ("algorithm switched to HS256", hs256),
        ("tampered", format!("{good}x")),
    ];
    for (case, token) in refused {
        let (status, challenge, _) = call(&app, "GET", "/items", Some(&token)).await;
        assert_eq!(status, 401, "{case}");
        assert!(challenge.unwrap().contains("invalid_token"), "{case}");
    }
    assert_eq!(fake.jwks_fetches.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn local_mode_refetches_the_jwks_for_an_unknown_kid_at_most_once_per_interval() {
    // Arrange
    let (fake, url) = spawn_fake_authd();
    let old = TestKey::generate("old");
    fake.jwks.lock().unwrap().push(old.jwk.clone());
    let config = Config::local(&url)
        .issuer(ISSUER)
        .jwks_refetch_interval(Duration::from_millis(300));
    let app = resource_server(AuthdClient::new(config).unwrap());
    assert_eq!(
        call(
            &app,
            "GET",
            "/items",
            Some(&old.sign("at+jwt", &claims("items:read")))
        )
        .await
        .0,
        200
    );

    // Act: authd rotates; a token signed by the new key arrives at once, then again later.
    let new = TestKey::generate("new");
    fake.jwks.lock().unwrap().push(new.jwk.clone());
    let token = new.sign("at+jwt", &claims("items:read"));
    let too_soon = call(&app, "GET", "/items", Some(&token)).await.0;
    let unknown = TestKey::generate("forged").sign("at+jwt", &claims("items:read"));
    let forged = call(&app, "GET", "/items", Some(&unknown)).await.0;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let later = call(&app, "GET", "/items", Some(&token)).await.0;

    // Assert
    assert_eq!(
        too_soon, 401,
        "within the interval the set is not fetched again"
    );
    assert_eq!(forged, 401);
    assert_eq!(later, 200);
    assert_eq!(fake.jwks_fetches.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn local_mode_refuses_a_key_withdrawn_from_the_jwks_once_the_set_is_refetched() {
    // Arrange
    let (fake, url) = spawn_fake_authd();
    let leaked = TestKey::generate("leaked");
    fake.jwks.lock().unwrap().push(leaked.jwk.clone());
    let config = Config::local(&url)
        .issuer(ISSUER)
        .jwks_max_age(Duration::from_millis(300))
        .jwks_refetch_interval(Duration::from_millis(100));
    let app = resource_server(AuthdClient::new(config).unwrap());
    let token = leaked.sign("at+jwt", &claims("items:read"));
    assert_eq!(call(&app, "GET", "/items", Some(&token)).await.0, 200);

    // Act: `authd keys revoke leaked` replaces it with a new key.
    *fake.jwks.lock().unwrap() = vec![TestKey::generate("new").jwk];
    tokio::time::sleep(Duration::from_millis(350)).await;

    // Assert
    assert_eq!(call(&app, "GET", "/items", Some(&token)).await.0, 401);
}

#[actix_web::test]
async fn local_mode_without_any_jwks_is_a_503() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = resource_server(AuthdClient::new(Config::local(&url)).unwrap());
    let (status, _, body) = call(&app, "GET", "/items", Some("a.b.c")).await;
    // A malformed token is refused before any fetch; a well-formed one needs the keys.
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    let token = TestKey::generate("k").sign("at+jwt", &claims("items:read"));
    let (status, _, body) = call(&app, "GET", "/items", Some(&token)).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
}

/// The step-up routes against tokens with `acr`/`auth_time` (`signed_in`: the claims to add),
/// in whichever mode `token_for` produces tokens for.
async fn assert_step_up(app: &str, token_for: impl Fn(&str, Value) -> String) {
    let mfa_now =
        json!({"acr": authd_client::ACR_MFA, "amr": ["pwd", "otp", "mfa"], "auth_time": now()});
    let pwd_now = json!({"acr": authd_client::ACR_PWD, "amr": ["pwd"], "auth_time": now()});
    let mfa_old =
        json!({"acr": authd_client::ACR_MFA, "amr": ["pop", "mfa"], "auth_time": now() - 61});

    // A password-only sign-in is refused with the RFC 9470 challenge, naming acr_values only.
    let (status, challenge, body) = call(
        app,
        "GET",
        "/mfa",
        Some(&token_for("items:read", pwd_now.clone())),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(MFA_CHALLENGE));
    assert_eq!(body["error"], "insufficient_user_authentication");
    assert_eq!(body["error_description"], "a stronger sign-in is required");
    // A client token has no sign-in at all: refused alike.
    let (status, challenge, _) = call(
        app,
        "GET",
        "/mfa",
        Some(&token_for("items:read", json!({}))),
    )
    .await;
    assert_eq!((status, challenge.as_deref()), (401, Some(MFA_CHALLENGE)));
    // A multi-factor sign-in passes, whatever its age when no max_age is asked.
    let (status, _, body) = call(
        app,
        "GET",
        "/mfa",
        Some(&token_for("items:read", mfa_old.clone())),
    )
    .await;
    assert_eq!((status, &body["acr"]), (200, &json!(authd_client::ACR_MFA)));
    assert_eq!(body["amr"], json!(["pop", "mfa"]));

    // max_age: a fresh sign-in passes, an old one or one of unknown age gets max_age only.
    let (status, _, _) = call(
        app,
        "GET",
        "/recent",
        Some(&token_for("items:read", pwd_now.clone())),
    )
    .await;
    assert_eq!(status, 200);
    for old in [mfa_old.clone(), json!({"acr": authd_client::ACR_MFA})] {
        let (status, challenge, _) =
            call(app, "GET", "/recent", Some(&token_for("items:read", old))).await;
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some(RECENT_CHALLENGE))
        );
    }

    // Scopes come first: stepping up would not help a token without items:write.
    let (status, challenge, _) = call(
        app,
        "DELETE",
        "/items",
        Some(&token_for("items:read", mfa_now.clone())),
    )
    .await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains(r#"scope="items:write""#));
    let (status, challenge, _) = call(
        app,
        "DELETE",
        "/items",
        Some(&token_for("items:write", pwd_now)),
    )
    .await;
    assert_eq!((status, challenge.as_deref()), (401, Some(MFA_CHALLENGE)));
    let (status, _, _) = call(
        app,
        "DELETE",
        "/items",
        Some(&token_for("items:write", mfa_now)),
    )
    .await;
    assert_eq!(status, 204);
}

fn merged(mut base: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

#[actix_web::test]
async fn introspect_mode_demands_a_stronger_or_more_recent_sign_in_with_rfc_9470() {
    let (fake, url) = spawn_fake_authd();
    let app = resource_server(AuthdClient::new(introspect_config(&url)).unwrap());
    let next = AtomicUsize::new(0);

    assert_step_up(&app, |scope, signed_in| {
        let token = format!("t{}", next.fetch_add(1, Ordering::SeqCst));
        let answer = merged(active(scope, &["demo"]), signed_in);
        fake.answers.lock().unwrap().insert(token.clone(), answer);
        token
    })
    .await;
}

#[actix_web::test]
async fn local_mode_demands_a_stronger_or_more_recent_sign_in_with_rfc_9470() {
    let (fake, url) = spawn_fake_authd();
    let key = TestKey::generate("k1");
    fake.jwks.lock().unwrap().push(key.jwk.clone());
    let app = resource_server(
        AuthdClient::new(Config::local(&url).issuer(ISSUER).realm("items")).unwrap(),
    );

    assert_step_up(&app, |scope, signed_in| {
        key.sign("at+jwt", &merged(claims(scope), signed_in))
    })
    .await;
}

/// `GET /whoami` shows the chain of actors of exchanged tokens (RFC 8693 `act`), in whichever
/// mode `token_for` (the claims to add to a user token) produces tokens for.
async fn assert_actor_chain(app: &str, token_for: impl Fn(Value) -> String) {
    let nested = json!({"act": {
        "sub": "items", "client_id": "items",
        "act": {"sub": "gateway", "client_id": "gateway"}
    }});
    let mut too_deep = json!({"sub": "a0"});
    for depth in 1..=authd_client::actor::MAX_ACTOR_DEPTH {
        too_deep = json!({"sub": format!("a{depth}"), "act": too_deep});
    }

    let (plain_status, _, plain) = call(app, "GET", "/whoami", Some(&token_for(json!({})))).await;
    let (status, _, delegated) = call(app, "GET", "/whoami", Some(&token_for(nested))).await;
    let (deep_status, challenge, _) = call(
        app,
        "GET",
        "/whoami",
        Some(&token_for(json!({"act": too_deep}))),
    )
    .await;

    assert_eq!((plain_status, &plain["actors"]), (200, &json!([])));
    assert_eq!(status, 200, "{delegated}");
    assert_eq!(delegated["sub"], "u1");
    assert_eq!(
        delegated["actors"],
        json!([
            {"sub": "items", "client_id": "items"},
            {"sub": "gateway", "client_id": "gateway"}
        ])
    );
    assert_eq!(deep_status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[actix_web::test]
async fn introspect_mode_shows_the_chain_of_actors() {
    let (fake, url) = spawn_fake_authd();
    let app = resource_server(AuthdClient::new(introspect_config(&url)).unwrap());
    let next = AtomicUsize::new(0);

    assert_actor_chain(&app, |act| {
        let token = format!("t{}", next.fetch_add(1, Ordering::SeqCst));
        let answer = merged(active("items:read", &["demo"]), act);
        fake.answers.lock().unwrap().insert(token.clone(), answer);
        token
    })
    .await;
}

#[actix_web::test]
async fn local_mode_shows_the_chain_of_actors() {
    let (fake, url) = spawn_fake_authd();
    let key = TestKey::generate("k1");
    fake.jwks.lock().unwrap().push(key.jwk.clone());
    let app = resource_server(
        AuthdClient::new(Config::local(&url).issuer(ISSUER).realm("items")).unwrap(),
    );

    assert_actor_chain(&app, |act| {
        key.sign("at+jwt", &merged(claims("items:read"), act))
    })
    .await;
}
