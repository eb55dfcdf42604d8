//! The introspection ceiling: a bare actix-web `POST /introspect` that does only what no
//! introspection can skip. It parses the form and the Basic header with authd's own parsers and
//! verifies the token against authd's published key with the validation authd applies (algorithm
//! pinned by the key, `iss`, `aud`, `exp`, `nbf`, no leeway). No store, no cache, no logging.
//!
//! Usage: `ceiling --bind ADDR --authd URL --issuer ISS [--audience AUD] [--workers N]
//! [--cc-client ID --cc-secret SECRET --cc-scope "A B"]`.
//! The keys come from `URL/.well-known/jwks.json` at start-up.
//!
//! With `--cc-client`, it also serves the client_credentials ceiling (issue 16): a bare
//! `POST /token` that reads the Basic header with authd's parser, checks the secret against its
//! SHA-256 held in memory (as authd stores it), and signs an RFC 9068 access token with a fresh
//! Ed25519 key through authd's own token service. No store, no audit trail, no access log.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, post};
use authd::config::{DatabaseUrl, Settings};
use authd::credentials::{ClientCredentials, hash_secret, secret_hash_matches};
use authd::domain::ScopeSet;
use authd::routes::OAuthForm;
use authd::store::Store;
use authd::tokens::AccessClaims;
use authd::tokens::{KeyManager, TokenService, TokenSubject};
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

/// The client_credentials ceiling: one client, in memory.
struct Issuer {
    tokens: TokenService,
    client_id: String,
    secret_hash: String,
    scope: ScopeSet,
}

#[derive(Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

#[post("/token")]
async fn issue_token(request: HttpRequest, body: Bytes, issuer: Data<Issuer>) -> HttpResponse {
    let Ok(form) = OAuthForm::from_body(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    if form.get("grant_type") != Some("client_credentials") {
        return HttpResponse::BadRequest().finish();
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match ClientCredentials::extract(authorization, form.get("client_id"), None) {
        Ok(ClientCredentials::Basic {
            client_id,
            client_secret,
        }) if client_id == issuer.client_id
            && secret_hash_matches(&client_secret, &issuer.secret_hash) => {}
        _ => return HttpResponse::Unauthorized().finish(),
    }
    let now = authd::clock::unix_now();
    let Ok(issued) = issuer.tokens.issue(
        TokenSubject::Client,
        &issuer.client_id,
        "",
        &issuer.scope,
        now,
    ) else {
        return HttpResponse::InternalServerError().finish();
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenAnswer {
            access_token: &issued.token,
            token_type: "Bearer",
            expires_in: issuer.tokens.access_ttl(),
            scope: issuer.scope.to_string(),
        })
}

/// authd's token service over one fresh Ed25519 key held in memory (a SQLite store in a
/// temporary file only satisfies the key manager's constructor; no request touches it).
async fn client_credentials_issuer(args: &Args, audience: &str) -> std::io::Result<Option<Issuer>> {
    let (Some(client_id), Some(secret)) = (&args.cc_client, &args.cc_secret) else {
        return Ok(None);
    };
    let dir = std::env::temp_dir().join(format!("ceiling-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = Settings::default();
    settings.database.url = DatabaseUrl::new(&format!("sqlite://{}/keys.db", dir.display()));
    settings.tokens.issuer = Some(args.issuer.clone());
    settings.keys.encryption_key = Some(secrecy::SecretString::from(
        "Y2VpbGluZy1vbmx5LWtleS1lbmNyeXB0aW9uLWtleTE=".to_owned(),
    ));
    let store = Store::connect(&settings.database)
        .await
        .map_err(std::io::Error::other)?;
    store.migrate().await.map_err(std::io::Error::other)?;
    let keys = KeyManager::start(store, &settings)
        .await
        .map_err(std::io::Error::other)?;
    let tokens = TokenService::new(
        Arc::new(keys),
        args.issuer.clone(),
        audience.to_owned(),
        settings.tokens.access_ttl_secs,
        0,
        "public".to_owned(),
    );
    let scope = ScopeSet::parse(&args.cc_scope).map_err(std::io::Error::other)?;
    Ok(Some(Issuer {
        tokens,
        client_id: client_id.clone(),
        secret_hash: hash_secret(secret),
        scope,
    }))
}

struct Args {
    cc_client: Option<String>,
    cc_secret: Option<String>,
    cc_scope: String,
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
        cc_client: None,
        cc_secret: None,
        cc_scope: String::new(),
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
            "--cc-client" => args.cc_client = Some(value),
            "--cc-secret" => args.cc_secret = Some(value),
            "--cc-scope" => args.cc_scope = value,
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
    let issuer = client_credentials_issuer(&args, &audience)
        .await?
        .map(Data::new);
    let mut server = HttpServer::new(move || {
        let app = App::new().app_data(verifier.clone()).service(introspect);
        match &issuer {
            Some(issuer) => app.app_data(issuer.clone()).service(issue_token),
            None => app,
        }
    });
    if args.workers > 0 {
        server = server.workers(args.workers);
    }
    server.bind(&args.bind)?.run().await
}
