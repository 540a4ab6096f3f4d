//! What askUser works with, and how the operator set it to behave.

use std::sync::Arc;
use std::time::Duration;

use super::links::Links;
use crate::audit::AuditLog;
use crate::elicit::{NoRandomness, States};

/// How askUser behaves, as the operator set it.
#[derive(Clone, Copy, Debug)]
pub struct AskSettings {
    /// Hand the link to the agent when the client cannot show it itself.
    pub fallback: bool,
    /// How long one retry-era retry waits for the page before answering
    /// with a fresh state-only `InputRequiredResult`.
    pub retry_wait: Duration,
    /// How often a session-era call that waits for the page pings the
    /// client, so that an idle-session timer does not close the session
    /// under it. `None`: never.
    pub session_ping: Option<Duration>,
}

impl Default for AskSettings {
    fn default() -> Self {
        AskSettings {
            fallback: true,
            retry_wait: Duration::from_secs(20),
            session_ping: None,
        }
    }
}

/// What asking the human needs of the server, and nothing more: the sealer
/// of retry-era states, the one-time links, how askUser behaves, and the
/// audit log the page's own writes go to. Cheap to clone.
#[derive(Clone, Default)]
pub struct Asker {
    /// `None` only for a server built without one (a library user's
    /// [`Asker::default`]): then nobody is asked in the retry era.
    states: Option<Arc<States>>,
    /// `None` when no page can be served.
    links: Option<Arc<Links>>,
    settings: AskSettings,
    audit: Option<Arc<AuditLog>>,
    /// `--confirm always`: a replacing write needs a proven human, which a
    /// link handed to the agent is not.
    confirm_always: bool,
}

impl Asker {
    /// Asks with `states` sealing the retry era's `requestState`.
    pub fn new(states: Arc<States>) -> Self {
        Asker::default().with_states(states)
    }

    /// Seals the retry era's `requestState` with `states`.
    pub fn with_states(mut self, states: Arc<States>) -> Self {
        self.states = Some(states);
        self
    }

    /// Serves askUser's one-time pages through `links`.
    pub fn with_links(mut self, links: Arc<Links>) -> Self {
        self.links = Some(links);
        self
    }

    /// Sets how askUser behaves.
    pub fn with_settings(mut self, settings: AskSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Records the page's writes in `audit`.
    pub fn with_audit(mut self, audit: Option<Arc<AuditLog>>) -> Self {
        self.audit = audit;
        self
    }

    /// The sealer of retry-era `requestState`, shared by every session.
    pub fn states(&self) -> Result<&States, NoRandomness> {
        self.states.as_deref().ok_or(NoRandomness)
    }

    /// Keeps the one-time links in `store`, sealed by this asker's states
    /// (the server's keys): replicas that share both serve each other's
    /// links.
    pub fn keep_links_in(&self, store: &crate::store::Store) {
        if let (Some(links), Some(states)) = (&self.links, &self.states) {
            links.keep_in(store.clone(), Arc::clone(states));
        }
    }

    /// askUser's one-time links, when a page can be served.
    pub fn links(&self) -> Option<&Arc<Links>> {
        self.links.as_ref()
    }

    /// How askUser behaves.
    pub fn settings(&self) -> AskSettings {
        self.settings
    }

    /// Under `--confirm always`, refuses to hand the agent a link that
    /// would replace an existing key.
    pub fn with_confirm_always(mut self, on: bool) -> Self {
        self.confirm_always = on;
        self
    }

    /// Whether `--confirm always` is in force.
    pub fn confirm_always(&self) -> bool {
        self.confirm_always
    }

    /// The audit log, when there is one.
    pub fn audit(&self) -> Option<&Arc<AuditLog>> {
        self.audit.as_ref()
    }
}
