//! Settings: built-in defaults, then an optional TOML file, then `AUTHD_<SECTION>__<KEY>` variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::net::Cidr;

/// Environment variable naming the configuration file, as `--config` does.
pub const CONFIG_FILE_ENV: &str = "AUTHD_CONFIG";

/// Every setting authd reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// HTTP listener.
    pub server: ServerSettings,
    /// Storage backend.
    pub database: DatabaseSettings,
    /// Access and refresh token issuance.
    pub tokens: TokenSettings,
    /// Signing key lifecycle.
    pub keys: KeySettings,
    /// Password hashing.
    pub passwords: PasswordSettings,
    /// OAuth client policy.
    pub oauth: OAuthSettings,
    /// Brute-force limits and production safety checks.
    pub security: SecuritySettings,
    /// Background cleanup.
    pub janitor: JanitorSettings,
    /// Back-Channel Logout delivery.
    pub logout: LogoutSettings,
    /// Browser sign-in: login transactions and single sign-on sessions.
    pub sessions: SessionSettings,
    /// What the sign-in pages show.
    pub pages: PageSettings,
    /// Passkeys (WebAuthn): the relying party and its ceremonies.
    pub webauthn: WebauthnSettings,
    /// DPoP sender-constrained tokens (RFC 9449).
    pub dpop: DpopSettings,
    // `AUTHD_CONFIG` names the file itself and lands here; it is not a setting.
    #[serde(rename = "config")]
    _config_file: Option<String>,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Largest request body accepted, in bytes, on the OAuth endpoints.
    pub max_form_bytes: usize,
    /// Seconds an in-flight request may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a request's head before it is answered 408.
    pub request_timeout_secs: u64,
    /// Seconds, from the end of its head, a request's body has to arrive before it is answered
    /// 408 and the connection closed.
    pub request_body_timeout_secs: u64,
    /// Open connections one client address (IPv6: one /64) may hold; more are closed at once.
    /// 0 turns the cap off. `security.trusted_proxies` are exempt.
    pub max_connections_per_address: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            max_form_bytes: 16 * 1024,
            shutdown_grace_secs: 10,
            request_timeout_secs: 5,
            request_body_timeout_secs: 10,
            max_connections_per_address: 64,
        }
    }
}

/// Storage settings; the URL scheme picks the backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    pub url: DatabaseUrl,
    /// Connections in the pool.
    pub max_connections: u32,
    /// Seconds to wait for a free connection before answering 503.
    pub acquire_timeout_secs: u64,
    /// How SQLite commits reach the disk; ignored on PostgreSQL (see docs/src/durability.md).
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new("sqlite://authd.db"),
            max_connections: 10,
            acquire_timeout_secs: 5,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// SQLite's `PRAGMA synchronous` for every pooled connection (the database is in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    /// The default: a commit is on disk before it is acknowledged, and survives a power cut.
    Full,
    /// Faster commits; a power cut (not a process crash) may undo the last ones.
    Normal,
    /// `Full`, and the directory is synced as well after a WAL reset.
    Extra,
}

impl SqliteSynchronous {
    /// The value as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "full",
            SqliteSynchronous::Normal => "normal",
            SqliteSynchronous::Extra => "extra",
        }
    }
}

impl<'de> Deserialize<'de> for SqliteSynchronous {
    // By hand, so the error lists the values and the `config` crate adds the key to it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        match value.to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSynchronous::Full),
            "normal" => Ok(SqliteSynchronous::Normal),
            "extra" => Ok(SqliteSynchronous::Extra),
            _ => Err(serde::de::Error::custom(format!(
                "unknown value {value:?}, expected \"full\", \"normal\" or \"extra\""
            ))),
        }
    }
}

/// A database URL; it may carry a password, so `Debug` shows only the scheme.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: &str) -> Self {
        Self(SecretString::from(url.to_owned()))
    }

    /// The URL itself, for the connection pool only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The part before `://`, safe to log.
    pub fn scheme(&self) -> &str {
        self.expose().split("://").next().unwrap_or("")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({}://[redacted])", self.scheme())
    }
}

/// Signature algorithm for access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519 (the default: fastest to sign, fast to verify, small keys).
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
    /// HMAC-SHA-256 with `tokens.hs256_secret`; only sensible when authd alone verifies tokens.
    HS256,
}

/// Token issuance settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// `iss` claim and metadata issuer; defaults to `http://` plus the bound address.
    pub issuer: Option<String>,
    /// `aud` claim; defaults to the issuer.
    pub audience: Option<String>,
    /// Access token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    pub refresh_ttl_secs: u64,
    /// Seconds after a rotation during which the token just exchanged may be presented again by
    /// the same client and gets the same successor (a lost response); 0 turns retries off.
    pub refresh_retry_secs: u64,
    /// ID token lifetime in seconds (OpenID Connect): relying parties check it once, at sign-in.
    pub id_token_ttl_secs: u64,
    /// Clock skew tolerated when checking `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Longest `exp - iat` of an access token that is accepted; the same on every instance.
    pub max_lifetime_secs: u64,
    /// Most revoked access token ids each instance keeps in memory; past it, introspection asks
    /// the database about tokens it cannot decide from memory.
    pub revocation_cache_entries: usize,
    /// Signature algorithm for new keys.
    pub algorithm: SigningAlgorithm,
    /// Shared secret for HS256, at least 32 bytes; only read when `algorithm = "HS256"`.
    pub hs256_secret: Option<SecretString>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_retry_secs: 10,
            id_token_ttl_secs: 300,
            leeway_secs: 0,
            max_lifetime_secs: 86_400,
            revocation_cache_entries: 100_000,
            algorithm: SigningAlgorithm::EdDSA,
            hs256_secret: None,
        }
    }
}

/// Signing key lifecycle settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// `Cache-Control: max-age` of the JWKS document.
    pub jwks_max_age_secs: u64,
    /// Seconds between publishing a rotated key and signing with it; defaults to the JWKS max-age.
    pub activation_delay_secs: Option<u64>,
    /// How often each instance re-reads the key table, in milliseconds.
    pub reload_interval_ms: u64,
    /// Base64 of 32 random bytes sealing private keys at rest (AES-256-GCM). Required on
    /// PostgreSQL; on SQLite a generated one is kept in `<database>.kek` when unset.
    pub encryption_key: Option<SecretString>,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            jwks_max_age_secs: 300,
            activation_delay_secs: None,
            reload_interval_ms: 1000,
            encryption_key: None,
        }
    }
}

impl KeySettings {
    /// The delay between publishing and activating a rotated key.
    pub fn activation_delay(&self) -> u64 {
        self.activation_delay_secs.unwrap_or(self.jwks_max_age_secs)
    }
}

/// Argon2id parameters (OWASP's recommended minimum by default) and hashing concurrency.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Time cost (passes).
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU core. Each holds `memory_kib` of memory.
    pub max_concurrent_hashes: usize,
    /// Password checks that may wait for a hashing thread; past that, 503 with `Retry-After`.
    pub max_queued_hashes: usize,
    /// Password checks one client address may have waiting or running at once (IPv6 per /64).
    pub max_hashes_per_address: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent_hashes: 0,
            max_queued_hashes: 64,
            max_hashes_per_address: 8,
        }
    }
}

/// OAuth client policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthSettings {
    /// Allow the password grant only to confidential clients that authenticate with their secret.
    pub require_client_auth_for_password: bool,
    /// The built-in public client that unauthenticated password grants belong to.
    pub default_client_id: String,
    /// Seconds an authorization code may be exchanged after it is issued.
    pub code_ttl_secs: u64,
    /// Accept authorization requests of every client only through `/par` (RFC 9126 section 5).
    pub require_pushed_authorization_requests: bool,
    /// Seconds a device code and its user code live (RFC 8628 section 3.2 `expires_in`).
    pub device_code_ttl_secs: u64,
    /// Seconds a device client must wait between polls at first (section 3.2 `interval`).
    pub device_code_interval_secs: u64,
    /// Unexpired device codes one client may hold at once: what a stranger calling
    /// `/device_authorization` for a public client can make the table hold.
    pub device_codes_per_client: u64,
    /// Wrong user codes one address may enter per `security.lockout_window_secs` before it is
    /// locked out for a while (section 5.1).
    pub device_user_code_attempts: u32,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            require_client_auth_for_password: false,
            default_client_id: "public".to_owned(),
            code_ttl_secs: 60,
            require_pushed_authorization_requests: false,
            device_code_ttl_secs: 600,
            device_code_interval_secs: 5,
            device_codes_per_client: 10_000,
            device_user_code_attempts: 10,
        }
    }
}

/// Browser sign-in: login transactions and single sign-on sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Seconds a person has to finish the login page (and consent) once `/authorize` sent them.
    pub login_ttl_secs: u64,
    /// Seconds without use after which a session ends.
    pub idle_secs: u64,
    /// Seconds after sign-in after which a session ends however busy it is.
    pub absolute_secs: u64,
    /// Sessions one user may hold at once; signing in beyond it ends their oldest session.
    pub max_per_user: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            login_ttl_secs: 600,
            idle_secs: 3600,
            absolute_secs: 86_400,
            max_per_user: 50,
        }
    }
}

/// What the sign-in pages show.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageSettings {
    /// The product name in page titles and headings.
    pub product_name: String,
    /// A short notice under the login form (plain text; empty for none).
    pub notice: String,
    /// What each scope lets an application do, shown on the consent page (scope -> sentence).
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
}

impl Default for PageSettings {
    fn default() -> Self {
        Self {
            product_name: "authd".to_owned(),
            notice: String::new(),
            scope_descriptions: std::collections::BTreeMap::new(),
        }
    }
}

/// Passkeys (WebAuthn). The defaults follow the issuer, which is right unless a proxy serves the
/// pages under another name.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnSettings {
    /// The relying party id: a domain that the pages' host is, or ends with; passkeys are bound
    /// to it. Defaults to the issuer's host (an IP address cannot be one: passkeys are then off).
    pub rp_id: Option<String>,
    /// Origins (`scheme://host[:port]`) the pages are served from; defaults to the issuer's.
    pub origins: Vec<String>,
    /// Seconds a person has to finish a passkey ceremony once it began.
    pub ceremony_ttl_secs: u64,
    /// Adding a passkey needs a sign-in at most this many seconds old; older sessions sign in
    /// again first.
    pub recent_sign_in_secs: u64,
}

impl Default for WebauthnSettings {
    fn default() -> Self {
        Self {
            rp_id: None,
            origins: Vec::new(),
            ceremony_ttl_secs: 300,
            recent_sign_in_secs: 600,
        }
    }
}

/// DPoP proofs (RFC 9449): how fresh they must be, and server nonces.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpopSettings {
    /// Seconds a proof is accepted after its `iat`; its `jti` is remembered that long.
    pub proof_max_age_secs: u64,
    /// Seconds a proof's `iat` may lie in the future (the client's clock running ahead).
    pub iat_leeway_secs: u64,
    /// Require a server-provided `nonce` in every proof (section 8); the answer
    /// `use_dpop_nonce` carries one in `DPoP-Nonce`.
    pub require_nonce: bool,
    /// Seconds between nonce rotations; the current and the previous nonce are accepted.
    pub nonce_rotation_secs: u64,
    /// Proofs remembered per instance at protected resources (`/me`, `/userinfo`, `/admin`)
    /// to refuse their replay; when full, further proofs are refused until entries expire.
    pub resource_replay_entries: usize,
}

impl Default for DpopSettings {
    fn default() -> Self {
        Self {
            proof_max_age_secs: 60,
            iat_leeway_secs: 5,
            require_nonce: false,
            nonce_rotation_secs: 300,
            resource_replay_entries: 1_000_000,
        }
    }
}

/// Brute-force limits and production safety checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Refuse known-weak configurations at start-up (set false only for local experiments).
    pub production: bool,
    /// Allow an `http://` issuer on a non-loopback address (behind a TLS-terminating proxy).
    pub allow_http_issuer: bool,
    /// Failed logins for one username from one address (IPv6: its /64), within the window, that
    /// lock that pair; the username stays open from everywhere else.
    pub lockout_threshold: u32,
    /// Failed logins from one address, within the window, that throttle it.
    pub ip_lockout_threshold: u32,
    /// Seconds over which failures are counted.
    pub lockout_window_secs: u64,
    /// First lock, in seconds; each repeat doubles it.
    pub lockout_base_secs: u64,
    /// Longest lock, in seconds.
    pub lockout_max_secs: u64,
    /// Failed logins for one username from all addresses together, per guess window, after which
    /// attempts for it are refused (429) except from the user's known devices and addresses.
    pub account_guess_budget: u32,
    /// Seconds over which the guess budget is counted; also how long a sign-in address is known.
    pub account_guess_window_secs: u64,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Networks of the proxies in front of authd (CIDR); their connections are not capped per
    /// address, since every client behind a proxy shares its address.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            production: true,
            allow_http_issuer: false,
            lockout_threshold: 5,
            ip_lockout_threshold: 50,
            lockout_window_secs: 900,
            lockout_base_secs: 60,
            lockout_max_secs: 900,
            account_guess_budget: 100,
            account_guess_window_secs: 86_400,
            trust_forwarded_for: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Background cleanup of expired rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JanitorSettings {
    /// Seconds between sweeps.
    pub interval_secs: u64,
    /// Days audit events are kept.
    pub audit_retention_days: u64,
}

impl Default for JanitorSettings {
    fn default() -> Self {
        Self {
            interval_secs: 60,
            audit_retention_days: 90,
        }
    }
}

/// Back-Channel Logout 1.0: how logout tokens are delivered to clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogoutSettings {
    /// Seconds one POST to a client may take.
    pub backchannel_timeout_secs: u64,
    /// Seconds before the first retry; each further retry waits twice as long.
    pub backchannel_retry_secs: u64,
    /// Longest wait between retries, in seconds.
    pub backchannel_retry_max_secs: u64,
    /// Seconds after the session ended when an undelivered notification is given up.
    pub backchannel_give_up_secs: u64,
    /// Milliseconds between looks at the queue.
    pub backchannel_poll_ms: u64,
}

impl Default for LogoutSettings {
    fn default() -> Self {
        Self {
            backchannel_timeout_secs: 5,
            backchannel_retry_secs: 10,
            backchannel_retry_max_secs: 3600,
            backchannel_give_up_secs: 86_400,
            backchannel_poll_ms: 1000,
        }
    }
}

/// A setting could not be read; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads defaults, then `file` (or `$AUTHD_CONFIG`) if given, then `AUTHD_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_FILE_ENV).map(Into::into));
        let mut builder = config::Config::builder();
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            builder = builder
                .add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("AUTHD")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    // AUTHD_SECURITY__TRUSTED_PROXIES="10.0.0.0/8,192.168.0.0/16"
                    .list_separator(",")
                    .with_list_parse_key("security.trusted_proxies")
                    .with_list_parse_key("webauthn.origins"),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks relations between settings that their types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let scheme = self.database.url.scheme();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(ConfigError(format!(
                "database.url: unsupported scheme {scheme:?} (use sqlite:// or postgres://)"
            )));
        }
        if self.tokens.id_token_ttl_secs == 0
            || self.tokens.id_token_ttl_secs > self.tokens.max_lifetime_secs
        {
            return Err(ConfigError(
                "tokens.id_token_ttl_secs must be positive and at most tokens.max_lifetime_secs"
                    .into(),
            ));
        }
        if self.tokens.access_ttl_secs == 0 || self.tokens.refresh_ttl_secs == 0 {
            return Err(ConfigError(
                "tokens.access_ttl_secs and tokens.refresh_ttl_secs must be positive".into(),
            ));
        }
        if self.tokens.access_ttl_secs > self.tokens.max_lifetime_secs {
            return Err(ConfigError(
                "tokens.access_ttl_secs must not exceed tokens.max_lifetime_secs".into(),
            ));
        }
        if self.tokens.algorithm == SigningAlgorithm::HS256 {
            let length = self
                .tokens
                .hs256_secret
                .as_ref()
                .map_or(0, |s| s.expose_secret().len());
            if length < 32 {
                return Err(ConfigError(
                    "tokens.hs256_secret must be at least 32 bytes when tokens.algorithm = \"HS256\""
                        .into(),
                ));
            }
        }
        argon2::Params::new(
            self.passwords.memory_kib,
            self.passwords.iterations,
            self.passwords.parallelism,
            None,
        )
        .map_err(|e| ConfigError(format!("passwords: invalid argon2 parameters: {e}")))?;
        if self.server.request_body_timeout_secs == 0 {
            return Err(ConfigError(
                "server.request_body_timeout_secs must be positive".into(),
            ));
        }
        if self.oauth.code_ttl_secs == 0
            || self.sessions.login_ttl_secs == 0
            || self.sessions.idle_secs == 0
            || self.sessions.absolute_secs == 0
            || self.sessions.max_per_user == 0
        {
            return Err(ConfigError(
                "oauth.code_ttl_secs and sessions.* must be positive".into(),
            ));
        }
        if self.oauth.device_code_ttl_secs == 0
            || self.oauth.device_code_ttl_secs > 86_400
            || self.oauth.device_code_interval_secs == 0
            || self.oauth.device_code_interval_secs > 3600
            || self.oauth.device_codes_per_client == 0
            || self.oauth.device_user_code_attempts == 0
        {
            return Err(ConfigError(
                "oauth.device_code_ttl_secs must be 1 to 86400, oauth.device_code_interval_secs \
                 1 to 3600; oauth.device_codes_per_client and oauth.device_user_code_attempts \
                 must be positive"
                    .into(),
            ));
        }
        if self.dpop.proof_max_age_secs == 0
            || self.dpop.proof_max_age_secs > 3600
            || self.dpop.nonce_rotation_secs == 0
            || self.dpop.resource_replay_entries == 0
        {
            return Err(ConfigError(
                "dpop.proof_max_age_secs must be 1 to 3600; dpop.nonce_rotation_secs and \
                 dpop.resource_replay_entries must be positive"
                    .into(),
            ));
        }
        if self.webauthn.ceremony_ttl_secs == 0 || self.webauthn.recent_sign_in_secs == 0 {
            return Err(ConfigError(
                "webauthn.ceremony_ttl_secs and webauthn.recent_sign_in_secs must be positive"
                    .into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError(
                "database.max_connections must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Production refuses an `http://` issuer on a non-loopback listener: tokens and passwords
    /// would cross the network in clear text.
    pub fn check_production_safety(&self, bound: SocketAddr) -> Result<(), ConfigError> {
        let issuer = self.issuer_for(bound);
        let insecure = issuer.starts_with("http://") && !bound.ip().is_loopback();
        if insecure && !self.security.allow_http_issuer {
            let reason = format!(
                "refusing to start: issuer {issuer} is http:// on non-loopback {bound}; use https \
                 or set security.allow_http_issuer = true behind a TLS proxy"
            );
            if self.security.production {
                return Err(ConfigError(reason));
            }
            log::warn!("{reason} (ignored: security.production = false)");
        }
        Ok(())
    }

    /// The issuer for a server bound at `bound` (the real address, port 0 resolved).
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        self.tokens
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Argon2 hashing concurrency, with 0 resolved to the core count.
    pub fn hash_concurrency(&self) -> usize {
        match self.passwords.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let settings = Settings::default();
        assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.database.url.expose(), "sqlite://authd.db");
        assert_eq!(settings.passwords.memory_kib, 19_456);
        assert_eq!(settings.passwords.iterations, 2);
        assert_eq!(settings.passwords.parallelism, 1);
        assert_eq!(settings.tokens.leeway_secs, 0);
        assert_eq!(settings.keys.activation_delay(), 300);
        assert_eq!(settings.tokens.max_lifetime_secs, 86_400);
        assert_eq!(settings.tokens.revocation_cache_entries, 100_000);
        assert_eq!(
            settings.database.sqlite_synchronous,
            SqliteSynchronous::Full
        );
    }

    fn load_toml(text: &str) -> Result<Settings, ConfigError> {
        let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(file.path(), text).unwrap();
        Settings::load(Some(file.path()))
    }

    #[test]
    fn sqlite_synchronous_reads_each_mode() {
        for (text, mode) in [
            ("full", SqliteSynchronous::Full),
            ("normal", SqliteSynchronous::Normal),
            ("EXTRA", SqliteSynchronous::Extra),
        ] {
            let settings = load_toml(&format!("[database]\nsqlite_synchronous = \"{text}\"\n"));
            assert_eq!(
                settings.unwrap().database.sqlite_synchronous,
                mode,
                "{text}"
            );
        }
    }

    #[test]
    fn an_unknown_sqlite_synchronous_is_refused_naming_the_key() {
        for text in ["off", "\"0\"", "2", "true"] {
            let value = if text.starts_with('"') || text.parse::<f64>().is_ok() || text == "true" {
                text.to_owned()
            } else {
                format!("\"{text}\"")
            };
            let error = load_toml(&format!("[database]\nsqlite_synchronous = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("database.sqlite_synchronous"), "{error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn an_access_ttl_beyond_the_max_lifetime_is_refused() {
        let mut settings = Settings::default();
        settings.tokens.access_ttl_secs = 86_401;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("tokens.max_lifetime_secs"), "{error}");
        assert_eq!(settings.server.request_body_timeout_secs, 10);
        assert_eq!(settings.server.max_connections_per_address, 64);
        assert!(settings.security.trusted_proxies.is_empty());
    }

    #[test]
    fn database_url_debug_hides_credentials() {
        let url = DatabaseUrl::new("postgres://authd:hunter2@db/authd");
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres"), "{shown}");
    }

    #[test]
    fn short_hs256_secret_is_refused() {
        let mut settings = Settings::default();
        settings.tokens.algorithm = SigningAlgorithm::HS256;
        settings.tokens.hs256_secret = Some(SecretString::from("short".to_owned()));
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("tokens.hs256_secret"), "{error}");
    }
}
