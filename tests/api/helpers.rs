//! Starts authd in-process on a fresh database (SQLite file or new Postgres database) per test.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authd::config::{DatabaseUrl, Settings};
use authd::credentials::{PasswordHasher, generate_secret, hash_secret};
use authd::domain::{ClientId, GrantType, NewPassword, RoleName, ScopeSet, Username};
use authd::startup::Application;
use authd::store::{NewClient, NewUser, Store, User};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// Environment variable with an admin URL of the PostgreSQL used for tests.
pub const POSTGRES_URL_ENV: &str = "TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the test PostgreSQL.
pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

impl Backend {
    /// Whether tests on this backend can run here. Postgres missing is fatal under CI=true.
    pub fn available(self) -> bool {
        if self == Backend::Sqlite {
            return true;
        }
        static REACHABLE: OnceLock<bool> = OnceLock::new();
        let reachable = *REACHABLE.get_or_init(|| {
            let options = PgConnectOptions::from_str(&postgres_admin_url())
                .expect("TEST_POSTGRES_URL is not a valid PostgreSQL URL");
            let target = format!("{}:{}", options.get_host(), options.get_port());
            target
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .is_some_and(|addr: SocketAddr| {
                    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
                })
        });
        if !reachable {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "PostgreSQL at {} is unreachable and CI=true",
                    postgres_admin_url()
                );
            }
            eprintln!(
                "SKIPPED: PostgreSQL at {} is unreachable; set {POSTGRES_URL_ENV} or start it",
                postgres_admin_url()
            );
        }
        reachable
    }
}

/// Runs each listed `async fn name(backend: Backend)` as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::Backend::Postgres.available() {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

/// A fresh database for one test.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty database on `backend`.
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join("authd.db");
                TestDatabase {
                    url: format!("sqlite://{}", path.display()),

                    name: path.display().to_string(),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
                let mut connection = PgConnection::connect(&admin)
                    .await
                    .expect("connecting to the test PostgreSQL");
                sqlx::query(&format!(r#"create database "{name}""#))
                    .execute(&mut connection)
                    .await
                    .expect("creating a test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDatabase {
                    url: format!("{base}/{name}"),

                    name,
                    _dir: None,
                }
            }
        }
    }

    /// Drops a Postgres test database out from under its users (an outage).
    pub async fn drop_postgres_database(&self) {
        let mut connection = PgConnection::connect(&postgres_admin_url()).await.unwrap();
        sqlx::query(&format!(
            r#"drop database if exists "{}" with (force)"#,
            self.name
        ))
        .execute(&mut connection)
        .await
        .expect("dropping the test database");
    }
}

impl Drop for TestDatabase {
    // Postgres test databases would pile up run after run; drop each when its test ends.
    fn drop(&mut self) {
        if self._dir.is_some() {
            return;
        }
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut connection) = PgConnection::connect(&postgres_admin_url()).await {
                    let sql = format!(r#"drop database if exists "{name}" with (force)"#);
                    let _ = sqlx::query(&sql).execute(&mut connection).await;
                }
            });
        })
        .join();
    }
}

/// The key-encryption key of test databases (base64 of 32 bytes).
pub const TEST_KEK: &str = "dGVzdC1vbmx5LWtleS1lbmNyeXB0aW9uLWtleS0zMmI=";

/// Settings for tests: cheap argon2, one worker, a fresh port, the given database.
pub fn test_settings(database: &TestDatabase) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = DatabaseUrl::new(&database.url);
    settings.database.max_connections = 5;
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.server.workers = 1;
    settings.server.shutdown_grace_secs = 1;
    // Tests send hundreds of concurrent requests from 127.0.0.1; edge.rs sets and tests the cap.
    settings.server.max_connections_per_address = 0;
    settings.passwords.memory_kib = 256;
    settings.passwords.iterations = 1;
    settings.keys.reload_interval_ms = 200;
    settings.keys.encryption_key = Some(SecretString::from(TEST_KEK.to_owned()));
    settings
}

/// A running authd and handles on what it uses.
pub struct TestApp {
    pub address: String,
    pub store: Store,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub database: Arc<TestDatabase>,
    pub hasher: PasswordHasher,
    introspector: tokio::sync::OnceCell<String>,
    /// The clock the browser flows read; instances started by `another_instance` share it.
    pub clock: authd::clock::Clock,
}

/// A confidential client with the `introspect` scope, for asking about tokens.
pub const INTROSPECTOR: &str = "introspector";

impl TestApp {
    /// Starts authd with test settings on `backend`.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts authd with test settings adjusted by `customize`.
    pub async fn spawn_with(backend: Backend, customize: impl FnOnce(&mut Settings)) -> TestApp {
        let database = TestDatabase::create(backend).await;
        let mut settings = test_settings(&database);
        customize(&mut settings);
        Self::start(settings, database).await
    }

    /// A second authd on the same database, as behind a load balancer.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// A second authd on the same database, with settings of its own.
    pub async fn another_instance_with(&self, customize: impl FnOnce(&mut Settings)) -> TestApp {
        let secret = self.introspector_secret().await;
        let mut settings = self.settings.clone();
        customize(&mut settings);
        let other =
            Self::start_with_clock(settings, self.database.clone(), self.clock.clone()).await;
        other.introspector.set(secret).expect("fresh instance");
        other
    }

    /// Starts authd with `settings` on `database` (which may be shared with other instances).
    pub async fn start(settings: Settings, database: impl Into<Arc<TestDatabase>>) -> TestApp {
        Self::start_with_clock(settings, database, authd::clock::Clock::default()).await
    }

    /// Like `start`, with a clock the test can advance.
    pub async fn start_with_clock(
        settings: Settings,
        database: impl Into<Arc<TestDatabase>>,
        clock: authd::clock::Clock,
    ) -> TestApp {
        let database = database.into();
        let store = Store::connect(&settings.database).await.unwrap();
        store.migrate().await.unwrap();
        let application = Application::build_with_clock(settings.clone(), store, clock.clone())
            .await
            .expect("building the application");
        let address = format!("http://127.0.0.1:{}", application.port());
        let store = Store::connect(&settings.database).await.unwrap();
        tokio::spawn(application.run_until_stopped());
        let hasher = PasswordHasher::new(&settings.passwords, 2).unwrap();
        TestApp {
            address,
            store,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            settings,
            database,
            hasher,
            introspector: tokio::sync::OnceCell::new(),
            clock,
        }
    }

    /// `{address}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The issuer the app uses.
    pub fn issuer(&self) -> String {
        self.settings
            .tokens
            .issuer
            .clone()
            .unwrap_or_else(|| self.address.clone())
    }

    /// POSTs a form to `path`.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("request failed")
    }

    /// POSTs a form to `path` with HTTP Basic client credentials.
    pub async fn post_form_basic(
        &self,
        path: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("request failed")
    }

    /// Creates (or replaces) a role.
    pub async fn add_role(&self, name: &str, scopes: &[&str]) {
        self.store
            .set_role(
                &RoleName::parse(name).unwrap(),
                &ScopeSet::from_tokens(scopes).unwrap(),
                false,
                authd::clock::unix_now(),
            )
            .await
            .unwrap();
    }

    /// Creates a user with `roles` (which must exist).
    pub async fn add_user(&self, username: &str, password: &str, roles: &[&str]) -> User {
        let password = NewPassword::parse(SecretString::from(password.to_owned())).unwrap();
        let new = NewUser {
            username: Username::parse(username).unwrap(),
            email: Some(format!("{username}@example.test")),
            full_name: None,
            disabled: false,
            password_hash: self.hasher.hash(password.secret()).await.unwrap(),
            roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
        };
        self.store
            .create_user(&new, authd::clock::unix_now())
            .await
            .unwrap()
    }

    /// Registers a client; returns its secret (None for public clients).
    pub async fn add_client(
        &self,
        client_id: &str,
        grants: &[GrantType],
        scopes: &[&str],
        public: bool,
    ) -> Option<String> {
        let secret = (!public).then(generate_secret);
        let new = NewClient {
            client_id: ClientId::parse(client_id).unwrap(),
            secret_hash: secret.as_deref().map(hash_secret),
            grants: grants.iter().copied().collect(),
            scopes: ScopeSet::from_tokens(scopes).unwrap(),
            browser: Default::default(),
        };
        self.store
            .create_client(&new, authd::clock::unix_now())
            .await
            .unwrap();
        secret
    }

    /// A user `alice` with role `reader` (`items:read items:write`); returns the password.
    pub async fn seed_alice(&self) -> &'static str {
        self.add_role("reader", &["items:read", "items:write"])
            .await;
        self.add_user("alice", "correct horse battery", &["reader"])
            .await;
        "correct horse battery"
    }

    /// Password grant through the built-in public client; returns the response JSON.
    pub async fn password_token(&self, username: &str, password: &str) -> Value {
        let response = self
            .post_form(
                "/token",
                &[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(response.status(), 200, "password grant failed");
        response.json().await.unwrap()
    }

    /// An access token of a fresh user whose one role grants exactly `scopes`.
    pub async fn token_with_scopes(&self, scopes: &[&str]) -> String {
        let name = format!("u{}", uuid::Uuid::new_v4().simple());
        self.add_role(&name, scopes).await;
        self.add_user(&name, "operator password", &[&name]).await;
        let body = self.password_token(&name, "operator password").await;
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// An access token holding every admin scope.
    pub async fn admin_token(&self) -> String {
        self.token_with_scopes(&authd::domain::ADMIN_SCOPES).await
    }

    /// Sends `method path` with a bearer token and an optional JSON body.
    pub async fn bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request failed")
    }

    /// The audit rows of `action` (newest first, at most 500), read as `auditor` until `enough`
    /// holds or `wait` has passed: audit events are written in batches, after the answer.
    pub async fn audit_rows(
        &self,
        auditor: &str,
        action: &str,
        wait: Duration,
        enough: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let started = std::time::Instant::now();
        loop {
            let page: Value = self
                .bearer(
                    reqwest::Method::GET,
                    &format!("/admin/audit?action={action}&limit=500"),
                    Some(auditor),
                    None,
                )
                .await
                .json()
                .await
                .unwrap();
            let rows = page["items"].as_array().unwrap().clone();
            if enough(&rows) || started.elapsed() > wait {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Registers the introspecting client on first use and returns its secret.
    pub async fn introspector_secret(&self) -> String {
        self.introspector
            .get_or_init(|| async {
                self.add_client(
                    INTROSPECTOR,
                    &[GrantType::ClientCredentials],
                    &["introspect"],
                    false,
                )
                .await
                .unwrap()
            })
            .await
            .clone()
    }

    /// Introspects `token` as the introspecting client.
    pub async fn introspect(&self, token: &str) -> Value {
        let secret = self.introspector_secret().await;
        let response = self
            .post_form_basic("/introspect", INTROSPECTOR, &secret, &[("token", token)])
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Asserts an RFC 6749 section 5.2 error: status and `error` code.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"], code, "unexpected error body {body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    body
}
