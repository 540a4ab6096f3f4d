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
//! endpoints need no auth and are never recorded in the request log, so they
//! answer anyone who can reach the port: `--sandbox` starts its emulator with
//! [`Emulator::start_without_admin`], where they answer 404.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::watch;

mod answers;
mod faults;
mod routes;
mod store;

use crate::sync::lock;
pub use faults::Fault;
use routes::router;
pub use store::{EmulatorOptions, ListShape, RecordedRequest};
use store::{Shared, TenantSecret};

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
        Self::start_with(addr, opts, true).await
    }

    /// Like [`Emulator::start`], but the `/__emulator/*` admin endpoints
    /// (faults, the request log, health) answer 404: another user or process
    /// on the machine cannot script failures into, or watch, a sandbox
    /// session. The handle's methods still work.
    pub async fn start_without_admin(
        addr: SocketAddr,
        opts: EmulatorOptions,
    ) -> std::io::Result<Emulator> {
        Self::start_with(addr, opts, false).await
    }

    async fn start_with(
        addr: SocketAddr,
        opts: EmulatorOptions,
        admin: bool,
    ) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts));
        let app = router(Arc::clone(&shared), admin);
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
        self.inner
            .shared
            .peak
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// The most contract requests the emulator was handling at the same
    /// time (a fault's delay included) since it started or the request log
    /// was last cleared: above 1 means requests overlapped.
    pub fn peak_concurrency(&self) -> usize {
        self.inner
            .shared
            .peak
            .load(std::sync::atomic::Ordering::SeqCst)
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
