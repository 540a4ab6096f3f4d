//! What OAuth-capable MCP clients probe after a `401`: RFC 9728 protected
//! resource metadata, RFC 8414 authorization server metadata, OpenID
//! discovery, dynamic client registration and the usual endpoints. All
//! need no token.
//!
//! Without OAuth each gets one fixed `404 oauth_not_supported`, so a client
//! stops looking and says what is wrong. With OAuth (`--oauth-issuer`) the
//! protected resource metadata is served at
//! `/.well-known/oauth-protected-resource`, with `/mcp` or the resource's
//! own path after it; the authorization server's documents and endpoints
//! are not here, and their probes get a `404` naming the issuer.
//!
//! The probes at the root, with or without a path suffix, are routes
//! ([`router`]); the same documents under a path prefix
//! (`/mcp/.well-known/openid-configuration`), which no route can spell, are
//! recognised among the unmatched paths ([`prefixed`]), before the
//! authentication those meet.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};

use super::layers::refused;
use super::oauth::ResourceServer;
use crate::web::error_response;

/// The discovery documents clients look for.
const WELL_KNOWN: [&str; 3] = [
    PROTECTED_RESOURCE,
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// RFC 9728's well-known path.
const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// The OAuth endpoints clients try without discovery.
const ENDPOINTS: [&str; 3] = ["/register", "/authorize", "/token"];

/// Every probe at the root, any method: the fixed answer, or with OAuth
/// the protected resource metadata where it is served.
pub(super) fn router(oauth: Option<&Arc<ResourceServer>>) -> Router {
    let mut router = Router::new();
    for document in WELL_KNOWN {
        let exact = match oauth {
            Some(oauth) if document == PROTECTED_RESOURCE => metadata(oauth),
            _ => elsewhere(oauth),
        };
        router = router
            .route(document, exact)
            .route(&format!("{document}/{{*rest}}"), elsewhere(oauth));
    }
    for endpoint in ENDPOINTS {
        router = router.route(endpoint, elsewhere(oauth));
    }
    if let Some(oauth) = oauth {
        for suffix in oauth.metadata_suffixes().iter().filter(|s| !s.is_empty()) {
            router = router.route(&format!("{PROTECTED_RESOURCE}{suffix}"), metadata(oauth));
        }
    }
    router
}

/// `GET`: the protected resource metadata; any other method: not here.
fn metadata(oauth: &Arc<ResourceServer>) -> MethodRouter {
    let document = oauth.metadata();
    let other = Arc::clone(oauth);
    get(move || {
        let document = Arc::clone(&document);
        async move { axum::Json(document.as_ref().clone()).into_response() }
    })
    .fallback(move || {
        let other = Arc::clone(&other);
        async move { not_here(Some(&other)) }
    })
}

/// The answer to a probe of what is not here.
fn elsewhere(oauth: Option<&Arc<ResourceServer>>) -> MethodRouter {
    let oauth = oauth.cloned();
    any(move || {
        let oauth = oauth.clone();
        async move { not_here(oauth.as_deref()) }
    })
}

/// For the unmatched paths: a discovery document under a path prefix gets
/// the fixed answer; anything else goes on.
pub(super) async fn prefixed(
    State(oauth): State<Option<Arc<ResourceServer>>>,
    request: Request,
    next: Next,
) -> Response {
    if is_probe(request.uri().path()) {
        return not_here(oauth.as_deref());
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

fn not_here(oauth: Option<&ResourceServer>) -> Response {
    let Some(oauth) = oauth else {
        return refused(error_response(
            StatusCode::NOT_FOUND,
            "oauth_not_supported",
            "This MCP server does not use OAuth and offers no authorization-server discovery or client registration. It \
             takes one static bearer token, which the operator sets in MCP_AUTH_TOKEN: configure your client to send the \
             header `Authorization: Bearer <token>` on every request.",
        ));
    };
    refused(error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "This MCP server is an OAuth resource server and issues no tokens: its authorization server is {}, \
             whose own metadata says where to register and sign in. This server's protected resource metadata is \
             at {PROTECTED_RESOURCE}.",
            oauth.issuer()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use axum::middleware::from_fn_with_state;

    use super::super::layers::testing::{request, send, text};
    use super::*;

    /// The probes answered by routes or by the unmatched-path check, and
    /// "authentication" (a 401) on anything else unmatched.
    fn app() -> Router {
        let unmatched = Router::new()
            .fallback(|| async { StatusCode::UNAUTHORIZED })
            .layer(from_fn_with_state(None, prefixed));
        router(None)
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
