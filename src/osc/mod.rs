//! The OSC tenant-secrets client.
//!
//! Every request goes through [`OscClient::send`], which sets the auth header
//! (marked sensitive), the user agent and the timeouts, keeps the whole call
//! within one deadline, retries what is safe to retry, reads at most
//! [`Limits::max_answer_bytes`] of an answer, and maps status codes to
//! [`OscError`]. OSC's error bodies are never read. The public methods are a
//! few lines each. The client never reads a secret value: there is no method
//! for `GET /mytenantsecrets/:key`.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};

mod error;
mod parse;
mod retry;

pub use error::OscError;
pub use parse::{Listing, Materialized, Omission, SecretEntry, WriteOutcome};
pub use retry::RetryPolicy;

use crate::domain::Key;
use parse::{parse_list, parse_reference};

/// The environments OSC runs, each with its own API host.
pub fn environment_url(env: &str) -> Option<String> {
    matches!(env, "prod" | "dev" | "stage").then(|| format!("https://deploy.svc.{env}.osaas.io"))
}

/// Path segments keep letters, digits, `-`, `_` and `.`; everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

fn segment(raw: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(raw, SEGMENT)
}

/// Everything the client needs; the base URL is an argument so tests and the
/// sandbox point it at the emulator.
pub struct OscConfig {
    pub base_url: String,
    pub token: SecretString,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
}

/// How long one call may take, and how much of an answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole call, every attempt and every wait between them included.
    pub call_deadline: Duration,
    /// The most bytes read from one answer; a longer answer is an error.
    pub max_answer_bytes: usize,
}

impl Limits {
    pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(25);
    pub const DEFAULT_MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_deadline: Self::DEFAULT_CALL_DEADLINE,
            max_answer_bytes: Self::DEFAULT_MAX_ANSWER_BYTES,
        }
    }
}

/// The body of a request, kept as references until the bytes are built so the
/// value stays a `SecretString` until the last moment.
enum Body<'a> {
    Value(&'a SecretString),
    Materialize {
        service_id: &'a str,
        secret_name: &'a str,
    },
}

impl Body<'_> {
    fn to_bytes(&self) -> Vec<u8> {
        let json = match self {
            Body::Value(v) => serde_json::json!({ "value": v.expose_secret() }),
            Body::Materialize {
                service_id,
                secret_name,
            } => serde_json::json!({ "serviceId": service_id, "secretName": secret_name }),
        };
        json.to_string().into_bytes()
    }
}

struct Request<'a> {
    method: Method,
    path: String,
    body: Option<Body<'a>>,
    /// Safe to send again after a failure that may have reached OSC.
    idempotent: bool,
    /// The caller reads the answer's body; writes need only the status.
    read_body: bool,
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

pub struct OscClient {
    base_url: String,
    token: SecretString,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    limits: Limits,
    /// Built on first use: loading TLS roots costs milliseconds that start-up
    /// should not pay.
    http: OnceLock<reqwest::Client>,
}

impl OscClient {
    /// Checks the base URL; makes no request. A refusal names the setting
    /// to fix and never quotes the URL: a token pasted into the wrong
    /// variable must not end up on the terminal or in a log collector.
    pub fn new(config: OscConfig) -> Result<Self, OscError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        let refuse = |why: &str| OscError::Setup {
            what: format!("the OSC API URL (OSC_API_URL or --api-url) {why}"),
        };
        let url = reqwest::Url::parse(&base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| {
                refuse(
                    "is not an http(s) URL: set it to one such as https://deploy.svc.prod.osaas.io, \
                     or unset it and choose OSC_ENVIRONMENT",
                )
            })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(
                "holds a user name or password: remove them; the OSC token goes in OSC_ACCESS_TOKEN \
                 or OSC_ACCESS_TOKEN_FILE",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse(
                "holds a query or fragment: give only the scheme, host, port and path",
            ));
        }
        // Plain HTTP carries the token in clear text, to the host and to any
        // proxy on the way, so it is for the emulator and local tunnels only.
        let host = url.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if url.scheme() == "http" && !loopback {
            return Err(refuse(
                "is plain http:// to a host other than loopback, which would send the OSC token \
                 unencrypted: use https://, or http:// only to 127.0.0.1, [::1] or localhost",
            ));
        }
        Ok(OscClient {
            base_url,
            token: config.token,
            request_timeout: config.request_timeout,
            connect_timeout: config.connect_timeout,
            retry: config.retry,
            limits: Limits::default(),
            http: OnceLock::new(),
        })
    }

    /// Replaces the default [`Limits`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// `GET /mytenantsecrets`: every key, never a value.
    /// Entries that break the key rules are left out and counted.
    pub async fn list(&self) -> Result<Listing, OscError> {
        let answer = self
            .send(Request {
                method: Method::GET,
                path: "/mytenantsecrets".to_owned(),
                body: None,
                idempotent: true,
                read_body: true,
            })
            .await?;
        parse_list(&answer.body)
    }

    /// `POST /mytenantsecrets/:key`: creates, fails with `Conflict` if the key exists.
    pub async fn create(&self, key: &Key, value: &SecretString) -> Result<WriteOutcome, OscError> {
        self.send(Request {
            method: Method::POST,
            path: format!("/mytenantsecrets/{}", segment(key.as_str())),
            body: Some(Body::Value(value)),
            idempotent: false,
            read_body: false,
        })
        .await
        .map(|_| WriteOutcome::Created)
    }

    /// `PUT /mytenantsecrets/:key`: creates or replaces.
    pub async fn upsert(&self, key: &Key, value: &SecretString) -> Result<WriteOutcome, OscError> {
        let answer = self
            .send(Request {
                method: Method::PUT,
                path: format!("/mytenantsecrets/{}", segment(key.as_str())),
                body: Some(Body::Value(value)),
                idempotent: true,
                read_body: false,
            })
            .await?;
        Ok(if answer.status == StatusCode::CREATED {
            WriteOutcome::Created
        } else {
            WriteOutcome::Written
        })
    }

    /// `DELETE /mytenantsecrets/:key`.
    pub async fn delete(&self, key: &Key) -> Result<(), OscError> {
        self.send(Request {
            method: Method::DELETE,
            path: format!("/mytenantsecrets/{}", segment(key.as_str())),
            body: None,
            idempotent: true,
            read_body: false,
        })
        .await
        .map(|_| ())
    }

    /// `POST /mytenantsecrets/:key/materialize`: copies the value, server side,
    /// into a service secret. Repeating it replaces the copy with the same
    /// value, so it is retried like an idempotent request.
    pub async fn materialize(
        &self,
        key: &Key,
        service_id: &str,
        secret_name: &str,
    ) -> Result<Materialized, OscError> {
        let answer = self
            .send(Request {
                method: Method::POST,
                path: format!("/mytenantsecrets/{}/materialize", segment(key.as_str())),
                body: Some(Body::Materialize {
                    service_id,
                    secret_name,
                }),
                idempotent: true,
                read_body: true,
            })
            .await?;
        Ok(parse_reference(&answer.body, secret_name))
    }

    fn http(&self) -> Result<&reqwest::Client, OscError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        // reqwest is built without a bundled crypto provider; ring is the
        // lighter one to compile and link. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Names are resolved without the C library's resolver (see `dns`),
        // the proxy's too.
        let mut builder = reqwest::Client::builder().dns_resolver(crate::dns::Dns::new());
        if self.base_url.starts_with("http://") {
            // Plain HTTP (the emulator, a local proxy) with redirects off can
            // never need TLS: skip loading the system's root certificates,
            // which costs milliseconds and about 2 MiB.
            builder = builder.tls_certs_only([]);
            // `new` allows plain HTTP to loopback only, and a proxy from the
            // environment (HTTP_PROXY, ALL_PROXY) would see the token in
            // clear text: go direct. Over https:// a proxy from the
            // environment is used, and sees only a CONNECT tunnel.
            builder = builder.no_proxy();
        }
        let client = builder
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OscError::Setup {
                what: e.without_url().to_string(),
            })?;
        Ok(self.http.get_or_init(|| client))
    }

    /// The one choke point: every OSC request passes here.
    ///
    /// The whole call, every attempt and every wait between them, ends by one
    /// deadline. Only a refused connection counts as "not reached": any other
    /// failure after connecting may have delivered the request, so a create is
    /// never sent again after one. Error bodies are never read: OSC's words
    /// could echo a value, and the status says all the advice needs.
    ///
    /// The outcome is the most uncertain of the attempts: once one may have
    /// reached OSC (a lost answer, a gateway error), a later attempt that
    /// was refused or never connected cannot say the request did not
    /// happen, and the call ends as [`OscError::Interrupted`].
    async fn send(&self, request: Request<'_>) -> Result<Answer, OscError> {
        let http = self.http()?;
        let started = Instant::now();
        let deadline = started
            .checked_add(self.limits.call_deadline)
            .unwrap_or(started);
        let url = format!("{}{}", self.base_url, request.path);
        let (auth, user_agent) = self.headers()?;

        let mut attempt: u32 = 0;
        // Whether an earlier attempt may have reached OSC.
        let mut reached = false;
        loop {
            attempt += 1;
            let mut builder = http
                .request(request.method.clone(), &url)
                .header("x-pat-jwt", auth.clone())
                .header(USER_AGENT, user_agent.clone());
            // Fastify answers 400 to a JSON content type with an empty body,
            // so the header goes only with a body.
            if let Some(body) = &request.body {
                builder = builder
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body.to_bytes());
            }
            tracing::debug!(method = %request.method, path = %request.path, attempt, "osc request");
            let retries_left = attempt <= self.retry.max_retries;

            let sent = Instant::now();
            let attempted = tokio::time::timeout_at(
                deadline,
                attempt_once(builder, request.read_body, self.limits.max_answer_bytes),
            )
            .await;
            let status = match &attempted {
                Ok(Ok((status, _, _))) => Some(status.as_u16()),
                _ => None,
            };
            crate::metrics::metrics().osc_request(request.method.as_str(), status, sent.elapsed());
            let Ok(outcome) = attempted else {
                tracing::debug!(attempt, "osc call deadline passed");
                return Err(OscError::Deadline {
                    attempts: attempt,
                    deadline: self.limits.call_deadline,
                });
            };
            let finish = |error: OscError| settle(reached, error, attempt);
            let (status, retry_after, body) = match outcome {
                Ok(answer) => answer,
                Err(failure) => {
                    // The kind only: reqwest's and hyper's wording can quote
                    // what the other side sent.
                    tracing::debug!(failure = failure.as_str(), attempt, "osc request failed");
                    let may_retry = match failure {
                        // A refused connection never reached OSC, so even a
                        // create may be sent again.
                        Failure::Refused => true,
                        Failure::Timeout | Failure::Interrupted => request.idempotent,
                        Failure::TooLarge | Failure::Setup => false,
                    };
                    if may_retry && retries_left && wait(self.backoff(attempt), deadline).await {
                        reached |= matches!(failure, Failure::Timeout | Failure::Interrupted);
                        continue;
                    }
                    return Err(finish(
                        failure.into_error(attempt, self.limits.max_answer_bytes),
                    ));
                }
            };

            let transient = matches!(status.as_u16(), 429 | 502 | 503 | 504);
            if transient && request.idempotent && retries_left {
                // A Retry-After longer than the longest wait, or past the
                // deadline, is reported instead of waited for.
                let pause = match retry_after {
                    Some(asked) if asked > self.retry.max_delay => None,
                    Some(asked) => Some(asked),
                    None => Some(self.backoff(attempt)),
                };
                if let Some(pause) = pause
                    && wait(pause, deadline).await
                {
                    // A gateway's 5xx may come after OSC acted on it.
                    reached |= status.is_server_error();
                    continue;
                }
            }
            if status.is_success() {
                return Ok(Answer { status, body });
            }
            return Err(finish(refusal(status, retry_after, attempt)));
        }
    }

    /// The request's authorization (marked sensitive, so no debug output
    /// shows it) and user agent.
    fn headers(&self) -> Result<(HeaderValue, HeaderValue), OscError> {
        let mut auth = HeaderValue::try_from(format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| OscError::Setup {
                what: "the access token contains characters that cannot go in an HTTP header"
                    .to_owned(),
            })?;
        auth.set_sensitive(true);
        let user_agent = HeaderValue::from_static(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ));
        Ok((auth, user_agent))
    }

    /// Exponential backoff with full jitter, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.retry.max_delay);
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=millis))
    }
}

/// How one attempt failed before a status could be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The connection was never made: the request did not arrive.
    Refused,
    /// No answer, or no whole answer, in time: the request may have arrived.
    Timeout,
    /// Connected, then reset, closed or answered with something that is not
    /// HTTP: the request may have arrived.
    Interrupted,
    /// The answer is longer than the cap.
    TooLarge,
    /// The request could not be built.
    Setup,
}

impl Failure {
    fn of(error: &reqwest::Error) -> Failure {
        if error.is_builder() {
            Failure::Setup
        } else if error.is_connect() {
            Failure::Refused
        } else if error.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Interrupted
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Failure::Refused => "connection refused",
            Failure::Timeout => "timeout",
            Failure::Interrupted => "connection broke after connecting",
            Failure::TooLarge => "answer over the size limit",
            Failure::Setup => "request could not be built",
        }
    }

    fn into_error(self, attempts: u32, limit: usize) -> OscError {
        match self {
            Failure::Refused => OscError::Unreachable { attempts },
            Failure::Timeout => OscError::Timeout { attempts },
            Failure::Interrupted => OscError::Interrupted { attempts },
            Failure::TooLarge => OscError::TooLarge { limit },
            Failure::Setup => OscError::Setup {
                what: "the request could not be built".to_owned(),
            },
        }
    }
}

/// The last attempt's error, unless an earlier attempt may have reached
/// OSC: then an error that says the request did not happen (refused, never
/// connected) would not be true, and the call may or may not have happened.
fn settle(reached: bool, error: OscError, attempts: u32) -> OscError {
    let says_not_done = matches!(
        error,
        OscError::Unreachable { .. }
            | OscError::RateLimited { .. }
            | OscError::BadRequest { .. }
            | OscError::Unauthorized
            | OscError::Forbidden
            | OscError::NotFound
            | OscError::Conflict
    );
    if reached && says_not_done {
        tracing::debug!(attempts, "an earlier attempt may have reached OSC");
        OscError::Interrupted { attempts }
    } else {
        error
    }
}

/// What a final answer other than success means.
fn refusal(status: StatusCode, retry_after: Option<Duration>, attempts: u32) -> OscError {
    match status.as_u16() {
        400 | 413 | 422 => OscError::BadRequest {
            status: status.as_u16(),
        },
        401 => OscError::Unauthorized,
        403 => OscError::Forbidden,
        404 => OscError::NotFound,
        409 => OscError::Conflict,
        429 => OscError::RateLimited {
            retry_after,
            attempts,
        },
        s @ 500..=599 => OscError::Unavailable {
            status: s,
            attempts,
            retry_after,
        },
        s => OscError::Unexpected { status: s },
    }
}

/// Sends one attempt and, for a 2xx the caller reads, reads at most `limit`
/// bytes of its body. Any other body is left unread.
async fn attempt_once(
    builder: reqwest::RequestBuilder,
    read_body: bool,
    limit: usize,
) -> Result<(StatusCode, Option<Duration>, Vec<u8>), Failure> {
    let mut response = builder.send().await.map_err(|e| Failure::of(&e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    tracing::debug!(status = status.as_u16(), "osc answer");
    let body = if read_body && status.is_success() {
        read_capped(&mut response, limit).await?
    } else {
        Vec::new()
    };
    Ok((status, retry_after, body))
}

/// Streams a body, stopping as soon as it would pass `limit` bytes, so an
/// endless or huge answer costs at most `limit` bytes of memory.
async fn read_capped(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, Failure> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(Failure::TooLarge);
    }
    let first = declared
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(limit)
        .min(64 * 1024);
    let mut body = Vec::with_capacity(first);
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure::of(&e))? {
        if chunk.len() > limit.saturating_sub(body.len()) {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sleeps for `pause` and says true, or, when that would end at or past the
/// deadline, says false at once.
async fn wait(pause: Duration, deadline: Instant) -> bool {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if pause >= remaining {
        return false;
    }
    tokio::time::sleep(pause).await;
    true
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("user.a-b_c").to_string(), "user.a-b_c");
        assert_eq!(segment("a/b c").to_string(), "a%2Fb%20c");
    }
}
