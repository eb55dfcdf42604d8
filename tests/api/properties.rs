//! Property tests of the parsers that read untrusted input: forms, client credentials, usernames,
//! scopes and tokens. None may panic, and each must keep the invariant the rest of authd relies on.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use authd::credentials::ClientCredentials;
use authd::domain::{MAX_USERNAME_CHARS, ScopeSet, Username};
use authd::inspection::looks_like_jwt;
use authd::routes::OAuthForm;
use authd::store::Store;
use authd::tokens::{KeyManager, TokenService, TokenSubject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use crate::helpers::{Backend, TestDatabase, test_settings};

const ISSUER: &str = "https://authd.test";

/// Percent-encodes every byte but ASCII letters and digits: valid form encoding of anything.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A token service on a fresh SQLite key table, built once; `verify` itself is synchronous.
fn token_service() -> &'static TokenService {
    static SERVICE: OnceLock<(tokio::runtime::Runtime, TestDatabase, TokenService)> =
        OnceLock::new();
    let (_, _, service) = SERVICE.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (database, service) = runtime.block_on(async {
            let database = TestDatabase::create(Backend::Sqlite).await;
            let settings = test_settings(&database);
            let store = Store::connect(&settings.database).await.unwrap();
            store.migrate().await.unwrap();
            let keys = Arc::new(KeyManager::start(store, &settings).await.unwrap());
            let service = TokenService::new(
                keys,
                ISSUER.to_owned(),
                ISSUER.to_owned(),
                300,
                0,
                "public".to_owned(),
            );
            (database, service)
        });
        (runtime, database, service)
    });
    service
}

fn genuine_token() -> String {
    let scope = ScopeSet::parse("items:read").unwrap();
    token_service()
        .issue(
            TokenSubject::Client,
            "svc",
            "",
            &scope,
            authd::clock::unix_now(),
        )
        .unwrap()
        .token
}

/// Characters whose case folding or compatibility mapping is known to be tricky.
fn username_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => proptest::sample::select(vec![
            'Ａ', 'ｚ', 'ﬁ', 'ﬀ', 'İ', 'ı', 'ẞ', 'ß', 'Σ', 'σ', 'ς', 'K', 'Å', 'Ω', 'ǅ', 'Ⅻ', '㎒',
            '\u{301}', '\u{307}', '\u{345}', 'ᄀ', 'ᅡ', '가', '½', '²', '.', '_', '-', '@', ' ',
            '\0', '\'', 'é', 'e', '\u{200b}', 'ﷺ', 'ῼ', 'ᾳ',
        ]),
        1 => any::<char>(),
    ]
}

fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn form_parsing_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = OAuthForm::from_body(&body);
    }

    #[test]
    fn form_parsing_never_panics_on_form_like_text(body in "[a-z_=&%+;0-9A-F\\x00-\\x20\u{80}-\u{10ffff}]{0,256}") {
        let _ = OAuthForm::from_body(body.as_bytes());
    }

    #[test]
    fn a_parsed_form_holds_each_parameter_once_with_its_value(
        pairs in proptest::collection::vec(
            (proptest::sample::select(vec!["grant_type", "username", "password", "scope", "token", "client_id"]), any::<String>()),
            0..8,
        )
    ) {
        let body = pairs
            .iter()
            .map(|(name, value)| format!("{name}={}", form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let mut present: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, value) in &pairs {
            if !value.is_empty() {
                present.entry(name).or_default().push(value);
            }
        }
        let repeated = present.values().any(|values| values.len() > 1);

        let parsed = OAuthForm::from_body(body.as_bytes());

        // RFC 6749 section 3.2: a repeated parameter is an error, never a silent choice.
        prop_assert_eq!(parsed.is_err(), repeated, "{}", body);
        if let Ok(form) = parsed {
            for (name, values) in &present {
                prop_assert_eq!(form.get(name), Some(values[0]));
            }
            for name in ["grant_type", "username", "password", "scope", "token", "client_id"] {
                if !present.contains_key(name) {
                    prop_assert_eq!(form.get(name), None);
                }
            }
        }
    }

    #[test]
    fn client_credential_extraction_never_panics(
        header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..256)),
        basic_payload in proptest::collection::vec(any::<u8>(), 0..128),
        body_id in proptest::option::of(any::<String>()),
        body_secret in proptest::option::of(any::<String>()),
    ) {
        let _ = ClientCredentials::extract(header.as_deref(), body_id.as_deref(), body_secret.as_deref());
        let basic = format!("Basic {}", STANDARD.encode(&basic_payload));
        let _ = ClientCredentials::extract(Some(basic.as_bytes()), None, None);
    }

    #[test]
    fn basic_credentials_round_trip_through_form_encoding(id in any::<String>(), secret in any::<String>()) {
        let raw = format!("{}:{}", form_encode(&id), form_encode(&secret));
        let header = format!("Basic {}", STANDARD.encode(raw));

        let extracted = ClientCredentials::extract(Some(header.as_bytes()), None, None);

        prop_assert_eq!(
            extracted.unwrap(),
            ClientCredentials::Basic { client_id: id, client_secret: secret }
        );
    }

    #[test]
    fn username_parsing_is_idempotent_and_bounded(
        raw in prop_oneof![
            proptest::collection::vec(username_char(), 0..80).prop_map(|c| c.into_iter().collect::<String>()),
            any::<String>(),
        ]
    ) {
        if let Ok(username) = Username::parse(&raw) {
            prop_assert!(username.as_str().chars().count() <= MAX_USERNAME_CHARS);
            prop_assert!(!username.as_str().is_empty());
            // The stored form must parse to itself, or a user could not log in by their own name.
            let again = Username::parse(username.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&username), "{:?}", raw);
        }
    }

    #[test]
    fn scope_sets_round_trip_through_their_string(
        tokens in proptest::collection::vec(scope_token(), 0..8),
        separators in proptest::collection::vec(" {1,3}", 8),
    ) {
        let mut raw = String::new();
        for (token, separator) in tokens.iter().zip(&separators) {
            raw.push_str(token);
            raw.push_str(separator);
        }

        let set = ScopeSet::parse(&raw).unwrap();

        prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set.clone());
        for token in &tokens {
            prop_assert!(set.contains(token));
        }
    }

    #[test]
    fn scope_parsing_of_arbitrary_text_round_trips_when_it_succeeds(raw in any::<String>()) {
        if let Ok(set) = ScopeSet::parse(&raw) {
            prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set);
        }
    }

    #[test]
    fn token_parsers_never_panic_and_never_accept_arbitrary_text(
        token in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_\\-]{0,64}\\.[A-Za-z0-9_\\-]{0,64}\\.[A-Za-z0-9_\\-]{0,64}",
            "[A-Za-z0-9_\\-\\.=+/ ]{0,200}",
        ]
    ) {
        let _ = looks_like_jwt(&token);
        let _ = jsonwebtoken::decode_header(&token);
        prop_assert!(token_service().verify(&token).is_err());
        prop_assert!(token_service().verify_ignoring_expiry(&token).is_err());
    }

    #[test]
    fn token_parsers_never_accept_well_formed_segments_of_arbitrary_json(
        header in proptest::collection::vec(any::<u8>(), 0..128),
        claims in proptest::collection::vec(any::<u8>(), 0..256),
        signature in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(signature)
        );
        let _ = jsonwebtoken::decode_header(&token);
        prop_assert!(token_service().verify(&token).is_err());
    }

    #[test]
    fn any_one_character_change_to_a_genuine_token_is_rejected(
        position in any::<proptest::sample::Index>(),
        replacement in proptest::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".chars().collect::<Vec<_>>()
        ),
    ) {
        let genuine = genuine_token();
        prop_assert!(token_service().verify(&genuine).is_ok());
        let index = position.index(genuine.len());
        let original = genuine.as_bytes()[index] as char;
        prop_assume!(original != replacement);
        let mut forged = genuine.clone();
        forged.replace_range(index..=index, &replacement.to_string());

        prop_assert!(token_service().verify(&forged).is_err(), "{} accepted", forged);
    }
}
