//! Ending a session (issue 12, "Logout"): Back-Channel Logout 1.0 delivery to a test receiver,
//! what ending a session revokes, and the races around it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use authd::domain::{Authority, BackchannelLogoutUri, BrowserChanges, ClientId};
use authd::store::Store;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};
use crate::signin_support::{
    Browser, ClientSpec, Pkce, REDIRECT, WebClient, add_web_client, csrf_of, json, user_named,
};

const SCOPES: &[&str] = &["items:read"];
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A poll interval that never comes round in a test: the instance never delivers.
const NEVER_MS: u64 = 3_600_000;

/// A relying party's back-channel endpoint: records every `logout_token`; answers 503 while down.
struct Receiver {
    uri: String,
    tokens: Arc<Mutex<Vec<String>>>,
    up: Arc<AtomicBool>,
}

#[derive(Clone)]
struct ReceiverState {
    tokens: Arc<Mutex<Vec<String>>>,
    up: Arc<AtomicBool>,
}

async fn receive(
    state: web::Data<ReceiverState>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if !state.up.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let token = form.get("logout_token").cloned().unwrap_or_default();
    state.tokens.lock().unwrap().push(token);
    HttpResponse::Ok().finish()
}

impl Receiver {
    async fn start(up: bool) -> Self {
        let state = ReceiverState {
            tokens: Arc::default(),
            up: Arc::new(AtomicBool::new(up)),
        };
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/backchannel", web::post().to(receive))
                // A redirect to the real endpoint, which must not be followed.
                .route(
                    "/moved",
                    web::post().to(|| async {
                        HttpResponse::TemporaryRedirect()
                            .insert_header(("location", "/backchannel"))
                            .finish()
                    }),
                )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            uri: format!("http://127.0.0.1:{port}/backchannel"),
            tokens: state.tokens,
            up: state.up,
        }
    }

    fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    /// Waits up to `secs` for `count` tokens.
    async fn wait_for(&self, count: usize, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.received().len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }
}

/// A URI where nothing listens (connection refused).
fn closed_port_uri() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/backchannel")
}

async fn set_backchannel_uri(app: &TestApp, client: &WebClient, uri: &str) {
    let id = ClientId::parse(&client.id).unwrap();
    let registration = app
        .store
        .find_client(&id)
        .await
        .unwrap()
        .unwrap()
        .registration;
    let changes = BrowserChanges {
        backchannel_logout_uri: Some(Some(BackchannelLogoutUri::parse(uri).unwrap())),
        ..BrowserChanges::default()
    };
    app.store
        .update_client_browser(&id, &registration, &changes, &Authority::Operator)
        .await
        .unwrap();
}

/// Alice, a client `rp` with a back-channel URI and a client `plain` without one.
async fn arrange(app: &TestApp, uri: &str) -> (String, WebClient, WebClient) {
    let password = app.seed_alice().await.to_owned();
    let rp = add_web_client(app, ClientSpec::third_party("rp", SCOPES)).await;
    let plain = add_web_client(app, ClientSpec::third_party("plain", SCOPES)).await;
    set_backchannel_uri(app, &rp, uri).await;
    (password, rp, plain)
}

/// Signs the browser in to `client` through the code flow; returns the token response.
async fn tokens_for(app: &TestApp, browser: &Browser, client: &WebClient, password: &str) -> Value {
    let pkce = Pkce::new();
    let code = browser
        .code_for(app, client, &pkce, "items:read", password)
        .await;
    let (status, body) = json(
        client
            .exchange(app, &code, Some(&pkce.verifier), Some(REDIRECT))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(app: &TestApp, client: &WebClient, token: &str) -> reqwest::Response {
    app.post_form_basic(
        "/token",
        &client.id,
        client.secret.as_deref().unwrap(),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// The handles of alice's live sessions.
async fn session_handles(app: &TestApp) -> Vec<String> {
    let alice = user_named(app, "alice").await;
    app.store
        .list_user_sessions(&alice.id, app.clock.now(), 3600)
        .await
        .unwrap()
        .into_iter()
        .map(|session| session.handle)
        .collect()
}

async fn end_sessions_by_admin(app: &TestApp, admin: &str) {
    let response = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/sessions",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
}

async fn sign_out_on_account_page(app: &TestApp, browser: &Browser) {
    let page = browser
        .get(&app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    let response = browser
        .post(&app.url("/account/signout"), &[("csrf", &csrf_of(&page))])
        .await;
    assert_eq!(response.status(), 200);
}

/// Verifies a logout token with authd's JWKS alone; returns its header `typ` and claims.
async fn verify_logout_token(app: &TestApp, token: &str, audience: &str) -> (String, Value) {
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
    let jwk = jwks
        .find(header.kid.as_deref().expect("a kid"))
        .expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.issuer()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the logout token verifies with the JWKS")
        .claims;
    (header.typ.unwrap_or_default(), claims)
}

/// Rows a query counts, on either backend.
async fn count(store: &Store, sql: &str, bind: &str) -> i64 {
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await,
    }
    .unwrap()
}

async fn execute(store: &Store, sql: &str, bind: &str) {
    match store {
        Store::Postgres(pool) => sqlx::query(sql).bind(bind).execute(pool).await.map(drop),
        Store::Sqlite(pool) => sqlx::query(sql).bind(bind).execute(pool).await.map(drop),
    }
    .unwrap();
}

fn fast_delivery(settings: &mut authd::config::Settings) {
    settings.logout.backchannel_poll_ms = 100;
    settings.logout.backchannel_retry_secs = 1;
    settings.logout.backchannel_retry_max_secs = 1;
}

async fn section_2_4_each_ending_sends_one_logout_token_verifiable_with_the_jwks(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let app = TestApp::spawn_with(backend, fast_delivery).await;
    let (password, rp, plain) = arrange(&app, &receiver.uri).await;
    let alice = user_named(&app, "alice").await;
    let admin = app.admin_token().await;

    for (round, ending) in ["admin API", "account sign-out"].into_iter().enumerate() {
        let browser = Browser::new();
        let rp_tokens = tokens_for(&app, &browser, &rp, &password).await;
        let plain_tokens = tokens_for(&app, &browser, &plain, &password).await;
        let handles = session_handles(&app).await;
        assert_eq!(handles.len(), 1, "one browser session signed into both");

        match ending {
            "admin API" => end_sessions_by_admin(&app, &admin).await,
            _ => sign_out_on_account_page(&app, &browser).await,
        }

        let received = receiver.wait_for(round + 1, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            receiver.received().len(),
            round + 1,
            "{ending}: exactly one"
        );
        let (typ, claims) = verify_logout_token(&app, &received[round], "rp").await;
        assert_eq!(typ, "logout+jwt");
        assert_eq!(claims["iss"], app.issuer());
        assert_eq!(claims["aud"], "rp");
        assert_eq!(claims["sub"], alice.id);
        assert_eq!(claims["sid"], handles[0]);
        assert_eq!(claims["events"], json!({ EVENT: {} }));
        assert!(claims.get("nonce").is_none());
        assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 120);
        assert!((iat - authd::clock::unix_now()).abs() < 30);

        // What ending the session revoked.
        assert!(session_handles(&app).await.is_empty());
        for (client, tokens) in [(&rp, &rp_tokens), (&plain, &plain_tokens)] {
            let refresh_token = tokens["refresh_token"].as_str().unwrap();
            assert_eq!(app.introspect(refresh_token).await["active"], false);
            assert_oauth_error(
                refresh(&app, client, refresh_token).await,
                400,
                "invalid_grant",
            )
            .await;
            // Access tokens carry `sid` once the code flow sets it (the id_token work does):
            // then they are inactive too.
            let access = tokens["access_token"].as_str().unwrap();
            let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(access)
                .unwrap()
                .claims;
            if claims.get("sid").is_some() {
                assert_eq!(app.introspect(access).await["active"], false);
            }
        }
        assert!(app.store.list_logout_deliveries().await.unwrap().is_empty());
    }
}

async fn a_client_that_is_down_gets_its_logout_token_after_a_retry_across_a_restart(
    backend: Backend,
) {
    let receiver = Receiver::start(false).await;
    // The first instance never delivers: its rows must survive it in the database.
    let app = TestApp::spawn_with(backend, |s| s.logout.backchannel_poll_ms = NEVER_MS).await;
    let (password, rp, _) = arrange(&app, &receiver.uri).await;
    let browser = Browser::new();
    tokens_for(&app, &browser, &rp, &password).await;
    end_sessions_by_admin(&app, &app.admin_token().await).await;
    assert_eq!(app.store.list_logout_deliveries().await.unwrap().len(), 1);

    let mut settings = app.settings.clone();
    fast_delivery(&mut settings);
    let restarted =
        TestApp::start_with_clock(settings, app.database.clone(), app.clock.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let queued = restarted.store.list_logout_deliveries().await.unwrap();
        if queued.first().is_some_and(|row| row.attempts >= 1) || Instant::now() > deadline {
            assert_eq!(queued.len(), 1);
            assert!(queued[0].attempts >= 1, "a failed attempt is retried");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.received().is_empty());

    receiver.up.store(true, Ordering::SeqCst);
    let received = receiver.wait_for(1, 10).await;
    assert_eq!(received.len(), 1);
    verify_logout_token(&restarted, &received[0], "rp").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        restarted
            .store
            .list_logout_deliveries()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(receiver.received().len(), 1, "delivered once");
}

async fn an_undeliverable_logout_token_is_given_up_with_an_audit_event_and_a_metric(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        fast_delivery(s);
        s.logout.backchannel_give_up_secs = 2;
    })
    .await;
    let (password, rp, _) = arrange(&app, &closed_port_uri()).await;
    let admin = app.admin_token().await;
    let browser = Browser::new();
    tokens_for(&app, &browser, &rp, &password).await;

    end_sessions_by_admin(&app, &admin).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    while !app.store.list_logout_deliveries().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wait = deadline.saturating_duration_since(Instant::now());
    let events = app
        .audit_rows(&admin, "backchannel_logout.given_up", wait, |rows| {
            !rows.is_empty()
        })
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["client_id"], "rp", "{events:?}");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let given_up = metrics
        .lines()
        .find_map(|line| line.strip_prefix("authd_backchannel_logout_total{outcome=\"given_up\"} "))
        .expect("the metric is exported");
    assert!(given_up.parse::<u64>().unwrap() >= 1, "{metrics}");
}

async fn a_redirecting_client_is_not_followed_but_retried(backend: Backend) {
    let receiver = Receiver::start(true).await;
    let app = TestApp::spawn_with(backend, fast_delivery).await;
    let moved = receiver.uri.replace("/backchannel", "/moved");
    let (password, rp, _) = arrange(&app, &moved).await;
    tokens_for(&app, &Browser::new(), &rp, &password).await;

    end_sessions_by_admin(&app, &app.admin_token().await).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let queued = app.store.list_logout_deliveries().await.unwrap();
        assert_eq!(queued.len(), 1, "a redirect is not a delivery");
        if queued[0].attempts >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.received().is_empty(), "the redirect was followed");
}

async fn password_change_disable_and_deletion_end_sessions_and_queue_deliveries(backend: Backend) {
    for action in ["password", "disable", "delete"] {
        let app = TestApp::spawn_with(backend, |s| s.logout.backchannel_poll_ms = NEVER_MS).await;
        let (password, rp, plain) = arrange(&app, "https://rp.example.test/backchannel").await;
        let alice = user_named(&app, "alice").await;
        let admin = app.admin_token().await;
        let browser = Browser::new();
        tokens_for(&app, &browser, &rp, &password).await;
        tokens_for(&app, &browser, &plain, &password).await;
        let handles = session_handles(&app).await;

        let response = match action {
            "password" => {
                let body = json!({"password": "a brand new password"});
                app.bearer(
                    Method::PATCH,
                    "/admin/users/alice",
                    Some(&admin),
                    Some(&body),
                )
                .await
            }
            "disable" => {
                let body = json!({"disabled": true});
                app.bearer(
                    Method::PATCH,
                    "/admin/users/alice",
                    Some(&admin),
                    Some(&body),
                )
                .await
            }
            _ => {
                app.bearer(Method::DELETE, "/admin/users/alice", Some(&admin), None)
                    .await
            }
        };
        assert!(response.status().is_success(), "{action}");

        let queued = app.store.list_logout_deliveries().await.unwrap();
        assert_eq!(queued.len(), 1, "{action}: only the client with a URI");
        assert_eq!(queued[0].client_id, "rp");
        assert_eq!(queued[0].user_id, alice.id);
        assert_eq!(queued[0].session_handle, handles[0]);
        assert_eq!(queued[0].uri, "https://rp.example.test/backchannel");
        let left = count(
            &app.store,
            "select count(*) from sessions where user_id = $1",
            &alice.id,
        )
        .await;
        assert_eq!(left, 0, "{action}: sessions ended");
    }
}

async fn a_sign_in_beyond_the_session_limit_ends_the_oldest_as_a_logout_does(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.logout.backchannel_poll_ms = NEVER_MS;
        s.sessions.max_per_user = 1;
    })
    .await;
    let (password, rp, _) = arrange(&app, "https://rp.example.test/backchannel").await;
    let first_browser = Browser::new();
    let first = tokens_for(&app, &first_browser, &rp, &password).await;
    let first_handle = session_handles(&app).await.remove(0);

    // Another browser signs in: the first session is the one too many.
    tokens_for(&app, &Browser::new(), &rp, &password).await;

    let handles = session_handles(&app).await;
    assert_eq!(handles.len(), 1);
    assert_ne!(handles[0], first_handle);
    let queued = app.store.list_logout_deliveries().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].session_handle, first_handle);
    let refresh_token = first["refresh_token"].as_str().unwrap();
    assert_oauth_error(
        refresh(&app, &rp, refresh_token).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn refresh_tokens_end_with_their_session_except_offline_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (password, rp, plain) = arrange(&app, "https://rp.example.test/backchannel").await;
    let admin = app.admin_token().await;
    let idle = app.settings.sessions.idle_secs as i64;

    // Ended: the session-bound family dies, the offline one lives on.
    let browser = Browser::new();
    let bound = tokens_for(&app, &browser, &rp, &password).await;
    let offline = tokens_for(&app, &browser, &plain, &password).await;
    // Until the lead's offline_access issuance lands, the family is marked offline by hand.
    execute(
        &app.store,
        "update refresh_families set offline = true where client_id = $1",
        "plain",
    )
    .await;
    end_sessions_by_admin(&app, &admin).await;
    let bound = bound["refresh_token"].as_str().unwrap();
    assert_oauth_error(refresh(&app, &rp, bound).await, 400, "invalid_grant").await;
    let (status, body) =
        json(refresh(&app, &plain, offline["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(status, 200, "an offline family survives logout: {body}");

    // In use, a refresh keeps its session alive past what would have been its idle timeout...
    let browser = Browser::new();
    let mut current = tokens_for(&app, &browser, &rp, &password).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        app.clock.advance(idle - 100);
        let (status, body) = json(refresh(&app, &rp, &current).await).await;
        assert_eq!(status, 200, "{body}");
        current = body["refresh_token"].as_str().unwrap().to_owned();
    }
    // ...and once the session idles out, the family ends with it.
    app.clock.advance(idle + 1);
    assert_eq!(app.introspect(&current).await["active"], false);
    assert_oauth_error(refresh(&app, &rp, &current).await, 400, "invalid_grant").await;
}

async fn concurrent_ends_of_one_session_queue_each_delivery_once(backend: Backend) {
    let app =
        Arc::new(TestApp::spawn_with(backend, |s| s.logout.backchannel_poll_ms = NEVER_MS).await);
    let (password, rp, _) = arrange(&app, "https://rp.example.test/backchannel").await;
    let admin = app.admin_token().await;
    const TRIALS: usize = 5;
    for _ in 0..TRIALS {
        let browser = Browser::new();
        tokens_for(&app, &browser, &rp, &password).await;
        let page = browser
            .get(&app.url("/account"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        // The admin API and the person's own sign-out, at once, twice each.
        let by_admin = || end_sessions_by_admin(&app, &admin);
        let sign_out = || async {
            let response = browser
                .post(&app.url("/account/signout"), &[("csrf", &csrf)])
                .await;
            assert!(response.status().is_success() || response.status().is_redirection());
        };
        tokio::join!(by_admin(), by_admin(), sign_out(), sign_out());
    }
    let queued = app.store.list_logout_deliveries().await.unwrap();
    let mut sessions: Vec<&str> = queued
        .iter()
        .map(|row| row.session_handle.as_str())
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(queued.len(), TRIALS, "{queued:?}");
    assert_eq!(sessions.len(), TRIALS, "one delivery per session");
}

async fn a_refresh_racing_a_logout_never_leaves_a_live_family_of_the_ended_session(
    backend: Backend,
) {
    let app =
        Arc::new(TestApp::spawn_with(backend, |s| s.logout.backchannel_poll_ms = NEVER_MS).await);
    let (password, rp, _) = arrange(&app, "https://rp.example.test/backchannel").await;
    let admin = app.admin_token().await;
    let rp = Arc::new(rp);
    for trial in 0..10u64 {
        let browser = Browser::new();
        let first = tokens_for(&app, &browser, &rp, &password).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let handle = session_handles(&app).await.remove(0);
        let (going, started) = tokio::sync::oneshot::channel::<()>();
        let thief = {
            let (app, rp) = (app.clone(), rp.clone());
            tokio::spawn(async move {
                let mut going = Some(going);
                let mut current = first;
                let mut successes = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    let response = refresh(&app, &rp, &current).await;
                    if response.status() != 200 {
                        break;
                    }
                    let body: Value = response.json().await.unwrap();
                    current = body["refresh_token"].as_str().unwrap().to_owned();
                    successes.push(begun);
                    if let Some(going) = going.take() {
                        let _ = going.send(());
                    }
                }
                (successes, current)
            })
        };
        let _ = started.await;
        tokio::time::sleep(Duration::from_millis(trial * 7 % 40)).await;
        end_sessions_by_admin(&app, &admin).await;
        let ended = Instant::now();
        let (successes, last) = thief.await.unwrap();

        assert!(
            successes.iter().all(|begun| *begun < ended),
            "trial {trial}: a refresh begun after the logout succeeded"
        );
        assert_oauth_error(refresh(&app, &rp, &last).await, 400, "invalid_grant").await;
        let live = count(
            &app.store,
            "select count(*) from refresh_families where session_handle = $1",
            &handle,
        )
        .await;
        assert_eq!(
            live, 0,
            "trial {trial}: a family of the ended session is left"
        );
    }
}

backend_tests!(
    section_2_4_each_ending_sends_one_logout_token_verifiable_with_the_jwks,
    a_client_that_is_down_gets_its_logout_token_after_a_retry_across_a_restart,
    an_undeliverable_logout_token_is_given_up_with_an_audit_event_and_a_metric,
    a_redirecting_client_is_not_followed_but_retried,
    password_change_disable_and_deletion_end_sessions_and_queue_deliveries,
    a_sign_in_beyond_the_session_limit_ends_the_oldest_as_a_logout_does,
    refresh_tokens_end_with_their_session_except_offline_ones,
    concurrent_ends_of_one_session_queue_each_delivery_once,
    a_refresh_racing_a_logout_never_leaves_a_live_family_of_the_ended_session,
);
