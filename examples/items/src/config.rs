//! Settings from the environment: `AUTHD_URL` and the service's own variables, `ITEMS_*` for
//! items and `PRICES_*` for prices.

use std::net::SocketAddr;
use std::time::Duration;

use authd_client::exchange::ExchangeConfig;
use authd_client::{Config, Mode};
use secrecy::SecretString;

/// One of the example services: the prefix of its variables and its defaults.
#[derive(Debug)]
pub struct Service {
    /// The realm of its challenges, and its default client_id.
    pub name: &'static str,
    /// The prefix of its variables (`ITEMS` reads `ITEMS_BIND`, …).
    pub prefix: &'static str,
    default_bind: &'static str,
    /// Whether `{prefix}_AUDIENCE` must be set: a service that only accepts tokens addressed to
    /// its own resource URI.
    audience_required: bool,
}

/// items: default-audience tokens unless `ITEMS_AUDIENCE` is set.
pub const ITEMS: Service = Service {
    name: "items",
    prefix: "ITEMS",
    default_bind: "127.0.0.1:8081",
    audience_required: false,
};

/// prices: only tokens whose `aud` is its resource URI (`PRICES_AUDIENCE`).
pub const PRICES: Service = Service {
    name: "prices",
    prefix: "PRICES",
    default_bind: "127.0.0.1:8082",
    audience_required: true,
};

/// Everything a service reads at start.
pub struct Settings {
    service: &'static Service,
    /// `{prefix}_BIND` (default `127.0.0.1:8081` for items, `127.0.0.1:8082` for prices).
    pub bind: SocketAddr,
    /// `AUTHD_URL` (default `http://127.0.0.1:8080`).
    pub authd_url: String,
    /// `{prefix}_AUTH_MODE`: `introspect` (default) or `local`.
    pub mode: Mode,
    client_id: String,
    client_secret: Option<SecretString>,
    issuer: Option<String>,
    audience: Option<String>,
    /// `{prefix}_PUBLIC_URL`: the service's URL as callers see it, which DPoP proofs must name
    /// (RFC 9449); unset, DPoP-bound tokens are refused.
    pub public_url: Option<String>,
    cache: Duration,
    /// items only: `ITEMS_PRICES_URL` and `ITEMS_PRICES_RESOURCE`, where prices answers and its
    /// resource URI; unset, `GET /items/{id}/price` is not mounted.
    pub prices: Option<PricesLink>,
}

/// Where items finds prices, and the resource URI it asks authd for tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricesLink {
    /// `ITEMS_PRICES_URL`, e.g. `http://prices:8082`.
    pub url: String,
    /// `ITEMS_PRICES_RESOURCE` (default: the URL), the `aud` prices accepts.
    pub resource: String,
}

impl Settings {
    /// Reads the process environment for `service`.
    pub fn from_env(service: &'static Service) -> Result<Self, String> {
        Self::from_lookup(service, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    fn from_lookup(
        service: &'static Service,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let p = service.prefix;
        let var = |name: &str| get(&format!("{p}_{name}"));
        let bind = var("BIND").unwrap_or_else(|| service.default_bind.into());
        let bind = bind.parse().map_err(|_| {
            format!(
                "{p}_BIND: {bind:?} is not an address like {}",
                service.default_bind
            )
        })?;
        let mode = var("AUTH_MODE")
            .map_or(Ok(Mode::Introspect), |m| m.parse())
            .map_err(|e| format!("{p}_AUTH_MODE: {e}"))?;
        let cache = match var("CACHE_SECS") {
            Some(secs) => Duration::from_secs_f64(
                secs.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        format!("{p}_CACHE_SECS: {secs:?} is not a number of seconds")
                    })?,
            ),
            None => Duration::from_secs(5),
        };
        let client_secret = match (var("CLIENT_SECRET"), var("CLIENT_SECRET_FILE")) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "set {p}_CLIENT_SECRET or {p}_CLIENT_SECRET_FILE, not both"
                ));
            }
            (Some(secret), None) => Some(secret),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("{p}_CLIENT_SECRET_FILE: reading {path}: {e}"))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if mode == Mode::Introspect && client_secret.is_none() {
            return Err(format!(
                "introspect mode needs {p}_CLIENT_SECRET or {p}_CLIENT_SECRET_FILE"
            ));
        }
        let audience = var("AUDIENCE");
        if service.audience_required && audience.is_none() {
            return Err(format!(
                "{p}_AUDIENCE: {}'s resource URI is required (tokens must be addressed to it)",
                service.name
            ));
        }
        let prices = match var("PRICES_URL") {
            Some(url) => {
                if client_secret.is_none() {
                    return Err(format!(
                        "{p}_PRICES_URL needs {p}_CLIENT_SECRET or {p}_CLIENT_SECRET_FILE: \
                         token exchange authenticates as the client"
                    ));
                }
                let url = url.trim_end_matches('/').to_owned();
                Some(PricesLink {
                    resource: var("PRICES_RESOURCE").unwrap_or_else(|| url.clone()),
                    url,
                })
            }
            None => None,
        };
        Ok(Self {
            service,
            bind,
            authd_url: get("AUTHD_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            mode,
            client_id: var("CLIENT_ID").unwrap_or_else(|| service.name.into()),
            client_secret: client_secret.map(SecretString::from),
            issuer: var("ISSUER"),
            audience,
            public_url: var("PUBLIC_URL"),
            cache,
            prices,
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
        config.realm(self.service.name).cache_ttl(self.cache)
    }

    /// How the service exchanges tokens at authd (RFC 8693): as its own client, delegating
    /// (its client_credentials token is the actor token); `None` without a client secret.
    pub fn exchange_config(&self) -> Option<ExchangeConfig> {
        let secret = self.client_secret.clone()?;
        Some(ExchangeConfig::new(&self.authd_url, &self.client_id, secret).delegate())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        settings_of(&ITEMS, vars)
    }

    fn settings_of(service: &'static Service, vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(service, |name| vars.get(name).cloned())
    }

    #[test]
    fn prices_reads_its_own_variables_and_needs_its_resource_uri() {
        let missing = settings_of(&PRICES, &[("PRICES_AUTH_MODE", "local")]);
        assert!(missing.err().unwrap().contains("PRICES_AUDIENCE"));
        let prices = settings_of(
            &PRICES,
            &[
                ("PRICES_AUTH_MODE", "local"),
                ("PRICES_AUDIENCE", "http://prices.example.com"),
                ("ITEMS_BIND", "nope"),
            ],
        )
        .unwrap();
        assert_eq!(prices.bind.to_string(), "127.0.0.1:8082");
        let config = prices.client_config();
        assert_eq!(config.expected_audience(), "http://prices.example.com");
        assert!(format!("{config:?}").contains(r#"realm: "prices""#));
    }

    #[test]
    fn the_prices_link_needs_a_secret_and_defaults_its_resource_to_the_url() {
        let without_secret = settings(&[
            ("ITEMS_AUTH_MODE", "local"),
            ("ITEMS_PRICES_URL", "http://prices:8082"),
        ]);
        assert!(
            without_secret
                .err()
                .unwrap()
                .contains("ITEMS_CLIENT_SECRET")
        );
        let linked = settings(&[
            ("ITEMS_AUTH_MODE", "local"),
            ("ITEMS_CLIENT_SECRET", "s3cret"),
            ("ITEMS_PRICES_URL", "http://prices:8082/"),
        ])
        .unwrap();
        assert_eq!(
            linked.prices,
            Some(PricesLink {
                url: "http://prices:8082".into(),
                resource: "http://prices:8082".into()
            })
        );
        let exchange = linked.exchange_config().unwrap();
        assert!(!format!("{exchange:?}").contains("s3cret"));
        let named = settings(&[
            ("ITEMS_CLIENT_SECRET", "s3cret"),
            ("ITEMS_PRICES_URL", "http://prices:8082"),
            ("ITEMS_PRICES_RESOURCE", "https://prices.example.com"),
        ])
        .unwrap();
        assert_eq!(named.prices.unwrap().resource, "https://prices.example.com");
        assert!(
            settings(&[("ITEMS_AUTH_MODE", "local")])
                .unwrap()
                .exchange_config()
                .is_none()
        );
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
