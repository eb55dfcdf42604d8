//! The access log: one `info` line per request under the target `authd::access`.
//!
//! `address "METHOD /path" status bytes milliseconds`. The address is the one the audit trail
//! records: the TCP peer, or the last `X-Forwarded-For` entry where `trust_forwarded_for` says a
//! proxy appended it (actix's `Logger` took `%a` from `Forwarded` and `X-Forwarded-For` as any
//! client wrote them). No query string is logged: it may carry a token. Bytes
//! are the answer's body length, `-` for a streamed body; the time runs until the answer is
//! ready to send. With the target filtered out (`RUST_LOG=info,authd::access=warn`) a request
//! costs one level check.

use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::web::Data;

use crate::config::Settings;
use crate::routes::client_ip::client_address;

/// The log target; filter it with `RUST_LOG`.
pub const TARGET: &str = "authd::access";

/// Logs the line for `response`, ready `took` after its request arrived (see `net::edge`, which
/// times it); nothing while the target is filtered out. What the line says of the request is
/// read from the answer's request, so nothing is copied for it on the way in.
pub fn log_request<B: MessageBody>(response: &ServiceResponse<B>, took: Duration) {
    if !log::log_enabled!(target: TARGET, log::Level::Info) {
        return;
    }
    crate::log_output::info_with(TARGET, |line| write_message(line, response, took));
}

/// `address "METHOD /path" status bytes milliseconds`, without `core::fmt`: its machinery was
/// the larger part of each line's cost.
fn write_message<B: MessageBody>(out: &mut Vec<u8>, response: &ServiceResponse<B>, took: Duration) {
    let request = response.request();
    let trust_forwarded_for = request
        .app_data::<Data<Settings>>()
        .is_some_and(|settings| settings.security.trust_forwarded_for);
    match client_address(request, trust_forwarded_for) {
        Some(address) => address.write_to(out),
        None => out.push(b'-'),
    }
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(b" \"");
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.path().as_bytes());
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(digits.format(response.status().as_u16()).as_bytes());
    out.push(b' ');
    // A streamed body's length is not known when the line is written.
    match response.response().body().size() {
        BodySize::Sized(bytes) => out.extend_from_slice(digits.format(bytes).as_bytes()),
        BodySize::None => out.push(b'0'),
        BodySize::Stream => out.push(b'-'),
    }
    out.push(b' ');
    write_millis(out, took);
    out.extend_from_slice(b"ms");
}

/// Milliseconds to the microsecond (`1.234`), in integers: formatting a float with a precision
/// was a visible share of each line's cost.
fn write_millis(out: &mut Vec<u8>, took: Duration) {
    let micros = (took.as_nanos() + 500) / 1000;
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(digits.format(micros / 1000).as_bytes());
    out.push(b'.');
    let fraction = digits.format(micros % 1000 + 1000);
    // 1000 to 1999: the last three digits are the fraction, zero-padded.
    out.extend_from_slice(&fraction.as_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, Once};

    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    /// Access-log lines logged by this test binary.
    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.target() == TARGET
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                LINES.lock().unwrap().push(record.args().to_string());
            }
        }

        fn flush(&self) {}
    }

    fn capture() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            log::set_logger(&Capture).expect("no other logger in the unit tests");
            log::set_max_level(log::LevelFilter::Info);
        });
    }

    async fn logged_line(settings: Settings, path: &str) -> String {
        capture();
        let app = test::init_service(
            App::new()
                .app_data(Data::new(settings))
                .wrap(actix_web::middleware::from_fn(crate::net::edge))
                .route(
                    path,
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                ),
        )
        .await;
        let request = test::TestRequest::get()
            .uri(&format!("{path}?access_token=secret-in-query"))
            .peer_addr("203.0.113.7:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "192.0.2.9, 198.51.100.1"))
            .insert_header(("Forwarded", "for=198.51.100.2"))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert!(response.status().is_success());
        let lines = LINES.lock().unwrap();
        let line = lines
            .iter()
            .find(|line| line.contains(path))
            .expect("a line for the request")
            .clone();
        assert!(line.ends_with("ms"), "{line}");
        assert!(!line.contains("secret"), "{line}");
        line
    }

    #[actix_web::test]
    async fn logs_the_peer_not_an_address_the_client_wrote() {
        let line = logged_line(Settings::default(), "/direct").await;
        assert!(
            line.starts_with("203.0.113.7 \"GET /direct\" 200 2 "),
            "{line}"
        );
        assert!(!line.contains("198.51.100"), "{line}");
    }

    #[actix_web::test]
    async fn behind_a_trusted_proxy_logs_the_address_it_appended() {
        let mut settings = Settings::default();
        settings.security.trust_forwarded_for = true;
        let line = logged_line(settings, "/proxied").await;
        assert!(
            line.starts_with("198.51.100.1 \"GET /proxied\" 200 2 "),
            "{line}"
        );
        assert!(!line.contains("192.0.2.9"), "{line}");
    }

    #[actix_web::test]
    async fn durations_are_milliseconds_rounded_to_the_microsecond() {
        let shown = |nanos| {
            let mut out = Vec::new();
            write_millis(&mut out, Duration::from_nanos(nanos));
            String::from_utf8(out).unwrap()
        };
        assert_eq!(shown(0), "0.000");
        assert_eq!(shown(499), "0.000");
        assert_eq!(shown(500), "0.001");
        assert_eq!(shown(1_234_567), "1.235");
        assert_eq!(shown(2_000_000_000), "2000.000");
        assert_eq!(shown(45_678), "0.046");
    }
}
