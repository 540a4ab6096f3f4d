//! The session cap and the per-client permits of Streamable HTTP
//! (`POST`/`DELETE /mcp`; the legacy SSE endpoint takes its permits itself,
//! per session, in [`super::super::sse`]).
//!
//! One permit per request in flight, held until both the handler has
//! returned and the response body (possibly an SSE stream) has ended,
//! whatever the client does meanwhile: rmcp hands the request's extensions
//! to the handler (see `SecretsServer::call_tool`). An `initialize` needs
//! none: it makes no upstream call, and the session cap bounds it; many
//! agents behind one address may well start at once.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::super::held::Held;
use super::super::limits::{Inflight, SessionBudget};
use super::around::Around;
use super::peek::Peeked;
use super::refused;
use crate::server::hold::CallHold;
use crate::web::error_response;

const SESSION_HEADER: &str = "mcp-session-id";

/// The listener's capacity, shared with the legacy SSE transport.
pub(crate) struct Calls {
    pub(crate) budget: Arc<SessionBudget>,
    pub(crate) inflight: Arc<Inflight>,
    /// No sessions: the session cap does not apply.
    pub(crate) stateless: bool,
}

/// The layer: `503 too_many_sessions` for an `initialize` beyond the cap,
/// `429 too_many_requests` for a call beyond the client's permits; else
/// on, with the permit in the request's extensions and on the response body.
#[derive(Clone)]
pub(crate) struct Streamable(pub(crate) Arc<Calls>);

/// What a request was granted.
pub(crate) enum Granted {
    /// A call, and its permit.
    Call(CallHold),
    /// An `initialize`: no permit; the budget and its refusals before, to
    /// tell a session the cap refused later (see [`Around::after`]).
    Initialize(Arc<SessionBudget>, usize),
}

impl Around for Streamable {
    type Note = Granted;

    fn before(&self, request: &mut Request) -> Result<Granted, Response> {
        let calls = &self.0;
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok());
        let is_initialize = session.is_none()
            && request
                .extensions()
                .get::<Peeked>()
                .is_some_and(|peeked| peeked.is_initialize);
        if is_initialize {
            let refusals_before = calls.budget.refusals();
            if !calls.stateless && calls.budget.is_full() {
                return Err(refused(too_many_sessions(calls.budget.cap())));
            }
            return Ok(Granted::Initialize(
                Arc::clone(&calls.budget),
                refusals_before,
            ));
        }
        let client = match session {
            Some(id) => format!("session:{id}"),
            None => {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(peer)| peer.ip());
                match peer {
                    Some(ip) => format!("addr:{ip}"),
                    None => "addr:unknown".to_owned(),
                }
            }
        };
        let Some(permit) = calls.inflight.try_acquire(client) else {
            return Err(refused(too_many_requests(calls.inflight.max_per_client())));
        };
        let permit = CallHold::new(permit);
        request.extensions_mut().insert(permit.clone());
        Ok(Granted::Call(permit))
    }

    fn after(granted: Granted, response: Response) -> Response {
        match granted {
            Granted::Call(permit) => hold_until_body_ends(response, permit),
            // A session the cap refused after the check above (a race with
            // another `initialize`) surfaces from rmcp as a 500; the budget
            // knows it was one.
            Granted::Initialize(budget, refusals_before)
                if response.status() == StatusCode::INTERNAL_SERVER_ERROR
                    && budget.refusals() != refusals_before =>
            {
                too_many_sessions(budget.cap())
            }
            Granted::Initialize(..) => response,
        }
    }
}

/// Keeps `permit` until the response body has been sent or dropped.
fn hold_until_body_ends(response: Response, permit: CallHold) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::new(Held::new(body, permit)))
}

pub(crate) fn too_many_requests(limit: usize) -> Response {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!(
            "This client already has {limit} requests in flight (MCP_MAX_CONCURRENT_PER_CLIENT). Wait for one to finish, then retry."
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(crate) fn too_many_sessions(cap: usize) -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_sessions",
        format!(
            "The server already holds its maximum of {cap} sessions (MCP_MAX_SESSIONS). Close an unused session or retry \
             once idle ones expire."
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::around::AroundLayer;
    use axum::Router;
    use axum::routing::post;
    use tokio::sync::oneshot;

    use super::super::testing::{request, send, text};
    use super::*;

    fn calls(sessions: usize, per_client: usize) -> Arc<Calls> {
        Arc::new(Calls {
            budget: Arc::new(SessionBudget::new(sessions)),
            inflight: Arc::new(Inflight::new(per_client)),
            stateless: false,
        })
    }

    fn call(session: Option<&str>, initialize: bool) -> Request {
        let headers: Vec<(&str, &str)> = session.map(|s| (SESSION_HEADER, s)).into_iter().collect();
        let mut request = request("POST", "/mcp", &headers, "");
        request.extensions_mut().insert(Peeked {
            is_initialize: initialize,
            id: None,
            needs: None,
        });
        request
    }

    #[tokio::test]
    async fn a_permit_is_held_until_the_body_ends_and_a_refusal_takes_none() {
        let calls = calls(4, 1);
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(Some(released)));
        let router = Router::new()
            .route(
                "/mcp",
                post(move |request: Request| {
                    let wait = released.lock().unwrap().take();
                    async move {
                        assert!(request.extensions().get::<CallHold>().is_some());
                        // The first answer streams until released.
                        match wait {
                            Some(wait) => Body::from_stream(futures::stream::once(async move {
                                let _ = wait.await;
                                Ok::<_, std::io::Error>("done")
                            })),
                            None => Body::from("quick"),
                        }
                    }
                }),
            )
            .layer(AroundLayer(Streamable(Arc::clone(&calls))));
        let first = send(&router, call(None, false)).await;
        assert_eq!(first.status(), StatusCode::OK);
        // Headers sent, body still open: the address's one permit is taken.
        let second = send(&router, call(None, false)).await;
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(second.headers()[header::RETRY_AFTER], "1");
        // Another client (a session) has its own.
        let other = send(&router, call(Some("s1"), false)).await;
        assert_eq!(text(other).await, "quick");
        release.send(()).unwrap();
        assert_eq!(text(first).await, "done");
        let third = send(&router, call(None, false)).await;
        assert_eq!(text(third).await, "quick");
    }

    #[tokio::test]
    async fn an_initialize_takes_no_permit_but_meets_the_session_cap() {
        let calls = calls(1, 1);
        let router = Router::new()
            .route(
                "/mcp",
                post(|request: Request| async move {
                    assert!(request.extensions().get::<CallHold>().is_none());
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    "initialized"
                }),
            )
            .layer(AroundLayer(Streamable(Arc::clone(&calls))));
        // Per-client permits do not limit initializes.
        for _ in 0..3 {
            let response = send(&router, call(None, true)).await;
            assert_eq!(text(response).await, "initialized");
        }
        let _slot = calls.budget.try_acquire().unwrap();
        let full = send(&router, call(None, true)).await;
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.headers()[header::RETRY_AFTER], "5");
        assert!(text(full).await.contains("too_many_sessions"));
    }
}
