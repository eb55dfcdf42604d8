//! Requests no route matched: 405 with `Allow` on a documented path, 404 anywhere else.

use std::sync::LazyLock;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::routes::admin::wire::ErrorResponse;

/// The documented path templates, split into segments, with the methods each one serves.
struct KnownPaths(Vec<(Vec<String>, Vec<Method>)>);

impl KnownPaths {
    fn from_document(document: &utoipa::openapi::OpenApi) -> Self {
        let paths = document
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                    (Method::OPTIONS, item.options.is_some()),
                    (Method::HEAD, item.head.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                    (Method::TRACE, item.trace.is_some()),
                ];
                let methods = methods
                    .into_iter()
                    .filter_map(|(method, present)| present.then_some(method))
                    .collect();
                (segments, methods)
            })
            .collect();
        Self(paths)
    }

    /// The methods documented for every template `path` matches; `{param}` matches one segment.
    fn allowed(&self, path: &str) -> Vec<Method> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<Method> = Vec::new();
        for (template, methods) in &self.0 {
            let matches = template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                });
            if matches {
                for method in methods {
                    if !allowed.contains(method) {
                        allowed.push(method.clone());
                    }
                }
            }
        }
        allowed
    }
}

// Built on first use: the document comes from `routes::configure`, which mounts this service.
static KNOWN_PATHS: LazyLock<KnownPaths> =
    LazyLock::new(|| KnownPaths::from_document(&super::openapi_document()));

/// The default service: 405 listing the documented methods (RFC 9110 section 15.5.6), else 404.
pub async fn answer_unmatched(request: HttpRequest) -> HttpResponse {
    let allowed = KNOWN_PATHS.allowed(request.path());
    if allowed.is_empty() {
        return ApiError::NotFound("no such resource".into()).error_response();
    }
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow.clone()))
        .json(ErrorResponse {
            error: "method_not_allowed".into(),
            error_description: Some(format!(
                "{} is not supported here; use {allow}",
                request.method()
            )),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownPaths {
        KnownPaths(vec![
            (
                "/admin/users".split('/').map(str::to_owned).collect(),
                vec![Method::GET, Method::POST],
            ),
            (
                "/admin/users/{username}"
                    .split('/')
                    .map(str::to_owned)
                    .collect(),
                vec![Method::GET, Method::PATCH],
            ),
        ])
    }

    #[test]
    fn a_parameter_matches_exactly_one_non_empty_segment() {
        let paths = known();
        assert_eq!(
            paths.allowed("/admin/users/alice"),
            [Method::GET, Method::PATCH]
        );
        assert!(paths.allowed("/admin/users/").is_empty());
        assert!(paths.allowed("/admin/users/alice/roles").is_empty());
    }

    #[test]
    fn literal_segments_must_match() {
        let paths = known();
        assert_eq!(paths.allowed("/admin/users"), [Method::GET, Method::POST]);
        assert!(paths.allowed("/admin/roles").is_empty());
    }
}
