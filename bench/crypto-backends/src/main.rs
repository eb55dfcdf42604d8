//! Signs and verifies an access-token-sized JWT with each algorithm and prints operations per
//! second, on the jsonwebtoken backend the features select: `rust` if on, else `aws` (default).
//!
//! Keys are generated with `openssl genpkey` at start-up, so no private key lives in the
//! repository. Verification keys are built from the public JWK, as authd builds them.

// Without a backend only the stub `main` is compiled; the measuring code is then unused.
#![cfg_attr(
    not(any(feature = "aws", feature = "rust")),
    allow(dead_code, unused_imports)
)]

use std::process::Command;
use std::time::{Duration, Instant};

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

// `--features rust` on top of the default leaves both backends compiled in, and jsonwebtoken
// then picks none by itself: the provider is installed explicitly.
#[cfg(feature = "rust")]
fn backend() -> (&'static str, &'static CryptoProvider) {
    (
        "rust_crypto",
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    )
}
#[cfg(all(feature = "aws", not(feature = "rust")))]
fn backend() -> (&'static str, &'static CryptoProvider) {
    ("aws_lc_rs", &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER)
}

/// Shaped like authd's access-token claims, so payloads are the same size.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    client_id: String,
    scope: String,
    username: Option<String>,
    roles: Option<Vec<String>>,
    #[serde(rename = "gen")]
    generation: Option<i64>,
}

/// Built with `--no-default-features` and no backend: nothing to measure, but it compiles, so no
/// workspace-wide cargo command fails on this crate.
#[cfg(not(any(feature = "aws", feature = "rust")))]
fn main() {
    eprintln!("no jsonwebtoken backend: build with the `aws` (default) or `rust` feature");
    std::process::exit(2);
}

#[cfg(any(feature = "aws", feature = "rust"))]
fn main() {
    let (backend, provider) = backend();
    provider
        .install_default()
        .expect("the first provider installed in this process");
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("the argument is seconds per measurement"))
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let claims = Claims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "0a9ba1fc-a426-4f6c-9210-386862f321cb".into(),
        aud: "http://127.0.0.1:8080".into(),
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: "6f1c3c1e-5b7e-4a47-9d0f-3f1b2a9c8d7e".into(),
        client_id: "public".into(),
        scope: "items:read items:write".into(),
        username: Some("alice".into()),
        roles: Some(vec!["admin".into()]),
        generation: Some(0),
    };
    println!("backend\talgorithm\tsign_ops_per_s\tverify_ops_per_s");
    for algorithm in [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::HS256,
    ] {
        let (encoding, decoding) = keys(algorithm);
        let mut header = Header::new(algorithm);
        header.typ = Some("at+jwt".into());
        header.kid = Some("bench".into());
        let sign = || jsonwebtoken::encode(&header, &claims, &encoding).expect("signing works");
        let token = sign();
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.set_issuer(&[&claims.iss]);
        validation.set_audience(&[&claims.aud]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let verify = || {
            jsonwebtoken::decode::<Claims>(&token, &decoding, &validation)
                .expect("verification works")
        };
        let sign_rate = rate(budget, || drop(sign()));
        let verify_rate = rate(budget, || drop(verify()));
        println!("{backend}\t{algorithm:?}\t{sign_rate:.0}\t{verify_rate:.0}");
    }
}

/// Runs `op` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut op: impl FnMut()) -> f64 {
    // Warm-up, so lazily built tables and caches are not counted.
    for _ in 0..20 {
        op();
    }
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            op();
        }
        count += 16;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn keys(algorithm: Algorithm) -> (EncodingKey, DecodingKey) {
    if algorithm == Algorithm::HS256 {
        let secret = b"a benchmark secret of at least thirty-two bytes";
        return (
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
        );
    }
    let args: &[&str] = match algorithm {
        Algorithm::EdDSA => &["-algorithm", "ed25519"],
        Algorithm::ES256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        other => unreachable!("{other:?} is not benchmarked"),
    };
    let output = Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(output.status.success(), "openssl genpkey failed");
    let pem = output.stdout;
    let encoding = match algorithm {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .expect("openssl writes PKCS#8 PEM");
    let jwk = Jwk::from_encoding_key(&encoding, algorithm).expect("public JWK");
    let decoding = DecodingKey::from_jwk(&jwk).expect("key from JWK");
    (encoding, decoding)
}
