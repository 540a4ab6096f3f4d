//! The one way the resource server reaches its authorization server: GET a
//! JSON document, or POST a form to its token endpoint; https only (plain
//! http to loopback, for tests), never through a proxy to loopback, never
//! following a redirect, and bounded in time and in bytes. A document that breaks a bound is an error, and no
//! more of it is read.

use std::time::Duration;

use serde_json::Value;

use crate::config::is_loopback;

/// The whole of one fetch, connecting included.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a document could not be fetched; never quotes what came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not https:// (plain http:// is accepted for loopback only)")]
    NotHttps(String),
    #[error("{url} answered a redirect ({status}), which is not followed")]
    Redirect { url: String, status: u16 },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} did not answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("{url} could not be reached ({why})")]
    Unreachable { url: String, why: String },
    #[error("{url} did not send a JSON object")]
    NotJson { url: String },
}

impl FetchError {
    /// Whether the document is simply not there (the next discovery
    /// location may hold it).
    pub(crate) fn is_absent(&self) -> bool {
        matches!(self, FetchError::Status { status, .. } if *status == 404 || *status == 400 || *status == 405)
    }
}

/// Two clients: one for loopback, which ignores any proxy from the
/// environment, and one for the rest, which uses it.
pub(crate) struct Fetcher {
    direct: reqwest::Client,
    proxied: reqwest::Client,
}

impl Fetcher {
    pub(crate) fn new() -> Result<Fetcher, FetchError> {
        // reqwest is built without a bundled crypto provider (see the OSC
        // client); installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |direct: bool| {
            let builder = reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!(
                    env!("CARGO_PKG_NAME"),
                    "/",
                    env!("CARGO_PKG_VERSION")
                ));
            let builder = if direct { builder.no_proxy() } else { builder };
            builder.build().map_err(|e| FetchError::Unreachable {
                url: "the authorization server".to_owned(),
                why: e.without_url().to_string(),
            })
        };
        Ok(Fetcher {
            direct: build(true)?,
            proxied: build(false)?,
        })
    }

    /// GETs `url` and parses it as a JSON object of at most `limit` bytes.
    pub(crate) async fn json(&self, url: &str, limit: usize) -> Result<Value, FetchError> {
        self.send(url, limit, |client, parsed| client.get(parsed))
            .await
    }

    /// POSTs `form` to `url` (a token endpoint), with HTTP Basic
    /// credentials when `basic` names them, and parses the answer as a JSON
    /// object of at most `limit` bytes. An answer that is not a success is
    /// [`FetchError::Status`], its body unread.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Value, FetchError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(url, limit, move |client, parsed| {
            let request = client
                .post(parsed)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
            match basic {
                // RFC 6749 2.3.1: each part form-encoded before joining.
                Some((id, secret)) => request.basic_auth(encoded(id), Some(encoded(secret))),
                None => request,
            }
        })
        .await
    }

    async fn send(
        &self,
        url: &str,
        limit: usize,
        build: impl FnOnce(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<Value, FetchError> {
        let shown = shown(url);
        let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::NotHttps(shown.clone()))?;
        let loopback = is_loopback(&parsed);
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(FetchError::NotHttps(shown)),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(FetchError::NotHttps(shown));
        }
        let client = if loopback {
            &self.direct
        } else {
            &self.proxied
        };
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout { url: shown.clone() }
            } else {
                FetchError::Unreachable {
                    url: shown.clone(),
                    why: cause(&e),
                }
            }
        };
        let mut response = build(client, parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect {
                url: shown,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: shown.clone(),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if chunk.len() > limit.saturating_sub(body.len()) {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(FetchError::NotJson { url: shown }),
        }
    }
}

/// A client id or secret as HTTP Basic carries it (RFC 6749 2.3.1).
fn encoded(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// What went wrong, in fixed words (reqwest's own text may carry a URL).
fn cause(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "the connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the answer broke off".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

/// A URL as it may appear in a message: as the parser serializes it (no
/// control characters), without any query, cut to 200 characters.
pub(crate) fn shown(url: &str) -> String {
    let mut text = match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "an unusable URL".to_owned(),
    };
    if text.len() > 200 {
        let mut end = 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
