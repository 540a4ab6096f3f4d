//! How most layers are built: a synchronous step before the inner service
//! (which may answer instead of it) and one after (which may change its
//! answer), as a tower [`Layer`] with no allocation and no clone per
//! request. axum's `from_fn` boxes a `Next`, the request's future and a
//! deep copy of every boxed route below it, a few thousand instructions a
//! layer; it is kept for the layers that must wait for something
//! (authentication, the body peek).

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

/// One concern around the inner service.
pub(crate) trait Around: Clone + Send + Sync + 'static {
    /// What `before` leaves for `after`.
    type Note: Send + Unpin + 'static;

    /// Runs first: `Err` answers the request here (nothing inside runs).
    /// The answer is moved straight into the future: boxing it would cost
    /// an allocation for nothing.
    #[allow(clippy::result_large_err)]
    fn before(&self, request: &mut Request) -> Result<Self::Note, Response>;

    /// Runs on the inner service's answer (not on `before`'s own).
    fn after(note: Self::Note, response: Response) -> Response {
        let _ = note;
        response
    }
}

/// The [`Layer`] of an [`Around`].
#[derive(Clone)]
pub(crate) struct AroundLayer<A>(pub(crate) A);

impl<A: Around, S> Layer<S> for AroundLayer<A> {
    type Service = Wrapped<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped {
            around: self.0.clone(),
            inner,
        }
    }
}

/// The inner service `S` with `A` around it.
#[derive(Clone)]
pub(crate) struct Wrapped<A, S> {
    around: A,
    inner: S,
}

impl<A, S> Service<Request> for Wrapped<A, S>
where
    A: Around,
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<A, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let state = match self.around.before(&mut request) {
            Ok(note) => State::Running(self.inner.call(request), Some(note)),
            Err(answer) => State::Answered(Some(answer)),
        };
        AroundFuture {
            state,
            _around: PhantomData,
        }
    }
}

/// The answer of a [`Wrapped`] service.
pub(crate) struct AroundFuture<A: Around, F> {
    state: State<A::Note, F>,
    _around: PhantomData<fn() -> A>,
}

enum State<N, F> {
    Answered(Option<Response>),
    Running(F, Option<N>),
}

impl<A, F> Future for AroundFuture<A, F>
where
    A: Around,
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Answered(answer) => Poll::Ready(Ok(answer.take().unwrap_or_default())),
            State::Running(inner, note) => {
                let Ok(response) = ready!(Pin::new(inner).poll(cx));
                Poll::Ready(Ok(match note.take() {
                    Some(note) => A::after(note, response),
                    None => response,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::super::testing::{request, send, text};
    use super::*;

    /// Refuses `/no`, and marks every answer it lets through.
    #[derive(Clone)]
    struct Marker;

    impl Around for Marker {
        type Note = &'static str;

        fn before(&self, request: &mut Request) -> Result<&'static str, Response> {
            if request.uri().path() == "/no" {
                return Err(StatusCode::FORBIDDEN.into_response());
            }
            Ok("through")
        }

        fn after(note: &'static str, mut response: Response) -> Response {
            response
                .headers_mut()
                .insert("x-note", HeaderValue::from_static(note));
            response
        }
    }

    #[tokio::test]
    async fn before_may_answer_and_after_sees_only_the_inner_answer() {
        let router = Router::new()
            .route("/yes", get(|| async { "inner" }))
            .route("/no", get(|| async { "never" }))
            .layer(AroundLayer(Marker));
        let yes = send(&router, request("GET", "/yes", &[], "")).await;
        assert_eq!(yes.headers()["x-note"], "through");
        assert_eq!(text(yes).await, "inner");
        let no = send(&router, request("GET", "/no", &[], "")).await;
        assert_eq!(no.status(), StatusCode::FORBIDDEN);
        assert!(!no.headers().contains_key("x-note"));
        assert_eq!(text(no).await, "");
    }
}
