//! Calls in flight over stdio, capped as HTTP caps each of its clients
//! (`MCP_MAX_CONCURRENT_PER_CLIENT`, 16): stdio serves one client. A
//! request beyond the cap is not started; it gets a JSON-RPC error that
//! says to wait for an earlier call. A request holds its place until its
//! handler has returned, whether or not its answer is still wanted (rmcp
//! keeps running a call the client cancelled). `initialize` and `ping`
//! take no place: they call nothing upstream.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{
    ClientNotification, ClientRequest, ErrorCode, ErrorData, ProtocolVersion, ServerConfig,
    ServerResult,
};
use rmcp::service::{NotificationContext, RequestContext, Service};
use tokio::sync::Semaphore;

/// Most requests in flight at once: HTTP's default per client.
pub const MAX_CALLS_IN_FLIGHT: usize = 16;

/// The JSON-RPC error code of a request refused for want of room, the
/// server-error code HTTP's shutdown answer uses too.
pub const TOO_MANY_CALLS: i32 = -32000;

/// `S`, starting at most `cap` requests at once.
pub struct Capped<S> {
    inner: S,
    places: Arc<Semaphore>,
    cap: usize,
}

impl<S> Capped<S> {
    pub fn new(inner: S, cap: usize) -> Self {
        Capped {
            inner,
            places: Arc::new(Semaphore::new(cap)),
            cap,
        }
    }
}

/// What a request beyond the cap is told.
fn too_many(cap: usize) -> ErrorData {
    ErrorData::new(
        ErrorCode(TOO_MANY_CALLS),
        format!(
            "Too many calls in flight: this server runs at most {cap} requests at once over stdio, so this one was \
             not started and nothing was done. Wait for an earlier call to return, then send it again."
        ),
        None,
    )
}

impl<S: Service<RoleServer>> Service<RoleServer> for Capped<S> {
    async fn handle_request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        if matches!(
            request,
            ClientRequest::InitializeRequest(_) | ClientRequest::PingRequest(_)
        ) {
            return self.inner.handle_request(request, context).await;
        }
        let Ok(_place) = Arc::clone(&self.places).try_acquire_owned() else {
            tracing::info!(
                cap = self.cap,
                "a request over stdio was refused: too many in flight"
            );
            return Err(too_many(self.cap));
        };
        self.inner.handle_request(request, context).await
    }

    async fn handle_notification(
        &self,
        notification: ClientNotification,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.handle_notification(notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }
}
