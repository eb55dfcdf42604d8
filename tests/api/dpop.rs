//! DPoP (RFC 9449): proofs at /token bind the tokens issued to the client's key, and authd's own
//! resources accept a bound token only with a proof from that key.
//!
//! Proofs are made here with RustCrypto (p256, ed25519-dalek, rsa) and assembled by hand as
//! compact JWS, and thumbprints are computed here too: nothing of authd's (nor jsonwebtoken,
//! which authd verifies with) takes part in making them.

use std::sync::OnceLock;

use authd::domain::GrantType;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};
use crate::signin_support::{Browser, ClientSpec, Pkce, REDIRECT, WebClient, add_web_client};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes
}

fn now() -> i64 {
    authd::clock::unix_now()
}

/// One RSA key for the whole binary: generating one takes a while.
fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap())
}

/// A client's DPoP key pair (token_exchange.rs makes proofs with it too).
pub(crate) enum ClientKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(&'static rsa::RsaPrivateKey),
}

impl ClientKey {
    pub(crate) fn es256() -> Self {
        ClientKey::Es256(p256::ecdsa::SigningKey::from_slice(&random_32()).unwrap())
    }

    fn eddsa() -> Self {
        ClientKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&random_32()))
    }

    fn rs256() -> Self {
        ClientKey::Rs256(rsa_key())
    }

    fn all() -> [Self; 3] {
        [Self::es256(), Self::eddsa(), Self::rs256()]
    }

    fn alg(&self) -> &'static str {
        match self {
            ClientKey::Es256(_) => "ES256",
            ClientKey::EdDsa(_) => "EdDSA",
            ClientKey::Rs256(_) => "RS256",
        }
    }

    /// RFC 7638: the required members in lexicographic order, without whitespace.
    fn canonical_jwk(&self) -> String {
        match self {
            ClientKey::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64(&bytes[1..33]),
                    b64(&bytes[33..65])
                )
            }
            ClientKey::EdDsa(key) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                b64(key.verifying_key().as_bytes())
            ),
            ClientKey::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    b64(&key.e().to_bytes_be()),
                    b64(&key.n().to_bytes_be())
                )
            }
        }
    }

    fn public_jwk(&self) -> Value {
        serde_json::from_str(&self.canonical_jwk()).unwrap()
    }

    pub(crate) fn thumbprint(&self) -> String {
        b64(&Sha256::digest(self.canonical_jwk().as_bytes()))
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            ClientKey::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            ClientKey::EdDsa(key) => {
                use ed25519_dalek::Signer;
                key.sign(input).to_bytes().to_vec()
            }
            ClientKey::Rs256(key) => {
                use rsa::signature::{SignatureEncoding, Signer};
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((*key).clone());
                signer.sign(input).to_vec()
            }
        }
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.public_jwk()})
    }

    /// Signs `header` and `claims` as they are.
    fn signed(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// A proof for `method url`, bound to `access_token` when given.
    pub(crate) fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.signed(&self.header(), &claims(method, url, access_token))
    }
}

/// The claims of a fresh proof.
fn claims(method: &str, url: &str, access_token: Option<&str>) -> Value {
    let mut claims = json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "htm": method,
        "htu": url,
        "iat": now(),
    });
    if let Some(token) = access_token {
        claims["ath"] = json!(ath(token));
    }
    claims
}

fn ath(token: &str) -> String {
    b64(&Sha256::digest(token.as_bytes()))
}

/// The payload of a JWT, unverified (the tests read what authd signed).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// POSTs `form` to /token with each of `proofs` as a `DPoP` header.
async fn token_request(app: &TestApp, form: &[(&str, &str)], proofs: &[&str]) -> reqwest::Response {
    let mut request = app.http.post(app.url("/token")).form(form);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.unwrap()
}

async fn password_grant(app: &TestApp, password: &str, proofs: &[&str]) -> reqwest::Response {
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", password),
    ];
    token_request(app, &form, proofs).await
}

/// GET (or any method) `path` with `Authorization: <scheme> <token>` and an optional proof.
async fn resource(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, app.url(path))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

async fn get_me(app: &TestApp, key: &ClientKey, token: &str) -> reqwest::Response {
    let proof = key.proof("GET", &app.url("/me"), Some(token));
    resource(
        app,
        reqwest::Method::GET,
        "/me",
        "DPoP",
        token,
        Some(&proof),
    )
    .await
}

/// Asserts a 401 with a `DPoP` challenge naming `error`.
async fn assert_dpop_challenge(response: reqwest::Response, error: &str) {
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(&format!(
            "DPoP algs=\"ES256 EdDSA RS256\", error=\"{error}\""
        )),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error);
}

/// A bound token (and refresh token) from the password grant of the built-in public client.
async fn bound_tokens(app: &TestApp, password: &str, key: &ClientKey) -> Value {
    let proof = key.proof("POST", &app.url("/token"), None);
    let response = password_grant(app, password, &[&proof]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn every_algorithm_binds_tokens_from_code_to_userinfo(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec {
            public: true,
            ..ClientSpec::third_party("mobile", &["openid", "profile", "items:read"])
        },
    )
    .await;
    for key in ClientKey::all() {
        let (tokens, jkt) = code_flow(&app, &client, &key, &[], password).await;
        assert_eq!(tokens["token_type"], "DPoP", "{}", key.alg());
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(jkt, key.thumbprint());
        assert_eq!(payload(access)["cnf"], json!({"jkt": key.thumbprint()}));

        let me = get_me(&app, &key, access).await;
        assert_eq!(me.status(), 200, "{}", key.alg());
        let proof = key.proof("GET", &app.url("/userinfo"), Some(access));
        let userinfo = resource(
            &app,
            reqwest::Method::GET,
            "/userinfo",
            "DPoP",
            access,
            Some(&proof),
        )
        .await;
        assert_eq!(userinfo.status(), 200, "{}", key.alg());
        let introspected = app.introspect(access).await;
        assert_eq!(introspected["active"], true);
        assert_eq!(introspected["token_type"], "DPoP");
        assert_eq!(introspected["cnf"], json!({"jkt": key.thumbprint()}));
    }
}

/// Runs the code flow (with `extra` /authorize parameters) and redeems the code with a proof
/// from `key`; returns the token response and the access token's `cnf.jkt`.
async fn code_flow(
    app: &TestApp,
    client: &WebClient,
    key: &ClientKey,
    extra: &[(&str, &str)],
    password: &str,
) -> (Value, String) {
    let browser = Browser::new();
    let pkce = Pkce::new();
    let mut params = vec![("scope", "openid profile items:read")];
    params.extend_from_slice(extra);
    let code = browser
        .code_with(app, client, &pkce, &params, password)
        .await;
    let proof = key.proof("POST", &app.url("/token"), None);
    let response = redeem(app, client, &code, &pkce, &[&proof]).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let jkt = payload(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (tokens, jkt)
}

async fn redeem(
    app: &TestApp,
    client: &WebClient,
    code: &str,
    pkce: &Pkce,
    proofs: &[&str],
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", pkce.verifier.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.id.as_str()),
    ];
    token_request(app, &form, proofs).await
}

async fn section_4_3_every_check_refuses_a_bad_proof_at_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let key = ClientKey::es256();
    let other = ClientKey::eddsa();
    let url = app.url("/token");
    let fresh = || claims("POST", &url, None);
    let with = |name: &str, value: Value| {
        let mut claims = fresh();
        claims[name] = value;
        key.signed(&key.header(), &claims)
    };
    let without = |name: &str| {
        let mut claims = fresh();
        claims.as_object_mut().unwrap().remove(name);
        key.signed(&key.header(), &claims)
    };
    let header_with = |name: &str, value: Value| {
        let mut header = key.header();
        header[name] = value;
        key.signed(&header, &fresh())
    };
    let mut private_jwk = key.public_jwk();
    private_jwk["d"] = json!(b64(&random_32()));
    let bad_signature = {
        let proof = key.proof("POST", &url, None);
        let (input, signature) = proof.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[5] ^= 1;
        format!("{input}.{}", b64(&bytes))
    };
    let unsigned = {
        let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk()});
        format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(fresh().to_string().as_bytes())
        )
    };
    let hmac = {
        let header =
            json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(fresh().to_string().as_bytes())
        );
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"secret"),
            input.as_bytes(),
        );
        format!("{input}.{}", b64(tag.as_ref()))
    };
    // Signed by `key`, naming `other`'s public key.
    let foreign_jwk = {
        let mut header = key.header();
        header["jwk"] = other.public_jwk();
        header["alg"] = json!("EdDSA");
        key.signed(&header, &fresh())
    };
    let other_port = {
        let mut parsed = reqwest::Url::parse(&url).unwrap();
        let port = parsed.port().unwrap();
        parsed.set_port(Some(port.wrapping_add(1).max(1))).unwrap();
        parsed.to_string()
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("wrong htm", vec![with("htm", json!("GET"))]),
        (
            "wrong htu path",
            vec![with("htu", json!(app.url("/revoke")))],
        ),
        ("wrong htu port", vec![with("htu", json!(other_port))]),
        (
            "wrong htu host",
            vec![with("htu", json!(url.replace("127.0.0.1", "localhost")))],
        ),
        (
            "wrong htu scheme",
            vec![with("htu", json!(url.replace("http:", "https:")))],
        ),
        ("stale iat", vec![with("iat", json!(now() - 120))]),
        ("future iat", vec![with("iat", json!(now() + 60))]),
        ("no iat", vec![without("iat")]),
        ("no jti", vec![without("jti")]),
        ("no htm", vec![without("htm")]),
        ("no htu", vec![without("htu")]),
        ("private key in jwk", vec![header_with("jwk", private_jwk)]),
        (
            "no jwk",
            vec![{
                let mut header = key.header();
                header.as_object_mut().unwrap().remove("jwk");
                key.signed(&header, &fresh())
            }],
        ),
        ("typ jwt", vec![header_with("typ", json!("JWT"))]),
        (
            "no typ",
            vec![{
                let mut header = key.header();
                header.as_object_mut().unwrap().remove("typ");
                key.signed(&header, &fresh())
            }],
        ),
        (
            "alg of another key type",
            vec![header_with("alg", json!("RS256"))],
        ),
        ("alg none", vec![unsigned]),
        ("alg HS256", vec![hmac]),
        ("bad signature", vec![bad_signature]),
        ("jwk of another key", vec![foreign_jwk]),
        ("not a JWT", vec!["not-a-jwt".to_owned()]),
        (
            "two DPoP headers",
            vec![key.proof("POST", &url, None), key.proof("POST", &url, None)],
        ),
    ];
    for (name, proofs) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let response = password_grant(&app, password, &proofs).await;
        assert_eq!(response.status(), 400, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{name}: {body}");
    }
    // An equivalent htu (RFC 3986 normalisation; query and fragment ignored) is the same URI.
    let equivalent = url.replace("http://", "HTTP://") + "?x=1#f";
    let response = password_grant(&app, password, &[&with("htu", json!(equivalent))]).await;
    assert_eq!(response.status(), 200);
}

async fn a_proof_is_accepted_once_at_token_even_across_instances(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let other_instance = app.another_instance().await;
    let key = ClientKey::es256();
    let proof = key.proof("POST", &app.url("/token"), None);
    assert_eq!(
        password_grant(&app, password, &[&proof]).await.status(),
        200
    );

    let replay = password_grant(&app, password, &[&proof]).await;
    assert_oauth_error(replay, 400, "invalid_dpop_proof").await;
    // The other instance has its own port: a proof for it, with a jti the first one saw.
    let mut replayed = claims("POST", &other_instance.url("/token"), None);
    let seen = payload(&proof)["jti"].clone();
    replayed["jti"] = seen;
    let replay = password_grant(
        &other_instance,
        password,
        &[&key.signed(&key.header(), &replayed)],
    )
    .await;
    assert_oauth_error(replay, 400, "invalid_dpop_proof").await;
}

async fn concurrent_requests_with_one_proof_get_one_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client(
            "svc",
            &[GrantType::ClientCredentials],
            &["items:read"],
            false,
        )
        .await
        .unwrap();
    let key = ClientKey::eddsa();
    let proof = key.proof("POST", &app.url("/token"), None);
    let attempts = (0..8).map(|_| {
        app.http
            .post(app.url("/token"))
            .basic_auth("svc", Some(&secret))
            .header("DPoP", &proof)
            .form(&[("grant_type", "client_credentials")])
            .send()
    });
    let mut issued = 0;
    for response in join_all(attempts).await {
        let response = response.unwrap();
        match response.status().as_u16() {
            200 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["token_type"], "DPoP");
                issued += 1;
            }
            400 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "invalid_dpop_proof");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(issued, 1, "exactly one request wins");
}

async fn section_7_1_protected_resources_check_bound_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let key = ClientKey::es256();
    let tokens = bound_tokens(&app, password, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let me = app.url("/me");
    let get = reqwest::Method::GET;

    // As a bearer token: refused, with a DPoP challenge.
    let as_bearer = resource(&app, get.clone(), "/me", "Bearer", access, None).await;
    assert_dpop_challenge(as_bearer, "invalid_token").await;
    let no_proof = resource(&app, get.clone(), "/me", "DPoP", access, None).await;
    assert_dpop_challenge(no_proof, "invalid_dpop_proof").await;
    let another_key = ClientKey::eddsa().proof("GET", &me, Some(access));
    let response = resource(&app, get.clone(), "/me", "DPoP", access, Some(&another_key)).await;
    assert_dpop_challenge(response, "invalid_dpop_proof").await;
    let no_ath = key.proof("GET", &me, None);
    let response = resource(&app, get.clone(), "/me", "DPoP", access, Some(&no_ath)).await;
    assert_dpop_challenge(response, "invalid_dpop_proof").await;
    let wrong_ath = key.proof("GET", &me, Some("another token"));
    let response = resource(&app, get.clone(), "/me", "DPoP", access, Some(&wrong_ath)).await;
    assert_dpop_challenge(response, "invalid_dpop_proof").await;
    let wrong_htm = key.proof("POST", &me, Some(access));
    let response = resource(&app, get.clone(), "/me", "DPoP", access, Some(&wrong_htm)).await;
    assert_dpop_challenge(response, "invalid_dpop_proof").await;
    let wrong_htu = key.proof("GET", &app.url("/userinfo"), Some(access));
    let response = resource(&app, get.clone(), "/me", "DPoP", access, Some(&wrong_htu)).await;
    assert_dpop_challenge(response, "invalid_dpop_proof").await;
    let mut stale_claims = claims("GET", &me, Some(access));
    stale_claims["iat"] = json!(now() - 300);
    let stale = key.signed(&key.header(), &stale_claims);
    let response = resource(&app, get.clone(), "/me", "DPoP", access, Some(&stale)).await;
    assert_dpop_challenge(response, "invalid_dpop_proof").await;

    // A good proof, once.
    let proof = key.proof("GET", &me, Some(access));
    let first = resource(&app, get.clone(), "/me", "DPoP", access, Some(&proof)).await;
    assert_eq!(first.status(), 200);
    let replay = resource(&app, get.clone(), "/me", "DPoP", access, Some(&proof)).await;
    assert_dpop_challenge(replay, "invalid_dpop_proof").await;
    // The scheme name is case-insensitive.
    let proof = key.proof("GET", &me, Some(access));
    let response = resource(&app, get.clone(), "/me", "dpop", access, Some(&proof)).await;
    assert_eq!(response.status(), 200);

    // An unbound token stays a bearer token.
    let unbound = app.password_token("alice", password).await;
    let unbound = unbound["access_token"].as_str().unwrap();
    assert_eq!(unbound.split('.').count(), 3);
    assert!(payload(unbound).get("cnf").is_none());
    let response = resource(&app, get.clone(), "/me", "Bearer", unbound, None).await;
    assert_eq!(response.status(), 200);
    let proof = key.proof("GET", &me, Some(unbound));
    let response = resource(&app, get.clone(), "/me", "DPoP", unbound, Some(&proof)).await;
    assert_dpop_challenge(response, "invalid_token").await;
    // Without any token, both schemes are offered.
    let anonymous = app.http.get(&me).send().await.unwrap();
    let challenges: Vec<&str> = anonymous
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges.contains(&"DPoP algs=\"ES256 EdDSA RS256\""),
        "{challenges:?}"
    );
}

async fn admin_routes_take_dpop_bound_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_role("admins", &authd::domain::ADMIN_SCOPES).await;
    app.add_user("alice", "admin password here", &["admins"])
        .await;
    let key = ClientKey::rs256();
    let tokens = bound_tokens(&app, "admin password here", &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &app.url("/admin/clients"), Some(access));
    let response = resource(
        &app,
        reqwest::Method::GET,
        "/admin/clients",
        "DPoP",
        access,
        Some(&proof),
    )
    .await;
    assert_eq!(response.status(), 200);
    let as_bearer = resource(
        &app,
        reqwest::Method::GET,
        "/admin/clients",
        "Bearer",
        access,
        None,
    )
    .await;
    assert_dpop_challenge(as_bearer, "invalid_token").await;
}

async fn a_public_clients_refresh_token_needs_a_proof_from_its_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let key = ClientKey::es256();
    let tokens = bound_tokens(&app, password, &key).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.introspect(refresh_token).await["cnf"],
        json!({"jkt": key.thumbprint()})
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let url = app.url("/token");

    let without = token_request(&app, &form, &[]).await;
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
    let other_key = ClientKey::eddsa().proof("POST", &url, None);
    let with_other = token_request(&app, &form, &[&other_key]).await;
    assert_oauth_error(with_other, 400, "invalid_grant").await;
    // Refused attempts did not spend the token.
    let proof = key.proof("POST", &url, None);
    let response = token_request(&app, &form, &[&proof]).await;
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "DPoP");
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["cnf"]["jkt"], key.thumbprint());
    // The family stays bound.
    let next = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            refreshed["refresh_token"].as_str().unwrap(),
        ),
    ];
    let without = token_request(&app, &next, &[]).await;
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
}

async fn a_retry_of_a_bound_refresh_needs_a_proof_from_its_key(backend: Backend) {
    // Refresh retries (refresh_retry.rs): the same successor, only for the family's key.
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let key = ClientKey::es256();
    let tokens = bound_tokens(&app, password, &key).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let url = app.url("/token");
    let first = token_request(&app, &form, &[&key.proof("POST", &url, None)]).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();

    let retried = token_request(&app, &form, &[&key.proof("POST", &url, None)]).await;
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["refresh_token"], first["refresh_token"]);
    assert_eq!(
        payload(retried["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );

    // Another key presenting the exchanged token is not the family's client: reuse.
    let other = ClientKey::eddsa().proof("POST", &url, None);
    assert_oauth_error(
        token_request(&app, &form, &[&other]).await,
        400,
        "invalid_grant",
    )
    .await;
    let successor = first["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(successor).await["active"], false);
}

async fn a_confidential_clients_refresh_token_is_not_bound(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let secret = app
        .add_client(
            "backend",
            &[GrantType::Password, GrantType::RefreshToken],
            &["items:read"],
            false,
        )
        .await
        .unwrap();
    let key = ClientKey::es256();
    let url = app.url("/token");
    let proof = key.proof("POST", &url, None);
    let issued = app
        .http
        .post(&url)
        .basic_auth("backend", Some(&secret))
        .header("DPoP", &proof)
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["token_type"], "DPoP");
    // Section 5: the client authenticates; its refresh token is not bound, and a refresh
    // without a proof gets a bearer token.
    let refreshed = app
        .post_form_basic(
            "/token",
            "backend",
            &secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", issued["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "Bearer");
    assert!(
        payload(refreshed["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

async fn section_10_a_code_sent_with_dpop_jkt_needs_that_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec::third_party("gallery", &["openid", "profile", "items:read"]),
    )
    .await;
    let key = ClientKey::es256();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let jkt = key.thumbprint();
    let code = browser
        .code_with(
            &app,
            &client,
            &pkce,
            &[("scope", "openid items:read"), ("dpop_jkt", jkt.as_str())],
            password,
        )
        .await;
    let exchange = |proofs: Vec<String>| {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let request = app
            .http
            .post(app.url("/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&form);
        let request = proofs
            .iter()
            .fold(request, |request, proof| request.header("DPoP", proof));
        request.send()
    };
    let url = app.url("/token");

    let without = exchange(vec![]).await.unwrap();
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
    let other = ClientKey::eddsa().proof("POST", &url, None);
    let with_other = exchange(vec![other]).await.unwrap();
    assert_oauth_error(with_other, 400, "invalid_grant").await;
    let response = exchange(vec![key.proof("POST", &url, None)]).await.unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(
        payload(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt
    );
    // A confidential client's refresh token is not bound (section 5).
    let refreshed = app
        .post_form_basic(
            "/token",
            &client.id,
            client.secret.as_deref().unwrap(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    // A dpop_jkt that is no thumbprint is refused at /authorize.
    let response = Browser::new()
        .authorize(
            &app,
            &client,
            &[
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("dpop_jkt", "short"),
            ],
        )
        .await;
    let to = crate::signin_support::location(&response);
    assert_eq!(
        crate::signin_support::param(&to, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn section_10_1_a_proof_sent_with_a_pushed_request_binds_its_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = add_web_client(
        &app,
        ClientSpec::third_party("gallery", &["openid", "items:read"]),
    )
    .await;
    let key = ClientKey::es256();
    let other = ClientKey::eddsa();
    let pkce = Pkce::new();
    let par_url = app.url("/par");
    let push = |proof: &str, dpop_jkt: Option<&str>| {
        let mut form = vec![
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid items:read"),
            ("state", "s-1"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(jkt) = dpop_jkt {
            form.push(("dpop_jkt", jkt));
        }
        app.http
            .post(&par_url)
            .basic_auth(&client.id, client.secret.as_deref())
            .header("DPoP", proof)
            .form(&form)
            .send()
    };

    // Both mechanisms at once must name the same key.
    let mismatch = push(
        &key.proof("POST", &par_url, None),
        Some(&other.thumbprint()),
    )
    .await
    .unwrap();
    assert_oauth_error(mismatch, 400, "invalid_dpop_proof").await;
    // A proof for another endpoint is refused, and a proof is spent by its push.
    let for_token = push(&key.proof("POST", &app.url("/token"), None), None)
        .await
        .unwrap();
    assert_oauth_error(for_token, 400, "invalid_dpop_proof").await;
    let proof = key.proof("POST", &par_url, None);
    let pushed = push(&proof, Some(&key.thumbprint())).await.unwrap();
    assert_eq!(pushed.status(), 201);
    let replayed = push(&proof, None).await.unwrap();
    assert_oauth_error(replayed, 400, "invalid_dpop_proof").await;
    let pushed: Value = push(&key.proof("POST", &par_url, None), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request_uri = pushed["request_uri"].as_str().unwrap();

    let browser = Browser::new();
    let url = reqwest::Url::parse_with_params(
        &app.url("/authorize"),
        &[
            ("client_id", client.id.as_str()),
            ("request_uri", request_uri),
        ],
    )
    .unwrap();
    let first = browser.get(url.as_str()).await;
    let answer = crate::par::finish_sign_in(&app, &browser, first, password).await;
    let code = crate::signin_support::param(&answer, "code").expect("a code");
    let token_url = app.url("/token");
    let exchange = |proof: Option<String>| {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let request = app
            .http
            .post(&token_url)
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&form);
        match proof {
            Some(proof) => request.header("DPoP", proof),
            None => request,
        }
        .send()
    };
    let without = exchange(None).await.unwrap();
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
    let with_other = exchange(Some(other.proof("POST", &token_url, None)))
        .await
        .unwrap();
    assert_oauth_error(with_other, 400, "invalid_grant").await;
    let response = exchange(Some(key.proof("POST", &token_url, None)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        payload(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
}

async fn a_client_that_requires_dpop_gets_no_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let created = app
        .bearer(
            reqwest::Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(&json!({
                "client_id": "strict",
                "grants": ["client_credentials"],
                "scopes": ["items:read"],
                "dpop_bound_access_tokens": true
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["dpop_bound_access_tokens"], true);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let form = [("grant_type", "client_credentials")];

    let without = app
        .post_form_basic("/token", "strict", &secret, &form)
        .await;
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
    let key = ClientKey::eddsa();
    let with = app
        .http
        .post(app.url("/token"))
        .basic_auth("strict", Some(&secret))
        .header("DPoP", key.proof("POST", &app.url("/token"), None))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(with.json::<Value>().await.unwrap()["token_type"], "DPoP");

    // PATCH lifts the requirement.
    let patched = app
        .bearer(
            reqwest::Method::PATCH,
            "/admin/clients/strict",
            Some(&admin),
            Some(&json!({"dpop_bound_access_tokens": false})),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let without = app
        .post_form_basic("/token", "strict", &secret, &form)
        .await;
    assert_eq!(without.status(), 200);
    assert_eq!(
        without.json::<Value>().await.unwrap()["token_type"],
        "Bearer"
    );
}

async fn section_8_server_nonces_are_required_when_configured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.dpop.require_nonce = true).await;
    let password = app.seed_alice().await;
    let other_instance = app.another_instance().await;
    let key = ClientKey::es256();
    let url = app.url("/token");

    let without = password_grant(&app, password, &[&key.proof("POST", &url, None)]).await;
    let nonce = without.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_oauth_error(without, 400, "use_dpop_nonce").await;
    let mut wrong = claims("POST", &url, None);
    wrong["nonce"] = json!("not-a-nonce");
    let response = password_grant(&app, password, &[&key.signed(&key.header(), &wrong)]).await;
    assert_oauth_error(response, 400, "use_dpop_nonce").await;

    let mut with_nonce = claims("POST", &url, None);
    with_nonce["nonce"] = json!(nonce);
    let response = password_grant(&app, password, &[&key.signed(&key.header(), &with_nonce)]).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("dpop-nonce"));
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    // Every instance accepts the nonce, with no state shared.
    let mut elsewhere = claims("POST", &other_instance.url("/token"), None);
    elsewhere["nonce"] = json!(nonce);
    let response = password_grant(
        &other_instance,
        password,
        &[&key.signed(&key.header(), &elsewhere)],
    )
    .await;
    assert_eq!(response.status(), 200);

    // Protected resources ask for it the same way, with 401.
    let response = get_me(&app, &key, access).await;
    assert_eq!(response.headers()["dpop-nonce"], nonce.as_str());
    assert_dpop_challenge(response, "use_dpop_nonce").await;
    let mut with_nonce = claims("GET", &app.url("/me"), Some(access));
    with_nonce["nonce"] = json!(nonce);
    let proof = key.signed(&key.header(), &with_nonce);
    let response = resource(
        &app,
        reqwest::Method::GET,
        "/me",
        "DPoP",
        access,
        Some(&proof),
    )
    .await;
    assert_eq!(response.status(), 200);
}

async fn discovery_names_the_proof_algorithms_and_the_janitor_forgets_old_proofs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata: Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["dpop_signing_alg_values_supported"],
            json!(["ES256", "EdDSA", "RS256"]),
            "{path}"
        );
    }
    let password = app.seed_alice().await;
    bound_tokens(&app, password, &ClientKey::es256()).await;
    let later = now() + 3600;
    let swept = app.store.sweep(later, 0, 0, 3600).await.unwrap();
    assert_eq!(swept.dpop_proofs, 1);
}

backend_tests!(
    every_algorithm_binds_tokens_from_code_to_userinfo,
    section_4_3_every_check_refuses_a_bad_proof_at_token,
    a_proof_is_accepted_once_at_token_even_across_instances,
    concurrent_requests_with_one_proof_get_one_token,
    section_7_1_protected_resources_check_bound_tokens,
    admin_routes_take_dpop_bound_tokens,
    a_public_clients_refresh_token_needs_a_proof_from_its_key,
    a_retry_of_a_bound_refresh_needs_a_proof_from_its_key,
    a_confidential_clients_refresh_token_is_not_bound,
    section_10_a_code_sent_with_dpop_jkt_needs_that_key,
    section_10_1_a_proof_sent_with_a_pushed_request_binds_its_code,
    a_client_that_requires_dpop_gets_no_bearer_token,
    section_8_server_nonces_are_required_when_configured,
    discovery_names_the_proof_algorithms_and_the_janitor_forgets_old_proofs,
);

/// `authd client add --require-dpop`, `authd client set --require-dpop`, `authd client list`.
#[test]
fn the_cli_requires_dpop_of_a_client_and_lifts_it() {
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
    let flags_of_svc = || {
        let list = authd(&["client", "list"]);
        assert!(list.status.success());
        let list = String::from_utf8(list.stdout).unwrap();
        let line = list
            .lines()
            .find(|line| line.starts_with("svc\t"))
            .unwrap()
            .to_owned();
        line.split('\t').nth(7).unwrap().to_owned()
    };
    let added = authd(&[
        "client",
        "add",
        "svc",
        "--grant",
        "client_credentials",
        "--require-dpop",
    ]);
    assert!(added.status.success(), "{added:?}");
    assert_eq!(flags_of_svc(), "require-dpop");

    let lifted = authd(&["client", "set", "svc", "--require-dpop", "false"]);
    assert!(lifted.status.success(), "{lifted:?}");
    assert_eq!(flags_of_svc(), "");
    let again = authd(&["client", "set", "svc", "--require-dpop", "true"]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(flags_of_svc(), "require-dpop");
    assert!(!authd(&["client", "set", "svc"]).status.success());
    assert!(
        !authd(&["client", "set", "nobody", "--require-dpop", "true"])
            .status
            .success()
    );
}
