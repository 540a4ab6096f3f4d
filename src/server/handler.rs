//! The handler: [`SecretsServer`], what it says about itself, and the router
//! of its tools.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    CustomRequest, CustomResult, ErrorCode, GetPromptRequestParams, GetPromptResponse, JsonObject,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ResultType, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use serde_json::Value;
use tracing::Instrument;

use super::instructions::SANDBOX_NOTE;
use super::surface::served_router;
use super::{arguments, hold, prompts, resources};
use crate::audit::{self, AuditLog, Outcome};
use crate::domain::Key;
use crate::domain::Rule;
use crate::domain::tool::{self as registry, Kind};
use crate::elicit::confirm;
use crate::policy::rates::RateLimits;
use crate::tools::Toolkit;

/// The tool handler. Cheap to clone: every transport session gets a clone.
#[derive(Clone)]
pub struct SecretsServer {
    /// What the tools work with, shared by every session.
    pub(super) tools: Arc<Toolkit>,
    /// Shared: every HTTP session, and every stateless request, gets a
    /// clone of the server, and a clone of the router would copy every tool.
    ///
    /// Built on first use (the first tools/list or tools/call), not at
    /// start: making every tool's schema is most of what starting costs,
    /// and `initialize` needs none of it. A builder that changes what is
    /// served empties it.
    pub(super) tool_router: Arc<OnceLock<ToolRouter<Toolkit>>>,
    pub(super) audit: Option<Arc<AuditLog>>,
    pub(super) rates: RateLimits,
    /// What `initialize` answers, built once: rmcp asks for it on every
    /// request, and the instructions follow from the policy alone.
    pub(super) info: Arc<ServerConfig>,
    /// A configuration problem the server started with anyway (stdio, so
    /// the person learns it through the client): every call answers it.
    pub(super) problem: Option<Arc<str>>,
}

impl SecretsServer {
    /// The router of the tools this server serves, made on first use.
    fn routes(&self) -> &ToolRouter<Toolkit> {
        self.tool_router.get_or_init(|| served_router(&self.tools))
    }

    /// Guardrails, before any other check and any OSC request: a tool the
    /// operator turned off gets a tool error naming the setting, and a `key`
    /// argument outside `--keys` is refused. A `key` that is not a valid key
    /// is left to the tool, which refuses it in its own words. Every tool
    /// that acts on a tenant key takes it as `key` (a unit test holds them to
    /// it), so this one check scopes them all.
    fn off_limits(&self, name: &str, arguments: Option<&JsonObject>) -> Option<String> {
        if let Some(off) = self.tools.policy.tools.off(name) {
            tracing::info!(
                tool = name,
                "call to a tool turned off by the operator refused"
            );
            return Some(format!(
                "{} is turned off on this server by its operator ({}), so nothing was done and nothing was sent to OSC. \
                 Use only the tools tools/list shows; if you need this one, ask the operator to change that setting.",
                name,
                off.flag()
            ));
        }
        let scope = &self.tools.policy.keys;
        let patterns = scope.patterns()?;
        let key = arguments?.get("key")?.as_str()?;
        let key = Key::check(key).ok()?;
        if scope.allows(&key) {
            return None;
        }
        tracing::info!(tool = name, "key outside --keys refused");
        Some(format!(
            "{} `{key}` is outside the keys this server's operator allows (--keys / OSC_MCP_KEYS): \
             only keys matching {patterns}. Nothing was sent to OSC. \
             Call list_tenant_secrets to see the keys you may use, or ask the operator to widen --keys.",
            crate::advice::REFUSED
        ))
    }

    /// Refuses a changing call while the audit log it must go to cannot be
    /// written (`--audit-required`), or when a rate limit is spent; before
    /// any OSC request. The audit check comes first, so a call refused by it
    /// does not spend a place in the rate limits.
    ///
    /// A call that continues an earlier round with a valid `requestState`
    /// (a confirmation's answer, or askUser waiting for its page) spends no
    /// place: the round that made the state was admitted, and each state
    /// opens once. Without this a confirmed change would count twice, and
    /// a human taking minutes on the page would use up the limit.
    async fn admit(
        &self,
        kind: Option<Kind>,
        request: &CallToolRequestParams,
        caller: &crate::elicit::Caller,
    ) -> Result<(), (Rule, String)> {
        // With OAuth, each subject's own limits (see `RateLimits::per_subject`).
        let subject = caller.subject();
        let Some(kind) = kind.filter(|k| *k != Kind::Read) else {
            return Ok(());
        };
        if let Some(log) = &self.audit
            && log.required()
            && !log.ready()
        {
            return Err((
                Rule::AuditRequired,
                format!(
                    "{} this server must record every change in its audit log and cannot write it now, so nothing was changed. \
                     Ask the operator to check the audit log (the server's stderr says why), then retry.",
                    crate::advice::REFUSED
                ),
            ));
        }
        if self.continues(request, caller).await {
            return Ok(());
        }
        // A rotation changes the key and every target: it counts as many,
        // whether the call names the targets or the ledger does.
        let arguments = request.arguments.as_ref();
        let targets = match arguments.and_then(|a| a.get("targets")) {
            Some(given) => given.as_array().map_or(0, Vec::len),
            None if registry::entry(&request.name)
                .is_some_and(|e| e.made_of.contains(&"materialize_tenant_secret")) =>
            {
                self.ledger_count(arguments).await
            }
            None => 0,
        };
        let writes = u32::try_from(targets.saturating_add(1))
            .ok()
            .and_then(std::num::NonZeroU32::new)
            .unwrap_or(std::num::NonZeroU32::MAX);
        self.rates
            .admit_n(kind, writes, subject)
            .await
            .map_err(|refused| (refused.rule(), refused.message()))
    }

    /// Whether the call carries a `requestState` this server sealed for this
    /// very call (tool, key and arguments), unexpired and unspent, as a
    /// confirmation or an askUser round.
    async fn continues(
        &self,
        request: &CallToolRequestParams,
        caller: &crate::elicit::Caller,
    ) -> bool {
        let (Some(echoed), Ok(states)) = (request.request_state.as_deref(), self.states()) else {
            return false;
        };
        let arguments = request.arguments.as_ref();
        let Some(key) = arguments.and_then(|a| a.get("key")).and_then(Value::as_str) else {
            return false;
        };
        for purpose in [
            crate::elicit::confirm::PURPOSE,
            crate::ask_user::flow::PURPOSE,
        ] {
            let binding = crate::elicit::Binding {
                tool: &request.name,
                key,
                purpose,
                arguments,
                caller: Some(caller),
            };
            if states.valid(echoed, &binding).await {
                return true;
            }
        }
        false
    }

    /// How many targets the ledger knows for the call's `key` (0 when it
    /// cannot say: the tool then refuses on its own).
    async fn ledger_count(&self, arguments: Option<&JsonObject>) -> usize {
        let Some(key) = arguments
            .and_then(|a| a.get("key"))
            .and_then(Value::as_str)
            .and_then(|k| Key::check(k).ok())
        else {
            return 0;
        };
        self.tools
            .store
            .placements(&key)
            .await
            .map_or(0, |p| p.len())
    }

    /// Appends the audit record of a call that changes something, or was
    /// refused, when there is an audit log. `false` when one was due and
    /// could not be written.
    fn record(
        &self,
        name: &str,
        call: Option<&audit::Call>,
        kind: Option<Kind>,
        outcome: Outcome,
        started: Instant,
    ) -> bool {
        let counted = crate::metrics::metrics();
        counted.tool_call(name, outcome.word());
        if let Outcome::Refused(rule) = outcome {
            counted.refusal(rule.name());
        }
        let (Some(log), Some(call)) = (&self.audit, call) else {
            return true;
        };
        if kind == Some(Kind::Read) && !matches!(outcome, Outcome::Refused(_)) {
            return true;
        }
        log.write(&audit::Record {
            call,
            outcome,
            duration_ms: elapsed_ms(started),
        })
    }

    /// Under `--audit-required`, writes the write-ahead record of a call
    /// that may change something, right before it runs. `Ok(true)` when
    /// one was written, `Ok(false)` when none is due, `Err` when it could
    /// not be written: then the call must not run.
    fn write_ahead(
        &self,
        call: Option<&audit::Call>,
        kind: Option<Kind>,
        started: Instant,
    ) -> Result<bool, ()> {
        let (Some(log), Some(call)) = (self.audit.as_ref().filter(|l| l.required()), call) else {
            return Ok(false);
        };
        if kind.is_none_or(|k| k == Kind::Read) {
            return Ok(false);
        }
        if log.write_ahead(call, elapsed_ms(started)) {
            Ok(true)
        } else {
            Err(())
        }
    }

    /// The last word on every tool result: rmcp's own deserialization text,
    /// should the schema check ever let a mismatch through, is replaced by a
    /// sentence of ours, and a sandboxed server says so.
    fn finish(&self, tool: &str, response: CallToolResponse) -> CallToolResponse {
        let CallToolResponse::Complete(mut result) = response else {
            return response;
        };
        if result.is_error == Some(true)
            && result.content.iter().any(|c| {
                c.as_text()
                    .is_some_and(|t| t.text.starts_with("failed to deserialize parameters"))
            })
        {
            tracing::info!(tool, "arguments refused by deserialization");
            result.content = vec![ContentBlock::text(crate::advice::schema_mismatch(tool))];
        }
        if self.tools.sandboxed {
            if let Some(Value::Object(structured)) = result.structured_content.as_mut() {
                // The text copy of the structured result stays an exact copy.
                let copy = result.content.iter().position(|c| {
                    c.as_text().is_some_and(|t| {
                        serde_json::from_str::<Value>(&t.text)
                            .is_ok_and(|v| v.as_object() == Some(structured))
                    })
                });
                structured.insert("sandbox".to_owned(), Value::from(SANDBOX_NOTE));
                if let Some(i) = copy
                    && let Ok(text) = serde_json::to_string(structured)
                {
                    result.content[i] = ContentBlock::text(text);
                }
            }
            result.content.push(ContentBlock::text(SANDBOX_NOTE));
        }
        CallToolResponse::Complete(result)
    }

    fn refusal(&self, tool: &str, message: String) -> CallToolResponse {
        self.finish(
            tool,
            CallToolResult::error(vec![ContentBlock::text(message)]).into(),
        )
    }
}

impl SecretsServer {
    /// `tools/call`, inside the call's span (see `call_tool`).
    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let _attached = hold::CallHold::find(&context.extensions);
        let name = request.name.clone();
        if let Some(problem) = &self.problem {
            crate::metrics::metrics().tool_call(&name, "refused");
            crate::metrics::metrics().refusal("not_configured");
            return Ok(self.refusal(&name, unconfigured(problem)));
        }
        // Audit and rate limits: who is calling what, read before the call runs.
        let started = Instant::now();
        let kind = registry::kind_of(&name);
        let mut call =
            self.audit.as_ref().and(kind).map(|k| {
                audit::Call::read(&name, k.as_str(), request.arguments.as_ref(), &context)
            });
        let record = |outcome| {
            self.record(&name, call.as_ref(), kind, outcome, started);
        };
        if let Some(refusal) = beyond_scope(&name, kind, &context) {
            record(Outcome::Refused(Rule::Scope));
            return Ok(self.refusal(&name, refusal));
        }
        if let Some(refusal) = self.off_limits(&name, request.arguments.as_ref()) {
            record(Outcome::Refused(Rule::Guardrail));
            return Ok(self.refusal(&name, refusal));
        }
        if let Some(tool) = self.routes().get(&name)
            && let Err(refusal) = arguments::check(tool, request.arguments.as_ref())
        {
            record(Outcome::Refused(Rule::Arguments));
            return Ok(self.refusal(&name, refusal));
        }
        let caller = crate::elicit::Caller::of(&context);
        if let Err((rule, refusal)) = self.admit(kind, &request, &caller).await {
            record(Outcome::Refused(rule));
            return Ok(self.refusal(&name, refusal));
        }
        let confirmer = confirm::Confirmer {
            states: self.tools.ask.states().ok(),
            osc: &self.tools.osc,
            mode: self.tools.policy.confirm,
        };
        let request = match confirm::step(confirmer, request, &context).await {
            confirm::Step::Proceed(request) => request,
            confirm::Step::Ask(question) => {
                crate::metrics::metrics().tool_call(&name, "asked");
                return Ok(question);
            }
            confirm::Step::Refuse(rule, refusal) => {
                record(Outcome::Refused(rule));
                return Ok(self.refusal(&name, refusal));
            }
        };
        // Under --audit-required nothing is sent before the log holds the
        // intent: a log that cannot be written stops the call here.
        let Ok(ahead) = self.write_ahead(call.as_ref(), kind, started) else {
            record(Outcome::Refused(Rule::AuditRequired));
            return Ok(self.refusal(&name, crate::advice::audit_unwritable()));
        };
        let (response, noted) = audit::noting(self.routes().call(ToolCallContext::new(
            &*self.tools,
            request,
            context,
        )))
        .await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) => {
                // Recorded too: under --audit-required its attempt is there.
                record(Outcome::Error("tool"));
                return Err(error);
            }
        };
        let failed = matches!(&response, CallToolResponse::Complete(r) if r.is_error == Some(true));
        if let (Some(call), Some(targets)) = (call.as_mut(), noted.targets) {
            call.targets = Some(
                targets
                    .iter()
                    .map(|(service, secret)| audit::Target::new(service, secret))
                    .collect(),
            );
        }
        let outcome = noted.outcome.unwrap_or(if failed {
            Outcome::Error("tool")
        } else {
            Outcome::Ok
        });
        if !self.record(&name, call.as_ref(), kind, outcome, started)
            && ahead
            && let (Some(log), Some(call)) = (&self.audit, &call)
        {
            log.unrecorded(call);
            if let CallToolResponse::Complete(result) = &mut response {
                result
                    .content
                    .push(ContentBlock::text(crate::advice::OUTCOME_UNRECORDED));
            }
        }
        Ok(self.finish(&name, response))
    }
}

/// Milliseconds since `started`, for an audit record.
fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The refusal of a call the request's OAuth access token does not allow,
/// if it is one (the HTTP layer answers `403 insufficient_scope` first;
/// this holds for whatever reaches the handler another way, such as a
/// batch).
fn beyond_scope(
    name: &str,
    kind: Option<Kind>,
    context: &RequestContext<RoleServer>,
) -> Option<String> {
    let identity = crate::audit::identity(&context.extensions)?;
    let kind = kind?;
    if identity.allows(kind) {
        return None;
    }
    tracing::info!(
        subject = %identity.subject,
        tool = name,
        "call beyond the access token's scopes refused"
    );
    Some(format!(
        "{} {name} needs the OAuth scope {}, which the access token this client signed in with does not have, so \
         nothing was sent to OSC. Use only the tools tools/list shows; if the person needs this one, the client must \
         sign in again asking for that scope.",
        crate::advice::REFUSED,
        identity.needed(kind)
    ))
}

/// Whether the request may read (list keys, the resources, the prompts):
/// always, unless an OAuth access token without the read scope came with it.
fn may_read(context: &RequestContext<RoleServer>) -> bool {
    crate::audit::identity(&context.extensions).is_none_or(|i| i.allows(Kind::Read))
}

/// What every call of a server started with a configuration problem says.
fn unconfigured(problem: &str) -> String {
    format!(
        "Not done: this server is not configured: {problem}. Nothing was sent to OSC. Tell the person to fix this \
         server's settings in their MCP client's configuration (or run `osc-secrets-mcp check` with them), then \
         restart the server."
    )
}

#[tool_handler(router = self.routes())]
impl ServerHandler for SecretsServer {
    fn get_info(&self) -> ServerConfig {
        (*self.info).clone()
    }

    /// Checks the arguments against the tool's input schema before rmcp
    /// deserializes them, so a mismatch is answered in the server's words.
    /// An unknown tool stays rmcp's JSON-RPC error.
    ///
    /// Whatever a transport attached to the request (the HTTP transports put
    /// the client's in-flight permit there) lives until the tool has
    /// returned: rmcp's tool adapter drops the request context before it
    /// awaits the tool, so a copy of the hold is kept here.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // With OAuth, every line the call logs names the subject (never the token).
        let span = match crate::audit::identity(&context.extensions) {
            Some(identity) => tracing::info_span!("call", subject = %identity.subject),
            None => tracing::Span::none(),
        };
        self.call(request, context).instrument(span).await
    }

    /// The tools this server serves, less those an OAuth access token's
    /// scopes do not allow: a client sees only what it may call. Such a list
    /// is the token's own, so a 2026-07-28 client is told not to share it.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let supports_cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        let identity = crate::audit::identity(&context.extensions);
        let mut tools = self.routes().list_all();
        if let Some(identity) = identity {
            tools.retain(|tool| registry::kind_of(&tool.name).is_some_and(|k| identity.allows(k)));
        }
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            ttl_ms: supports_cache_hints.then_some(0),
            cache_scope: supports_cache_hints.then_some(if identity.is_some() {
                CacheScope::Private
            } else {
                CacheScope::Public
            }),
        })
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.routes().get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if !may_read(&context) {
            return Ok(ListResourcesResult::with_all_items(Vec::new()));
        }
        Ok(ListResourcesResult::with_all_items(resources::list(
            &self.tools,
        )))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        if !may_read(&context) {
            return Ok(ListResourceTemplatesResult::with_all_items(Vec::new()));
        }
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(&self.tools),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(problem) = &self.problem {
            return Err(ErrorData::internal_error(unconfigured(problem), None));
        }
        if let Some(identity) = crate::audit::identity(&context.extensions)
            && !identity.allows(Kind::Read)
        {
            return Err(ErrorData::invalid_request(
                format!(
                    "reading this server's resources needs the OAuth scope {}, which the access token does not have",
                    identity.needed(Kind::Read)
                ),
                None,
            ));
        }
        resources::read(&self.tools, &request.uri)
            .await
            .map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        if !may_read(&context) {
            return Ok(ListPromptsResult::with_all_items(Vec::new()));
        }
        Ok(ListPromptsResult::with_all_items(prompts::listed(
            &self.tools.policy.tools,
        )))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if let Some(identity) = crate::audit::identity(&context.extensions)
            && !identity.allows(Kind::Read)
        {
            return Err(ErrorData::invalid_request(
                format!(
                    "this server's prompts need the OAuth scope {}, which the access token does not have",
                    identity.needed(Kind::Read)
                ),
                None,
            ));
        }
        prompts::get(&request, &self.tools.policy.tools).map(Into::into)
    }

    /// A `tools/call` whose `arguments` is not an object does not parse as
    /// one, so rmcp hands it here as a custom request; it gets a tool error
    /// like any other argument mismatch. Anything else stays unknown.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        if request.method != "tools/call" {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let params = request.params.as_ref();
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            return Err(ErrorData::invalid_params(
                "tools/call needs `name`, the tool to call, as a string",
                None,
            ));
        };
        // A tool the operator turned off is refused whatever its arguments.
        let (rule, refusal) = match self.off_limits(name, None) {
            Some(refusal) => (Rule::Guardrail, refusal),
            None => {
                let Some(tool) = self.routes().get(name) else {
                    return Err(ErrorData::invalid_params("tool not found", None));
                };
                let given = params.and_then(|p| p.get("arguments"));
                let Some(given) = given.filter(|g| !g.is_object() && !g.is_null()) else {
                    return Err(ErrorData::invalid_params(
                        "the tools/call request is malformed: check its `_meta` and other fields",
                        None,
                    ));
                };
                (Rule::Arguments, arguments::not_an_object(tool, given))
            }
        };
        let started = Instant::now();
        let kind = registry::kind_of(name);
        let call = self
            .audit
            .as_ref()
            .and(kind)
            .map(|k| audit::Call::read(name, k.as_str(), None, &context));
        self.record(name, call.as_ref(), kind, Outcome::Refused(rule), started);
        let CallToolResponse::Complete(mut result) = self.refusal(name, refusal) else {
            return Err(ErrorData::internal_error("no tool result", None));
        };
        // rmcp drops `resultType` for peers older than 2026-07-28 on the
        // typed path; this path does the same.
        if !context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            result.result_type = None;
        }
        serde_json::to_value(result)
            .map(CustomResult)
            .map_err(|_| ErrorData::internal_error("the tool result did not serialize", None))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use secrecy::SecretString;

    use serde_json::json;

    use super::*;
    use crate::osc::OscClient;
    use crate::osc::{OscConfig, RetryPolicy};

    fn server() -> SecretsServer {
        let osc = OscClient::new(OscConfig {
            base_url: "http://127.0.0.1:9".to_owned(),
            token: SecretString::from("unused"),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        })
        .expect("client builds");
        SecretsServer::new(Arc::new(osc))
    }

    fn texts(response: &CallToolResponse) -> Vec<String> {
        match response {
            CallToolResponse::Complete(result) => result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Should serde ever refuse what the schema check let through, its text
    /// (which quotes what arrived) is replaced by a fixed sentence.
    /// Starting and answering `initialize` make no tool schema: the router
    /// is made on first use, once for every clone (every session).
    /// A rotation is admitted for the write and each target: into 3
    /// targets it needs 4 changes, which a limit of 3 a minute never holds.
    #[tokio::test]
    async fn a_rotation_spends_a_change_per_target() {
        let server = server().with_rate_limits(RateLimits::in_memory(3, 1));
        let mut request = CallToolRequestParams::new("rotate_tenant_secret");
        request.arguments = json!({"key": "user.k", "targets": [
            {"serviceId": "a", "secretName": "s"},
            {"serviceId": "b", "secretName": "s"},
            {"serviceId": "c", "secretName": "s"},
        ]})
        .as_object()
        .cloned();
        let (rule, said) = server
            .admit(Some(Kind::Write), &request, &Default::default())
            .await
            .unwrap_err();
        assert_eq!(rule, Rule::MaxWritesPerMinute);
        assert!(said.contains("would make 4 changes"), "{said}");
        let mut two = request.clone();
        two.arguments = json!({"key": "user.k", "targets": [
            {"serviceId": "a", "secretName": "s"},
            {"serviceId": "b", "secretName": "s"},
        ]})
        .as_object()
        .cloned();
        assert!(
            server
                .admit(Some(Kind::Write), &two, &Default::default())
                .await
                .is_ok()
        );
        assert!(
            server
                .admit(Some(Kind::Write), &two, &Default::default())
                .await
                .is_err()
        );
    }

    /// A rotation that leaves its targets to the ledger spends a change for
    /// each target the ledger knows.
    #[tokio::test]
    async fn a_rotation_from_the_ledger_spends_a_change_per_known_target() {
        let server = server().with_rate_limits(RateLimits::in_memory(3, 1));
        let key = Key::check("user.k").unwrap();
        for service in ["a", "b", "c"] {
            server
                .store()
                .place(&crate::store::Placement::now(&key, service, "s", "test"))
                .await
                .unwrap();
        }
        let mut request = CallToolRequestParams::new("rotate_tenant_secret");
        request.arguments = json!({"key": "user.k"}).as_object().cloned();
        let (rule, said) = server
            .admit(Some(Kind::Write), &request, &Default::default())
            .await
            .unwrap_err();
        assert_eq!(rule, Rule::MaxWritesPerMinute);
        assert!(said.contains("would make 4 changes"), "{said}");
    }

    #[test]
    fn the_router_is_made_on_first_use_and_shared() {
        let server = server()
            .with_policy(crate::policy::Policy::default())
            .sandboxed(true);
        let _ = server.get_info();
        assert!(server.tool_router.get().is_none());
        let session = server.clone();
        assert_eq!(session.routes().list_all().len(), 5);
        assert!(server.tool_router.get().is_some());
    }

    #[test]
    fn serde_wording_never_reaches_the_model() {
        let serde = CallToolResult::error(vec![ContentBlock::text(
            "failed to deserialize parameters: invalid value: string \"canary-77\", expected x",
        )]);
        let finished = server().finish("set_tenant_secret", serde.into());
        let said = texts(&finished).join("\n");
        assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
        assert!(said.contains("set_tenant_secret"), "{said}");
        assert!(
            !said.contains("canary-77") && !said.contains("deserialize"),
            "{said}"
        );
        // Any other result passes unchanged when not sandboxed.
        let ok = CallToolResult::success(vec![ContentBlock::text("fine")]);
        assert_eq!(texts(&server().finish("x", ok.into())), ["fine"]);
    }

    /// Tools turned off leave the router, so they are neither listed nor
    /// dispatched, and a call gets the operator's refusal.
    #[test]
    fn a_policy_takes_tools_out_of_the_router() {
        use crate::policy::{KeyScope, Policy, ToolScope};
        let policy = Policy {
            tools: ToolScope::new(true, &[], &[]).unwrap(),
            keys: KeyScope::default(),
            confirm: crate::policy::ConfirmMode::Auto,
        };
        let server = server().with_policy(policy);
        let served: Vec<String> = server
            .routes()
            .list_all()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(served, ["list_tenant_secrets"]);
        let said = server.off_limits("set_tenant_secret", None).unwrap();
        assert!(said.contains("--read-only (OSC_MCP_READ_ONLY)"), "{said}");
        assert!(server.off_limits("list_tenant_secrets", None).is_none());
    }
}
