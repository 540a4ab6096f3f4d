//! Offline OSC emulator: a local HTTP server that honours the tenant-secret and
//! service-secret contract of `docs/osc-api.md`.
//!
//! It exists so the product's real HTTP client is exercised end to end in tests
//! and in `--sandbox` mode, without a PAT and without the internet. It mimics
//! what the live service most likely is (Fastify): Fastify-style error bodies,
//! the 400 on a declared-but-empty JSON body, 404 for unknown routes. Where the
//! contract only guesses (list shape), it is switchable.
//!
//! Tests drive it either through the [`Emulator`] handle or, when they spawn
//! the server binary, through the `/__emulator/*` admin endpoints. Admin
//! endpoints need no auth and are never recorded in the request log.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use percent_encoding::percent_decode_str;
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

/// Fastify's default `bodyLimit`; larger bodies get its 413.
const BODY_LIMIT: usize = 1024 * 1024;
/// Keeps a long sandbox session from growing the log without bound.
const REQUEST_LOG_CAP: usize = 10_000;
const ADMIN_PREFIX: &str = "/__emulator/";
/// What Fastify sends with every JSON reply.
const JSON_UTF8: &str = "application/json; charset=utf-8";
const TEXT_UTF8: &str = "text/plain; charset=utf-8";

/// Shape of the `GET /mytenantsecrets` answer. The real shape is a guess, so the
/// product must cope with both and tests run it against both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListShape {
    /// A bare JSON array of items.
    #[default]
    Array,
    /// `{"secrets": [...]}`.
    Wrapped,
}

/// How to start an [`Emulator`]. No `Debug`: it holds the token.
#[derive(Clone)]
pub struct EmulatorOptions {
    /// Token accepted in `x-pat-jwt: Bearer <token>`; None accepts any non-empty bearer token.
    pub token: Option<SecretString>,
    /// Seed platform keys (`system.gitea-admin-token`, `system.sdlc-webhook-secret`)
    /// with random values and a couple of sample `user.*` keys, so a sandbox
    /// session has something realistic to list and materialize.
    pub seed: bool,
    /// Shape of the GET /mytenantsecrets answer.
    pub list_shape: ListShape,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            token: None,
            seed: false,
            list_shape: ListShape::Array,
        }
    }
}

/// One contract request as the emulator saw it. Holds no header or body
/// content, so tests can assert on it (and print it) without leaking anything.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw path as received, percent-encoding kept, query excluded.
    pub path: String,
    /// Whether the `x-pat-jwt` header would pass auth (computed even when a fault answers).
    pub authorized: bool,
    pub content_type: Option<String>,
    pub body_len: usize,
}

/// A scripted misbehaviour, so tests can exercise retries, rate limits, slow
/// answers and malformed bodies. Faults act before auth, like a proxy or load
/// balancer in front of the real service would.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// Match only this method (case-insensitive); None = any.
    pub method: Option<String>,
    /// Match raw paths starting with this; None = any contract path.
    pub path_prefix: Option<String>,
    /// Answer with this status (200..=599) instead of handling the request.
    pub status: Option<u16>,
    /// Retry-After header value to add to the fault answer.
    pub retry_after: Option<String>,
    /// Sleep this long first (then answer the fault status, or handle normally if status is None).
    pub delay_ms: Option<u64>,
    /// Raw body of the fault answer (default: a Fastify-style JSON error body for that status).
    pub body: Option<String>,
    /// Content type of the answer (default application/json for the default body, text/plain for a raw body).
    pub content_type: Option<String>,
    /// How many matching requests it applies to; None = until cleared.
    pub times: Option<u32>,
}

impl Fault {
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.times != Some(0)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
    }

    /// Why this fault could not be answered, if it could not; the admin
    /// endpoint refuses such faults up front instead of failing mid-test.
    fn problem(&self) -> Option<&'static str> {
        if self.status.is_some_and(|s| !(200..=599).contains(&s)) {
            return Some("status must be within 200..=599");
        }
        if let Some(value) = &self.retry_after
            && HeaderValue::from_str(value).is_err()
        {
            return Some("retry_after is not a valid header value");
        }
        if let Some(value) = &self.content_type
            && HeaderValue::from_str(value).is_err()
        {
            return Some("content_type is not a valid header value");
        }
        None
    }
}

/// A cheap, cloneable handle to a running emulator. Dropping every handle
/// leaves the server running until [`Emulator::shutdown`] or the end of the
/// runtime, so a sandbox can keep only the base URL.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
}

impl fmt::Debug for Emulator {
    /// Hand-written so that structs holding a handle can derive `Debug`
    /// without ever printing the store.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds `addr` (use 127.0.0.1:0 for an ephemeral port), spawns the server
    /// on the current tokio runtime, returns at once. The socket is listening
    /// when this returns, so callers need no readiness wait.
    pub async fn start(addr: SocketAddr, opts: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts));
        let app = router(Arc::clone(&shared));
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let (stopped_tx, stopped) = watch::channel(false);
        tokio::spawn(async move {
            let signal = async move {
                if shutdown_rx.wait_for(|stop| *stop).await.is_err() {
                    // The last handle was dropped without a shutdown: keep
                    // serving (see `Emulator`).
                    std::future::pending::<()>().await;
                }
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(%error, "OSC emulator stopped with an error");
            }
            stopped_tx.send_replace(true);
        });
        tracing::debug!(%addr, "OSC emulator listening");
        Ok(Emulator {
            inner: Arc::new(Inner {
                addr,
                shared,
                shutdown,
                stopped,
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT`, ready to hand to the OSC client as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Contract requests (every non-admin path, rejected ones included), in
    /// arrival order; capped at the most recent 10 000.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.shared.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.shared.requests).clear();
    }

    /// Queues a fault; faults are matched in push order. Unlike the admin
    /// endpoint this cannot refuse a bad fault: an out-of-range status answers
    /// 500 when it fires, and an invalid header value is left out.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.inner.shared.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.shared.faults).clear();
    }

    /// Tenant secret keys, sorted.
    pub fn tenant_keys(&self) -> Vec<String> {
        lock(&self.inner.shared.tenant).keys().cloned().collect()
    }

    /// For test assertions only: the product itself can never read a value.
    pub fn tenant_value(&self, key: &str) -> Option<SecretString> {
        lock(&self.inner.shared.tenant)
            .get(key)
            .map(|secret| secret.value.clone())
    }

    /// Seeds a tenant secret. Bypasses the key and `system.*` rules, so tests
    /// can stage platform keys and odd keys the API itself would refuse.
    pub fn insert_tenant_secret(&self, key: &str, value: &str) {
        lock(&self.inner.shared.tenant).insert(key.to_owned(), TenantSecret::new(value.into()));
    }

    /// The value a materialize (or a service-secret write) left for a service.
    pub fn service_secret(&self, service_id: &str, secret_name: &str) -> Option<SecretString> {
        lock(&self.inner.shared.services)
            .get(service_id)
            .and_then(|secrets| secrets.get(secret_name))
            .cloned()
    }

    /// Names of a service's secrets, sorted.
    pub fn service_secret_names(&self, service_id: &str) -> Vec<String> {
        lock(&self.inner.shared.services)
            .get(service_id)
            .map(|secrets| secrets.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops accepting connections and lets in-flight requests finish.
    /// Idempotent; returns at once (await [`Emulator::stopped`] to wait).
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Resolves once the server has stopped, so a test can assert on a closed port.
    pub async fn stopped(&self) {
        let mut stopped = self.inner.stopped.clone();
        // An error means the server task is gone, which is stopped too.
        let _ = stopped.wait_for(|done| *done).await;
    }
}

/// Poisoning only means another request panicked mid-update; the maps stay
/// usable, and an emulator must keep answering.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stored tenant secret. No `Debug`: it holds a value.
struct TenantSecret {
    value: SecretString,
    updated_at: SystemTime,
}

impl TenantSecret {
    fn new(value: SecretString) -> Self {
        Self {
            value,
            updated_at: SystemTime::now(),
        }
    }
}

/// The emulator's whole state, shared by the handle and the handlers.
struct Shared {
    token: Option<SecretString>,
    list_shape: ListShape,
    tenant: Mutex<BTreeMap<String, TenantSecret>>,
    /// service id → secret name → value.
    services: Mutex<BTreeMap<String, BTreeMap<String, SecretString>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<Fault>>,
}

impl Shared {
    fn new(opts: EmulatorOptions) -> Self {
        let mut tenant = BTreeMap::new();
        if opts.seed {
            for key in [
                "system.gitea-admin-token",
                "system.sdlc-webhook-secret",
                "user.example-api-key",
                "user.gitcred.example-github-token",
            ] {
                tenant.insert(key.to_owned(), TenantSecret::new(random_value()));
            }
        }
        Self {
            token: opts.token,
            list_shape: opts.list_shape,
            tenant: Mutex::new(tenant),
            services: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, request: RecordedRequest) {
        let mut log = lock(&self.requests);
        if log.len() >= REQUEST_LOG_CAP {
            log.remove(0);
        }
        log.push(request);
    }

    /// First matching fault with uses left, consuming one use.
    fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let index = faults.iter().position(|f| f.matches(method, path))?;
        let fault = faults[index].clone();
        if let Some(times) = faults[index].times.as_mut() {
            *times -= 1;
            if *times == 0 {
                faults.remove(index);
            }
        }
        Some(fault)
    }

    /// Checks `x-pat-jwt: Bearer <token>`. The error is a fixed message that
    /// never echoes what was sent.
    fn authorize(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let header = headers.get("x-pat-jwt").ok_or("Missing x-pat-jwt header")?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or("x-pat-jwt must be 'Bearer <token>'")?;
        let accepted = match &self.token {
            // Constant time for equal lengths; the length itself is not secret enough to hide.
            Some(expected) => {
                bool::from(expected.expose_secret().as_bytes().ct_eq(token.as_bytes()))
            }
            None => true,
        };
        if accepted {
            Ok(())
        } else {
            Err("Invalid token")
        }
    }

    fn list_tenant(&self) -> Answer {
        let items: Vec<Value> = lock(&self.tenant)
            .iter()
            .map(|(key, secret)| {
                let prefix = key.split_once('.').map_or(key.as_str(), |(p, _)| p);
                json!({ "key": key, "prefix": prefix, "updatedAt": rfc3339(secret.updated_at) })
            })
            .collect();
        Ok(match self.list_shape {
            ListShape::Array => reply(StatusCode::OK, Value::Array(items)),
            ListShape::Wrapped => reply(StatusCode::OK, json!({ "secrets": items })),
        })
    }

    /// In the contract, so emulated; the product must never call it, and tests
    /// prove that from the request log.
    fn read_tenant(&self, key: &str) -> Answer {
        check_key(key)?;
        let tenant = lock(&self.tenant);
        let secret = tenant.get(key).ok_or_else(tenant_not_found)?;
        Ok(reply(
            StatusCode::OK,
            json!({ "key": key, "value": secret.value.expose_secret() }),
        ))
    }

    fn create_tenant(&self, key: &str, body: &Body) -> Answer {
        writable_key(key)?;
        let value = secret_from(&mut body.object()?, "value")?;
        let mut tenant = lock(&self.tenant);
        if tenant.contains_key(key) {
            return Err(Rejection::new(
                StatusCode::CONFLICT,
                "Tenant secret already exists; use PUT to replace it",
            ));
        }
        tenant.insert(key.to_owned(), TenantSecret::new(value));
        Ok(reply(StatusCode::CREATED, json!({ "key": key })))
    }

    fn upsert_tenant(&self, key: &str, body: &Body) -> Answer {
        writable_key(key)?;
        let value = secret_from(&mut body.object()?, "value")?;
        let replaced = lock(&self.tenant)
            .insert(key.to_owned(), TenantSecret::new(value))
            .is_some();
        let status = if replaced {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok(reply(status, json!({ "key": key })))
    }

    /// Leaves materialized copies alone, as the contract says OSC does.
    fn delete_tenant(&self, key: &str) -> Answer {
        writable_key(key)?;
        lock(&self.tenant)
            .remove(key)
            .ok_or_else(tenant_not_found)?;
        Ok(reply(StatusCode::OK, json!({ "key": key })))
    }

    /// Copies a snapshot of the value into the service store, replacing any
    /// existing copy. `system.*` keys are allowed: that is how the platform's
    /// own tokens reach services. Body errors come before the 404 because
    /// Fastify validates the body before the handler runs.
    fn materialize(&self, key: &str, body: &Body) -> Answer {
        check_key(key)?;
        let mut object = body.object()?;
        let service_id = name_field(&mut object, "serviceId")?;
        let secret_name = name_field(&mut object, "secretName")?;
        let value = lock(&self.tenant)
            .get(key)
            .map(|secret| secret.value.clone())
            .ok_or_else(tenant_not_found)?;
        lock(&self.services)
            .entry(service_id)
            .or_default()
            .insert(secret_name.clone(), value);
        Ok(reply(
            StatusCode::OK,
            json!({ "reference": format!("{{{{secrets.{secret_name}}}}}") }),
        ))
    }

    fn list_service(&self, service_id: &str) -> Answer {
        let items: Vec<Value> = lock(&self.services)
            .get(service_id)
            .into_iter()
            .flat_map(|secrets| secrets.keys())
            .map(|name| json!({ "serviceId": service_id, "secretName": name }))
            .collect();
        Ok(reply(StatusCode::OK, Value::Array(items)))
    }

    fn create_service_secret(&self, service_id: &str, body: &Body) -> Answer {
        let mut object = body.object()?;
        let name = name_field(&mut object, "secretName")?;
        let data = secret_from(&mut object, "secretData")?;
        let mut services = lock(&self.services);
        let secrets = services.entry(service_id.to_owned()).or_default();
        if secrets.contains_key(&name) {
            return Err(Rejection::new(
                StatusCode::CONFLICT,
                "Service secret already exists",
            ));
        }
        let answer = json!({ "serviceId": service_id, "secretName": name });
        secrets.insert(name, data);
        Ok(reply(StatusCode::CREATED, answer))
    }

    /// An update, not an upsert: the contract separates create (POST) from
    /// update (PUT), and the stricter reading keeps the product honest.
    fn update_service_secret(&self, service_id: &str, name: &str, body: &Body) -> Answer {
        let data = secret_from(&mut body.object()?, "secretData")?;
        let mut services = lock(&self.services);
        let slot = services
            .get_mut(service_id)
            .and_then(|secrets| secrets.get_mut(name))
            .ok_or_else(service_secret_not_found)?;
        *slot = data;
        Ok(reply(
            StatusCode::OK,
            json!({ "serviceId": service_id, "secretName": name }),
        ))
    }

    fn delete_service_secret(&self, service_id: &str, name: &str) -> Answer {
        lock(&self.services)
            .get_mut(service_id)
            .and_then(|secrets| secrets.remove(name))
            .ok_or_else(service_secret_not_found)?;
        Ok(reply(
            StatusCode::OK,
            json!({ "serviceId": service_id, "secretName": name }),
        ))
    }
}

fn random_value() -> SecretString {
    let value: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    value.into()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/__emulator/faults",
            post(admin_push_fault).delete(admin_clear_faults),
        )
        .route(
            "/__emulator/requests",
            get(admin_requests).delete(admin_clear_requests),
        )
        .route("/__emulator/health", get(admin_health))
        // The contract is routed by hand so that recording, faults and auth
        // see every request, unknown routes included, in one place.
        .fallback(contract)
        .with_state(shared)
}

async fn admin_push_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(error) => {
            return fastify_error(
                StatusCode::BAD_REQUEST,
                None,
                &format!("invalid fault: {error}"),
            );
        }
    };
    if let Some(problem) = fault.problem() {
        return fastify_error(StatusCode::BAD_REQUEST, None, problem);
    }
    lock(&shared.faults).push(fault);
    reply(StatusCode::OK, json!({ "ok": true }))
}

async fn admin_clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.faults).clear();
    reply(StatusCode::OK, json!({ "ok": true }))
}

async fn admin_requests(State(shared): State<Arc<Shared>>) -> Response {
    let log = lock(&shared.requests).clone();
    match serde_json::to_value(log) {
        Ok(value) => reply(StatusCode::OK, value),
        Err(_) => fastify_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "could not encode the request log",
        ),
    }
}

async fn admin_clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.requests).clear();
    reply(StatusCode::OK, json!({ "ok": true }))
}

async fn admin_health() -> Response {
    reply(StatusCode::OK, json!({ "ok": true }))
}

/// A request body as the route handler sees it, after the Fastify-level checks.
struct Body {
    declared_json: bool,
    bytes: Bytes,
}

impl Body {
    /// Fastify only parses JSON when it is declared; anything else fails the
    /// route's object schema.
    fn object(&self) -> Result<Map<String, Value>, Rejection> {
        if self.declared_json
            && let Ok(Value::Object(object)) = serde_json::from_slice(&self.bytes)
        {
            return Ok(object);
        }
        Err(validation("body must be object"))
    }
}

/// Every non-admin request: record, fault, auth, Fastify body checks, route.
async fn contract(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method;
    let path = parts.uri.path().to_owned();
    if path.starts_with(ADMIN_PREFIX) {
        return route_not_found(&method, &path).into_response();
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let body = to_bytes(body, BODY_LIMIT).await.ok();
    let auth = shared.authorize(&parts.headers);
    tracing::debug!(%method, %path, "OSC emulator request");
    shared.record(RecordedRequest {
        method: method.as_str().to_owned(),
        path: path.clone(),
        authorized: auth.is_ok(),
        content_type: content_type.clone(),
        body_len: body
            .as_ref()
            .map_or_else(|| declared_length(&parts.headers), Bytes::len),
    });

    if let Some(fault) = shared.take_fault(&method, &path) {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(status) = fault.status {
            return fault_response(&fault, status);
        }
    }
    handle(&shared, &method, &path, auth, content_type.as_deref(), body)
        .unwrap_or_else(IntoResponse::into_response)
}

/// Auth, then body parsing, then the route: the order in which Fastify runs an
/// `onRequest` auth hook, its content-type parser and the handler.
fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    auth: Result<(), &'static str>,
    content_type: Option<&str>,
    body: Option<Bytes>,
) -> Answer {
    auth.map_err(|message| Rejection::new(StatusCode::UNAUTHORIZED, message))?;
    let bytes = body.ok_or_else(|| {
        Rejection::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large")
            .code("FST_ERR_CTP_BODY_TOO_LARGE")
    })?;
    let declared_json = content_type.is_some_and(is_json);
    // Fastify parses bodies of every method but GET and HEAD, DELETE included:
    // that is why the product must not send the JSON header without a body.
    if declared_json && method != Method::GET && method != Method::HEAD {
        if bytes.is_empty() {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "Body cannot be empty when content-type is set to 'application/json'",
            )
            .code("FST_ERR_CTP_EMPTY_JSON_BODY"));
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "Body is not valid JSON but content-type is set to 'application/json'",
            )
            .code("FST_ERR_CTP_INVALID_JSON_BODY"));
        }
    }
    let body = Body {
        declared_json,
        bytes,
    };
    route(shared, method, path, &body)
}

fn route(shared: &Shared, method: &Method, path: &str, body: &Body) -> Answer {
    let Some(segments) = decode_segments(path)? else {
        return Err(route_not_found(method, path));
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["mytenantsecrets"]) => shared.list_tenant(),
        (&Method::GET, ["mytenantsecrets", key]) => shared.read_tenant(key),
        (&Method::POST, ["mytenantsecrets", key]) => shared.create_tenant(key, body),
        (&Method::PUT, ["mytenantsecrets", key]) => shared.upsert_tenant(key, body),
        (&Method::DELETE, ["mytenantsecrets", key]) => shared.delete_tenant(key),
        (&Method::POST, ["mytenantsecrets", key, "materialize"]) => shared.materialize(key, body),
        (&Method::GET, ["mysecrets", service]) => shared.list_service(service),
        (&Method::POST, ["mysecrets", service]) => shared.create_service_secret(service, body),
        (&Method::PUT, ["mysecrets", service, name]) => {
            shared.update_service_secret(service, name, body)
        }
        (&Method::DELETE, ["mysecrets", service, name]) => {
            shared.delete_service_secret(service, name)
        }
        // Fastify answers 404, not 405, for a known path with an unknown method.
        _ => Err(route_not_found(method, path)),
    }
}

/// Splits a raw path into percent-decoded segments. `None` for a path no
/// route can match (empty segment, trailing slash), an error for bad encoding.
fn decode_segments(path: &str) -> Result<Option<Vec<String>>, Rejection> {
    let Some(rest) = path.strip_prefix('/') else {
        return Ok(None);
    };
    let mut segments = Vec::new();
    for raw in rest.split('/') {
        if raw.is_empty() {
            return Ok(None);
        }
        let segment = percent_decode_str(raw).decode_utf8().map_err(|_| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                "The path is not a valid url component",
            )
            .code("FST_ERR_BAD_URL")
        })?;
        segments.push(segment.into_owned());
    }
    Ok(Some(segments))
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn declared_length(headers: &HeaderMap) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Keys are `user.<name>` or `system.<name>` with a non-empty name.
fn check_key(key: &str) -> Result<(), Rejection> {
    let valid = ["user.", "system."].iter().any(|prefix| {
        key.strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty())
    });
    if valid {
        Ok(())
    } else {
        Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "Key must start with 'user.' or 'system.' followed by a name",
        ))
    }
}

/// A valid key the tenant may write: `system.*` belongs to the platform.
fn writable_key(key: &str) -> Result<(), Rejection> {
    check_key(key)?;
    if key.starts_with("system.") {
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "system.* secrets are managed by the platform and cannot be modified",
        ));
    }
    Ok(())
}

/// A string field holding a value, wrapped at once so it is never a bare `String` for long.
fn secret_from(object: &mut Map<String, Value>, name: &str) -> Result<SecretString, Rejection> {
    string_field(object, name).map(SecretString::from)
}

/// A string field that names something (service, secret) and so cannot be empty.
fn name_field(object: &mut Map<String, Value>, name: &str) -> Result<String, Rejection> {
    let value = string_field(object, name)?;
    if value.is_empty() {
        return Err(validation(format!(
            "body/{name} must NOT have fewer than 1 characters"
        )));
    }
    Ok(value)
}

/// Messages follow Fastify's schema validation (ajv) and never include the value.
fn string_field(object: &mut Map<String, Value>, name: &str) -> Result<String, Rejection> {
    match object.remove(name) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(validation(format!("body/{name} must be string"))),
        None => Err(validation(format!(
            "body must have required property '{name}'"
        ))),
    }
}

fn validation(message: impl Into<String>) -> Rejection {
    Rejection::new(StatusCode::BAD_REQUEST, message).code("FST_ERR_VALIDATION")
}

fn tenant_not_found() -> Rejection {
    Rejection::new(StatusCode::NOT_FOUND, "Tenant secret not found")
}

fn service_secret_not_found() -> Rejection {
    Rejection::new(StatusCode::NOT_FOUND, "Service secret not found")
}

fn route_not_found(method: &Method, path: &str) -> Rejection {
    Rejection::new(
        StatusCode::NOT_FOUND,
        format!("Route {method}:{path} not found"),
    )
}

/// What a route handler answers: a reply, or a Fastify-style error.
type Answer = Result<Response, Rejection>;

/// A Fastify-style error on its way out; kept small so `?` stays cheap.
/// Messages are fixed text plus key, path or field names, never a value.
struct Rejection {
    status: StatusCode,
    code: Option<&'static str>,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            message: message.into(),
        }
    }

    /// Fastify's own errors carry a `code` such as `FST_ERR_VALIDATION`.
    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        fastify_error(self.status, self.code, &self.message)
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    with_content_type((status, body.to_string()).into_response(), JSON_UTF8)
}

fn with_content_type(mut response: Response, content_type: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// `{"statusCode","code"?,"error","message"}`, as Fastify's default error handler writes it.
fn fastify_error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    reply(status, fastify_body(status, code, message))
}

fn fastify_body(status: StatusCode, code: Option<&str>, message: &str) -> Value {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if let (Some(code), Some(object)) = (code, body.as_object_mut()) {
        object.insert("code".to_owned(), Value::from(code));
    }
    body
}

fn fault_response(fault: &Fault, status: u16) -> Response {
    let Some(status) = StatusCode::from_u16(status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
    else {
        return fastify_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "emulator fault has a status outside 200..=599",
        );
    };
    let (body, default_type) = match &fault.body {
        Some(raw) => (raw.clone(), TEXT_UTF8),
        None if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED => {
            (String::new(), JSON_UTF8)
        }
        None if status.is_success() => ("{}".to_owned(), JSON_UTF8),
        None => (
            fastify_body(status, None, "Fault injected by the OSC emulator").to_string(),
            JSON_UTF8,
        ),
    };
    let content_type = fault.content_type.as_deref().unwrap_or(default_type);
    let mut response = with_content_type((status, body).into_response(), content_type);
    if let Some(retry_after) = &fault.retry_after
        && let Ok(value) = HeaderValue::from_str(retry_after)
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// RFC 3339 UTC with whole seconds (`2026-11-26T02:29:49Z`), the format the
/// list guesses for `updatedAt`. Hand-rolled to avoid a date crate for one field.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_660_189), "2026-11-26T02:29:49Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn keys_need_a_known_prefix_and_a_name() {
        assert!(check_key("user.a").is_ok());
        assert!(check_key("system.gitea-admin-token").is_ok());
        assert!(check_key("user.gitcred.my-token").is_ok());
        for bad in ["user.", "system.", "user", "other.a", "", ".user.a"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn faults_decrement_and_expire() {
        let shared = Shared::new(EmulatorOptions::default());
        lock(&shared.faults).push(Fault {
            method: Some("post".into()),
            path_prefix: Some("/mytenantsecrets".into()),
            status: Some(503),
            times: Some(2),
            ..Fault::default()
        });
        assert!(
            shared
                .take_fault(&Method::GET, "/mytenantsecrets")
                .is_none()
        );
        assert!(shared.take_fault(&Method::POST, "/mysecrets/a").is_none());
        assert!(
            shared
                .take_fault(&Method::POST, "/mytenantsecrets/user.a")
                .is_some()
        );
        assert!(
            shared
                .take_fault(&Method::POST, "/mytenantsecrets")
                .is_some()
        );
        assert!(
            shared
                .take_fault(&Method::POST, "/mytenantsecrets")
                .is_none()
        );
        assert!(lock(&shared.faults).is_empty());
    }
}
