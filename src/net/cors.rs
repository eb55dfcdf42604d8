//! CORS (Fetch standard) for browser clients: JavaScript on an origin some client registered may
//! call `/token`, `/revoke`, `/userinfo` and the `/.well-known` documents (metadata, JWKS). Other
//! origins get no CORS headers, and their preflight is refused with 403. No credentials mode: tokens travel in
//! bodies and `Authorization`, never in cookies, so `Access-Control-Allow-Credentials` is not sent.
//!
//! The allowed origins are the union of every client's `allowed_origins`, read from the database
//! at most once a second (only when a request carries `Origin`), so a change made on any instance
//! is honoured everywhere within a second, and at once on the instance that made it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::Data;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::store::{Store, StoreError};

/// How long a preflight answer may be cached by the browser.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 600;
/// Request headers a browser client may send.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, DPoP";
/// Response headers a browser client may read.
const EXPOSED_HEADERS: &str = "DPoP-Nonce, WWW-Authenticate";
/// How long the origin list is used before it is read again.
const RELOAD_AFTER: Duration = Duration::from_secs(1);
/// How long a request waits for the list; past it, the last one is used.
const LOAD_TIMEOUT: Duration = Duration::from_secs(2);

/// The methods JavaScript may use on `path`, or `None` when `path` takes no CORS requests.
fn cors_methods(path: &str) -> Option<&'static str> {
    match path {
        "/token" | "/revoke" | "/par" => Some("POST"),
        "/userinfo" => Some("GET, POST"),
        _ if path.starts_with("/.well-known/") => Some("GET"),
        _ => None,
    }
}

type Load = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<HashSet<String>, StoreError>> + Send>>
        + Send
        + Sync,
>;

/// The last origin list read, and when.
struct Snapshot {
    origins: Arc<HashSet<String>>,
    // When the read that produced `origins` started; `None` before the first read.
    read_at: Option<Instant>,
    // When this instance last changed a client's origins.
    changed_at: Option<Instant>,
}

/// The union of the origins registered clients allow, cached for `RELOAD_AFTER`.
pub struct AllowedOrigins {
    load: Load,
    snapshot: RwLock<Snapshot>,
    // One read at a time: requests arriving meanwhile wait for it instead of reading too.
    reload: tokio::sync::Mutex<()>,
}

impl AllowedOrigins {
    /// Reads the origins from `store`.
    pub fn new(store: Store) -> Self {
        Self::with_loader(Box::new(move || {
            let store = store.clone();
            Box::pin(async move { store.allowed_origins().await })
        }))
    }

    fn with_loader(load: Load) -> Self {
        Self {
            load,
            snapshot: RwLock::new(Snapshot {
                origins: Arc::default(),
                read_at: None,
                changed_at: None,
            }),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// Makes the next request read the list again (after a client changed here).
    pub fn forget(&self) {
        self.snapshot
            .write()
            .expect("origin lock poisoned")
            .changed_at = Some(Instant::now());
    }

    /// Whether a client allows `origin`.
    pub async fn allows(&self, origin: &str) -> bool {
        self.current().await.contains(origin)
    }

    fn fresh(&self) -> Option<Arc<HashSet<String>>> {
        let snapshot = self.snapshot.read().expect("origin lock poisoned");
        let read_at = snapshot.read_at?;
        // A read that started before a local change may not have seen it.
        let fresh = read_at.elapsed() < RELOAD_AFTER
            && snapshot.changed_at.is_none_or(|changed| read_at > changed);
        fresh.then(|| snapshot.origins.clone())
    }

    async fn current(&self) -> Arc<HashSet<String>> {
        if let Some(origins) = self.fresh() {
            return origins;
        }
        let _turn = self.reload.lock().await;
        if let Some(origins) = self.fresh() {
            return origins;
        }
        let started = Instant::now();
        let loaded = tokio::time::timeout(LOAD_TIMEOUT, (self.load)()).await;
        let mut snapshot = self.snapshot.write().expect("origin lock poisoned");
        match loaded {
            Ok(Ok(origins)) => {
                snapshot.origins = Arc::new(origins);
                snapshot.read_at = Some(started);
            }
            failed => {
                let why = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_owned(),
                };
                log::warn!("reading the allowed CORS origins failed ({why}); using the last list");
                // Try again in a second, not on every request while the database is down.
                snapshot.read_at = Some(Instant::now());
            }
        }
        snapshot.origins.clone()
    }
}

fn preflight_response(origin: &str, methods: &'static str) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE_SECS))
        .finish()
}

/// Every answer on a CORS path carries `Vary: Origin`, so a shared cache never hands one origin's
/// answer to another.
fn vary_by_origin(headers: &mut HeaderMap) {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// What CORS makes of one request (see `net::edge`).
pub enum Cors {
    /// Not a CORS path: nothing to add.
    NotHere,
    /// A preflight, answered here without reaching a handler.
    Preflight(HttpResponse),
    /// A request on a CORS path; its answer gets the headers.
    Answer {
        /// The `Origin` it came from, if any.
        origin: Option<String>,
        /// Whether some client allows that origin.
        allowed: bool,
    },
}

impl Cors {
    /// Reads the request's origin and, on a CORS path, whether a client allows it; answers
    /// preflights.
    pub async fn check(request: &ServiceRequest) -> Self {
        let Some(methods) = cors_methods(request.path()) else {
            return Self::NotHere;
        };
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let allowed = match (&origin, request.app_data::<Data<AllowedOrigins>>()) {
            (Some(origin), Some(origins)) => origins.allows(origin).await,
            _ => false,
        };
        let is_preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        match (origin, is_preflight) {
            (Some(origin), true) => {
                let mut answer = if allowed {
                    preflight_response(&origin, methods)
                } else {
                    ApiError::Forbidden("this origin may not call authd from a browser".into())
                        .error_response()
                };
                vary_by_origin(answer.headers_mut());
                Self::Preflight(answer)
            }
            (origin, _) => Self::Answer { origin, allowed },
        }
    }

    /// Adds the headers to a handler's answer on a CORS path (handlers answer errors as
    /// responses, so those get them too). A preflight's answer is complete already.
    pub fn finish(self, headers: &mut HeaderMap) {
        let Self::Answer { origin, allowed } = self else {
            return;
        };
        vary_by_origin(headers);
        if let Some(value) = origin
            .filter(|_| allowed)
            .and_then(|origin| HeaderValue::from_str(&origin).ok())
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            // Script must read DPoP nonces and challenges (RFC 9449 section 8).
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(loads: Arc<AtomicUsize>, origins: &[&str]) -> AllowedOrigins {
        let origins: HashSet<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        AllowedOrigins::with_loader(Box::new(move || {
            loads.fetch_add(1, Ordering::SeqCst);
            let origins = origins.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(origins)
            })
        }))
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_read_per_second() {
        let loads = Arc::new(AtomicUsize::new(0));
        let origins = Arc::new(counting(loads.clone(), &["https://app.example"]));

        let checks = (0..100).map(|i| {
            let origins = origins.clone();
            tokio::spawn(async move {
                let asked = if i % 2 == 0 {
                    "https://app.example"
                } else {
                    "https://evil.example"
                };
                (i % 2 == 0) == origins.allows(asked).await
            })
        });
        for check in checks {
            assert!(check.await.unwrap());
        }

        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_local_change_is_read_at_once_and_otherwise_after_a_second() {
        let loads = Arc::new(AtomicUsize::new(0));
        let origins = counting(loads.clone(), &[]);
        origins.allows("https://a.example").await;
        origins.allows("https://a.example").await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        origins.forget();
        origins.allows("https://a.example").await;
        assert_eq!(loads.load(Ordering::SeqCst), 2);

        tokio::time::sleep(RELOAD_AFTER).await;
        origins.allows("https://a.example").await;
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_last_list_and_is_not_retried_per_request() {
        let loads = Arc::new(AtomicUsize::new(0));
        let counter = loads.clone();
        let origins = AllowedOrigins::with_loader(Box::new(move || {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                if first {
                    Ok(HashSet::from(["https://a.example".to_owned()]))
                } else {
                    Err(StoreError::NotFound("database gone".into()))
                }
            })
        }));
        assert!(origins.allows("https://a.example").await);
        origins.forget();

        assert!(origins.allows("https://a.example").await);
        assert!(origins.allows("https://a.example").await);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_the_browser_facing_endpoints_take_cors_requests() {
        assert_eq!(cors_methods("/token"), Some("POST"));
        assert_eq!(cors_methods("/revoke"), Some("POST"));
        assert_eq!(cors_methods("/par"), Some("POST"));
        assert_eq!(cors_methods("/userinfo"), Some("GET, POST"));
        assert_eq!(cors_methods("/.well-known/jwks.json"), Some("GET"));
        assert_eq!(
            cors_methods("/.well-known/oauth-authorization-server"),
            Some("GET")
        );
        for path in [
            "/introspect",
            "/admin/users",
            "/me",
            "/token/",
            "/authorize",
        ] {
            assert_eq!(cors_methods(path), None, "{path}");
        }
    }
}
