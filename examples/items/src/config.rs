//! Settings from the environment: `ITEMS_*` and `AUTHD_URL`.

use std::net::SocketAddr;
use std::time::Duration;

use authd_client::{Config, Mode};
use secrecy::SecretString;

/// Everything `items` reads at start.
pub struct Settings {
    /// `ITEMS_BIND` (default `127.0.0.1:8081`).
    pub bind: SocketAddr,
    /// `AUTHD_URL` (default `http://127.0.0.1:8080`).
    pub authd_url: String,
    /// `ITEMS_AUTH_MODE`: `introspect` (default) or `local`.
    pub mode: Mode,
    client_id: String,
    client_secret: Option<SecretString>,
    issuer: Option<String>,
    audience: Option<String>,
    /// `ITEMS_PUBLIC_URL`: items' URL as callers see it, which DPoP proofs must name (RFC 9449);
    /// unset, DPoP-bound tokens are refused.
    pub public_url: Option<String>,
    cache: Duration,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let bind = get("ITEMS_BIND").unwrap_or_else(|| "127.0.0.1:8081".into());
        let bind = bind
            .parse()
            .map_err(|_| format!("ITEMS_BIND: {bind:?} is not an address like 0.0.0.0:8081"))?;
        let mode = get("ITEMS_AUTH_MODE")
            .map_or(Ok(Mode::Introspect), |m| m.parse())
            .map_err(|e| format!("ITEMS_AUTH_MODE: {e}"))?;
        let cache = match get("ITEMS_CACHE_SECS") {
            Some(secs) => Duration::from_secs_f64(
                secs.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        format!("ITEMS_CACHE_SECS: {secs:?} is not a number of seconds")
                    })?,
            ),
            None => Duration::from_secs(5),
        };
        let client_secret = match (get("ITEMS_CLIENT_SECRET"), get("ITEMS_CLIENT_SECRET_FILE")) {
            (Some(_), Some(_)) => {
                return Err("set ITEMS_CLIENT_SECRET or ITEMS_CLIENT_SECRET_FILE, not both".into());
            }
            (Some(secret), None) => Some(secret),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("ITEMS_CLIENT_SECRET_FILE: reading {path}: {e}"))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if mode == Mode::Introspect && client_secret.is_none() {
            return Err(
                "introspect mode needs ITEMS_CLIENT_SECRET or ITEMS_CLIENT_SECRET_FILE".into(),
            );
        }
        Ok(Self {
            bind,
            authd_url: get("AUTHD_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            mode,
            client_id: get("ITEMS_CLIENT_ID").unwrap_or_else(|| "items".into()),
            client_secret: client_secret.map(SecretString::from),
            issuer: get("ITEMS_ISSUER"),
            audience: get("ITEMS_AUDIENCE"),
            public_url: get("ITEMS_PUBLIC_URL"),
            cache,
        })
    }

    /// The `authd-client` configuration these settings describe.
    pub fn client_config(&self) -> Config {
        let mut config = match (self.mode, &self.client_secret) {
            (Mode::Introspect, Some(secret)) => {
                Config::introspect(&self.authd_url, &self.client_id, secret.clone())
            }
            _ => Config::local(&self.authd_url),
        };
        if let Some(issuer) = &self.issuer {
            config = config.issuer(issuer);
        }
        if let Some(audience) = &self.audience {
            config = config.audience(audience);
        }
        if let Some(public_url) = &self.public_url {
            config = config.public_url(public_url);
        }
        config.realm("items").cache_ttl(self.cache)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn local_mode_needs_nothing_but_defaults() {
        let settings = settings(&[("ITEMS_AUTH_MODE", "local")]).unwrap();
        assert_eq!(settings.bind.to_string(), "127.0.0.1:8081");
        let config = settings.client_config();
        assert_eq!(config.mode(), Mode::Local);
        assert_eq!(config.expected_issuer(), "http://127.0.0.1:8080");
    }

    #[test]
    fn introspect_mode_reads_the_secret_from_a_file() {
        let dir = std::env::temp_dir().join(format!("items-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let settings = settings(&[
            ("ITEMS_CLIENT_SECRET_FILE", path.to_str().unwrap()),
            ("ITEMS_ISSUER", "http://localhost:8080"),
            ("ITEMS_CACHE_SECS", "1.5"),
        ])
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let config = settings.client_config();
        assert_eq!(config.mode(), Mode::Introspect);
        assert_eq!(config.expected_audience(), "http://localhost:8080");
        assert_eq!(settings.cache, Duration::from_millis(1500));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn the_public_url_reaches_the_client_config_and_is_checked() {
        let good = settings(&[
            ("ITEMS_AUTH_MODE", "local"),
            ("ITEMS_PUBLIC_URL", "https://items.example.com"),
        ])
        .unwrap();
        let shown = format!("{:?}", good.client_config());
        assert!(shown.contains("https://items.example.com"), "{shown}");
        let bad = settings(&[
            ("ITEMS_AUTH_MODE", "local"),
            ("ITEMS_PUBLIC_URL", "items:8081"),
        ]);
        assert!(authd_client::AuthdClient::new(bad.unwrap().client_config()).is_err());
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        for (vars, name) in [
            (
                vec![("ITEMS_AUTH_MODE", "local"), ("ITEMS_BIND", "nope")],
                "ITEMS_BIND",
            ),
            (vec![("ITEMS_AUTH_MODE", "jwt")], "ITEMS_AUTH_MODE"),
            (vec![], "ITEMS_CLIENT_SECRET"),
            (
                vec![("ITEMS_CLIENT_SECRET", "x"), ("ITEMS_CACHE_SECS", "-1")],
                "ITEMS_CACHE_SECS",
            ),
            (
                vec![
                    ("ITEMS_CLIENT_SECRET", "x"),
                    ("ITEMS_CLIENT_SECRET_FILE", "/f"),
                ],
                "not both",
            ),
        ] {
            let error = settings(&vars).err().unwrap();
            assert!(error.contains(name), "{error}");
        }
    }
}
