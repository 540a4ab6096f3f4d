//! The handler as the HTTP transports serve it: [`SecretsServer`] with each
//! tool call holding its [`CallHold`] until the tool has returned.
//!
//! rmcp moves an HTTP request's `Parts` (and so the guard's extensions)
//! into the handler's `RequestContext`, but the `#[tool_router]` adapter
//! drops that context before it awaits the tool's future. A hold left in
//! the extensions alone would therefore be released as soon as the call
//! starts; this wrapper takes a clone before the call and keeps it for the
//! call's whole duration, whatever the client does meanwhile.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Extensions, ListToolsResult, PaginatedRequestParams,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::limits::CallHold;
use crate::server::SecretsServer;

/// [`SecretsServer`], delegating every method it implements (`get_info` and
/// the three `#[tool_handler]` generates); the others keep rmcp's defaults,
/// exactly as for [`SecretsServer`] itself.
#[derive(Clone)]
pub(crate) struct HeldCalls(pub(crate) SecretsServer);

/// The hold the guard or the legacy transport attached to a request, if any.
fn hold_of(extensions: &Extensions) -> Option<CallHold> {
    extensions.get::<CallHold>().cloned().or_else(|| {
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CallHold>().cloned())
    })
}

impl ServerHandler for HeldCalls {
    fn get_info(&self) -> ServerConfig {
        self.0.get_info()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let hold = hold_of(&context.extensions);
        let result = self.0.call_tool(request, context).await;
        drop(hold);
        result
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.0.list_tools(request, context).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.0.get_tool(name)
    }
}
