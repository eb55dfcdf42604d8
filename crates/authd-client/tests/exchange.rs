//! The token exchange helper against a fake authd `/token` (a real HTTP server on port 0): what
//! it sends, how it reuses its actor token, and how it reports refusals. The real grant is
//! exercised end to end by examples/items/tests/e2e.rs.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authd_client::exchange::{
    ACCESS_TOKEN_TYPE, ExchangeConfig, ExchangeError, ExchangeTarget, PresentedToken,
    TOKEN_EXCHANGE_GRANT, TokenExchanger,
};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const SECRET: &str = "items-secret";

/// What the fake `/token` saw, and what it answers next.
#[derive(Default)]
struct FakeToken {
    requests: Mutex<Vec<HashMap<String, String>>>,
    /// The answer to token exchanges (status, body); client_credentials always succeeds.
    exchange_answer: Mutex<Option<(u16, Value)>>,
    actor_ttl: Mutex<u64>,
}

async fn token(
    fake: web::Data<FakeToken>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("items:{SECRET}"))
    );
    if req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let form = form.into_inner();
    let mut requests = fake.requests.lock().unwrap();
    requests.push(form.clone());
    if form["grant_type"] == "client_credentials" {
        let issued = requests
            .iter()
            .filter(|r| r["grant_type"] == "client_credentials")
            .count();
        return HttpResponse::Ok().json(json!({
            "access_token": format!("actor-{issued}"), "token_type": "Bearer",
            "expires_in": *fake.actor_ttl.lock().unwrap()
        }));
    }
    let (status, body) = fake
        .exchange_answer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| {
            (
                200,
                json!({
                    "access_token": "exchanged", "issued_token_type": ACCESS_TOKEN_TYPE,
                    "token_type": "Bearer", "expires_in": 60, "scope": "prices:read"
                }),
            )
        });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

fn spawn_fake_token() -> (web::Data<FakeToken>, String) {
    let fake = web::Data::new(FakeToken::default());
    *fake.actor_ttl.lock().unwrap() = 600;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = fake.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/token", web::post().to(token))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (fake, url)
}

fn user_token() -> PresentedToken {
    PresentedToken::from(SecretString::from("user-token"))
}

fn prices() -> ExchangeTarget {
    ExchangeTarget::resource("http://prices.test").scope("prices:read")
}

#[actix_web::test]
async fn delegation_sends_the_subject_and_a_cached_actor_token() {
    // Arrange
    let (fake, url) = spawn_fake_token();
    let exchanger =
        TokenExchanger::new(ExchangeConfig::new(&url, "items", SECRET.into()).delegate()).unwrap();

    // Act
    let first = exchanger.exchange(&user_token(), &prices()).await.unwrap();
    let second = exchanger.exchange(&user_token(), &prices()).await.unwrap();

    // Assert
    assert_eq!(first.access_token().expose_secret(), "exchanged");
    assert_eq!(first.scope.as_deref(), Some("prices:read"));
    assert_eq!(second.expires_in, Some(60));
    let requests = fake.requests.lock().unwrap();
    let grants: Vec<&str> = requests.iter().map(|r| r["grant_type"].as_str()).collect();
    assert_eq!(
        grants,
        [
            "client_credentials",
            TOKEN_EXCHANGE_GRANT,
            TOKEN_EXCHANGE_GRANT
        ],
        "one actor token serves both exchanges"
    );
    let exchange = &requests[1];
    assert_eq!(exchange["subject_token"], "user-token");
    assert_eq!(exchange["subject_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(exchange["actor_token"], "actor-1");
    assert_eq!(exchange["actor_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(exchange["resource"], "http://prices.test");
    assert_eq!(exchange["scope"], "prices:read");
    assert!(!exchange.contains_key("audience"));
}

#[actix_web::test]
async fn an_actor_token_near_its_expiry_is_renewed() {
    // Arrange: actor tokens living 1 s are renewed once half of that is gone.
    let (fake, url) = spawn_fake_token();
    *fake.actor_ttl.lock().unwrap() = 1;
    let exchanger =
        TokenExchanger::new(ExchangeConfig::new(&url, "items", SECRET.into()).delegate()).unwrap();

    // Act
    exchanger.exchange(&user_token(), &prices()).await.unwrap();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(600)).await;
    exchanger.exchange(&user_token(), &prices()).await.unwrap();

    // Assert
    let requests = fake.requests.lock().unwrap();
    let actors: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.get("actor_token").map(String::as_str))
        .collect();
    assert_eq!(actors, ["actor-1", "actor-2"]);
}

#[actix_web::test]
async fn impersonation_sends_no_actor_token() {
    let (fake, url) = spawn_fake_token();
    let exchanger = TokenExchanger::new(ExchangeConfig::new(&url, "items", SECRET.into())).unwrap();

    exchanger
        .exchange(&user_token(), &ExchangeTarget::audience("prices"))
        .await
        .unwrap();

    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].contains_key("actor_token"));
    assert_eq!(requests[0]["audience"], "prices");
    assert!(!requests[0].contains_key("scope"));
}

#[actix_web::test]
async fn refusals_keep_authds_error_code_and_unusable_answers_are_unavailable() {
    // Arrange
    let (fake, url) = spawn_fake_token();
    let exchanger = TokenExchanger::new(ExchangeConfig::new(&url, "items", SECRET.into())).unwrap();
    let wrong_secret =
        TokenExchanger::new(ExchangeConfig::new(&url, "items", "wrong".into()).delegate()).unwrap();
    let unreachable = TokenExchanger::new(ExchangeConfig::new(
        "http://127.0.0.1:9",
        "items",
        SECRET.into(),
    ))
    .unwrap();
    let answers = [
        (
            400,
            json!({"error": "invalid_scope", "error_description": "not in the subject token"}),
        ),
        (
            200,
            json!({"access_token": "x", "issued_token_type": "urn:ietf:params:oauth:token-type:id_token", "token_type": "N_A"}),
        ),
        (200, json!({"token_type": "Bearer"})),
        (500, json!({"error": "server_error"})),
    ];

    // Act
    let mut outcomes = Vec::new();
    for answer in answers {
        *fake.exchange_answer.lock().unwrap() = Some(answer);
        outcomes.push(exchanger.exchange(&user_token(), &prices()).await);
    }
    let actor_refused = wrong_secret.exchange(&user_token(), &prices()).await;
    let down = unreachable.exchange(&user_token(), &prices()).await;

    // Assert
    match &outcomes[0] {
        Err(ExchangeError::Refused {
            status: 400,
            code,
            description,
        }) => {
            assert_eq!(code, "invalid_scope");
            assert_eq!(description.as_deref(), Some("not in the subject token"));
        }
        other => panic!("{other:?}"),
    }
    assert!(outcomes[0].as_ref().unwrap_err().is_subject_refused());
    for outcome in &outcomes[1..] {
        assert!(
            matches!(outcome, Err(ExchangeError::Unavailable(_))),
            "{outcome:?}"
        );
    }
    assert!(
        matches!(&actor_refused, Err(ExchangeError::ActorRefused { code, .. }) if code == "invalid_client"),
        "{actor_refused:?}"
    );
    assert!(
        matches!(down, Err(ExchangeError::Unavailable(_))),
        "{down:?}"
    );
}

#[actix_web::test]
async fn the_presented_token_is_read_from_the_authorization_header() {
    use actix_web::FromRequest;
    use actix_web::test::TestRequest;

    let request = TestRequest::default()
        .insert_header((header::AUTHORIZATION, "Bearer abc.def"))
        .to_http_request();
    let presented = PresentedToken::extract(&request).await.unwrap();
    assert_eq!(presented.secret().expose_secret(), "abc.def");
    assert!(!format!("{presented:?}").contains("abc.def"));

    let missing = PresentedToken::extract(&TestRequest::default().to_http_request()).await;
    assert_eq!(missing.unwrap_err().code(), "invalid_request");
}
