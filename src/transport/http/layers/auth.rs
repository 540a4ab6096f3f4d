//! Authentication of the protected routes (`/mcp`, `/sse`, `/messages`,
//! unknown paths). A listener has exactly one way to authenticate, an
//! [`Authenticate`] implementation chosen when it is built
//! ([`super::super::routes`]); public routes (`/healthz`, the OAuth probes,
//! the one-time page) are routed before this layer and never meet it.
//!
//! Two implementations: [`StaticBearer`], the operator's `MCP_AUTH_TOKEN`,
//! and the OAuth resource server ([`super::super::oauth::ResourceServer`],
//! `--oauth-issuer`), which validates an access token, puts the caller's
//! [`crate::domain::Identity`] in the request's extensions, and answers its
//! own `401` challenge (with its `resource_metadata`). A listener has one
//! or the other, never both.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::super::oauth::{self, ResourceServer};
use super::refused;
use crate::web::{error_response, header_text};

/// How a listener authenticates: exactly one way per listener, chosen when
/// it is built.
pub(crate) enum ListenerAuth {
    /// No authentication: only on loopback, without `MCP_AUTH_TOKEN` (see
    /// `HttpConfig::check`). The layer is left out.
    Open,
    /// The operator's static bearer token.
    StaticBearer(Arc<StaticBearer>),
    /// OAuth access tokens from the configured authorization server.
    OAuth(Arc<ResourceServer>),
}

impl ListenerAuth {
    /// OAuth when there is a resource server (configuration refused the
    /// static token beside it), else the static token, else none.
    pub(crate) fn new(token: Option<SecretString>, oauth: Option<Arc<ResourceServer>>) -> Self {
        match (oauth, token) {
            (Some(oauth), _) => ListenerAuth::OAuth(oauth),
            (None, Some(token)) => ListenerAuth::StaticBearer(Arc::new(StaticBearer::new(token))),
            (None, None) => ListenerAuth::Open,
        }
    }
}

/// One way of telling who may use the protected routes.
pub(crate) trait Authenticate: Send + Sync + 'static {
    /// `Ok` lets the request on (an implementation may first add what it
    /// learnt of the caller to the request's extensions); `Err` is the
    /// refusal to send, a `401` with a `WWW-Authenticate` challenge. Neither
    /// may quote what the client sent.
    fn authenticate(
        &self,
        request: &mut Request,
    ) -> impl Future<Output = Result<(), Response>> + Send;
}

/// The layer: `from_fn_with_state(Arc<A>, authenticated::<A>)`.
pub(crate) async fn authenticated<A: Authenticate>(
    State(auth): State<Arc<A>>,
    mut request: Request,
    next: Next,
) -> Response {
    match auth.authenticate(&mut request).await {
        Ok(()) => next.run(request).await,
        Err(refusal) => refused(refusal),
    }
}

/// `Authorization: Bearer <token>` with the operator's own token, compared
/// in constant time. No `Debug`: it holds the token.
pub(crate) struct StaticBearer {
    token: SecretString,
}

/// Why a static bearer check failed; never which way a wrong token is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BearerRefusal {
    Missing,
    Invalid,
}

impl StaticBearer {
    pub(crate) fn new(token: SecretString) -> Self {
        StaticBearer { token }
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), BearerRefusal> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(BearerRefusal::Missing);
        };
        if values.next().is_some() {
            return Err(BearerRefusal::Invalid);
        }
        let presented = header_text(value)
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match presented {
            Some(token)
                if bool::from(
                    token
                        .as_bytes()
                        .ct_eq(self.token.expose_secret().as_bytes()),
                ) =>
            {
                Ok(())
            }
            _ => Err(BearerRefusal::Invalid),
        }
    }
}

impl Authenticate for StaticBearer {
    async fn authenticate(&self, request: &mut Request) -> Result<(), Response> {
        self.check(request.headers()).map_err(unauthorized)
    }
}

/// With OAuth: the access token is validated by the resource server,
/// and the identity it proves goes into the request's extensions.
impl Authenticate for ResourceServer {
    async fn authenticate(&self, request: &mut Request) -> Result<(), Response> {
        let token = match oauth::bearer(request.headers()) {
            oauth::Presented::Missing => return Err(self.unauthorized(false)),
            oauth::Presented::Unusable => {
                tracing::info!(reason = "malformed", "OAuth: access token refused");
                return Err(self.unauthorized(true));
            }
            oauth::Presented::Token(token) => token,
        };
        match self.validate(token).await {
            Ok(identity) => {
                tracing::debug!(subject = %identity.subject, "OAuth: access token accepted");
                request.extensions_mut().insert(identity);
                Ok(())
            }
            Err(why) => {
                tracing::info!(reason = why.as_str(), "OAuth: access token refused");
                Err(self.unauthorized(true))
            }
        }
    }
}

/// `401 unauthorized`, with the challenge of RFC 6750 and no pointer to
/// OAuth metadata: this server has none.
fn unauthorized(refusal: BearerRefusal) -> Response {
    let (challenge, message) = match refusal {
        BearerRefusal::Invalid => (
            r#"Bearer realm="osc-secrets-mcp", error="invalid_token", error_description="The bearer token is not valid for this server""#,
            "The bearer token is not valid for this server. Send this server's own token (the operator's MCP_AUTH_TOKEN) \
             as `Authorization: Bearer <token>`; the OSC personal access token is never accepted here. This server uses \
             no OAuth: configure the header in the client instead of signing in.",
        ),
        BearerRefusal::Missing => (
            r#"Bearer realm="osc-secrets-mcp""#,
            "This server requires a bearer token: send `Authorization: Bearer <token>` with the token the operator set in \
             MCP_AUTH_TOKEN. The OSC personal access token is never accepted here. This server uses no OAuth: configure \
             the header in the client instead of signing in.",
        ),
    };
    let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;

    use super::super::testing::{request, send, text};
    use super::*;
    use crate::web::test_headers as headers;

    const TOKEN: &str = "right-token-0123456789";

    fn bearer() -> StaticBearer {
        StaticBearer::new(SecretString::from(TOKEN.to_owned()))
    }

    #[test]
    fn the_static_bearer_accepts_only_its_own_token() {
        let auth = bearer();
        for ok in [
            "Bearer right-token-0123456789",
            "bearer  right-token-0123456789 ",
        ] {
            assert_eq!(
                auth.check(&headers(&[("authorization", ok)])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "Bearer wrong",
            "Basic right-token-0123456789",
            "right-token-0123456789",
            "Bearer",
            "Bearer right-token-012345678",
        ] {
            assert_eq!(
                auth.check(&headers(&[("authorization", bad)])),
                Err(BearerRefusal::Invalid),
                "{bad}"
            );
        }
        assert_eq!(auth.check(&HeaderMap::new()), Err(BearerRefusal::Missing));
        let twice = headers(&[
            ("authorization", "Bearer right-token-0123456789"),
            ("authorization", "Bearer right-token-0123456789"),
        ]);
        assert_eq!(auth.check(&twice), Err(BearerRefusal::Invalid));
    }

    #[tokio::test]
    async fn the_layer_answers_401_with_a_challenge_and_never_the_token() {
        let router = Router::new()
            .route("/mcp", get(|| async { "reached" }))
            .layer(from_fn_with_state(
                Arc::new(bearer()),
                authenticated::<StaticBearer>,
            ));
        let ok = send(
            &router,
            request(
                "GET",
                "/mcp",
                &[("authorization", "Bearer right-token-0123456789")],
                "",
            ),
        )
        .await;
        assert_eq!(text(ok).await, "reached");

        let missing = send(&router, request("GET", "/mcp", &[], "")).await;
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            missing.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="osc-secrets-mcp""#
        );
        assert!(
            missing
                .extensions()
                .get::<super::super::log::Refused>()
                .is_some()
        );

        let wrong = send(
            &router,
            request(
                "GET",
                "/mcp",
                &[("authorization", "Bearer canary-wrong-token")],
                "",
            ),
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let challenge = wrong.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert!(!challenge.contains("resource_metadata"), "{challenge}");
        let body = text(wrong).await;
        assert!(body.contains("no OAuth"), "{body}");
        assert!(!body.contains("canary") && !body.contains(TOKEN), "{body}");
    }
}
