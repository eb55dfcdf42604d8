//! The JWT attacks of RFC 8725: each forged, altered or mistyped token is inactive and gets 401.
//!
//! Tokens are forged with authd's real signing key where the attack needs a valid signature, so
//! that each test fails only on the property it names; `a_correctly_forged_token_is_active` proves
//! the forging itself is sound.

use std::sync::Arc;

use authd::config::{Settings, SigningAlgorithm};
use authd::tokens::{KeyManager, SigningKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

/// authd's own key and a user worth impersonating: what an attacker would like to have.
struct Forge {
    app: TestApp,
    key: Arc<SigningKey>,
    user_id: String,
}

impl Forge {
    async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    async fn with(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Self {
        let app = TestApp::spawn_with(backend, customize).await;
        app.add_role("operator", &["users:read"]).await;
        let user = app
            .add_user("mallory", "mallory password", &["operator"])
            .await;
        let key = KeyManager::start(app.store.clone(), &app.settings)
            .await
            .unwrap()
            .signing_key()
            .unwrap();
        Forge {
            app,
            key,
            user_id: user.id,
        }
    }

    /// The header authd itself would write.
    fn header(&self) -> Value {
        json!({"alg": alg_name(self.key.algorithm), "typ": "at+jwt", "kid": self.key.kid})
    }

    /// Claims exactly as authd would issue them to mallory, valid for five minutes.
    fn claims(&self) -> Value {
        let now = authd::clock::unix_now();
        json!({
            "iss": self.app.issuer(),
            "sub": self.user_id,
            "aud": self.app.issuer(),
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": "public",
            "scope": "users:read",
            "username": "mallory",
            "roles": ["operator"],
            "gen": 0,
        })
    }

    /// Signs `header` and `claims` with authd's real key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Signs the JSON texts as written (so they may hold what serde_json would never write).
    fn sign_raw(&self, header: &str, claims: &str) -> String {
        sign_with(header, claims, &self.key.encoding, self.key.algorithm)
    }

    /// A genuine token: authd's header, mallory's claims, authd's key.
    fn genuine(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }
}

fn alg_name(algorithm: Algorithm) -> String {
    format!("{algorithm:?}")
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_with(header: &str, claims: &str, key: &EncodingKey, algorithm: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, algorithm).unwrap();
    format!("{message}.{signature}")
}

/// The token's three segments, the first two decoded to JSON.
fn split(token: &str) -> (Value, Value, String) {
    let mut parts = token.split('.');
    let mut json_part = || {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    let header = json_part();
    let claims = json_part();
    (header, claims, parts.next().unwrap().to_owned())
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Asserts that introspection says exactly inactive and the admin API answers 401 invalid_token.
async fn assert_rejected(app: &TestApp, token: &str, attack: &str) {
    assert_eq!(
        app.introspect(token).await,
        json!({"active": false}),
        "introspection accepted {attack}"
    );
    let response = app
        .bearer(Method::GET, "/admin/users", Some(token), None)
        .await;
    assert_eq!(response.status(), 401, "the admin API accepted {attack}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{attack}: challenge {challenge:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{attack}: {body}");
}

/// Asserts that introspection says active and the admin API lets the token in.
async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    let introspection = app.introspect(token).await;
    assert_eq!(introspection["active"], true, "{what}: {introspection}");
    let response = app
        .bearer(Method::GET, "/admin/users", Some(token), None)
        .await;
    assert_eq!(response.status(), 200, "{what}");
}

async fn a_correctly_forged_token_is_active(backend: Backend) {
    let forge = Forge::new(backend).await;

    let token = forge.genuine();

    assert_accepted(&forge.app, &token, "a token forged with authd's key").await;
    assert_eq!(forge.app.introspect(&token).await["username"], "mallory");
}

async fn an_unsigned_alg_none_token_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let genuine = forge.genuine();
    let signature = genuine.rsplit('.').next().unwrap();
    let claims = b64(forge.claims().to_string());

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "typ": "at+jwt", "kid": forge.key.kid}).to_string());
        for token in [
            format!("{header}.{claims}."),
            format!("{header}.{claims}"),
            format!("{header}.{claims}.{signature}"),
        ] {
            assert_rejected(&forge.app, &token, &format!("alg {alg}: {token:.40}")).await;
        }
    }
}

async fn an_hs256_token_keyed_with_the_eddsa_public_key_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    assert_eq!(forge.key.algorithm, Algorithm::EdDSA);
    let jwk = forge.key.public_jwk.as_ref().unwrap();
    let raw = forge.key.decoding.try_get_as_bytes().unwrap().to_vec();
    assert_eq!(raw.len(), 32);
    let jwk_json = serde_json::to_string(jwk).unwrap();
    let x = serde_json::to_value(jwk).unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    // RFC 8410 SubjectPublicKeyInfo: the fixed Ed25519 prefix, then the raw key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(&raw);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the raw public key", raw),
        ("the JWK x", x.into_bytes()),
        ("the JWK JSON", jwk_json.into_bytes()),
        ("the SPKI DER", spki.clone()),
        ("the SPKI PEM", pem("PUBLIC KEY", &spki).into_bytes()),
    ];

    for (name, secret) in secrets {
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let header = json!({"alg": alg_name(alg), "typ": "at+jwt", "kid": forge.key.kid});
            let token = sign_with(
                &header.to_string(),
                &forge.claims().to_string(),
                &EncodingKey::from_secret(&secret),
                alg,
            );
            assert_rejected(&forge.app, &token, &format!("{alg:?} keyed with {name}")).await;
        }
    }
}

async fn an_hs256_token_keyed_with_the_rsa_public_key_is_rejected(backend: Backend) {
    let forge = Forge::with(backend, |s| s.tokens.algorithm = SigningAlgorithm::RS256).await;
    assert_eq!(forge.key.algorithm, Algorithm::RS256);
    assert_accepted(&forge.app, &forge.genuine(), "a genuine RS256 token").await;
    let pair = aws_lc_rs::rsa::KeyPair::from_der(forge.key.encoding.as_bytes()).unwrap();
    let pkcs1 = pair.public_key().as_ref().to_vec();
    let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
    let jwk_json = serde_json::to_string(forge.key.public_jwk.as_ref().unwrap()).unwrap();
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the PKCS#1 DER", pkcs1.clone()),
        ("the PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("the SPKI DER", spki.clone()),
        ("the SPKI PEM", pem("PUBLIC KEY", &spki).into_bytes()),
        ("the JWK JSON", jwk_json.into_bytes()),
    ];

    for (name, secret) in secrets {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": forge.key.kid});
        let token = sign_with(
            &header.to_string(),
            &forge.claims().to_string(),
            &EncodingKey::from_secret(&secret),
            Algorithm::HS256,
        );
        assert_rejected(&forge.app, &token, &format!("HS256 keyed with {name}")).await;
    }
}

async fn a_kid_that_does_not_exist_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let mut header = forge.header();
    header["kid"] = json!("no-such-key");
    let mut no_kid = forge.header();
    no_kid.as_object_mut().unwrap().remove("kid");

    for (attack, header) in [("an unknown kid", header), ("no kid", no_kid)] {
        let token = forge.sign(&header, &forge.claims());
        assert_rejected(&forge.app, &token, attack).await;
    }
}

async fn a_kid_with_path_traversal_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;

    for kid in [
        "../../etc/passwd",
        "../../../../../../dev/null",
        "/dev/null",
        "..\\..\\windows\\win.ini",
    ] {
        let mut header = forge.header();
        header["kid"] = json!(kid);
        let token = forge.sign(&header, &forge.claims());
        assert_rejected(&forge.app, &token, &format!("kid {kid}")).await;
    }
}

async fn a_kid_with_sql_is_rejected_and_harms_nothing(backend: Backend) {
    let forge = Forge::new(backend).await;
    let real = forge.key.kid.clone();

    for kid in [
        "' or 1=1 --".to_owned(),
        format!("{real}' or '1'='1"),
        format!("x'; delete from signing_keys; --{real}"),
        "\0".to_owned(),
    ] {
        let mut header = forge.header();
        header["kid"] = json!(kid);
        let token = forge.sign(&header, &forge.claims());
        assert_rejected(&forge.app, &token, &format!("kid {kid:?}")).await;
    }
    assert_accepted(&forge.app, &forge.genuine(), "a genuine token afterwards").await;
}

async fn jku_and_x5u_headers_pointing_elsewhere_do_not_choose_the_key(backend: Backend) {
    let forge = Forge::new(backend).await;
    let attacker = Ed25519KeyPair::generate().unwrap();
    let attacker_key = EncodingKey::from_ed_der(attacker.to_pkcs8v1().unwrap().as_ref());
    let attacker_jwk = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(attacker.public_key().as_ref()),
        "kid": forge.key.kid,
    });

    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", attacker_jwk.clone()),
    ] {
        let mut header = forge.header();
        header[name] = value;
        let token = sign_with(
            &header.to_string(),
            &forge.claims().to_string(),
            &attacker_key,
            Algorithm::EdDSA,
        );
        assert_rejected(
            &forge.app,
            &token,
            &format!("an attacker's key named by {name}"),
        )
        .await;
    }
}

async fn a_genuine_token_with_an_extra_jku_header_is_still_accepted(backend: Backend) {
    let forge = Forge::new(backend).await;
    let mut header = forge.header();
    header["jku"] = json!("https://attacker.example/jwks.json");
    header["x5u"] = json!("https://attacker.example/cert.pem");

    let token = forge.sign(&header, &forge.claims());

    // RFC 8725 section 3.10: the headers are ignored, not trusted and not fatal.
    assert_accepted(&forge.app, &token, "our signature with jku and x5u").await;
}

async fn an_expired_token_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let now = authd::clock::unix_now();
    let mut claims = forge.claims();
    claims["iat"] = json!(now - 1000);
    claims["nbf"] = json!(now - 1000);
    claims["exp"] = json!(now - 60);

    let token = forge.sign(&forge.header(), &claims);

    assert_rejected(&forge.app, &token, "an expired token").await;
}

async fn a_token_missing_its_time_claims_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;

    for claim in ["exp", "nbf"] {
        let mut claims = forge.claims();
        claims.as_object_mut().unwrap().remove(claim);
        let token = forge.sign(&forge.header(), &claims);
        assert_rejected(&forge.app, &token, &format!("a token without {claim}")).await;
    }
}

async fn a_token_that_is_not_yet_valid_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let now = authd::clock::unix_now();
    let mut claims = forge.claims();
    claims["nbf"] = json!(now + 600);
    claims["iat"] = json!(now + 600);
    claims["exp"] = json!(now + 900);

    let token = forge.sign(&forge.header(), &claims);

    assert_rejected(&forge.app, &token, "a token valid only in ten minutes").await;
}

async fn a_token_from_another_issuer_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let ours = forge.app.issuer();

    for iss in [
        json!("https://evil.example"),
        json!(format!("{ours}/")),
        json!(ours.to_uppercase()),
        json!(""),
        json!([ours]),
        Value::Null,
    ] {
        let mut claims = forge.claims();
        claims["iss"] = iss.clone();
        let token = forge.sign(&forge.header(), &claims);
        assert_rejected(&forge.app, &token, &format!("iss {iss}")).await;
    }
}

async fn a_token_for_another_audience_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;

    for aud in [
        json!("https://payments.example"),
        json!(""),
        json!(["https://payments.example"]),
        Value::Null,
    ] {
        let mut claims = forge.claims();
        claims["aud"] = aud.clone();
        let token = forge.sign(&forge.header(), &claims);
        assert_rejected(&forge.app, &token, &format!("aud {aud}")).await;
    }
}

async fn a_token_typed_as_anything_but_an_access_token_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;

    for typ in [
        Some(json!("JWT")),
        Some(json!("jwt")),
        Some(json!("id_token+jwt")),
        Some(json!("")),
        None,
    ] {
        let mut header = forge.header();
        match &typ {
            Some(value) => header["typ"] = value.clone(),
            None => {
                header.as_object_mut().unwrap().remove("typ");
            }
        }
        let token = forge.sign(&header, &forge.claims());
        assert_rejected(&forge.app, &token, &format!("typ {typ:?}")).await;
    }
}

async fn a_tampered_payload_with_the_original_signature_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let genuine = forge.genuine();
    let (_, claims, signature) = split(&genuine);
    let header = genuine.split('.').next().unwrap();
    assert_accepted(&forge.app, &genuine, "the untampered token").await;

    let mut more_scope = claims.clone();
    more_scope["scope"] = json!("users:read users:write clients:write");
    let mut longer_life = claims.clone();
    longer_life["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let mut other_user = claims.clone();
    other_user["username"] = json!("admin");

    for (attack, claims) in [
        ("a widened scope", more_scope),
        ("a later exp", longer_life),
        ("another username", other_user),
    ] {
        let token = format!("{header}.{}.{signature}", b64(claims.to_string()));
        assert_rejected(&forge.app, &token, attack).await;
    }
    // Flipping one signature bit is tampering too.
    let mut bytes = URL_SAFE_NO_PAD.decode(&signature).unwrap();
    bytes[0] ^= 1;
    let (message, _) = genuine.rsplit_once('.').unwrap();
    let token = format!("{message}.{}", b64(bytes));
    assert_rejected(&forge.app, &token, "a flipped signature bit").await;
}

async fn a_truncated_token_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let genuine = forge.genuine();
    let (message, _) = genuine.rsplit_once('.').unwrap();
    let first_dot = genuine.find('.').unwrap();

    for token in [
        &genuine[..genuine.len() - 1],
        &genuine[..genuine.len() - 10],
        &genuine[..message.len() + 1],
        message,
        &genuine[..first_dot + 1],
        &genuine[..first_dot],
        &genuine[first_dot..],
    ] {
        assert_rejected(&forge.app, token, &format!("truncated {token:.30}…")).await;
    }
}

async fn an_oversized_token_is_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let padded = |bytes: usize| {
        let mut claims = forge.claims();
        claims["pad"] = json!("x".repeat(bytes));
        forge.sign(&forge.header(), &claims)
    };
    let just_under = padded(5 * 1024);
    assert!(just_under.len() < 8 * 1024);
    assert_accepted(&forge.app, &just_under, "a 7 KiB token").await;

    let oversized = padded(7 * 1024);

    assert!(oversized.len() > 8 * 1024, "{}", oversized.len());
    assert_rejected(&forge.app, &oversized, "a token over 8 KiB").await;
}

async fn duplicate_json_keys_are_rejected(backend: Backend) {
    let forge = Forge::new(backend).await;
    let header = forge.header().to_string();
    let claims = forge.claims().to_string();
    let claims_body = claims.strip_suffix('}').unwrap();
    let header_body = header.strip_suffix('}').unwrap();

    for (attack, header, claims) in [
        (
            "two scope members",
            header.clone(),
            format!(r#"{claims_body},"scope":"users:read users:write"}}"#),
        ),
        (
            "two sub members",
            header.clone(),
            format!(r#"{claims_body},"sub":"someone-else"}}"#),
        ),
        (
            "two exp members",
            header.clone(),
            format!(r#"{claims_body},"exp":4102444800}}"#),
        ),
        (
            "two alg members in the header",
            format!(r#"{header_body},"alg":"HS256"}}"#),
            claims.clone(),
        ),
        (
            "two kid members in the header",
            format!(r#"{header_body},"kid":"other"}}"#),
            claims.clone(),
        ),
        (
            "two typ members in the header, ours last",
            format!(r#"{{"typ":"JWT",{}"#, &header[1..]),
            claims.clone(),
        ),
        (
            "two typ members in the header, ours first",
            format!(r#"{header_body},"typ":"JWT"}}"#),
            claims.clone(),
        ),
    ] {
        let token = forge.sign_raw(&header, &claims);
        assert_rejected(&forge.app, &token, attack).await;
    }
}

backend_tests!(
    a_correctly_forged_token_is_active,
    an_unsigned_alg_none_token_is_rejected,
    an_hs256_token_keyed_with_the_eddsa_public_key_is_rejected,
    an_hs256_token_keyed_with_the_rsa_public_key_is_rejected,
    a_kid_that_does_not_exist_is_rejected,
    a_kid_with_path_traversal_is_rejected,
    a_kid_with_sql_is_rejected_and_harms_nothing,
    jku_and_x5u_headers_pointing_elsewhere_do_not_choose_the_key,
    a_genuine_token_with_an_extra_jku_header_is_still_accepted,
    an_expired_token_is_rejected,
    a_token_missing_its_time_claims_is_rejected,
    a_token_that_is_not_yet_valid_is_rejected,
    a_token_from_another_issuer_is_rejected,
    a_token_for_another_audience_is_rejected,
    a_token_typed_as_anything_but_an_access_token_is_rejected,
    a_tampered_payload_with_the_original_signature_is_rejected,
    a_truncated_token_is_rejected,
    an_oversized_token_is_rejected,
    duplicate_json_keys_are_rejected,
);
