//! The one way a request body is read on every listener: whole, at most so
//! many bytes, within so long. The MCP endpoint's `initialize` peek, the
//! legacy SSE message endpoint and askUser's form all read through it; each
//! says in its own words what went wrong.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::refusal::{body_too_large, body_too_slow};

/// How much of a body is read, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BodyCap {
    pub max_bytes: usize,
    /// The whole body must have arrived by then, counted from the start of
    /// the read (not reset by each chunk, which a trickling client would
    /// keep alive forever).
    pub timeout: Duration,
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than [`BodyCap::max_bytes`], or the stream broke off.
    TooLarge { max_bytes: usize },
    /// Not all there within [`BodyCap::timeout`].
    TooSlow { timeout: Duration },
}

impl BodyCap {
    /// Whether the request says up front (`Content-Length`) that its body is
    /// too large: it can be refused before a byte of it is read.
    pub fn declared_too_large(&self, headers: &HeaderMap) -> bool {
        content_length(headers).is_some_and(|len| len > self.max_bytes as u64)
    }

    /// Reads the whole body, or says why not. Whatever was read of a body
    /// that is refused is dropped here.
    pub async fn read(&self, body: Body) -> Result<Bytes, BodyError> {
        match tokio::time::timeout(self.timeout, to_bytes(body, self.max_bytes)).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) => Err(BodyError::TooLarge {
                max_bytes: self.max_bytes,
            }),
            Err(_) => Err(BodyError::TooSlow {
                timeout: self.timeout,
            }),
        }
    }
}

/// The JSON refusal of the MCP endpoints (`413 body_too_large`,
/// `408 body_too_slow`). The page answers in HTML instead.
impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        match self {
            BodyError::TooLarge { max_bytes } => body_too_large(max_bytes),
            BodyError::TooSlow { timeout } => body_too_slow(timeout),
        }
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::http::StatusCode;
    use futures::stream;

    use super::*;
    use crate::web::test_headers as headers;

    const CAP: BodyCap = BodyCap {
        max_bytes: 8,
        timeout: Duration::from_millis(200),
    };

    #[test]
    fn a_declared_length_over_the_cap_is_known_before_reading() {
        assert!(CAP.declared_too_large(&headers(&[("content-length", "9")])));
        assert!(!CAP.declared_too_large(&headers(&[("content-length", " 8 ")])));
        assert!(!CAP.declared_too_large(&headers(&[("content-length", "junk")])));
        assert!(!CAP.declared_too_large(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        assert_eq!(
            CAP.read(Body::from("12345678")).await.unwrap(),
            &b"12345678"[..]
        );
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_cap_is_too_large() {
        let chunks = stream::iter(["1234", "5678", "9"].map(Ok::<_, Infallible>));
        let error = CAP.read(Body::from_stream(chunks)).await.unwrap_err();
        assert_eq!(error, BodyError::TooLarge { max_bytes: 8 });
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_at_the_deadline_whatever_each_chunk_takes() {
        // One byte every 150 ms: each chunk is in time, the whole is not.
        let trickle = stream::unfold(0, |n| async move {
            (n < 4).then_some(())?;
            tokio::time::sleep(Duration::from_millis(150)).await;
            Some((Ok::<_, Infallible>("x"), n + 1))
        });
        let error = CAP.read(Body::from_stream(trickle)).await.unwrap_err();
        assert_eq!(
            error,
            BodyError::TooSlow {
                timeout: Duration::from_millis(200)
            }
        );
        assert_eq!(error.into_response().status(), StatusCode::REQUEST_TIMEOUT);
    }
}
