//! The contract's routes, the admin endpoints, and Fastify-style answers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::answers::*;
use super::faults::*;
use super::store::*;

/// Fastify's default `bodyLimit`; larger bodies get its 413.
const BODY_LIMIT: usize = 1024 * 1024;
const ADMIN_PREFIX: &str = "/__emulator/";
use crate::sync::lock;

/// The emulator's routes; without `admin`, `/__emulator/*` answers 404 like
/// any unknown route (the contract handler refuses the prefix).
pub(super) fn router(shared: Arc<Shared>, admin: bool) -> Router {
    let mut router = Router::new();
    if admin {
        router = router
            .route(
                "/__emulator/faults",
                post(admin_push_fault).delete(admin_clear_faults),
            )
            .route(
                "/__emulator/requests",
                get(admin_requests).delete(admin_clear_requests),
            )
            .route("/__emulator/health", get(admin_health));
    }
    // The contract is routed by hand so that recording, faults and auth
    // see every request, unknown routes included, in one place.
    router.fallback(contract).with_state(shared)
}

pub(super) async fn admin_push_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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

pub(super) async fn admin_clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.faults).clear();
    reply(StatusCode::OK, json!({ "ok": true }))
}

pub(super) async fn admin_requests(State(shared): State<Arc<Shared>>) -> Response {
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

pub(super) async fn admin_clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.requests).clear();
    reply(StatusCode::OK, json!({ "ok": true }))
}

pub(super) async fn admin_health() -> Response {
    reply(StatusCode::OK, json!({ "ok": true }))
}

/// Counts a contract request as in progress until dropped, and keeps the
/// peak, so tests can see that requests overlapped without timing them.
struct Active<'a>(&'a Shared);

impl<'a> Active<'a> {
    fn enter(shared: &'a Shared) -> Self {
        use std::sync::atomic::Ordering;
        let now = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        Active(shared)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Every non-admin request: record, fault, auth, Fastify body checks, route.
pub(super) async fn contract(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method;
    let path = parts.uri.path().to_owned();
    if path.starts_with(ADMIN_PREFIX) {
        return route_not_found(&method, &path).into_response();
    }
    let _active = Active::enter(&shared);
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
            return fault_response(&fault, status, body.as_deref().unwrap_or_default());
        }
    }
    handle(&shared, &method, &path, auth, content_type.as_deref(), body)
        .unwrap_or_else(IntoResponse::into_response)
}

/// Auth, then body parsing, then the route: the order in which Fastify runs an
/// `onRequest` auth hook, its content-type parser and the handler.
pub(super) fn handle(
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

pub(super) fn route(shared: &Shared, method: &Method, path: &str, body: &Body) -> Answer {
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
pub(super) fn decode_segments(path: &str) -> Result<Option<Vec<String>>, Rejection> {
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

pub(super) fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) fn declared_length(headers: &HeaderMap) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}
