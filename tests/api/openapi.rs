//! What the server answers outside the documented routes: 405 with `Allow`, or a JSON 404.

use reqwest::Method;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

async fn a_documented_path_with_an_undocumented_method_gets_405_and_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (Method::PUT, "/token", "POST"),
        (Method::from_bytes(b"TRACE").unwrap(), "/healthz", "GET"),
        (Method::DELETE, "/admin/users", "GET, POST"),
        (Method::PUT, "/admin/users/alice", "GET, DELETE, PATCH"),
        (Method::GET, "/admin/clients/some-client/secret", "POST"),
    ];

    for (method, path, allow) in cases {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{body}");
    }
}

async fn an_unknown_path_gets_a_json_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/nowhere", "/admin/users/alice/extra", "/token/", "/admin"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();

        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().get("allow").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{body}");
        assert!(body["error_description"].is_string());
    }
}

backend_tests!(
    a_documented_path_with_an_undocumented_method_gets_405_and_allow,
    an_unknown_path_gets_a_json_404,
);
