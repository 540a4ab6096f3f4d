//! Shutdown, as requests see it: once it began, new work on the protected
//! routes is refused ([`RefuseNew`]; `/healthz` says so too); calls still
//! running when the grace period ends are answered with a JSON-RPC error
//! ([`CutOffLayer`]) instead of a dropped stream.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tower::{Layer, Service};

use super::around::Around;
use super::peek::Peeked;
use super::refused;
use crate::server::hold::CallHold;
use crate::web::error_response;

/// JSON-RPC server error code for a call cut off by shutdown.
pub(crate) const SHUTTING_DOWN_CODE: i32 = -32000;
/// What a call cut off by shutdown is told.
pub(crate) const SHUTTING_DOWN_MESSAGE: &str = "The server is shutting down and stopped waiting for this call at the \
     end of its grace period (MCP_SHUTDOWN_GRACE_SECS). It may or may not have taken effect: check with \
     list_tenant_secrets once the server is back, then retry if needed.";

/// Where shutdown stands.
#[derive(Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    /// Cancelled when the shutdown grace period ends.
    cut: CancellationToken,
}

impl Drain {
    /// Shutdown began: refuse new work.
    pub(crate) fn begin(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The grace period ended: answer every call still running.
    pub(crate) fn cut_off(&self) {
        self.cut.cancel();
    }
}

/// The layer: `503 shutting_down` once shutdown began, else on.
#[derive(Clone)]
pub(crate) struct RefuseNew(pub(crate) Arc<Drain>);

impl Around for RefuseNew {
    type Note = ();

    fn before(&self, _: &mut Request) -> Result<(), Response> {
        if !self.0.is_draining() {
            return Ok(());
        }
        Err(refused(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "The server is shutting down. Retry in a moment (or against another replica).",
        )))
    }
}

/// The layer around a Streamable HTTP call that holds a permit and has an
/// id (see [`super::permits`] and [`super::peek`]): when the grace period
/// ends before it is answered, it is answered with [`shutdown_error`], as a
/// JSON body if nothing was sent yet, else as a last event on its SSE
/// stream. A tower layer of its own rather than `from_fn`: it is on every
/// call, and only the wait for the cut needs an allocation.
#[derive(Clone)]
pub(crate) struct CutOffLayer(pub(crate) Arc<Drain>);

impl<S> Layer<S> for CutOffLayer {
    type Service = CutOff<S>;

    fn layer(&self, inner: S) -> CutOff<S> {
        CutOff {
            drain: Arc::clone(&self.0),
            inner,
        }
    }
}

#[derive(Clone)]
pub(crate) struct CutOff<S> {
    drain: Arc<Drain>,
    inner: S,
}

impl<S> Service<Request> for CutOff<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CutOffFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let holds_permit = request.extensions().get::<CallHold>().is_some();
        let watch = request
            .extensions_mut()
            .remove::<Peeked>()
            .and_then(|peeked| peeked.id)
            .filter(|_| holds_permit)
            .map(|id| Watch {
                id,
                cut: self.drain.cut.clone(),
                cancelled: Box::pin(self.drain.cut.clone().cancelled_owned()),
            });
        CutOffFuture {
            inner: Some(self.inner.call(request)),
            watch,
        }
    }
}

/// What a call that may be cut off waits on besides its answer.
struct Watch {
    id: Value,
    cut: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// The answer of a [`CutOff`] service.
pub(crate) struct CutOffFuture<F> {
    inner: Option<F>,
    watch: Option<Watch>,
}

impl<F> Future for CutOffFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Ok(Response::default()));
        };
        if let Poll::Ready(Ok(response)) = Pin::new(inner).poll(cx) {
            this.inner = None;
            return Poll::Ready(Ok(match this.watch.take() {
                Some(watch) => error_at_cut(response, &watch.id, watch.cut),
                None => response,
            }));
        }
        if let Some(watch) = this.watch.as_mut()
            && watch.cancelled.as_mut().poll(cx).is_ready()
        {
            // A JSON answer (stateless mode) is only sent once the handler
            // is done: the call is dropped, and this answers it.
            this.inner = None;
            let error = axum::Json(shutdown_error(&watch.id)).into_response();
            this.watch = None;
            return Poll::Ready(Ok(error));
        }
        Poll::Pending
    }
}

/// The JSON-RPC error a call gets when shutdown cuts it off.
fn shutdown_error(id: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": SHUTTING_DOWN_CODE,
            "message": SHUTTING_DOWN_MESSAGE,
        }
    })
}

/// Ends an SSE response with [`shutdown_error`] if `cut` fires before it
/// has ended; other responses are already complete and pass unchanged.
fn error_at_cut(response: Response, id: &Value, cut: CancellationToken) -> Response {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return response;
    }
    let event = Bytes::from(format!("event: message\ndata: {}\n\n", shutdown_error(id)));
    let (parts, body) = response.into_parts();
    let chunks = stream::unfold(
        (body.into_data_stream(), cut, Some(event)),
        |(mut body, cut, event)| async move {
            let event = event?;
            tokio::select! {
                biased;
                chunk = body.next() => chunk.map(|chunk| (chunk, (body, cut, Some(event)))),
                () = cut.cancelled() => Some((Ok(event), (body, cut, None))),
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(chunks))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::{get, post};

    use super::super::testing::{request, send, text};
    use super::*;

    #[tokio::test]
    async fn new_work_is_refused_once_shutdown_began() {
        let drain = Arc::new(Drain::default());
        let router = Router::new()
            .route("/mcp", get(|| async { "reached" }))
            .layer(super::super::around::AroundLayer(RefuseNew(Arc::clone(
                &drain,
            ))));
        let response = send(&router, request("GET", "/mcp", &[], "")).await;
        assert_eq!(text(response).await, "reached");
        drain.begin();
        let response = send(&router, request("GET", "/mcp", &[], "")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(text(response).await.contains("shutting_down"));
    }

    /// A call that never returns by itself, behind the cut-off layer, with
    /// what the peek and the permit layers would have left in its extensions.
    fn stuck(drain: &Arc<Drain>) -> Router {
        Router::new()
            .route("/mcp", post(std::future::pending::<Response>))
            .layer(CutOffLayer(Arc::clone(drain)))
    }

    fn call(id: Value, permit: bool) -> Request {
        let mut request = request("POST", "/mcp", &[], "");
        request.extensions_mut().insert(Peeked {
            is_initialize: false,
            id: Some(id),
            needs: None,
        });
        if permit {
            request.extensions_mut().insert(CallHold::new(()));
        }
        request
    }

    #[tokio::test]
    async fn a_call_still_running_at_the_cut_gets_the_shutdown_error_with_its_id() {
        let drain = Arc::new(Drain::default());
        let router = stuck(&drain);
        let answer = tokio::spawn({
            let router = router.clone();
            async move { send(&router, call(json!(7), true)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drain.cut_off();
        let response = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_str(&text(response).await).unwrap();
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], SHUTTING_DOWN_CODE);
    }

    #[tokio::test]
    async fn a_call_without_a_permit_is_not_cut() {
        let drain = Arc::new(Drain::default());
        drain.cut_off();
        let router = stuck(&drain);
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            send(&router, call(json!("a"), false)),
        )
        .await;
        assert!(
            waited.is_err(),
            "nothing answers a call that holds no permit"
        );
    }

    #[tokio::test]
    async fn an_sse_answer_ends_with_the_error_event_at_the_cut() {
        let cut = CancellationToken::new();
        let open = stream::pending::<Result<Bytes, std::io::Error>>();
        let response = Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(open))
            .unwrap();
        let response = error_at_cut(response, &json!(3), cut.clone());
        cut.cancel();
        let body = text(response).await;
        assert!(body.starts_with("event: message\ndata: "), "{body}");
        assert!(body.contains("\"id\":3"), "{body}");
    }
}
