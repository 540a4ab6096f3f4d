//! The legacy HTTP+SSE transport (MCP 2024-11-05), for clients that speak
//! nothing newer. rmcp 3 no longer ships it, so it is built here on rmcp's
//! generic [`Transport`] trait: two channels per session, served by the same
//! [`crate::server::SecretsServer`] as every other transport.
//!
//! `GET /sse` opens a session: its first event, `endpoint`, names
//! `/messages?sessionId=ID`; every server message follows as a `message`
//! event. `POST /messages?sessionId=ID` carries one client message and is
//! answered `202 Accepted`. A session ends when its stream closes, when it
//! has been idle too long, or at shutdown. The layers in [`super::layers`]
//! have already checked Host, Origin, the token and `Content-Length`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use rmcp::model::{
    ClientJsonRpcMessage, ErrorCode, ErrorData, GetExtensions, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use rmcp::{RoleServer, ServiceExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::layers::drain::{SHUTTING_DOWN_CODE, SHUTTING_DOWN_MESSAGE};
use super::layers::peek;
use super::layers::permits::{too_many_requests, too_many_sessions};
use super::layers::scope;
use super::limits::{Inflight, Permit, SessionBudget, SessionSlot};
use super::oauth::ResourceServer;
use super::paths::{MESSAGES_PATH, SSE_KEEP_ALIVE};
use crate::domain::Identity;
use crate::server::SecretsServer;
use crate::server::hold::CallHold;
use crate::sync::lock;
use crate::web::{BodyCap, error_response};

/// Client messages that may wait for the handler, per session.
const INBOUND_QUEUE: usize = 64;
/// Server messages that may wait for the client to read its stream.
const OUTBOUND_QUEUE: usize = 64;

/// Every open legacy session, and what opening one needs.
pub(crate) struct LegacySse {
    server: SecretsServer,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    budget: Arc<SessionBudget>,
    inflight: Arc<Inflight>,
    idle: Duration,
    body: BodyCap,
    /// Cancelled at shutdown; every session's token is a child of it.
    cancel: CancellationToken,
    /// With OAuth, for the scope check of each message.
    oauth: Option<Arc<ResourceServer>>,
}

/// One open session. No `Debug`: its queues carry tool arguments.
struct Session {
    inbound: mpsc::Sender<ClientJsonRpcMessage>,
    /// The session's event stream, for errors sent when shutdown cuts calls off.
    outbound: mpsc::Sender<ServerJsonRpcMessage>,
    /// Ids of the requests whose handler has not returned yet.
    in_flight: Arc<Mutex<HashSet<RequestId>>>,
    last_seen: Mutex<Instant>,
    cancel: CancellationToken,
    /// With OAuth: the subject whose token opened the session. Messages
    /// with another subject's token are not taken.
    subject: Option<Arc<str>>,
    _slot: SessionSlot,
}

impl Session {
    fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }
}

/// A request's place in its session and in the per-client cap, travelling
/// in the request's extensions as a [`CallHold`]: the handler keeps it until
/// the call has returned (see `SecretsServer::call_tool`); a request that never
/// reaches a handler drops it with itself. Only then are the id and the
/// permit free again.
struct CallEntry {
    id: RequestId,
    in_flight: Arc<Mutex<HashSet<RequestId>>>,
    _permit: Permit,
}

impl Drop for CallEntry {
    fn drop(&mut self) {
        lock(&self.in_flight).remove(&self.id);
    }
}

impl LegacySse {
    pub(crate) fn new(
        server: SecretsServer,
        budget: Arc<SessionBudget>,
        inflight: Arc<Inflight>,
        idle: Duration,
        body: BodyCap,
        cancel: CancellationToken,
        oauth: Option<Arc<ResourceServer>>,
    ) -> Self {
        LegacySse {
            server,
            sessions: Mutex::new(HashMap::new()),
            budget,
            inflight,
            idle,
            body,
            cancel,
            oauth,
        }
    }

    /// At the end of the shutdown grace period: answers every call still
    /// running with a JSON-RPC error saying so, then closes each session
    /// (its stream sends what is queued first).
    pub(crate) fn cut_off(&self) {
        let sessions: Vec<Arc<Session>> = lock(&self.sessions).values().cloned().collect();
        for session in sessions {
            let ids: Vec<RequestId> = lock(&session.in_flight).iter().cloned().collect();
            for id in ids {
                let error =
                    ErrorData::new(ErrorCode(SHUTTING_DOWN_CODE), SHUTTING_DOWN_MESSAGE, None);
                let _ = session
                    .outbound
                    .try_send(ServerJsonRpcMessage::error(error, Some(id)));
            }
            session.cancel.cancel();
        }
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Runs one session's handler until the client goes away, the session
    /// idles out or the server shuts down; then forgets the session.
    async fn run(self: Arc<Self>, id: String, session: Arc<Session>, transport: ChannelTransport) {
        let cancel = session.cancel.clone();
        let serve = async {
            match self
                .server
                .clone()
                .serve_with_ct(transport, cancel.clone())
                .await
            {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(error) => tracing::debug!(
                    reason = %crate::redact::handshake_failure(&error),
                    "legacy SSE session ended before initialization"
                ),
            }
        };
        tokio::select! {
            () = serve => {}
            () = cancel.cancelled() => {}
            () = idle_expiry(&session, self.idle) => {
                tracing::info!(idle_secs = self.idle.as_secs(), "legacy SSE session closed after being idle");
            }
        }
        cancel.cancel();
        lock(&self.sessions).remove(&id);
        tracing::debug!("legacy SSE session closed");
    }
}

/// Resolves once `session` has seen no traffic for `idle`.
async fn idle_expiry(session: &Session, idle: Duration) {
    loop {
        let deadline = *lock(&session.last_seen) + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// `GET /sse`: opens a session and streams its events.
pub(crate) async fn connect(
    State(sse): State<Arc<LegacySse>>,
    identity: Option<Extension<Identity>>,
) -> Response {
    let Some(slot) = sse.budget.try_acquire() else {
        return too_many_sessions(sse.budget.cap());
    };
    let id = format!("{:032x}", rand::random::<u128>());
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let (outbound_tx, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let session = Arc::new(Session {
        inbound: inbound_tx,
        outbound: outbound_tx.clone(),
        in_flight: Arc::new(Mutex::new(HashSet::new())),
        last_seen: Mutex::new(Instant::now()),
        cancel: sse.cancel.child_token(),
        subject: identity.map(|Extension(identity)| identity.subject),
        _slot: slot,
    });
    lock(&sse.sessions).insert(id.clone(), Arc::clone(&session));
    let transport = ChannelTransport {
        inbound: inbound_rx,
        outbound: outbound_tx,
        session: Arc::downgrade(&session),
    };
    let events = events(&id, outbound_rx, session.cancel.clone());
    tokio::spawn(Arc::clone(&sse).run(id, session, transport));
    tracing::debug!("legacy SSE session opened");
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE))
        .into_response()
}

/// The `endpoint` event, then one `message` event per server message. Ends
/// when the session is cancelled (after sending what is queued); dropping it
/// (the client went away) cancels the session.
fn events(
    id: &str,
    outbound: mpsc::Receiver<ServerJsonRpcMessage>,
    cancel: CancellationToken,
) -> impl Stream<Item = Result<Event, axum::Error>> + Send + 'static {
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES_PATH}?sessionId={id}"));
    let guard = cancel.clone().drop_guard();
    let messages = stream::unfold(
        (outbound, cancel, guard),
        |(mut outbound, cancel, guard)| async move {
            let message = tokio::select! {
                biased;
                message = outbound.recv() => message,
                () = cancel.cancelled() => None,
            }?;
            let event = Event::default().event("message").json_data(&message);
            Some((event, (outbound, cancel, guard)))
        },
    );
    stream::once(async move { Ok(endpoint) }).chain(messages)
}

#[derive(Deserialize)]
pub(crate) struct MessagesQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /messages?sessionId=ID`: hands one client message to the session.
pub(crate) async fn message(
    State(sse): State<Arc<LegacySse>>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
    identity: Option<Extension<Identity>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let identity = identity.map(|Extension(identity)| identity);
    let (id, session) = match sse.session_named(query) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    // Another subject's token does not reach this session: as far as it
    // can tell, there is no such session.
    if session.subject.as_deref() != identity.as_ref().map(|i| &*i.subject) {
        return Refused::SessionNotFound.into_response();
    }
    if !is_json(&headers) {
        return Refused::NotJson.into_response();
    }
    let bytes = match sse.body.read(body).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let mut message = match parse_message(&bytes) {
        Ok(message) => message,
        Err(refused) => return refused.into_response(),
    };
    if let Some(oauth) = &sse.oauth
        && let Some(refusal) = scope::check(oauth, identity.as_ref(), peek::what(&bytes).needs)
    {
        return super::layers::refused(refusal);
    }
    session.touch();
    if let ClientJsonRpcMessage::Request(request) = &mut message {
        if let Err(refused) = sse.register_call(&id, &session, request) {
            return refused.into_response();
        }
        if let Some(identity) = identity {
            request.request.extensions_mut().insert(identity);
        }
    }
    // A message that cannot be queued is dropped here, and with it its place.
    match session.inbound.try_send(message) {
        Ok(()) => (StatusCode::ACCEPTED, "Accepted").into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => too_many_requests(INBOUND_QUEUE),
        Err(mpsc::error::TrySendError::Closed(_)) => Refused::SessionNotFound.into_response(),
    }
}

/// Why `POST /messages` did not take a message; each a fixed JSON answer
/// that never quotes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    SessionRequired,
    SessionNotFound,
    NotJson,
    /// Where the parser gave up: line and column.
    InvalidMessage(usize, usize),
    DuplicateId,
    /// The client's permits, all taken.
    TooManyRequests(usize),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SessionRequired => error_response(
                StatusCode::BAD_REQUEST,
                "session_required",
                "POST messages to the endpoint that GET /sse announced: /messages?sessionId=<id>.",
            ),
            Refused::SessionNotFound => error_response(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "No such session: it was closed or expired. Open a new one with GET /sse.",
            ),
            Refused::NotJson => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_body",
                "The body must be one JSON-RPC message, sent with `Content-Type: application/json`.",
            ),
            Refused::InvalidMessage(line, column) => error_response(
                StatusCode::BAD_REQUEST,
                "invalid_message",
                format!(
                    "The body is not a JSON-RPC message this server understands (at line {line}, column {column})."
                ),
            ),
            Refused::DuplicateId => error_response(
                StatusCode::CONFLICT,
                "duplicate_request_id",
                "A request with this JSON-RPC id is still in flight in this session. Give every request its own id, or \
                 wait for the answer to the earlier one.",
            ),
            Refused::TooManyRequests(limit) => too_many_requests(limit),
        }
    }
}

impl LegacySse {
    /// The session a `POST /messages` names in its query, with its id.
    fn session_named(
        &self,
        query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
    ) -> Result<(String, Arc<Session>), Refused> {
        let id = query
            .ok()
            .and_then(|Query(q)| q.session_id)
            .filter(|id| !id.is_empty())
            .ok_or(Refused::SessionRequired)?;
        let session = self.session(&id).ok_or(Refused::SessionNotFound)?;
        Ok((id, session))
    }

    /// Gives a request its place in the session and in the per-client cap,
    /// carried in its extensions until its handler returns.
    fn register_call(
        &self,
        id: &str,
        session: &Session,
        request: &mut rmcp::model::JsonRpcRequest<rmcp::model::ClientRequest>,
    ) -> Result<(), Refused> {
        // An id still in flight is refused: rmcp would answer only one of
        // the two, and the other would hold its permit for nothing.
        let mut in_flight = lock(&session.in_flight);
        if in_flight.contains(&request.id) {
            return Err(Refused::DuplicateId);
        }
        let permit = self
            .inflight
            .try_acquire(format!("sse:{id}"))
            .ok_or(Refused::TooManyRequests(self.inflight.max_per_client()))?;
        in_flight.insert(request.id.clone());
        drop(in_flight);
        let call = CallHold::new(CallEntry {
            id: request.id.clone(),
            in_flight: Arc::clone(&session.in_flight),
            _permit: permit,
        });
        request.request.extensions_mut().insert(call);
        // For the audit record: which SSE session this call came from.
        request
            .request
            .extensions_mut()
            .insert(crate::audit::SseSession(Arc::from(id)));
        Ok(())
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// One client message. The parser's message could quote the body; the
/// answer says only where it failed.
fn parse_message(bytes: &[u8]) -> Result<ClientJsonRpcMessage, Refused> {
    serde_json::from_slice(bytes).map_err(|e| Refused::InvalidMessage(e.line(), e.column()))
}

/// One session's end of the two channels, as rmcp's service loop sees it.
struct ChannelTransport {
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    outbound: mpsc::Sender<ServerJsonRpcMessage>,
    session: std::sync::Weak<Session>,
}

#[derive(Debug, thiserror::Error)]
#[error("the SSE stream of this session is closed")]
pub(crate) struct StreamClosed;

impl Transport<RoleServer> for ChannelTransport {
    type Error = StreamClosed;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), StreamClosed>> + Send + 'static {
        let outbound = self.outbound.clone();
        let session = self.session.clone();
        async move {
            let sent = outbound.send(item).await.map_err(|_| StreamClosed);
            if let Some(session) = session.upgrade() {
                session.touch();
            }
            sent
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.inbound.recv()
    }

    async fn close(&mut self) -> Result<(), StreamClosed> {
        self.inbound.close();
        Ok(())
    }
}
