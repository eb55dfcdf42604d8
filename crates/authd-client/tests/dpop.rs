//! DPoP-bound tokens (RFC 9449) and resource audiences (RFC 8707) against the fake authd, in
//! both modes. Proofs are built here with RustCrypto signers and a hand-assembled compact JWS, so
//! nothing of the client (jsonwebtoken, aws-lc-rs) vouches for its own input.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use authd_client::{AuthdClient, Caller, Config, Require};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::sha2::{Digest, Sha256};
use serde_json::{Value, json};

mod common;
use common::{FakeAuthd, ISSUER, SECRET, TestKey, now, spawn_fake_authd};

authd_client::scope!(ItemsRead, "items:read");

/// The resource URI of the service under test, and the base of every `htu`.
const PUBLIC_URL: &str = "https://items.example.test";
const ITEMS_URL: &str = "https://items.example.test/items";

async fn read_items(caller: Require<ItemsRead>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"jkt": caller.dpop_jkt}))
}

async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(json!({"sub": caller.subject}))
}

/// Starts a resource server guarded by `client`; returns its (loopback) URL.
fn resource_server(client: AuthdClient) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = web::Data::new(client);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(client.clone())
            .route("/items", web::get().to(read_items))
            .route("/items", web::post().to(read_items))
            .route("/whoami", web::get().to(whoami))
    })
    // Two workers, so that concurrent requests really interleave.
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    url
}

fn random_b64(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).unwrap();
    URL_SAFE_NO_PAD.encode(buffer)
}

fn b64_sha256(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
}

/// A client's proof key, for one of the algorithms a resource server accepts.
enum ProofKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

impl ProofKey {
    fn generate(alg: &str) -> Self {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).unwrap();
        match alg {
            "ES256" => ProofKey::Es256(p256::ecdsa::SigningKey::from_slice(&seed).unwrap()),
            "EdDSA" => ProofKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed)),
            "RS256" => {
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
                ProofKey::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(key)))
            }
            other => panic!("no {other} keys here"),
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            ProofKey::Es256(_) => "ES256",
            ProofKey::EdDsa(_) => "EdDSA",
            ProofKey::Rs256(_) => "RS256",
        }
    }

    /// The public JWK, members in RFC 7638 order so that it doubles as the thumbprint input.
    fn public_jwk(&self) -> String {
        match self {
            ProofKey::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let (x, y) = point.as_bytes()[1..].split_at(32);
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    URL_SAFE_NO_PAD.encode(x),
                    URL_SAFE_NO_PAD.encode(y)
                )
            }
            ProofKey::EdDsa(key) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())
            ),
            ProofKey::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                let public = key.as_ref().as_ref().to_public_key();
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
                    URL_SAFE_NO_PAD.encode(public.n().to_bytes_be())
                )
            }
        }
    }

    /// The RFC 7638 thumbprint: SHA-256 of the required members, sorted, without whitespace.
    fn thumbprint(&self) -> String {
        b64_sha256(&self.public_jwk())
    }

    fn jwk_value(&self) -> Value {
        serde_json::from_str(&self.public_jwk()).unwrap()
    }

    /// A compact JWS of `header` and `claims`, signed with this key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            ProofKey::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
                signature.to_bytes().to_vec()
            }
            ProofKey::EdDsa(key) => {
                use ed25519_dalek::Signer;
                key.sign(input.as_bytes()).to_bytes().to_vec()
            }
            ProofKey::Rs256(key) => {
                use rsa::signature::{SignatureEncoding, Signer};
                key.sign(input.as_bytes()).to_vec()
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk_value()})
    }

    fn claims(&self, method: &str, url: &str, token: &str) -> Value {
        json!({
            "jti": random_b64(16), "htm": method, "htu": url, "iat": now(),
            "ath": b64_sha256(token)
        })
    }

    /// A fresh proof for `method url` with `token`.
    fn proof(&self, method: &str, url: &str, token: &str) -> String {
        self.sign(&self.header(), &self.claims(method, url, token))
    }
}

/// A resource server under test with tokens minted by the fake authd in either mode.
struct World {
    fake: web::Data<FakeAuthd>,
    signing_key: TestKey,
    mode: &'static str,
    app: String,
    next: AtomicUsize,
}

impl World {
    fn start(mode: &'static str, adjust: impl FnOnce(Config) -> Config) -> World {
        Self::build(mode, |config| adjust(config.public_url(PUBLIC_URL)))
    }

    fn start_without_public_url(mode: &'static str) -> World {
        Self::build(mode, |config| config)
    }

    fn build(mode: &'static str, adjust: impl FnOnce(Config) -> Config) -> World {
        let (fake, url) = spawn_fake_authd();
        let signing_key = TestKey::generate("k1");
        fake.jwks.lock().unwrap().push(signing_key.jwk.clone());
        let config = match mode {
            "introspect" => Config::introspect(&url, "items", SECRET.into()),
            _ => Config::local(&url),
        };
        let config = adjust(config.issuer(ISSUER).audience(PUBLIC_URL).realm("items"));
        let app = resource_server(AuthdClient::new(config).unwrap());
        World {
            fake,
            signing_key,
            mode,
            app,
            next: AtomicUsize::new(0),
        }
    }

    /// A token for `aud`, bound to `jkt` when given, as authd would issue it.
    fn token(&self, jkt: Option<&str>, aud: Value) -> String {
        let mut claims = json!({
            "iss": ISSUER, "sub": "u1", "aud": aud, "exp": now() + 600, "iat": now(),
            "nbf": now(), "jti": format!("j{}", self.next.fetch_add(1, Ordering::SeqCst)),
            "client_id": "public", "scope": "items:read", "username": "demo"
        });
        if let Some(jkt) = jkt {
            claims["cnf"] = json!({"jkt": jkt});
        }
        let token = self.signing_key.sign("at+jwt", &claims);
        if self.mode == "introspect" {
            let mut answer = claims;
            answer["active"] = json!(true);
            answer["token_type"] = json!(if jkt.is_some() { "DPoP" } else { "Bearer" });
            self.fake
                .answers
                .lock()
                .unwrap()
                .insert(token.clone(), answer);
        }
        token
    }

    fn bound_token(&self, key: &ProofKey) -> String {
        self.token(Some(&key.thumbprint()), json!(PUBLIC_URL))
    }

    /// Sends `method /items` (or `path`) with an Authorization value and DPoP headers.
    async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<String>,
        proofs: &[String],
    ) -> Reply {
        let http = reqwest::Client::new();
        let url = format!("{}{path}", self.app);
        let mut request = match method {
            "POST" => http.post(url),
            _ => http.get(url),
        };
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        for proof in proofs {
            request = request.header("dpop", proof);
        }
        let response = request.send().await.expect("resource server answers");
        Reply {
            status: response.status().as_u16(),
            challenge: response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: response.json().await.unwrap_or(Value::Null),
        }
    }

    async fn get_items(&self, token: &str, proof: &str) -> Reply {
        self.send(
            "GET",
            "/items",
            Some(format!("DPoP {token}")),
            &[proof.to_owned()],
        )
        .await
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

impl Reply {
    /// A 401 with `error` in the body and a `DPoP` challenge naming the algorithms.
    fn assert_dpop_refusal(&self, error: &str, case: &str) {
        assert_eq!(self.status, 401, "{case}: {self:?}");
        assert_eq!(self.body["error"], error, "{case}: {self:?}");
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with(&format!(r#"DPoP realm="items", error="{error}""#)),
            "{case}: {challenge}"
        );
        assert!(
            challenge.ends_with(r#"algs="ES256 EdDSA RS256""#),
            "{case}: {challenge}"
        );
    }
}

async fn accepts_a_bound_token_with_a_fresh_proof_for_each_algorithm(mode: &'static str) {
    let world = World::start(mode, |c| c);
    for alg in ["ES256", "EdDSA", "RS256"] {
        // Arrange
        let key = ProofKey::generate(alg);
        let token = world.bound_token(&key);

        // Act: two requests, each with its own proof; the URL is the public one, not the
        // loopback address the request went to.
        let first = world
            .get_items(&token, &key.proof("GET", ITEMS_URL, &token))
            .await;
        let second = world
            .send(
                "POST",
                "/items",
                Some(format!("dpop {token}")),
                &[key.proof("POST", ITEMS_URL, &token)],
            )
            .await;

        // Assert
        assert_eq!(first.status, 200, "{alg}: {first:?}");
        assert_eq!(first.body["jkt"], key.thumbprint(), "{alg}");
        assert_eq!(second.status, 200, "{alg}: {second:?}");
    }
}

async fn refuses_proofs_that_do_not_fit_the_request(mode: &'static str) {
    // Arrange
    let world = World::start(mode, |c| c);
    let key = ProofKey::generate("ES256");
    let token = world.bound_token(&key);
    let other_token = world.bound_token(&key);
    let other_key = ProofKey::generate("ES256");
    let claims = |edit: &dyn Fn(&mut Value)| {
        let mut claims = key.claims("GET", ITEMS_URL, &token);
        edit(&mut claims);
        claims
    };
    let with_header = |edit: &dyn Fn(&mut Value)| {
        let mut header = key.header();
        edit(&mut header);
        key.sign(&header, &key.claims("GET", ITEMS_URL, &token))
    };
    let local_url = format!("{}/items", world.app);
    let mut private_jwk = key.header();
    if let ProofKey::Es256(signing) = &key {
        private_jwk["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode(signing.to_bytes()));
    }
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "wrong htm",
            "another HTTP method",
            key.proof("POST", ITEMS_URL, &token),
        ),
        (
            "wrong htu",
            "another URL",
            key.proof("GET", "https://other.example.test/items", &token),
        ),
        (
            "htu of another path",
            "another URL",
            key.proof("GET", &format!("{PUBLIC_URL}/whoami"), &token),
        ),
        // The Host the request reached is not this service's public URL.
        (
            "htu from the Host header",
            "another URL",
            key.proof("GET", &local_url, &token),
        ),
        (
            "missing ath",
            "ath does not match",
            key.sign(
                &key.header(),
                &claims(&|c| {
                    c.as_object_mut().unwrap().remove("ath");
                }),
            ),
        ),
        (
            "ath of another token",
            "ath does not match",
            key.proof("GET", ITEMS_URL, &other_token),
        ),
        (
            "stale iat",
            "too old or from the future",
            key.sign(&key.header(), &claims(&|c| c["iat"] = json!(now() - 120))),
        ),
        (
            "iat from the future",
            "too old or from the future",
            key.sign(&key.header(), &claims(&|c| c["iat"] = json!(now() + 60))),
        ),
        (
            "missing jti",
            "lacks a required claim",
            key.sign(
                &key.header(),
                &claims(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
        ),
        (
            "typ JWT",
            "not typed dpop+jwt",
            with_header(&|h| h["typ"] = json!("JWT")),
        ),
        (
            "no jwk",
            "has no jwk",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
        ),
        (
            "private key in jwk",
            "holds a private key",
            key.sign(&private_jwk, &key.claims("GET", ITEMS_URL, &token)),
        ),
        (
            "unsupported alg ES384",
            "unsupported algorithm",
            with_header(&|h| h["alg"] = json!("ES384")),
        ),
        ("alg none", "unsupported algorithm", {
            let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk_value()});
            let claims = key.claims("GET", ITEMS_URL, &token);
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            )
        }),
        (
            "alg HS256",
            "unsupported algorithm",
            with_header(&|h| h["alg"] = json!("HS256")),
        ),
        (
            "another key",
            "signed by another key",
            other_key.proof("GET", ITEMS_URL, &token),
        ),
        (
            "the bound key's jwk, another key's signature",
            "signature is invalid",
            other_key.sign(&key.header(), &key.claims("GET", ITEMS_URL, &token)),
        ),
        (
            "tampered",
            "the DPoP proof is invalid",
            format!("{}x", key.proof("GET", ITEMS_URL, &token)),
        ),
        ("not a JWS", "not a compact JWS", "not-a-proof".to_owned()),
    ];

    for (case, why, proof) in cases {
        // Act
        let reply = world.get_items(&token, &proof).await;
        // Assert: refused, and for the reason the case is about.
        reply.assert_dpop_refusal("invalid_dpop_proof", case);
        let description = reply.body["error_description"].as_str().unwrap();
        assert!(description.contains(why), "{case}: {description}");
    }
    // The token itself still works with a good proof: none of the above used it up.
    let reply = world
        .get_items(&token, &key.proof("GET", ITEMS_URL, &token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

async fn refuses_missing_or_repeated_proof_headers_and_the_wrong_scheme(mode: &'static str) {
    // Arrange
    let world = World::start(mode, |c| c);
    let key = ProofKey::generate("EdDSA");
    let token = world.bound_token(&key);
    let unbound = world.token(None, json!(PUBLIC_URL));
    let dpop = Some(format!("DPoP {token}"));

    // Act + Assert: no proof, two proofs.
    world
        .send("GET", "/items", dpop.clone(), &[])
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "no DPoP header");
    let two = [
        key.proof("GET", ITEMS_URL, &token),
        key.proof("GET", ITEMS_URL, &token),
    ];
    world
        .send("GET", "/items", dpop.clone(), &two)
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "two DPoP headers");

    // RFC 9449 section 7.1: a bound token presented as a bearer token, even with a good proof.
    let reply = world
        .send(
            "GET",
            "/items",
            Some(format!("Bearer {token}")),
            &[key.proof("GET", ITEMS_URL, &token)],
        )
        .await;
    reply.assert_dpop_refusal("invalid_token", "bound token as Bearer");

    // An unbound token works as a bearer token exactly as before, not with the DPoP scheme.
    let reply = world
        .send("GET", "/items", Some(format!("Bearer {unbound}")), &[])
        .await;
    assert_eq!((reply.status, &reply.body["jkt"]), (200, &Value::Null));
    let reply = world
        .send(
            "GET",
            "/whoami",
            Some(format!("DPoP {unbound}")),
            &[key.proof("GET", &format!("{PUBLIC_URL}/whoami"), &unbound)],
        )
        .await;
    reply.assert_dpop_refusal("invalid_token", "unbound token as DPoP");

    // Without credentials, both schemes are offered.
    let reply = world.send("GET", "/items", None, &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.challenge.as_deref(), Some(r#"Bearer realm="items""#));
}

async fn refuses_a_replayed_proof_even_from_concurrent_requests(mode: &'static str) {
    // Arrange
    let world = World::start(mode, |c| c);
    let key = ProofKey::generate("ES256");
    let token = world.bound_token(&key);
    let proof = key.proof("GET", ITEMS_URL, &token);
    let replayed = key.proof("GET", ITEMS_URL, &token);
    assert_eq!(world.get_items(&token, &replayed).await.status, 200);

    // Act: the first proof used once afterwards; a fresh one sent eight times at once.
    let again = world.get_items(&token, &replayed).await;
    let replies =
        futures_util::future::join_all((0..8).map(|_| world.get_items(&token, &proof))).await;

    // Assert
    again.assert_dpop_refusal("invalid_dpop_proof", "replayed");
    assert_eq!(
        again.body["error_description"],
        "the DPoP proof was already used"
    );
    let accepted = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(accepted, 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_dpop_refusal("invalid_dpop_proof", "concurrent replay");
    }
}

async fn a_full_replay_record_refuses_new_proofs_with_503(mode: &'static str) {
    // Arrange: room for one proof.
    let world = World::start(mode, |c| c.dpop_replay_capacity(1));
    let key = ProofKey::generate("EdDSA");
    let token = world.bound_token(&key);

    // Act
    let first = world
        .get_items(&token, &key.proof("GET", ITEMS_URL, &token))
        .await;
    let second = world
        .get_items(&token, &key.proof("GET", ITEMS_URL, &token))
        .await;

    // Assert
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 503, "{second:?}");
    assert_eq!(second.body["error"], "temporarily_unavailable");
}

async fn without_a_public_url_bound_tokens_are_refused(mode: &'static str) {
    // Arrange: a service that does not know its own URL cannot check htu.
    let world = World::start_without_public_url(mode);
    let key = ProofKey::generate("ES256");
    let token = world.bound_token(&key);
    let unbound = world.token(None, json!(PUBLIC_URL));

    // Act
    let bound = world
        .get_items(&token, &key.proof("GET", ITEMS_URL, &token))
        .await;
    let bearer = world
        .send("GET", "/items", Some(format!("Bearer {unbound}")), &[])
        .await;

    // Assert
    assert_eq!(bound.status, 500, "{bound:?}");
    assert_eq!(bound.body["error"], "server_error");
    assert_eq!(bearer.status, 200);
}

async fn checks_the_audience_as_a_string_or_an_array(mode: &'static str) {
    // Arrange
    let world = World::start(mode, |c| c);
    let accepted = [
        json!(PUBLIC_URL),
        json!(["https://other.example.test", PUBLIC_URL]),
    ];
    let refused = [
        json!("https://other.example.test"),
        json!(["https://other.example.test", "https://third.example.test"]),
        json!([]),
        json!(ISSUER),
    ];

    for aud in accepted {
        // Act
        let token = world.token(None, aud.clone());
        let reply = world
            .send("GET", "/items", Some(format!("Bearer {token}")), &[])
            .await;
        // Assert
        assert_eq!(reply.status, 200, "{aud}: {reply:?}");
    }
    for aud in refused {
        let token = world.token(None, aud.clone());
        let reply = world
            .send("GET", "/items", Some(format!("Bearer {token}")), &[])
            .await;
        assert_eq!(reply.status, 401, "{aud}: {reply:?}");
        assert_eq!(reply.body["error"], "invalid_token", "{aud}");
    }
    // A bound token for several resources, one of them this service.
    let key = ProofKey::generate("RS256");
    let token = world.token(
        Some(&key.thumbprint()),
        json!([PUBLIC_URL, "https://other.example.test"]),
    );
    let reply = world
        .get_items(&token, &key.proof("GET", ITEMS_URL, &token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

macro_rules! both_modes {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(
                #[actix_web::test]
                async fn $test() {
                    super::$test("local").await;
                }
            )*
        }
        mod introspect {
            $(
                #[actix_web::test]
                async fn $test() {
                    super::$test("introspect").await;
                }
            )*
        }
    };
}

both_modes!(
    accepts_a_bound_token_with_a_fresh_proof_for_each_algorithm,
    refuses_proofs_that_do_not_fit_the_request,
    refuses_missing_or_repeated_proof_headers_and_the_wrong_scheme,
    refuses_a_replayed_proof_even_from_concurrent_requests,
    a_full_replay_record_refuses_new_proofs_with_503,
    without_a_public_url_bound_tokens_are_refused,
    checks_the_audience_as_a_string_or_an_array,
);
