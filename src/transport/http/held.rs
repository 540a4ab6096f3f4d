//! A response body that keeps something alive until it ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

/// `body`, unchanged (size hint included), holding `held` for as long as it exists.
pub(super) struct Held<B, H> {
    body: B,
    _held: H,
}

impl<B, H> Held<B, H> {
    pub(super) fn new(body: B, held: H) -> Self {
        Held { body, _held: held }
    }
}

impl<B: Body + Unpin, H: Unpin> Body for Held<B, H> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
