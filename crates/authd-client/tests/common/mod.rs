//! Shared by the test binaries: a small fake authd (a real HTTP server on port 0) and a signing
//! key as authd publishes it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "http://authd.test";
pub const SECRET: &str = "items-secret";

/// What the fake authd knows: introspection answers by token, and published keys.
#[derive(Default)]
pub struct FakeAuthd {
    pub answers: Mutex<HashMap<String, Value>>,
    pub jwks: Mutex<Vec<Value>>,
    pub introspections: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
}

pub async fn introspect(
    fake: web::Data<FakeAuthd>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    fake.introspections.fetch_add(1, Ordering::SeqCst);
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
    let answers = fake.answers.lock().unwrap();
    let answer = answers.get(&form["token"]).cloned();
    HttpResponse::Ok().json(answer.unwrap_or_else(|| json!({"active": false})))
}

pub async fn jwks(fake: web::Data<FakeAuthd>) -> HttpResponse {
    fake.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(json!({"keys": *fake.jwks.lock().unwrap()}))
}

/// Starts the fake authd; returns its state and base URL.
pub fn spawn_fake_authd() -> (web::Data<FakeAuthd>, String) {
    let fake = web::Data::new(FakeAuthd::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = fake.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/introspect", web::post().to(introspect))
            .route("/.well-known/jwks.json", web::get().to(jwks))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (fake, url)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An Ed25519 key as authd publishes it, and a way to sign tokens with it.
pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        TestKey {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": x}),
        }
    }

    pub fn sign(&self, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}
