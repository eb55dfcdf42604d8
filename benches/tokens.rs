//! Micro-benchmarks of authd's per-request costs: signing and verifying access tokens per
//! algorithm (through `TokenService`, exactly as the routes do), one argon2id hash at the OWASP
//! parameters on one thread, and introspection's in-process path (form parse, Basic header,
//! token verification) without HTTP or storage.
//!
//! Run with `cargo bench -p authd --bench tokens`; pass a filter to run a subset, for example
//! `cargo bench -p authd --bench tokens -- verify`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use authd::config::{DatabaseUrl, Settings, SigningAlgorithm};
use authd::credentials::ClientCredentials;
use authd::domain::ScopeSet;
use authd::routes::OAuthForm;
use authd::store::Store;
use authd::tokens::{Authentication, KeyManager, TokenService, TokenSubject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

const ISSUER: &str = "http://127.0.0.1:8080";
const ALGORITHMS: [SigningAlgorithm; 4] = [
    SigningAlgorithm::EdDSA,
    SigningAlgorithm::ES256,
    SigningAlgorithm::RS256,
    SigningAlgorithm::HS256,
];

/// A token service whose key lives in a throw-away SQLite file under `dir`.
fn token_service(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    algorithm: SigningAlgorithm,
) -> TokenService {
    let mut settings = Settings::default();
    let file = dir.join(format!("{algorithm:?}.db"));
    settings.database.url = DatabaseUrl::new(&format!("sqlite://{}", file.display()));
    settings.database.max_connections = 1;
    settings.tokens.algorithm = algorithm;
    settings.keys.encryption_key = Some(SecretString::from(STANDARD.encode([7u8; 32])));
    settings.tokens.hs256_secret = Some(SecretString::from("x".repeat(32)));
    let keys = runtime.block_on(async {
        let store = Store::connect(&settings.database)
            .await
            .expect("in-memory SQLite");
        store.migrate().await.expect("migrations apply");
        KeyManager::start(store, &settings)
            .await
            .expect("key manager starts")
    });
    TokenService::new(
        Arc::new(keys),
        ISSUER.to_owned(),
        ISSUER.to_owned(),
        3600,
        0,
        "public".to_owned(),
    )
}

/// A user token like the password grant issues.
fn issue(service: &TokenService, scope: &ScopeSet) -> String {
    let roles = ["admin".to_owned()];
    let now = chrono::Utc::now().timestamp();
    let subject = TokenSubject::User {
        id: "0a9ba1fc-a426-4f6c-9210-386862f321cb",
        username: "alice",
        roles: &roles,
        generation: 0,
        session: None,
        authentication: Some(Authentication {
            amr: "pwd",
            auth_time: now,
        }),
    };
    service
        .issue(subject, "public", "", scope, now)
        .expect("signing works")
        .token
}

fn tokens(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let scope = ScopeSet::parse("items:read items:write").expect("valid scopes");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut sign = c.benchmark_group("sign");
    let services: Vec<_> = ALGORITHMS
        .iter()
        .map(|&algorithm| (algorithm, token_service(&runtime, dir.path(), algorithm)))
        .collect();
    for (algorithm, service) in &services {
        sign.bench_function(format!("{algorithm:?}"), |b| {
            b.iter(|| issue(service, black_box(&scope)))
        });
    }
    sign.finish();
    let mut verify = c.benchmark_group("verify");
    for (algorithm, service) in &services {
        let token = issue(service, &scope);
        verify.bench_function(format!("{algorithm:?}"), |b| {
            b.iter(|| service.verify(black_box(&token)).expect("token is valid"))
        });
    }
    verify.finish();

    // What /introspect does in process before any cache or store is consulted.
    let (_, service) = &services[0];
    let body = format!("token={}", issue(service, &scope));
    let authorization = format!(
        "Basic {}",
        STANDARD.encode("svc:QK49Cr3cAYaAUgQ7rgD_rQyc6s8q5Z7JrYVTTPrSoqA")
    );
    c.bench_function("introspect_in_process/EdDSA", |b| {
        b.iter(|| {
            let form = OAuthForm::from_body(black_box(body.as_bytes())).expect("form parses");
            let credentials = ClientCredentials::extract(
                Some(authorization.as_bytes()),
                form.get("client_id"),
                form.get("client_secret"),
            )
            .expect("Basic header parses");
            let claims = service
                .verify(form.require("token").expect("token present"))
                .expect("token is valid");
            (credentials, claims)
        })
    });
}

fn argon2id(c: &mut Criterion) {
    // authd's defaults (OWASP): m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).expect("valid parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"sixteen byte salt").expect("valid salt");
    let mut group = c.benchmark_group("argon2id");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("hash_owasp_single_thread", |b| {
        b.iter(|| {
            argon2
                .hash_password(black_box(b"correct horse battery staple"), &salt)
                .expect("hashing works")
                .to_string()
        })
    });
    group.finish();
}

/// A second factor's check as `OneTimeCodeCheck` runs it, without storage: open the sealed
/// secret and compare the code against the three steps of drift; and a recovery code's hash.
fn second_factors(c: &mut Criterion) {
    use authd::mfa::recovery_codes::{generate_recovery_codes, recovery_code_hash};
    use authd::mfa::totp::{TotpSealer, TotpSecret, code_at_step, matching_step, step_at};

    let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"bench")
        .extract(b"a key encryption key");
    let sealer = TotpSealer::derive(&prk).expect("a sealing key");
    let sealed = sealer
        .seal(&TotpSecret::generate(), "user-id")
        .expect("sealing works");
    let now = authd::clock::unix_now();
    let mut group = c.benchmark_group("second_factor");
    group.bench_function("totp_open_and_check", |b| {
        b.iter(|| {
            let secret = sealer.open(black_box(&sealed), "user-id").expect("opens");
            // Every step of the window is computed whichever matches (constant time).
            let code = code_at_step(&secret, step_at(now) - 1);
            matching_step(&secret, &code, now).expect("matches")
        })
    });
    let (codes, _) = generate_recovery_codes();
    group.bench_function("recovery_code_hash", |b| {
        b.iter(|| recovery_code_hash(black_box(&codes[0])).expect("a code"))
    });
    group.finish();
}

criterion_group!(benches, tokens, argon2id, second_factors);
criterion_main!(benches);
