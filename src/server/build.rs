//! How a [`SecretsServer`] is put together: each setting the app (or a
//! test) gives, applied to the toolkit every session shares.

use std::sync::Arc;

use super::handler::SecretsServer;
use super::surface::info_for;
use crate::ask_user::links::Links;
use crate::ask_user::{AskSettings, Asker};
use crate::audit::AuditLog;
use crate::elicit::{NoRandomness, SealingKeys, States};
use crate::osc::OscClient;
use crate::policy::{ConfirmMode, Policy, RateLimits};
use crate::store::Store;
use crate::tools::Toolkit;
use crate::values::EnvAllowlist;

impl SecretsServer {
    /// A server against `osc`, with no guardrails, no audit log and no
    /// page. It seals retry-era questions with a fresh key; should the OS
    /// generator fail, nobody is asked, and a warning says so (the app
    /// checks [`Self::states`] and refuses to start instead).
    pub fn new(osc: Arc<OscClient>) -> Self {
        let mut tools = Toolkit::new(osc);
        match SealingKeys::fresh().and_then(|keys| States::with_store(keys, tools.store.clone())) {
            Ok(states) => tools.ask = Asker::new(Arc::new(states)),
            Err(e) => {
                tracing::warn!(error = %e, "no requestState can be sealed: nobody will be asked")
            }
        }
        SecretsServer {
            tools: Arc::new(tools),
            tool_router: Arc::default(),
            audit: None,
            rates: RateLimits::none(),
            info: Arc::new(info_for(&Policy::default())),
            problem: None,
        }
    }

    /// Keeps what outlives a request (the ledger, spent states) in `store`,
    /// and seals `requestState` with `keys`: the first seals, every one
    /// opens. Replicas that share a store share the keys too.
    pub fn with_store(mut self, store: Store, keys: SealingKeys) -> Result<Self, NoRandomness> {
        let states = States::with_store(keys, store.clone())?;
        let tools = self.tools_mut();
        tools.store = store;
        let ask = &mut tools.ask;
        *ask = std::mem::take(ask).with_states(Arc::new(states));
        ask.keep_links_in(&tools.store);
        Ok(self)
    }

    /// The store this server keeps its state in.
    pub fn store(&self) -> &Store {
        &self.tools.store
    }

    fn tools_mut(&mut self) -> &mut Toolkit {
        Arc::make_mut(&mut self.tools)
    }

    /// Serves askUser's one-time pages through `links`.
    pub fn with_links(mut self, links: Arc<Links>) -> Self {
        let tools = self.tools_mut();
        let ask = &mut tools.ask;
        *ask = std::mem::take(ask).with_links(links);
        ask.keep_links_in(&tools.store);
        self
    }

    /// Runs the jobs of one-time links with this server's tools: called by
    /// each transport when it starts serving, so that a replica serves the
    /// page of a link another replica opened before any call reached it.
    pub fn serve_links(&self) {
        if let Some(links) = self.tools.ask.links() {
            links.set_worker(self.tools.worker());
        }
    }

    /// Sets how askUser behaves.
    pub fn ask_user(mut self, settings: AskSettings) -> Self {
        let ask = &mut self.tools_mut().ask;
        *ask = std::mem::take(ask).with_settings(settings);
        self
    }

    /// The environment variables `fromEnv` may read; none unless given.
    pub fn allow_env(mut self, allowlist: EnvAllowlist) -> Self {
        self.tools_mut().env = Arc::new(allowlist);
        self
    }

    /// askUser's one-time links, when a page can be served.
    pub fn links(&self) -> Option<&Arc<Links>> {
        self.tools.ask.links()
    }

    /// The sealer of retry-era `requestState`, shared by every session.
    pub fn states(&self) -> Result<&States, NoRandomness> {
        self.tools.ask.states()
    }

    /// Serves with a configuration problem instead of exiting: `initialize`
    /// says what is wrong first, and every tool call and resource read
    /// answers with it, sending nothing to OSC. For stdio, where a client
    /// shows a server that exits only as "failed to connect".
    pub fn misconfigured(mut self, problem: String) -> Self {
        let mut info = (*self.info).clone();
        let rest = info.instructions.take().unwrap_or_default();
        info.instructions = Some(format!(
            "THIS SERVER IS NOT CONFIGURED: {problem}. Every tool call answers with this until the person fixes \
             the server's settings in their MCP client's configuration and restarts it; tell them.\n\n{rest}"
        ));
        self.info = Arc::new(info);
        self.problem = Some(Arc::from(problem));
        self
    }

    /// Applies the operator's guardrails: every tool the policy turns off is
    /// taken out of the router, so it is absent from `tools/list` and cannot
    /// be dispatched; the handler answers calls to it with the operator's refusal.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.info = Arc::new(info_for(&policy));
        let always = policy.confirm == ConfirmMode::Always;
        let ask = &mut self.tools_mut().ask;
        *ask = std::mem::take(ask).with_confirm_always(always);
        self.tools_mut().policy = Arc::new(policy);
        self.tool_router = Arc::default();
        self
    }

    /// Records changing and refused calls, and the writes askUser's page
    /// makes later, in `audit`.
    pub fn with_audit_log(mut self, audit: Option<Arc<AuditLog>>) -> Self {
        let ask = &mut self.tools_mut().ask;
        *ask = std::mem::take(ask).with_audit(audit.clone());
        self.audit = audit;
        self
    }

    /// Limits changes by `rates` (shared by every clone of this server, so
    /// by every session).
    pub fn with_rate_limits(mut self, rates: RateLimits) -> Self {
        self.rates = rates;
        self
    }

    /// Marks every tool result as coming from the offline OSC emulator, so
    /// the agent never takes a sandbox answer for the real tenant's.
    /// Its output schemas declare the `sandbox` field then, and only then:
    /// a server against the real OSC does not spend the model's context on
    /// a field it never sends.
    pub fn sandboxed(mut self, on: bool) -> Self {
        self.tools_mut().sandboxed = on;
        self.tool_router = Arc::default();
        self
    }
}
