//! The accept loop: HTTP/1.1 connections served by hyper, each watched so
//! that none can hold a descriptor forever.
//!
//! hyper serves the requests; what is hand-written here is the bookkeeping
//! hyper does not offer. Its own `header_read_timeout` restarts whenever a
//! connection waits for a request head, so it also cuts keep-alive idle
//! connections at the same (short) limit, and it exposes no per-connection
//! state that eviction could use. Each connection here is in one phase:
//!
//! * `Fresh`: no complete request yet. Must send a complete request head
//!   within the header timeout of connecting; a silent connection and a
//!   slowloris one (one header byte every few seconds) are both closed then.
//! * `Idle`: between requests (keep-alive). Closed after the idle timeout;
//!   once the first byte of a next request arrives, its head must complete
//!   within the header timeout.
//! * `Busy`: a request is being answered (its response body, perhaps a
//!   long SSE stream, has not ended). Never cut by these timers.
//!
//! The number of open connections is capped below the descriptor limit.
//! At the cap a new connection evicts the oldest one that has not sent a
//! complete request, else the oldest idle one; only when every connection
//! is busy is the newcomer refused, with a fixed 503. So clients that never
//! finish a request cannot lock out those that do.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::held::Held;
use crate::sync::lock;

/// Timeouts and the cap of the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// How many connections the server keeps open at most: the configured cap,
/// or fewer when the process's descriptor limit (`RLIMIT_NOFILE`) would not
/// leave room for the listener, the runtime and upstream connections.
pub(super) fn connection_cap(configured: usize) -> (usize, Option<u64>) {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    (cap_for_limit(configured, soft), soft)
}

fn cap_for_limit(configured: usize, soft: Option<u64>) -> usize {
    let Some(soft) = soft.filter(|s| *s != rlimit::INFINITY) else {
        return configured.max(1);
    };
    let headroom = (soft / 4).clamp(32, 256);
    let room = usize::try_from(soft.saturating_sub(headroom)).unwrap_or(usize::MAX);
    configured.min(room).max(1)
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Fresh,
    Idle {
        since: Instant,
        first_byte: Option<Instant>,
    },
    Busy(usize),
}

/// One open connection's state, shared by its task, its requests and the registry.
struct Conn {
    id: u64,
    opened: Instant,
    phase: Mutex<Phase>,
    changed: Notify,
    /// Cancelled to close the connection at once (eviction).
    kill: CancellationToken,
}

impl Conn {
    /// When this connection is closed if nothing changes; None while busy.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        match *lock(&self.phase) {
            Phase::Fresh => Some(self.opened + limits.header_timeout),
            Phase::Idle {
                first_byte: Some(at),
                ..
            } => Some(at + limits.header_timeout),
            Phase::Idle { since, .. } => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// Eviction order: lower first. Connections without a complete request
    /// (fresh, or partway through a next request's head) go before idle ones.
    fn eviction_rank(&self) -> Option<(u8, Instant)> {
        match *lock(&self.phase) {
            Phase::Fresh => Some((0, self.opened)),
            Phase::Idle {
                first_byte: Some(at),
                ..
            } => Some((0, at)),
            Phase::Idle { since, .. } => Some((1, since)),
            Phase::Busy(_) => None,
        }
    }

    fn saw_bytes(&self) {
        let mut phase = lock(&self.phase);
        if let Phase::Idle {
            first_byte: first @ None,
            ..
        } = &mut *phase
        {
            *first = Some(Instant::now());
            drop(phase);
            self.changed.notify_waiters();
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        let mut phase = lock(&self.phase);
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        drop(phase);
        self.changed.notify_waiters();
        Busy(Arc::clone(self))
    }

    /// Resolves when the connection's deadline passes.
    async fn expired(&self, limits: &ConnLimits) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(limits) {
                Some(deadline) if Instant::now() >= deadline => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A request being answered; the connection is idle again once every one is dropped.
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut phase = lock(&self.0.phase);
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle {
                since: Instant::now(),
                first_byte: None,
            },
        };
        drop(phase);
        self.0.changed.notify_waiters();
    }
}

/// A listener's own answer, as the bytes of a whole HTTP/1.1 response with
/// `connection: close`, for what no handler answers: a request hyper could
/// not parse (hyper's status for it: 400, 414 or 431), and a connection
/// refused because every other is busy (503).
pub(crate) type OwnAnswer = fn(StatusCode) -> Vec<u8>;

/// The open connections.
pub(crate) struct Connections {
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    limits: ConnLimits,
    count: watch::Sender<usize>,
    /// See [`Connections::answering_malformed`].
    malformed: Option<OwnAnswer>,
}

impl Connections {
    pub(crate) fn new(limits: ConnLimits) -> Self {
        Connections {
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            limits,
            count: watch::channel(0).0,
            malformed: None,
        }
    }

    /// Answers a request hyper cannot parse with `answer` instead of
    /// hyper's own bare response, which no service sees and so carries none
    /// of the listener's headers; and a connection refused for want of room
    /// too. hyper writes its answer before it gives up the connection, so
    /// it is replaced on the way out: each connection then serves one
    /// request (no keep-alive), and anything written on a connection whose
    /// request never reached the service is hyper's own.
    pub(crate) fn answering_malformed(mut self, answer: OwnAnswer) -> Self {
        self.malformed = Some(answer);
        self
    }

    /// A place for a new connection, evicting another if the cap is reached;
    /// None when every open connection is busy.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut open = lock(&self.open);
        if open.len() >= self.limits.max_connections {
            let victim = open
                .values()
                .filter_map(|conn| conn.eviction_rank().map(|rank| (rank, conn.id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(conn) = open.remove(&victim) {
                conn.kill.cancel();
                tracing::debug!(
                    "connection limit reached: closed the oldest connection without a request in progress"
                );
            }
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            opened: Instant::now(),
            phase: Mutex::new(Phase::Fresh),
            changed: Notify::new(),
            kill: CancellationToken::new(),
        });
        open.insert(conn.id, Arc::clone(&conn));
        self.count.send_replace(open.len());
        Some(conn)
    }

    fn remove(&self, id: u64) {
        let mut open = lock(&self.open);
        open.remove(&id);
        self.count.send_replace(open.len());
    }

    /// Resolves once no connection is open.
    pub(super) async fn closed(&self) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|n| *n == 0).await;
    }
}

/// Sent, best effort, to a connection refused because every other is busy.
fn busy_refusal() -> Vec<u8> {
    let body = r#"{"error":"too_many_connections","message":"The server holds its maximum of open connections (MCP_MAX_CONNECTIONS), all busy. Retry in a moment."}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Accepts connections until `stop_accepting` is cancelled. Each connection
/// is served by `router` (with `ConnectInfo<SocketAddr>`); once `draining`
/// is cancelled, connections close after their current request.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    connections: Arc<Connections>,
    stop_accepting: CancellationToken,
    draining: CancellationToken,
    tracker: TaskTracker,
) {
    let refusal: Arc<[u8]> = connections
        .malformed
        .map_or_else(busy_refusal, |own| own(StatusCode::SERVICE_UNAVAILABLE))
        .into();
    loop {
        let accepted = tokio::select! {
            () = stop_accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or a connection reset before accept:
                // back off briefly instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(conn) = connections.admit() else {
            tracing::info!(peer = %peer.ip(), "connection refused: every open connection is busy");
            let _ = stream.try_write(&refusal);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(serve_connection(
            stream,
            peer,
            conn,
            router.clone(),
            Arc::clone(&connections),
            draining.clone(),
        ));
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    router: Router,
    connections: Arc<Connections>,
    draining: CancellationToken,
) {
    let limits = connections.limits;
    let served = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: Arc::clone(&conn),
        replace: connections.malformed.map(|answer| Replace {
            answer,
            served: Arc::clone(&served),
            pending: None,
            done: false,
        }),
    });
    let service = {
        let conn = Arc::clone(&conn);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            served.store(true, Ordering::SeqCst);
            let busy = conn.begin();
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(Body::new)).await?;
                Ok::<_, Infallible>(response.map(|body| Held::new(body, busy)))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The timeouts are this module's; see the module comment.
    builder.header_read_timeout(None);
    // Accepted while draining: one request (a health check, most likely), then close.
    let mut graceful = draining.is_cancelled();
    builder.keep_alive(!graceful && connections.malformed.is_none());
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    // hyper's errors describe the connection, never a body.
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            () = conn.kill.cancelled() => break,
            () = conn.expired(&limits) => {
                tracing::debug!(peer = %peer.ip(), "closed a connection that sent no complete request in time, or stayed idle");
                break;
            }
            () = draining.cancelled(), if !graceful => {
                graceful = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    connections.remove(conn.id);
}

/// The socket, telling its connection when bytes arrive, and replacing
/// hyper's own answer to a malformed request where the listener has one.
struct Watched {
    inner: TcpStream,
    conn: Arc<Conn>,
    replace: Option<Replace>,
}

/// Replaces what hyper writes on a connection whose one request never
/// reached the service: that can only be hyper's answer to a request it
/// could not parse.
struct Replace {
    answer: OwnAnswer,
    /// Set when the service is called.
    served: Arc<AtomicBool>,
    /// The listener's answer and how much of it was written.
    pending: Option<(Vec<u8>, usize)>,
    /// The answer is out; whatever else hyper writes is dropped.
    done: bool,
}

impl Replace {
    /// Whether hyper's writes go to the listener's answer instead.
    fn active(&self) -> bool {
        self.pending.is_some() || self.done || !self.served.load(Ordering::SeqCst)
    }

    /// Starts the answer for hyper's status line at the start of `first`.
    fn begin(&mut self, first: &[u8]) {
        if self.pending.is_none() && !self.done {
            let status = first
                .get(9..12)
                .and_then(|code| StatusCode::from_bytes(code).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            tracing::debug!(
                status = status.as_u16(),
                "answered a request hyper could not parse"
            );
            self.pending = Some(((self.answer)(status), 0));
        }
    }

    /// Writes what is left of the answer.
    fn drain(&mut self, inner: &mut TcpStream, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, written)) = self.pending.as_mut() {
            match Pin::new(&mut *inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    *written += n;
                    if *written >= bytes.len() {
                        self.pending = None;
                        self.done = true;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.conn.saw_bytes();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(replace) = this.replace.as_mut().filter(|r| r.active()) {
            replace.begin(buf);
            return replace.drain(&mut this.inner, cx).map_ok(|()| buf.len());
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(replace) = this.replace.as_mut() {
            ready!(replace.drain(&mut this.inner, cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(replace) = this.replace.as_mut() {
            ready!(replace.drain(&mut this.inner, cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(replace) = this.replace.as_mut().filter(|r| r.active()) {
            // hyper's status line starts its first buffer.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            replace.begin(first);
            let total = bufs.iter().map(|b| b.len()).sum();
            return replace.drain(&mut this.inner, cx).map_ok(|()| total);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_stays_below_the_descriptor_limit() {
        assert_eq!(cap_for_limit(1024, None), 1024);
        assert_eq!(cap_for_limit(1024, Some(1024)), 768);
        assert_eq!(cap_for_limit(100, Some(1024)), 100);
        assert_eq!(cap_for_limit(1024, Some(128)), 96);
        assert_eq!(cap_for_limit(1024, Some(1_000_000)), 1024);
        assert_eq!(cap_for_limit(1024, Some(10)), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_prefers_connections_without_a_request() {
        let connections = Connections::new(ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 2,
        });
        let busy = connections.admit().unwrap();
        let _working = busy.begin();
        let idle = connections.admit().unwrap();
        drop(idle.begin());
        tokio::time::advance(Duration::from_secs(1)).await;
        // Full: the idle one goes, the busy one stays.
        let fresh = connections.admit().unwrap();
        assert!(idle.kill.is_cancelled());
        assert!(!busy.kill.is_cancelled());
        // Then the fresh one, which has sent nothing; never the busy one.
        let _newer = connections.admit().unwrap();
        assert!(fresh.kill.is_cancelled());
        assert!(!busy.kill.is_cancelled());
    }

    /// A listener with answers of its own refuses a newcomer with its own
    /// 503 when every connection is busy, not the JSON one.
    #[tokio::test]
    async fn the_busy_refusal_is_the_listeners_own_when_it_has_one() {
        use tokio::io::AsyncReadExt;
        let connections = Arc::new(
            Connections::new(ConnLimits {
                header_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_connections: 1,
            })
            .answering_malformed(|status| {
                format!(
                    "HTTP/1.1 {} Own\r\nx-own: yes\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                    status.as_u16()
                )
                .into_bytes()
            }),
        );
        let only = connections.admit().unwrap();
        let _working = only.begin();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(accept_loop(
            listener,
            Router::new(),
            Arc::clone(&connections),
            CancellationToken::new(),
            CancellationToken::new(),
            TaskTracker::new(),
        ));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&answer),
            "HTTP/1.1 503 Own\r\nx-own: yes\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        );
        assert!(!only.kill.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn every_connection_busy_refuses_the_newcomer() {
        let connections = Connections::new(ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        });
        let only = connections.admit().unwrap();
        let _working = only.begin();
        assert!(connections.admit().is_none());
        assert!(!only.kill.is_cancelled());
    }
}
