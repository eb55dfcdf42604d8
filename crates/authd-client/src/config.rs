//! Settings of an [`AuthdClient`](crate::AuthdClient): where authd is, how tokens are checked.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// How the client decides whether a token is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Ask authd's `/introspect` (RFC 7662); sees revocation after at most the cache TTL.
    Introspect,
    /// Verify the JWT against authd's JWKS; no call per request, but revocation is not seen.
    Local,
}

impl Mode {
    /// `introspect` or `local`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Introspect => "introspect",
            Mode::Local => "local",
        }
    }
}

impl FromStr for Mode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "introspect" => Ok(Mode::Introspect),
            "local" => Ok(Mode::Local),
            other => Err(ConfigError(format!(
                "unknown mode {other:?} (use introspect or local)"
            ))),
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("authd client configuration: {0}")]
pub struct ConfigError(pub(crate) String);

/// Everything an [`AuthdClient`](crate::AuthdClient) needs; build with [`Config::introspect`] or
/// [`Config::local`], then adjust with the setters.
#[derive(Clone)]
pub struct Config {
    pub(crate) authd_url: String,
    pub(crate) mode: Mode,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) realm: String,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_capacity: usize,
    pub(crate) leeway_secs: u64,
    pub(crate) jwks_refetch_interval: Duration,
    pub(crate) jwks_max_age: Duration,
    pub(crate) max_token_lifetime: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) public_url: Option<String>,
    pub(crate) dpop_max_age: Duration,
    pub(crate) dpop_leeway_secs: u64,
    pub(crate) dpop_replay_capacity: usize,
}

impl Config {
    fn new(authd_url: &str, mode: Mode) -> Self {
        Self {
            authd_url: authd_url.trim_end_matches('/').to_owned(),
            mode,
            client_id: String::new(),
            client_secret: None,
            issuer: None,
            audience: None,
            realm: "authd".to_owned(),
            cache_ttl: Duration::from_secs(5),
            cache_capacity: 10_000,
            leeway_secs: 0,
            jwks_refetch_interval: Duration::from_secs(10),
            jwks_max_age: Duration::from_secs(300),
            max_token_lifetime: Duration::from_secs(86_400),
            http_timeout: Duration::from_secs(5),
            public_url: None,
            dpop_max_age: Duration::from_secs(60),
            dpop_leeway_secs: 5,
            dpop_replay_capacity: 100_000,
        }
    }

    /// Introspection mode, authenticating to authd as a confidential client with the
    /// `introspect` scope.
    pub fn introspect(authd_url: &str, client_id: &str, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret),
            ..Self::new(authd_url, Mode::Introspect)
        }
    }

    /// Local JWT verification against authd's JWKS; needs no client credentials.
    pub fn local(authd_url: &str) -> Self {
        Self::new(authd_url, Mode::Local)
    }

    /// The `iss` tokens must carry (default: the authd URL). Also the default audience.
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// The `aud` tokens must carry, or one of them when `aud` is an array (default: the issuer,
    /// which is authd's default audience). With RFC 8707 resource indicators this is the
    /// service's resource URI, e.g. `https://items.example.com`.
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = Some(audience.to_owned());
        self
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `authd`).
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = realm.to_owned();
        self
    }

    /// How long an introspection answer is reused (default 5 s; zero disables the cache).
    /// An active answer is never reused past the token's `exp`.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Most introspection answers kept at once (default 10 000).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Clock skew allowed on `exp` and `nbf` in local mode (default 0).
    pub fn leeway_secs(mut self, seconds: u64) -> Self {
        self.leeway_secs = seconds;
        self
    }

    /// Shortest time between two JWKS fetches triggered by unknown `kid`s (default 10 s).
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// How long a fetched JWKS is used before it is fetched again (default 300 s, authd's
    /// `Cache-Control` max-age). A key authd withdrew is refused after at most this (or
    /// `jwks_refetch_interval`, if longer); while authd is unreachable the old set stays in use.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// Longest `exp - iat` accepted in local mode (default 86 400 s, authd's
    /// `tokens.max_lifetime_secs`), so that a leaked key cannot mint tokens that never expire.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// Timeout of each call to authd (default 5 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// This service's URL as its callers see it, e.g. `https://items.example.com` (a path
    /// prefix is allowed when a proxy strips it). DPoP proofs must name it plus the request
    /// path in `htu` (RFC 9449 section 4.3). Without it, DPoP-bound tokens are refused: the
    /// `Host` header is the caller's to choose, so it cannot tell which service a proof was for.
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.to_owned());
        self
    }

    /// How old a DPoP proof's `iat` may be (default 60 s).
    pub fn dpop_max_age(mut self, max_age: Duration) -> Self {
        self.dpop_max_age = max_age;
        self
    }

    /// Clock skew allowed on a DPoP proof's `iat`, either way (default 5 s).
    pub fn dpop_leeway_secs(mut self, seconds: u64) -> Self {
        self.dpop_leeway_secs = seconds;
        self
    }

    /// Most DPoP proof `jti`s remembered at once for replay detection (default 100 000, about
    /// 50 bytes each). Each is kept for `dpop_max_age` plus twice the leeway, so this also caps
    /// the sustained DPoP rate (about 1 400 requests/s with the defaults); when the record is
    /// full of unexpired ones, further DPoP requests get 503 until some expire, since forgetting
    /// one early would let its proof be replayed.
    pub fn dpop_replay_capacity(mut self, entries: usize) -> Self {
        self.dpop_replay_capacity = entries;
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The expected `iss`.
    pub fn expected_issuer(&self) -> &str {
        self.issuer.as_deref().unwrap_or(&self.authd_url)
    }

    /// The expected `aud`.
    pub fn expected_audience(&self) -> &str {
        self.audience
            .as_deref()
            .unwrap_or_else(|| self.expected_issuer())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.authd_url.starts_with("http://") || self.authd_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "authd URL {:?} must start with http:// or https://",
                self.authd_url
            )));
        }
        if self.mode == Mode::Introspect
            && (self.client_id.is_empty() || self.client_secret.is_none())
        {
            return Err(ConfigError(
                "introspect mode needs a client_id and a client secret".into(),
            ));
        }
        // RFC 6750 section 3: the realm is a quoted-string; keep it to characters needing no escape.
        if self.realm.is_empty() || self.realm.chars().any(|c| !is_challenge_char(c)) {
            return Err(ConfigError(format!("invalid realm {:?}", self.realm)));
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url)
                .map_err(|_| ConfigError(format!("public URL {url:?} is not a URL")))?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.query().is_some()
                || parsed.fragment().is_some()
            {
                return Err(ConfigError(format!(
                    "public URL {url:?} must be http(s) without query or fragment"
                )));
            }
        }
        Ok(())
    }

    /// The public URL, parsed (`None` when unset or invalid; `validate` refuses the latter).
    pub(crate) fn parsed_public_url(&self) -> Option<url::Url> {
        self.public_url
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok())
    }
}

/// Characters RFC 6750 section 3 allows inside `error_description` (and that need no escaping).
pub(crate) fn is_challenge_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

// The client secret must never reach a log, so Debug is written by hand.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("authd_url", &self.authd_url)
            .field("mode", &self.mode)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("issuer", &self.expected_issuer())
            .field("audience", &self.expected_audience())
            .field("realm", &self.realm)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("leeway_secs", &self.leeway_secs)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("public_url", &self.public_url)
            .field("dpop_max_age", &self.dpop_max_age)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_client_secret() {
        let config = Config::introspect("http://authd", "items", "s3cr3t-value".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn issuer_and_audience_default_to_the_authd_url() {
        let config = Config::local("http://authd:8080/");
        assert_eq!(config.expected_issuer(), "http://authd:8080");
        assert_eq!(config.expected_audience(), "http://authd:8080");
        let config = config.issuer("http://localhost:8080");
        assert_eq!(config.expected_audience(), "http://localhost:8080");
    }

    #[test]
    fn introspect_mode_requires_credentials_and_a_plain_realm() {
        let mut config = Config::introspect("http://authd", "", "x".into());
        assert!(config.validate().is_err());
        config.client_id = "items".into();
        assert!(config.validate().is_ok());
        assert!(config.realm("a\"b").validate().is_err());
        assert!(Config::local("authd:8080").validate().is_err());
    }

    #[test]
    fn the_public_url_must_be_a_plain_http_url() {
        let config = Config::local("http://authd");
        assert!(
            config
                .clone()
                .public_url("https://items.example.com")
                .validate()
                .is_ok()
        );
        assert!(
            config
                .clone()
                .public_url("https://x.example/svc/")
                .validate()
                .is_ok()
        );
        for bad in [
            "items.example.com",
            "ftp://x",
            "https://x/?a=1",
            "https://x/#f",
        ] {
            assert!(config.clone().public_url(bad).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn mode_parses_both_names_and_rejects_others() {
        assert_eq!("introspect".parse::<Mode>().unwrap(), Mode::Introspect);
        assert_eq!(" LOCAL ".parse::<Mode>().unwrap(), Mode::Local);
        assert!("jwt".parse::<Mode>().is_err());
    }
}
