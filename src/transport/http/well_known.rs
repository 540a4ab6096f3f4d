//! What OAuth-capable MCP clients probe after a `401`: RFC 9728 protected
//! resource metadata, RFC 8414 authorization server metadata, OpenID
//! discovery, dynamic client registration and the usual endpoints. This
//! server has no OAuth: each gets one fixed `404 oauth_not_supported`,
//! needing no token, so a client stops looking and says what is wrong.
//!
//! The probes at the root, with or without a path suffix, are routes
//! ([`router`]); the same documents under a path prefix
//! (`/mcp/.well-known/openid-configuration`), which no route can spell, are
//! recognised among the unmatched paths ([`prefixed`]), before the
//! authentication those meet.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::any;

use super::layers::refused;
use crate::web::error_response;

/// The discovery documents clients look for.
const WELL_KNOWN: [&str; 3] = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// The OAuth endpoints clients try without discovery.
const ENDPOINTS: [&str; 3] = ["/register", "/authorize", "/token"];

/// Every probe at the root, any method: the fixed answer.
pub(super) fn router() -> Router {
    let mut router = Router::new();
    for document in WELL_KNOWN {
        router = router
            .route(document, any(not_supported))
            .route(&format!("{document}/{{*rest}}"), any(not_supported));
    }
    for endpoint in ENDPOINTS {
        router = router.route(endpoint, any(not_supported));
    }
    router
}

/// For the unmatched paths: a discovery document under a path prefix gets
/// the fixed answer; anything else goes on.
pub(super) async fn prefixed(request: Request, next: Next) -> Response {
    if is_probe(request.uri().path()) {
        return not_supported().await;
    }
    next.run(request).await
}

/// Whether `path` names a discovery document, with or without a path
/// prefix or suffix, or an OAuth endpoint.
fn is_probe(path: &str) -> bool {
    WELL_KNOWN.iter().any(|known| {
        path.match_indices(known).any(|(at, _)| {
            let rest = &path[at + known.len()..];
            rest.is_empty() || rest.starts_with('/')
        })
    }) || ENDPOINTS.contains(&path)
}

async fn not_supported() -> Response {
    refused(error_response(
        StatusCode::NOT_FOUND,
        "oauth_not_supported",
        "This MCP server does not use OAuth and offers no authorization-server discovery or client registration. It \
         takes one static bearer token, which the operator sets in MCP_AUTH_TOKEN: configure your client to send the \
         header `Authorization: Bearer <token>` on every request.",
    ))
}

#[cfg(test)]
mod tests {
    use axum::middleware::from_fn;

    use super::super::layers::testing::{request, send, text};
    use super::*;

    /// The probes answered by routes or by the unmatched-path check, and
    /// "authentication" (a 401) on anything else unmatched.
    fn app() -> Router {
        let unmatched = Router::new()
            .fallback(|| async { StatusCode::UNAUTHORIZED })
            .layer(from_fn(prefixed));
        router()
            .route("/mcp", any(|| async { "mcp" }))
            .fallback_service(unmatched)
    }

    #[tokio::test]
    async fn every_probe_gets_the_fixed_answer_without_a_token() {
        let app = app();
        for path in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/mcp",
            "/.well-known/openid-configuration",
            "/mcp/.well-known/openid-configuration",
            "/a/b/.well-known/oauth-protected-resource/c",
            "/register",
            "/authorize",
            "/token",
        ] {
            for method in ["GET", "POST"] {
                let response = send(&app, request(method, path, &[], "")).await;
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
                let body = text(response).await;
                assert!(body.contains("oauth_not_supported"), "{path}: {body}");
                assert!(body.contains("Authorization: Bearer"), "{body}");
            }
        }
    }

    #[tokio::test]
    async fn other_paths_are_not_probes() {
        let app = app();
        for path in [
            "/.well-known/oauth-protected-resourcex",
            "/tokens",
            "/.well-known/other",
            "/mcp/token",
        ] {
            assert!(!is_probe(path), "{path}");
            let response = send(&app, request("GET", path, &[], "")).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        let response = send(&app, request("GET", "/mcp", &[], "")).await;
        assert_eq!(text(response).await, "mcp");
    }
}
