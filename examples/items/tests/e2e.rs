//! authd and items as real processes, walking the curl sequence of docs/src/sibling-services.md
//! over HTTP in both modes, on SQLite and on PostgreSQL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use totp_rs::Totp;

/// The admin URL of the test PostgreSQL (as in authd's own tests).
const POSTGRES_URL_ENV: &str = "TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The `iss` (and default `aud`) authd stamps and items expects.
const ISSUER: &str = "http://authd.e2e.test";
/// Key-encryption key for authd's signing keys (required on PostgreSQL); a test-only value.
const TEST_ENCRYPTION_KEY: &str = "ZTJlLXRlc3Qta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE=";
/// items' URL as its callers see it (`ITEMS_PUBLIC_URL`): DPoP proofs name it, not the loopback
/// address items listens on.
const ITEMS_PUBLIC_URL: &str = "http://items.e2e.test";
/// The resource URIs (RFC 8707) of items and prices: each accepts only tokens addressed to it.
const ITEMS_RESOURCE: &str = "http://items.e2e.test";
const PRICES_RESOURCE: &str = "http://prices.e2e.test";
/// Access token lifetime in these tests: short, so local mode's "valid until exp" is observable.
const ACCESS_TTL_SECS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

impl Backend {
    /// Whether this backend can run here; an unreachable Postgres is fatal under CI=true.
    fn available(self) -> bool {
        if self == Backend::Sqlite {
            return true;
        }
        static REACHABLE: OnceLock<bool> = OnceLock::new();
        let reachable = *REACHABLE.get_or_init(|| {
            let options: PgConnectOptions = postgres_admin_url()
                .parse()
                .expect("TEST_POSTGRES_URL is not a valid PostgreSQL URL");
            format!("{}:{}", options.get_host(), options.get_port())
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

/// A fresh database for one test: a SQLite file, or a new Postgres database dropped afterwards.
struct TestDatabase {
    url: String,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    async fn create(backend: Backend, dir: tempfile::TempDir) -> Self {
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.path().join("authd.db").display()),
                postgres_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("items_e2e_{}", uuid::Uuid::new_v4().simple());
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
                    postgres_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    // Test databases would pile up run after run; drop each when its test ends.
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
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

/// The authd binary of this workspace, built once if it is not there yet.
fn authd_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let binary = target
            .join("debug")
            .join(format!("authd{}", std::env::consts::EXE_SUFFIX));
        if !binary.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "authd", "--bin", "authd"])
                .current_dir(&workspace)
                .status()
                .expect("running cargo build -p authd");
            assert!(status.success(), "cargo build -p authd failed");
        }
        binary
    })
}

/// A child process, killed when dropped; its stderr is kept for failure messages.
struct Process {
    name: &'static str,
    child: std::process::Child,
    log: Arc<Mutex<String>>,
    address: String,
}

impl Process {
    /// Starts `command` and waits for its "listening on ADDR" log line.
    fn start(name: &'static str, mut command: Command) -> Process {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        // Keep draining stderr after the address shows up, so the child never blocks on a pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("listening on ") {
                    let address = rest.trim_start_matches("http://");
                    let address = address.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(format!("http://{address}"));
                }
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let address = match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!("{name} did not start:\n{}", log.lock().unwrap());
            }
        };
        Process {
            name,
            child,
            log,
            address,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log.lock().unwrap());
        }
    }
}

/// authd's CLI and server on one database.
struct Authd {
    database: TestDatabase,
}

impl Authd {
    fn command(&self) -> Command {
        let mut command = Command::new(authd_binary());
        command
            .env("AUTHD_DATABASE__URL", &self.database.url)
            .env("AUTHD_SERVER__BIND", "127.0.0.1:0")
            .env("AUTHD_SERVER__WORKERS", "1")
            .env("AUTHD_TOKENS__ISSUER", ISSUER)
            .env("AUTHD_TOKENS__ACCESS_TTL_SECS", ACCESS_TTL_SECS.to_string())
            .env("AUTHD_KEYS__ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
            // Cheap argon2: these tests are about the sibling service, not about hashing.
            .env("AUTHD_PASSWORDS__MEMORY_KIB", "256")
            .env("AUTHD_PASSWORDS__ITERATIONS", "1")
            .env("RUST_LOG", "warn");
        command
    }

    /// Runs `authd ARGS` with `stdin`; returns stdout, panicking on failure.
    fn cli(&self, args: &[&str], stdin: &str) -> String {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running the authd CLI");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "authd {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The seeding of docs/src/sibling-services.md: roles, users and the items client; returns the
    /// client's secret.
    fn seed(&self) -> String {
        self.cli(&["role", "set", "demo", "items:read"], "");
        self.cli(&["role", "set", "admin", "items:read", "items:write"], "");
        self.cli(
            &["user", "add", "demo", "--role", "demo"],
            "demo-password-1\n",
        );
        self.cli(
            &["user", "add", "admin", "--role", "admin"],
            "admin-password-1\n",
        );
        self.cli(
            &[
                "client",
                "add",
                "items",
                "--grant",
                "client_credentials",
                "--scope",
                "introspect",
            ],
            "",
        )
    }
}

impl Authd {
    /// The seeding of the exchange walkthrough (docs/src/sibling-services.md): both resources,
    /// `shop`, a public client people sign in with, `items`, allowed to exchange its callers'
    /// tokens for prices, and `prices`, which introspects; `shopper` may read prices, `demo` may
    /// not. Returns the secrets of items and prices.
    fn seed_exchange(&self) -> (String, String) {
        self.cli(
            &[
                "resource",
                "add",
                ITEMS_RESOURCE,
                "--scope",
                "items:read",
                "--scope",
                "items:write",
            ],
            "",
        );
        self.cli(
            &["resource", "add", PRICES_RESOURCE, "--scope", "prices:read"],
            "",
        );
        self.cli(
            &[
                "role",
                "set",
                "shopper",
                "items:read",
                "items:write",
                "prices:read",
            ],
            "",
        );
        self.cli(&["role", "set", "demo", "items:read"], "");
        self.cli(
            &["user", "add", "shopper", "--role", "shopper"],
            "shopper-password-1\n",
        );
        self.cli(
            &["user", "add", "demo", "--role", "demo"],
            "demo-password-1\n",
        );
        self.cli(
            &[
                "client",
                "add",
                "shop",
                "--public",
                "--grant",
                "password",
                "--scope",
                "items:read",
                "--scope",
                "items:write",
                "--scope",
                "prices:read",
                "--resource",
                ITEMS_RESOURCE,
                "--resource",
                PRICES_RESOURCE,
            ],
            "",
        );
        let items = self.cli(
            &[
                "client",
                "add",
                "items",
                "--grant",
                "client_credentials",
                "--grant",
                "token-exchange",
                "--scope",
                "introspect",
                "--scope",
                "prices:read",
                "--resource",
                ITEMS_RESOURCE,
                "--resource",
                PRICES_RESOURCE,
            ],
            "",
        );
        let prices = self.cli(
            &[
                "client",
                "add",
                "prices",
                "--grant",
                "client_credentials",
                "--scope",
                "introspect",
            ],
            "",
        );
        (items, prices)
    }
}

/// One scenario's world: authd and items (and prices, for exchange) running, an HTTP client.
struct World {
    items: Process,
    authd: Process,
    prices: Option<Process>,
    http: reqwest::Client,
    authd_cli: Authd,
}

impl World {
    async fn start(backend: Backend, mode: &str) -> World {
        World::launch(backend, mode, false).await
    }

    /// Starts authd and items on a fresh database; `with_prices`: prices too, which items reaches
    /// by token exchange (the seeding of `seed_exchange`).
    async fn launch(backend: Backend, mode: &str, with_prices: bool) -> World {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("items-client-secret");
        let prices_secret_file = dir.path().join("prices-client-secret");
        let cli = Authd {
            database: TestDatabase::create(backend, dir).await,
        };
        let secret = match with_prices {
            false => cli.seed(),
            true => {
                let (items_secret, prices_secret) = cli.seed_exchange();
                std::fs::write(&prices_secret_file, format!("{prices_secret}\n")).unwrap();
                items_secret
            }
        };
        let mut serve = cli.command();
        serve.arg("serve");
        let authd = Process::start("authd", serve);
        // As in docker-compose.yml: the secret reaches items through a file.
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        let prices = with_prices.then(|| {
            let mut prices = Command::new(env!("CARGO_BIN_EXE_prices"));
            prices
                .env("PRICES_BIND", "127.0.0.1:0")
                .env("AUTHD_URL", &authd.address)
                .env("PRICES_CLIENT_ID", "prices")
                .env("PRICES_CLIENT_SECRET_FILE", &prices_secret_file)
                .env("PRICES_AUTH_MODE", mode)
                .env("PRICES_ISSUER", ISSUER)
                .env("PRICES_AUDIENCE", PRICES_RESOURCE)
                .env("PRICES_CACHE_SECS", "1")
                .env_remove("PRICES_CLIENT_SECRET");
            Process::start("prices", prices)
        });
        let mut items = Command::new(env!("CARGO_BIN_EXE_items"));
        items
            .env("ITEMS_BIND", "127.0.0.1:0")
            .env("AUTHD_URL", &authd.address)
            .env("ITEMS_CLIENT_ID", "items")
            .env("ITEMS_CLIENT_SECRET_FILE", &secret_file)
            .env("ITEMS_AUTH_MODE", mode)
            .env("ITEMS_ISSUER", ISSUER)
            .env("ITEMS_CACHE_SECS", "1")
            .env("ITEMS_PUBLIC_URL", ITEMS_PUBLIC_URL)
            .env_remove("ITEMS_CLIENT_SECRET")
            .env_remove("ITEMS_AUDIENCE")
            .env_remove("ITEMS_PRICES_URL");
        if let Some(prices) = &prices {
            // Tokens for items are addressed to its resource URI; prices is reached by exchange.
            items
                .env("ITEMS_AUDIENCE", ITEMS_RESOURCE)
                .env("ITEMS_PRICES_URL", &prices.address)
                .env("ITEMS_PRICES_RESOURCE", PRICES_RESOURCE);
        }
        let items = Process::start("items", items);
        World {
            items,
            authd,
            prices,
            http: reqwest::Client::new(),
            authd_cli: cli,
        }
    }

    /// `curl -X METHOD items/PATH [-H "Authorization: Bearer TOKEN"] [--json BODY]`.
    async fn items(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let url = self.items.url(path);
        let mut request = match method {
            "POST" => self.http.post(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await.expect("items answers")).await
    }

    /// `curl authd/token -d grant_type=password -d username=… -d password=…`.
    async fn password_token(&self, username: &str, password: &str) -> String {
        let response = self
            .http
            .post(self.authd.url("/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "password grant for {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `curl authd/revoke -d client_id=public -d token=…`.
    async fn revoke(&self, token: &str) {
        let response = self
            .http
            .post(self.authd.url("/revoke"))
            .form(&[("client_id", "public"), ("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "revocation");
    }
}

/// Status, `WWW-Authenticate` and JSON body of an answer.
struct Reply {
    status: u16,
    challenge: String,
    body: Value,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        Reply {
            status: response.status().as_u16(),
            challenge: response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: response.json().await.unwrap_or(Value::Null),
        }
    }

    /// Asserts an RFC 6750 refusal: status, challenge error code and body `error`.
    fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body {}", self.body);
        assert!(
            self.challenge.contains(&format!(r#"error="{code}""#)),
            "challenge {:?}",
            self.challenge
        );
        assert_eq!(self.body["error"], code);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The book's walkthrough up to the revocation; returns the world and demo's revoked token.
async fn walk_until_revoked(backend: Backend, mode: &str) -> (World, String, u64) {
    // Arrange
    let world = World::start(backend, mode).await;

    // Act + Assert: no token at all.
    let reply = world.items("GET", "/items", None, None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.challenge, r#"Bearer realm="items""#);

    // demo (role demo: items:read) reads, may not write, is not an admin.
    let token = world.password_token("demo", "demo-password-1").await;
    let issued_by = unix_now();
    let reply = world.items("GET", "/items", Some(&token), None).await;
    assert_eq!(reply.status, 200, "body {}", reply.body);
    assert!(reply.body.is_array());
    let reply = world
        .items(
            "POST",
            "/items",
            Some(&token),
            Some(serde_json::json!({"name": "hammer"})),
        )
        .await;
    reply.assert_refused(403, "insufficient_scope");
    assert!(
        reply.challenge.contains(r#"scope="items:write""#),
        "{}",
        reply.challenge
    );
    let reply = world.items("GET", "/admin-only", Some(&token), None).await;
    reply.assert_refused(403, "insufficient_scope");

    // admin (role admin: items:read items:write) writes and sees the admin page.
    let admin = world.password_token("admin", "admin-password-1").await;
    let reply = world
        .items(
            "POST",
            "/items",
            Some(&admin),
            Some(serde_json::json!({"name": "hammer"})),
        )
        .await;
    assert_eq!(reply.status, 201, "body {}", reply.body);
    assert_eq!(reply.body["owner"], "admin");
    let reply = world.items("GET", "/admin-only", Some(&admin), None).await;
    assert_eq!(reply.status, 200);
    let reply = world.items("GET", "/items", Some(&token), None).await;
    assert_eq!(reply.body[0]["name"], "hammer");

    world.revoke(&token).await;
    (world, token, issued_by)
}

async fn introspect_mode_refuses_a_revoked_token_once_the_cache_expires(backend: Backend) {
    let (world, token, _) = walk_until_revoked(backend, "introspect").await;

    // ITEMS_CACHE_SECS=1: after a second, items asks authd again and learns of the revocation.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let reply = world.items("GET", "/items", Some(&token), None).await;

    reply.assert_refused(401, "invalid_token");
}

async fn local_mode_accepts_a_revoked_token_until_its_exp(backend: Backend) {
    let (world, token, issued_by) = walk_until_revoked(backend, "local").await;

    // The trade-off of local mode: no call to authd per request, so revocation goes unseen.
    let after_revocation = world.items("GET", "/items", Some(&token), None).await;
    assert!(
        unix_now() < issued_by + ACCESS_TTL_SECS,
        "the walkthrough outlasted the token; raise ACCESS_TTL_SECS"
    );
    // exp <= issued_by + ttl, and a token is valid through its exp second.
    let past_exp = issued_by + ACCESS_TTL_SECS + 1;
    let wait = (past_exp * 1000).saturating_sub(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    tokio::time::sleep(Duration::from_millis(wait + 100)).await;
    let after_exp = world.items("GET", "/items", Some(&token), None).await;

    assert_eq!(
        after_revocation.status, 200,
        "body {}",
        after_revocation.body
    );
    after_exp.assert_refused(401, "invalid_token");
}

/// Where the `web` client's codes go (never contacted: the browser stops at the redirect).
const WEB_REDIRECT: &str = "http://127.0.0.1:9/callback";
/// What a route that requires `urn:authd:acr:mfa` answers a password-only sign-in (RFC 9470).
const MFA_CHALLENGE: &str = r#"Bearer realm="items", error="insufficient_user_authentication", error_description="a stronger sign-in is required", acr_values="urn:authd:acr:mfa""#;

/// A browser signed in to authd: cookies kept by hand, redirects not followed.
#[derive(Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
}

/// What authd answered a browser: status, `Location` and body.
struct Page {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Sends `request` with the cookies and keeps the ones set.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request
            .header("cookie", pairs.join("; "))
            .send()
            .await
            .unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, world: &World, path: &str) -> Page {
        self.send(Self::http().get(world.authd.url(path))).await
    }

    /// Submits the form of the page at `path` (its CSRF token added) to `action`.
    async fn submit(
        &mut self,
        world: &World,
        path: &str,
        action: &str,
        form: &[(&str, &str)],
    ) -> Page {
        let page = self.get(world, path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        self.post_form(world, action, &page.body, form).await
    }

    /// Posts `form` and the CSRF token of `html` to `action`.
    async fn post_form(
        &mut self,
        world: &World,
        action: &str,
        html: &str,
        form: &[(&str, &str)],
    ) -> Page {
        let csrf = hidden_field(html, "csrf");
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.send(Self::http().post(world.authd.url(action)).form(&fields))
            .await
    }

    /// The login form, as admin with the password.
    async fn sign_in(&mut self, world: &World) -> Page {
        let form = [("username", "admin"), ("password", "admin-password-1")];
        self.submit(world, "/login", "/login", &form).await
    }

    /// GET /authorize for the public `web` client with PKCE and `extra` parameters; returns
    /// where authd sends the browser, and the PKCE verifier.
    async fn authorize(&mut self, world: &World, extra: &[(&str, &str)]) -> (String, String) {
        let verifier = uuid::Uuid::new_v4().simple().to_string().repeat(2);
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", WEB_REDIRECT),
            ("scope", "items:read items:write"),
            ("state", "s-1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        query.extend_from_slice(extra);
        let url = reqwest::Url::parse_with_params(&world.authd.url("/authorize"), &query).unwrap();
        let page = self.send(Self::http().get(url)).await;
        assert_eq!(page.status, 303, "authorize: {}", page.body);
        (page.location, verifier)
    }
}

/// Exchanges the code in `redirect` (authd's redirect to the client) for an access token.
async fn exchange(world: &World, redirect: &str, verifier: &str) -> String {
    let code = reqwest::Url::parse(redirect)
        .unwrap_or_else(|_| panic!("a redirect to the client, got {redirect:?}"))
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, value)| value.into_owned())
        .expect("a code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("client_id", "web"),
        ("code_verifier", verifier),
    ];
    let response = world
        .http
        .post(world.authd.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "code exchange");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The value of the hidden field `name` of a page (askama escapes `&` in attribute values).
fn hidden_field(html: &str, name: &str) -> String {
    element_text(html, &format!(r#"name="{name}" value=""#), "\"")
}

/// The text between `open` and `close`, with askama's escaping undone.
fn element_text(html: &str, open: &str, close: &str) -> String {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {html}"))
        + open.len();
    let end = start + html[start..].find(close).unwrap();
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// Sets up an authenticator app for admin on /account, in a browser of its own (the other
/// browser's session stays a password one); returns the app, read from the otpauth:// link.
async fn enrol_authenticator(world: &World) -> Totp {
    let mut browser = Browser::default();
    assert_eq!(browser.get(world, "/account").await.location, "/login");
    assert_eq!(browser.sign_in(world).await.location, "/account");
    let setup = browser
        .submit(
            world,
            "/account/totp/setup",
            "/account/totp/setup",
            &[("password", "admin-password-1")],
        )
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let uri = element_text(&setup.body, r#"<code id="totp-uri">"#, "</code>");
    let totp = Totp::from_url(&uri).unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    let pending = hidden_field(&setup.body, "pending");
    let code = totp.generate(unix_now()).to_string();
    let form = [("pending", pending.as_str()), ("otp", code.as_str())];
    let confirmed = browser
        .post_form(world, "/account/totp/confirm", &setup.body, &form)
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    totp
}

/// Step-up (RFC 9470): DELETE /items/{id} needs `items:write` and `urn:authd:acr:mfa`.
async fn deleting_an_item_needs_a_multi_factor_sign_in(backend: Backend, mode: &str) {
    // Arrange: a first-party browser client, an item, admin's password-grant token and a
    // browser signed in with the password alone.
    let world = World::start(backend, mode).await;
    world.authd_cli.cli(
        &[
            "client",
            "add",
            "web",
            "--public",
            "--skip-consent",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            WEB_REDIRECT,
            "--scope",
            "items:read",
            "--scope",
            "items:write",
        ],
        "",
    );
    let password_token = world.password_token("admin", "admin-password-1").await;
    let created = world
        .items(
            "POST",
            "/items",
            Some(&password_token),
            Some(serde_json::json!({"name": "hammer"})),
        )
        .await;
    assert_eq!(created.status, 201, "body {}", created.body);
    let path = format!("/items/{}", created.body["id"]);
    let mut browser = Browser::default();
    let (to, verifier) = browser.authorize(&world, &[]).await;
    assert_eq!(to, "/login");
    let signed_in = browser.sign_in(&world).await;
    let browser_token = exchange(&world, &signed_in.location, &verifier).await;

    // Act: both password-only tokens; then admin sets up an authenticator app (elsewhere), and
    // the client sends the browser back with acr_values, as the challenge asks.
    let by_password = world
        .items("DELETE", &path, Some(&password_token), None)
        .await;
    let by_browser = world
        .items("DELETE", &path, Some(&browser_token), None)
        .await;
    let totp = enrol_authenticator(&world).await;
    let (to, verifier) = browser
        .authorize(&world, &[("acr_values", "urn:authd:acr:mfa")])
        .await;
    assert_eq!(
        to, "/login/second-factor",
        "a password session is asked for more"
    );
    // The set-up used this step's code; the next step's is accepted (one step of drift) and
    // was never used.
    let code = totp.generate(unix_now() + 30).to_string();
    let answered = browser
        .submit(
            &world,
            &to,
            "/login/second-factor",
            &[("otp", code.as_str())],
        )
        .await;
    let stepped_up = exchange(&world, &answered.location, &verifier).await;
    let by_mfa = world.items("DELETE", &path, Some(&stepped_up), None).await;
    let again = world.items("DELETE", &path, Some(&stepped_up), None).await;

    // Assert
    for refused in [&by_password, &by_browser] {
        assert_eq!(refused.status, 401, "body {}", refused.body);
        assert_eq!(refused.challenge, MFA_CHALLENGE);
        assert_eq!(refused.body["error"], "insufficient_user_authentication");
    }
    assert_eq!(by_mfa.status, 204, "body {}", by_mfa.body);
    assert_eq!(again.status, 404, "the item is gone");
}

async fn introspect_mode_demands_mfa_to_delete(backend: Backend) {
    deleting_an_item_needs_a_multi_factor_sign_in(backend, "introspect").await;
}

async fn local_mode_demands_mfa_to_delete(backend: Backend) {
    deleting_an_item_needs_a_multi_factor_sign_in(backend, "local").await;
}

/// A client's DPoP key (RFC 9449), signing with RustCrypto's P-256 rather than anything authd or
/// authd-client verify with.
struct DpopKey {
    signing: p256::ecdsa::SigningKey,
    jwk: Value,
}

impl DpopKey {
    fn generate() -> DpopKey {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).unwrap();
        let signing = p256::ecdsa::SigningKey::from_slice(&seed).unwrap();
        let point = signing.verifying_key().to_sec1_point(false);
        let (x, y) = point.as_bytes()[1..].split_at(32);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)
        });
        DpopKey { signing, jwk }
    }

    /// A fresh proof for `method url`, with `ath` when a token goes with it.
    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        use p256::ecdsa::signature::Signer;
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).unwrap();
        let mut claims = serde_json::json!({
            "jti": URL_SAFE_NO_PAD.encode(jti), "htm": method, "htu": url, "iat": unix_now()
        });
        if let Some(token) = token {
            claims["ath"] = URL_SAFE_NO_PAD
                .encode(digest(&SHA256, token.as_bytes()))
                .into();
        }
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

impl World {
    /// The password grant with a DPoP proof: a token bound to `key`.
    async fn dpop_token(&self, key: &DpopKey, username: &str, password: &str) -> String {
        // authd checks htu against its issuer's origin plus the path.
        let proof = key.proof("POST", &format!("{ISSUER}/token"), None);
        let response = self
            .http
            .post(self.authd.url("/token"))
            .header("DPoP", proof)
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "DPoP password grant for {username}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET items/items` with `Authorization: SCHEME TOKEN` and the given DPoP headers.
    async fn items_with(&self, scheme: &str, token: &str, proofs: &[&str]) -> Reply {
        let mut request = self
            .http
            .get(self.items.url("/items"))
            .header("Authorization", format!("{scheme} {token}"));
        for proof in proofs {
            request = request.header("DPoP", *proof);
        }
        Reply::from(request.send().await.expect("items answers")).await
    }
}

async fn a_dpop_bound_token_needs_a_fresh_proof(backend: Backend, mode: &str) {
    // Arrange
    let world = World::start(backend, mode).await;
    let key = DpopKey::generate();
    let token = world.dpop_token(&key, "demo", "demo-password-1").await;
    let items_url = format!("{ITEMS_PUBLIC_URL}/items");
    let proof = key.proof("GET", &items_url, Some(&token));

    // Act
    let with_proof = world.items_with("DPoP", &token, &[&proof]).await;
    let replayed = world.items_with("DPoP", &token, &[&proof]).await;
    let without_proof = world.items_with("DPoP", &token, &[]).await;
    let as_bearer = world.items_with("Bearer", &token, &[]).await;
    let other_key = DpopKey::generate().proof("GET", &items_url, Some(&token));
    let by_other_key = world.items_with("DPoP", &token, &[&other_key]).await;
    let fresh = key.proof("GET", &items_url, Some(&token));
    let again = world.items_with("dpop", &token, &[&fresh]).await;

    // Assert
    assert_eq!(with_proof.status, 200, "body {}", with_proof.body);
    assert!(with_proof.body.is_array());
    for refused in [&replayed, &without_proof, &by_other_key] {
        refused.assert_refused(401, "invalid_dpop_proof");
        assert!(
            refused.challenge.starts_with("DPoP "),
            "{}",
            refused.challenge
        );
    }
    as_bearer.assert_refused(401, "invalid_token");
    assert!(
        as_bearer.challenge.starts_with("DPoP "),
        "{}",
        as_bearer.challenge
    );
    assert_eq!(again.status, 200, "body {}", again.body);
}

async fn introspect_mode_accepts_dpop_bound_tokens_with_a_proof(backend: Backend) {
    a_dpop_bound_token_needs_a_fresh_proof(backend, "introspect").await;
}

async fn local_mode_accepts_dpop_bound_tokens_with_a_proof(backend: Backend) {
    a_dpop_bound_token_needs_a_fresh_proof(backend, "local").await;
}

impl World {
    /// The password grant through the public `shop` client, for the resources named.
    async fn shop_token(&self, username: &str, password: &str, resources: &[&str]) -> String {
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", "shop"),
            ("username", username),
            ("password", password),
        ];
        form.extend(resources.iter().map(|resource| ("resource", *resource)));
        let response = self
            .http
            .post(self.authd.url("/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "password grant for {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// As `shop_token`, with a DPoP proof: shopper's token bound to `key`.
    async fn dpop_shop_token(&self, key: &DpopKey, username: &str, resources: &[&str]) -> String {
        let proof = key.proof("POST", &format!("{ISSUER}/token"), None);
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", "shop"),
            ("username", username),
            ("password", "shopper-password-1"),
        ];
        form.extend(resources.iter().map(|resource| ("resource", *resource)));
        let response = self
            .http
            .post(self.authd.url("/token"))
            .header("DPoP", proof)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "DPoP password grant for {username}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET prices/PATH` with a bearer token, as if a caller went to prices directly.
    async fn prices(&self, path: &str, token: &str) -> Reply {
        let prices = self.prices.as_ref().expect("a world with prices");
        let request = self.http.get(prices.url(path)).bearer_auth(token);
        Reply::from(request.send().await.expect("prices answers")).await
    }
}

/// The claims of a JWT, unverified: only to compare with what the services report.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Token exchange (RFC 8693): `GET /items/{id}/price` exchanges the caller's token at authd for
/// one addressed to prices with `prices:read` only, with items' own token as the actor, and
/// prices reports the caller as subject and items as the actor.
async fn items_asks_prices_on_the_callers_behalf(backend: Backend, mode: &str) {
    // Arrange: shopper (prices:read) and demo (no prices:read) sign in to the shop for items and
    // prices; a token for prices alone; an item.
    let mut world = World::launch(backend, mode, true).await;
    let both = [ITEMS_RESOURCE, PRICES_RESOURCE];
    let shopper = world
        .shop_token("shopper", "shopper-password-1", &both)
        .await;
    let demo = world.shop_token("demo", "demo-password-1", &both).await;
    let prices_only = world
        .shop_token("shopper", "shopper-password-1", &[PRICES_RESOURCE])
        .await;
    let created = world
        .items(
            "POST",
            "/items",
            Some(&shopper),
            Some(serde_json::json!({"name": "hammer"})),
        )
        .await;
    assert_eq!(created.status, 201, "body {}", created.body);
    let path = format!("/items/{}/price", created.body["id"]);

    // Act: sequentially, then eight at once (they share items' cached actor token).
    let priced = world.items("GET", &path, Some(&shopper), None).await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = world.http.get(world.items.url(&path)).bearer_auth(&shopper);
        burst.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    }
    let burst: Vec<u16> = burst
        .join_all()
        .await
        .into_iter()
        .map(|status| status.expect("items answers"))
        .collect();
    let without_prices_read = world.items("GET", &path, Some(&demo), None).await;
    let not_for_items = world.items("GET", &path, Some(&prices_only), None).await;
    let no_such_item = world
        .items("GET", "/items/999/price", Some(&shopper), None)
        .await;
    let no_token = world.items("GET", &path, None, None).await;
    // A DPoP-bound token works at items with a proof, but items holds no proof key for authd:
    // exchange must not turn it into a bearer token for prices.
    let key = DpopKey::generate();
    let bound = world.dpop_shop_token(&key, "shopper", &both).await;
    let proof = key.proof("GET", &format!("{ITEMS_PUBLIC_URL}{path}"), Some(&bound));
    let request = world
        .http
        .get(world.items.url(&path))
        .header("Authorization", format!("DPoP {bound}"))
        .header("DPoP", proof);
    let bound_refused = Reply::from(request.send().await.expect("items answers")).await;
    // prices goes away: not the caller's fault, so a 502 rather than a refusal.
    drop(world.prices.take());
    let prices_down = world.items("GET", &path, Some(&shopper), None).await;

    // Assert: prices saw shopper as the subject, acting through items, with prices:read only.
    assert_eq!(priced.status, 200, "body {}", priced.body);
    assert_eq!(priced.body["item"]["name"], "hammer");
    let price = &priced.body["price"];
    assert_eq!(price["subject"], claims_of(&shopper)["sub"], "{price}");
    assert_eq!(price["username"], "shopper");
    assert_eq!(
        price["client_id"], "items",
        "issued to the exchanging client"
    );
    assert_eq!(
        price["actors"],
        serde_json::json!([{"sub": "items", "client_id": "items"}]),
        "{price}"
    );
    assert!(price["amount_cents"].as_u64().is_some(), "{price}");
    assert_eq!(burst, [200; 8]);
    without_prices_read.assert_refused(403, "insufficient_scope");
    assert!(
        without_prices_read
            .challenge
            .contains(r#"scope="prices:read""#),
        "{}",
        without_prices_read.challenge
    );
    not_for_items.assert_refused(401, "invalid_token");
    assert_eq!(no_such_item.status, 404, "body {}", no_such_item.body);
    assert_eq!(no_token.status, 401);
    assert_eq!(bound_refused.status, 403, "body {}", bound_refused.body);
    assert_eq!(bound_refused.body["error"], "exchange_refused");
    assert_eq!(prices_down.status, 502, "body {}", prices_down.body);
    assert_eq!(prices_down.body["error"], "bad_gateway");
}

async fn introspect_mode_exchanges_tokens_for_prices(backend: Backend) {
    items_asks_prices_on_the_callers_behalf(backend, "introspect").await;
}

async fn local_mode_exchanges_tokens_for_prices(backend: Backend) {
    items_asks_prices_on_the_callers_behalf(backend, "local").await;
}

/// prices itself: only tokens addressed to it, with `prices:read`.
async fn prices_accepts_only_tokens_addressed_to_it(backend: Backend) {
    // Arrange
    let world = World::launch(backend, "local", true).await;
    let for_prices = world
        .shop_token("shopper", "shopper-password-1", &[PRICES_RESOURCE])
        .await;
    let for_items = world
        .shop_token("shopper", "shopper-password-1", &[ITEMS_RESOURCE])
        .await;
    let without_scope = world
        .shop_token("demo", "demo-password-1", &[PRICES_RESOURCE])
        .await;

    // Act
    let direct = world.prices("/prices/1", &for_prices).await;
    let wrong_audience = world.prices("/prices/1", &for_items).await;
    let no_scope = world.prices("/prices/1", &without_scope).await;

    // Assert: the subject's own token names no actor.
    assert_eq!(direct.status, 200, "body {}", direct.body);
    assert_eq!(direct.body["username"], "shopper");
    assert_eq!(direct.body["client_id"], "shop");
    assert_eq!(direct.body["actors"], serde_json::json!([]));
    wrong_audience.assert_refused(401, "invalid_token");
    no_scope.assert_refused(403, "insufficient_scope");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::Backend::Postgres.available() {
                        super::$name(super::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    introspect_mode_refuses_a_revoked_token_once_the_cache_expires,
    local_mode_accepts_a_revoked_token_until_its_exp,
    introspect_mode_demands_mfa_to_delete,
    local_mode_demands_mfa_to_delete,
    introspect_mode_accepts_dpop_bound_tokens_with_a_proof,
    local_mode_accepts_dpop_bound_tokens_with_a_proof,
    introspect_mode_exchanges_tokens_for_prices,
    local_mode_exchanges_tokens_for_prices,
    prices_accepts_only_tokens_addressed_to_it,
);
