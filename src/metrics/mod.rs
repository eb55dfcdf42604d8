//! Prometheus metrics: requests, tokens, introspections, logins, hashing, pool, janitor.
//!
//! Counters are process-wide atomics (as a metrics registry always is); the request histograms
//! are kept per thread (`requests`).

mod requests;

use std::cell::RefCell;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;

use crate::domain::GrantType;
use crate::store::{Store, Swept};
use requests::{BUCKETS, RequestHistograms};

/// Where `grant` counts in `Metrics::tokens_issued`.
fn grant_index(grant: GrantType) -> usize {
    GrantType::ALL
        .iter()
        .position(|g| *g == grant)
        .expect("GrantType::ALL lists every grant")
}

/// What became of one back-channel logout attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackchannelOutcome {
    /// The client answered 2xx.
    Delivered,
    /// It failed and will be tried again.
    Retried,
    /// It failed too long; the notification was dropped.
    GivenUp,
}

/// Every metric authd exports.
#[derive(Default)]
pub struct Metrics {
    requests: RequestHistograms,
    // One per grant, in `GrantType::ALL`'s order.
    tokens_issued: [AtomicU64; GrantType::ALL.len()],
    introspections_active: AtomicU64,
    introspections_inactive: AtomicU64,
    login_failures: AtomicU64,
    lockouts: AtomicU64,
    guess_budget_refusals: AtomicU64,
    connections_refused: AtomicU64,
    backchannel_delivered: AtomicU64,
    backchannel_retried: AtomicU64,
    backchannel_given_up: AtomicU64,
    hash_queue: AtomicI64,
    audit_queue: AtomicI64,
    swept: Mutex<Swept>,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

impl Metrics {
    /// Counts an issued access token.
    pub fn token_issued(&self, grant: GrantType) {
        self.tokens_issued[grant_index(grant)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an introspection answer.
    pub fn introspected(&self, active: bool) {
        let counter = if active {
            &self.introspections_active
        } else {
            &self.introspections_inactive
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed login.
    pub fn login_failed(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lock imposed on a username or address.
    pub fn locked_out(&self) {
        self.lockouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an attempt refused because its account's guess budget was spent (a sign of a
    /// distributed attack on that username).
    pub fn guess_budget_refused(&self) {
        self.guess_budget_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed because its address held too many.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a back-channel logout attempt by its outcome.
    pub fn backchannel_logout(&self, outcome: BackchannelOutcome) {
        let counter = match outcome {
            BackchannelOutcome::Delivered => &self.backchannel_delivered,
            BackchannelOutcome::Retried => &self.backchannel_retried,
            BackchannelOutcome::GivenUp => &self.backchannel_given_up,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A password hash started waiting (+1) or finished (-1).
    pub fn hash_queue_change(&self, delta: i64) {
        self.hash_queue.fetch_add(delta, Ordering::Relaxed);
    }

    /// Audit events were queued (+n) or written (-n).
    pub fn audit_queue_change(&self, delta: i64) {
        self.audit_queue.fetch_add(delta, Ordering::Relaxed);
    }

    /// Adds the janitor's deletions.
    pub fn swept(&self, swept: Swept) {
        let mut total = self.swept.lock().expect("metrics lock poisoned");
        total.refresh_families += swept.refresh_families;
        total.revoked_access_tokens += swept.revoked_access_tokens;
        total.login_failures += swept.login_failures;
        total.login_addresses += swept.login_addresses;
        total.audit_events += swept.audit_events;
        total.sessions += swept.sessions;
        total.authorization_codes += swept.authorization_codes;
        total.webauthn_challenges += swept.webauthn_challenges;
        total.pushed_requests += swept.pushed_requests;
        total.dpop_proofs += swept.dpop_proofs;
        total.device_codes += swept.device_codes;
        total.refresh_retries += swept.refresh_retries;
    }

    fn observe_request(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.requests.observe(method, route, status, seconds);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, store: &Store) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let counter = |out: &mut String, name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let issued_labels = GrantType::ALL.map(|grant| format!("{{grant=\"{grant}\"}}"));
        let issued_samples: Vec<(&str, u64)> = issued_labels
            .iter()
            .zip(&self.tokens_issued)
            .map(|(label, count)| (label.as_str(), load(count)))
            .collect();
        counter(
            &mut out,
            "authd_tokens_issued_total",
            "Access tokens issued, by grant.",
            &issued_samples,
        );
        counter(
            &mut out,
            "authd_introspections_total",
            "Introspection answers, by result.",
            &[
                ("{result=\"active\"}", load(&self.introspections_active)),
                ("{result=\"inactive\"}", load(&self.introspections_inactive)),
            ],
        );
        counter(
            &mut out,
            "authd_login_failures_total",
            "Failed password logins.",
            &[("", load(&self.login_failures))],
        );
        counter(
            &mut out,
            "authd_lockouts_total",
            "Locks imposed on usernames or addresses.",
            &[("", load(&self.lockouts))],
        );
        counter(
            &mut out,
            "authd_guess_budget_refusals_total",
            "Login attempts refused because the account's guess budget (security.account_guess_budget) was spent.",
            &[("", load(&self.guess_budget_refusals))],
        );
        counter(
            &mut out,
            "authd_connections_refused_total",
            "Connections closed at once because their address held server.max_connections_per_address.",
            &[("", load(&self.connections_refused))],
        );
        counter(
            &mut out,
            "authd_backchannel_logout_total",
            "Back-channel logout attempts, by outcome.",
            &[
                ("{outcome=\"delivered\"}", load(&self.backchannel_delivered)),
                ("{outcome=\"retried\"}", load(&self.backchannel_retried)),
                ("{outcome=\"given_up\"}", load(&self.backchannel_given_up)),
            ],
        );
        let swept = *self.swept.lock().expect("metrics lock poisoned");
        counter(
            &mut out,
            "authd_janitor_deleted_total",
            "Rows the janitor deleted, by table (refresh_retries: sealed retry successors it cleared).",
            &[
                ("{table=\"refresh_families\"}", swept.refresh_families),
                (
                    "{table=\"revoked_access_tokens\"}",
                    swept.revoked_access_tokens,
                ),
                ("{table=\"login_failures\"}", swept.login_failures),
                ("{table=\"login_addresses\"}", swept.login_addresses),
                ("{table=\"audit_events\"}", swept.audit_events),
                ("{table=\"sessions\"}", swept.sessions),
                ("{table=\"authorization_codes\"}", swept.authorization_codes),
                (
                    "{table=\"webauthn_challenges_used\"}",
                    swept.webauthn_challenges,
                ),
                ("{table=\"pushed_requests_used\"}", swept.pushed_requests),
                ("{table=\"dpop_proofs\"}", swept.dpop_proofs),
                ("{table=\"device_codes\"}", swept.device_codes),
                ("{table=\"refresh_retries\"}", swept.refresh_retries),
            ],
        );
        let (size, idle) = store.pool_usage();
        let _ = writeln!(
            out,
            "# HELP authd_password_hash_queue Password hashes running or waiting for a slot.\n\
             # TYPE authd_password_hash_queue gauge\nauthd_password_hash_queue {}\n\
             # HELP authd_audit_queue Audit events queued and not yet written.\n\
             # TYPE authd_audit_queue gauge\nauthd_audit_queue {}\n\
             # HELP authd_db_pool_connections Database pool connections, by state.\n\
             # TYPE authd_db_pool_connections gauge\n\
             authd_db_pool_connections{{state=\"idle\"}} {idle}\n\
             authd_db_pool_connections{{state=\"in_use\"}} {}",
            self.hash_queue.load(Ordering::Relaxed),
            self.audit_queue.load(Ordering::Relaxed),
            (size as usize).saturating_sub(idle)
        );
        let _ = writeln!(
            out,
            "# HELP authd_http_request_duration_seconds HTTP requests, by method, route and status.\n\
             # TYPE authd_http_request_duration_seconds histogram"
        );
        for ((method, route, status), histogram) in &self.requests.merged() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "authd_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "authd_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 authd_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 authd_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.count, histogram.sum, histogram.count
            );
        }
        out
    }
}

/// The method as a label: the standard ones by name, any other as `other` (a client may send
/// any token as a method, and each distinct label would be a new histogram kept for good).
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    STANDARD
        .iter()
        .find(|standard| *standard == method)
        .map_or("other", |standard| standard.as_str())
}

/// Counts `response`, ready `took` after its request arrived, in the request histograms (see
/// `net::edge`, which times it). Method and route are read from the answer's request.
pub fn count_request<B>(response: &ServiceResponse<B>, took: Duration) {
    let request = response.request();
    with_route_of(request, |route| {
        METRICS.observe_request(
            method_label(request.method()),
            route,
            response.status().as_u16(),
            took.as_secs_f64(),
        );
    });
}

/// Calls `use_route` with the route pattern of `request`, not its path (unmatched paths share
/// one label): label values must not grow with user input. Finding the pattern walks the app's
/// routes and allocates it, so each thread keeps the last path's: a busy endpoint is matched
/// once, not on every request.
fn with_route_of(request: &HttpRequest, use_route: impl FnOnce(&str)) {
    /// Longer paths are matched every time rather than kept.
    const LONGEST_KEPT: usize = 256;
    thread_local! {
        static LAST: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
    }
    let path = request.path();
    let pattern_of = || {
        request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned())
    };
    if path.len() > LONGEST_KEPT {
        return use_route(&pattern_of());
    }
    LAST.with_borrow_mut(|(last_path, pattern)| {
        if last_path.is_empty() || last_path != path {
            *pattern = pattern_of();
            path.clone_into(last_path);
        }
        use_route(pattern);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_grant_counts_its_own_tokens() {
        let metrics = Metrics::default();
        metrics.token_issued(GrantType::AuthorizationCode);
        metrics.token_issued(GrantType::DeviceCode);
        metrics.token_issued(GrantType::DeviceCode);
        let count = |grant| metrics.tokens_issued[grant_index(grant)].load(Ordering::Relaxed);
        assert_eq!(count(GrantType::AuthorizationCode), 1);
        assert_eq!(count(GrantType::DeviceCode), 2);
        assert_eq!(count(GrantType::RefreshToken), 0);
        assert_eq!(count(GrantType::TokenExchange), 0);
    }

    #[actix_web::test]
    async fn routes_are_labelled_by_pattern_and_unmatched_paths_share_one_label() {
        use actix_web::{App, HttpResponse, test, web};

        let app = test::init_service(
            App::new()
                .route("/users/{id}", web::get().to(HttpResponse::Ok))
                .route("/healthz", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let route_of = async |path: &str| {
            let request = test::TestRequest::get().uri(path).to_request();
            let response = test::call_service(&app, request).await;
            let mut route = String::new();
            with_route_of(response.request(), |found| route = found.to_owned());
            route
        };

        // The same path twice (kept), then others: each gets its own pattern.
        assert_eq!(route_of("/users/7").await, "/users/{id}");
        assert_eq!(route_of("/users/7").await, "/users/{id}");
        assert_eq!(route_of("/healthz").await, "/healthz");
        assert_eq!(route_of("/users/8").await, "/users/{id}");
        assert_eq!(route_of("/nothing-here").await, "unmatched");
        assert_eq!(
            route_of(&format!("/{}", "x".repeat(300))).await,
            "unmatched"
        );
        assert_eq!(route_of("/healthz").await, "/healthz");
    }

    #[test]
    fn only_standard_methods_become_labels() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
        let huge = Method::from_bytes("X".repeat(30_000).as_bytes()).unwrap();
        assert_eq!(method_label(&huge), "other");
    }
}
