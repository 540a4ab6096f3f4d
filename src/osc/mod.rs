//! The OSC tenant-secrets client.
//!
//! Every request goes through [`OscClient::send`], which sets the auth header
//! (marked sensitive), the user agent and the timeouts, retries what is safe to
//! retry, and maps status codes to [`OscError`]. The public methods are a few
//! lines each. The client never reads a secret value: there is no method for
//! `GET /mytenantsecrets/:key`.

use std::sync::OnceLock;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};

mod error;
mod parse;
mod retry;

pub use error::OscError;
pub use parse::{Materialized, SecretEntry, WriteOutcome};
pub use retry::RetryPolicy;

use crate::domain::Key;
use parse::{error_detail, parse_list, parse_reference};

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

    fn value(&self) -> Option<&SecretString> {
        match self {
            Body::Value(v) => Some(v),
            Body::Materialize { .. } => None,
        }
    }
}

struct Request<'a> {
    method: Method,
    path: String,
    body: Option<Body<'a>>,
    /// Safe to send again after a failure that may have reached OSC.
    idempotent: bool,
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
            http: OnceLock::new(),
        })
    }

    /// `GET /mytenantsecrets`: every key, never a value.
    pub async fn list(&self) -> Result<Vec<SecretEntry>, OscError> {
        let answer = self
            .send(Request {
                method: Method::GET,
                path: "/mytenantsecrets".to_owned(),
                body: None,
                idempotent: true,
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
        let mut builder = reqwest::Client::builder();
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
    async fn send(&self, request: Request<'_>) -> Result<Answer, OscError> {
        let http = self.http()?;
        let url = format!("{}{}", self.base_url, request.path);
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

        let mut attempt: u32 = 0;
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

            let response = match builder.send().await {
                Ok(response) => response,
                Err(e) => {
                    let e = e.without_url();
                    // A refused connection never reached OSC, so even a create
                    // may be sent again; a timeout may have.
                    let may_retry = e.is_connect() || (request.idempotent && !e.is_builder());
                    tracing::debug!(error = %e, attempt, "osc request failed");
                    if may_retry && retries_left {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(if e.is_timeout() {
                        OscError::Timeout { attempts: attempt }
                    } else {
                        OscError::Unreachable { attempts: attempt }
                    });
                }
            };

            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = match response.bytes().await {
                Ok(bytes) => bytes.to_vec(),
                Err(e) if status.is_success() => {
                    return Err(if e.is_timeout() {
                        OscError::Timeout { attempts: attempt }
                    } else {
                        OscError::Decode {
                            what: "the answer ended early".to_owned(),
                        }
                    });
                }
                Err(_) => Vec::new(),
            };
            tracing::debug!(status = status.as_u16(), attempt, "osc answer");

            let transient = matches!(status.as_u16(), 429 | 502 | 503 | 504);
            if transient && request.idempotent && retries_left {
                match retry_after {
                    Some(wait) if wait > self.retry.max_delay => {}
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                }
            }
            if status.is_success() {
                return Ok(Answer { status, body });
            }
            // OSC's own words are relayed only where the one value involved
            // is the one this request sent, which can be scrubbed. A list or
            // materialize error could echo a stored value this server has
            // never seen and so cannot recognise: its text is dropped.
            let detail = match request.body.as_ref().and_then(Body::value) {
                Some(value) => error_detail(&body, &self.token, value),
                None => String::new(),
            };
            return Err(match status.as_u16() {
                400 | 413 | 422 => OscError::BadRequest {
                    status: status.as_u16(),
                    detail,
                },
                401 => OscError::Unauthorized { detail },
                403 => OscError::Forbidden { detail },
                404 => OscError::NotFound { detail },
                409 => OscError::Conflict { detail },
                429 => OscError::RateLimited {
                    retry_after,
                    attempts: attempt,
                },
                s @ 500..=599 => OscError::Unavailable {
                    status: s,
                    attempts: attempt,
                    detail,
                },
                s => OscError::Unexpected { status: s, detail },
            });
        }
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
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("user.a-b_c").to_string(), "user.a-b_c");
        assert_eq!(segment("a/b c").to_string(), "a%2Fb%20c");
    }
}
