//! The layers a request meets on the HTTP listener, one concern each, in
//! the order it meets them (outermost first):
//!
//! 1. the accept loop ([`super::conn`]): connection cap, eviction, header
//!    and idle timeouts, before any HTTP is parsed;
//! 2. [`log`]: one line for every request a layer below refused;
//! 3. [`cors::Decorate`]: CORS response headers for an allowed `Origin`,
//!    on every answer, refusals included;
//! 4. [`host_origin`]: `Host` and `Origin` rules (DNS-rebinding protection);
//! 5. [`query`]: no credentials in the URL;
//! 6. [`cors::Preflight`]: answers `OPTIONS` (a preflight carries no token);
//! 7. routing: public routes (`/healthz`, the OAuth probes of
//!    [`super::well_known`]) end here; the protected ones (`/mcp`, `/sse`,
//!    `/messages`, and any unknown path) go on through
//! 8. [`drain::RefuseNew`]: `503` once shutdown began;
//! 9. [`auth`]: the listener's one authentication (the static bearer token,
//!    or OAuth access tokens, see [`super::oauth`]);
//! 10. [`body::Limit`]: a declared body over the cap is refused unread;
//!
//! and, on `POST` and `DELETE /mcp` only (a `GET` stream holds no permit):
//!
//! 11. [`peek`] (`POST`): reads the body through the one capped reader, to
//!     tell an `initialize` from a call and learn the call's id;
//!     with OAuth, [`scope`] then refuses a call the token's scopes do not
//!     allow (`403 insufficient_scope`);
//! 12. [`permits`]: the session cap and the per-client permit, held until
//!     the response body ends;
//! 13. [`drain::CutOffLayer`]: answers a call still running when the shutdown
//!     grace period ends;
//! 14. [`tidy`]: replaces rmcp's plain-text errors with fixed sentences;
//! 15. the transport (rmcp's Streamable HTTP service).
//!
//! With OAuth and sessions, [`owner`] comes first on every method of
//! `/mcp`: a session answers only the subject that opened it.
//!
//! A refusal ends the request where it is made, so nothing below it runs:
//! a bad Host never reaches authentication, and a refused request never
//! takes a permit.
//!
//! Most layers are an [`around::Around`]: synchronous steps before and
//! after, with no allocation per request. Authentication and the peek wait
//! for something, and are axum `from_fn` middleware; the cut-off is a tower
//! layer of its own.

pub(super) mod around;
pub(super) mod auth;
pub(super) mod body;
pub(super) mod cors;
pub(super) mod drain;
pub(super) mod host_origin;
pub(super) mod log;
pub(super) mod owner;
pub(super) mod peek;
pub(super) mod permits;
pub(super) mod query;
pub(super) mod scope;
pub(super) mod tidy;

pub(super) use log::refused;

/// Requests and a service driver for the layers' unit tests.
#[cfg(test)]
pub(super) mod testing {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::extract::{ConnectInfo, Request};
    use axum::response::Response;
    use tower::ServiceExt;

    /// A request from 192.0.2.1, as the accept loop hands it on.
    pub(crate) fn request(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder.body(Body::from(body.to_owned())).unwrap();
        let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    pub(crate) async fn send(router: &Router, request: Request) -> Response {
        router.clone().oneshot(request).await.unwrap()
    }

    pub(crate) async fn text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
