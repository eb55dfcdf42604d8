//! The introspection ceiling: a bare actix-web `POST /introspect` that does only what no
//! introspection can skip. It parses the form and the Basic header with authd's own parsers and
//! verifies the token against authd's published key with the validation authd applies (algorithm
//! pinned by the key, `iss`, `aud`, `exp`, `nbf`, no leeway). No store, no cache, no logging.
//!
//! Usage: `ceiling --bind ADDR --authd URL --issuer ISS [--audience AUD] [--workers N]`.
//! The keys come from `URL/.well-known/jwks.json` at start-up.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, post};
use authd::credentials::ClientCredentials;
use authd::routes::OAuthForm;
use authd::tokens::AccessClaims;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Serialize;

/// Keys by `kid`, each with the validation authd uses for it.
struct Verifier {
    keys: HashMap<String, (DecodingKey, Validation)>,
}

#[derive(Serialize)]
struct Answer<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

impl Verifier {
    fn verify(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let (key, validation) = self.keys.get(header.kid.as_deref()?)?;
        jsonwebtoken::decode::<AccessClaims>(token, key, validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[post("/introspect")]
async fn introspect(request: HttpRequest, body: Bytes, verifier: Data<Verifier>) -> HttpResponse {
    let Ok(form) = OAuthForm::from_body(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match ClientCredentials::extract(authorization, form.get("client_id"), None) {
        Ok(ClientCredentials::Basic { .. }) => {}
        _ => return HttpResponse::Unauthorized().finish(),
    }
    let claims = form.get("token").and_then(|t| verifier.verify(t));
    let answer = match &claims {
        Some(c) => Answer {
            active: true,
            sub: Some(&c.sub),
            scope: Some(&c.scope),
            exp: Some(c.exp),
        },
        None => Answer {
            active: false,
            sub: None,
            scope: None,
            exp: None,
        },
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer)
}

struct Args {
    bind: String,
    authd: String,
    issuer: String,
    audience: Option<String>,
    workers: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        bind: "127.0.0.1:8090".into(),
        authd: "http://127.0.0.1:8080".into(),
        issuer: String::new(),
        audience: None,
        workers: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => args.bind = value,
            "--authd" => args.authd = value,
            "--issuer" => args.issuer = value,
            "--audience" => args.audience = Some(value),
            "--workers" => args.workers = value.parse().expect("--workers is a number"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!args.issuer.is_empty(), "--issuer is required");
    args
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = parse_args();
    let audience = args.audience.clone().unwrap_or_else(|| args.issuer.clone());
    let url = format!("{}/.well-known/jwks.json", args.authd.trim_end_matches('/'));
    let jwks: JwkSet = reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(std::io::Error::other)?
        .json()
        .await
        .map_err(std::io::Error::other)?;
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        let (Some(kid), Some(alg)) = (&jwk.common.key_id, &jwk.common.key_algorithm) else {
            continue;
        };
        let algorithm = alg
            .to_string()
            .parse()
            .map_err(|_| std::io::Error::other(format!("unknown algorithm {alg:?}")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(std::io::Error::other)?;
        // The same checks as authd's TokenService::verify.
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.set_issuer(&[&args.issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        keys.insert(kid.clone(), (key, validation));
    }
    if keys.is_empty() {
        return Err(std::io::Error::other(format!("no usable key at {url}")));
    }
    eprintln!(
        "ceiling: {} key(s) from {url}, listening on {}",
        keys.len(),
        args.bind
    );
    let verifier = Data::from(Arc::new(Verifier { keys }));
    let mut server =
        HttpServer::new(move || App::new().app_data(verifier.clone()).service(introspect));
    if args.workers > 0 {
        server = server.workers(args.workers);
    }
    server.bind(&args.bind)?.run().await
}
