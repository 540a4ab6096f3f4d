//! The writes of askUser's one-time links, run on whichever replica serves
//! a link's page: a link's job is data (tool, key, mode, and the tool's
//! own part), so that a replica that did not open the link can run it.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock};
use secrecy::SecretString;

use super::Toolkit;
use crate::advice::{Failure, KeyAfter};
use crate::ask_user::flow::{self, Ran};
use crate::ask_user::links::{BoxFuture, Job, Settled, Worker};
use crate::audit::AuditLog;
use crate::osc::OscClient;
use crate::store::Store;

impl Toolkit {
    /// What runs a link's job with this toolkit's OSC client, store and
    /// audit log. Holds no link registry, so registering it on one makes no
    /// cycle.
    pub fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(AskedWrites {
            osc: Arc::clone(&self.osc),
            store: self.store.clone(),
            audit: self.ask.audit().cloned(),
        })
    }
}

struct AskedWrites {
    osc: Arc<OscClient>,
    store: Store,
    audit: Option<Arc<AuditLog>>,
}

impl Worker for AskedWrites {
    fn run(&self, job: Job, value: SecretString) -> BoxFuture<Settled> {
        let osc = Arc::clone(&self.osc);
        let store = self.store.clone();
        let log = self.audit.clone();
        Box::pin(async move {
            flow::run_job(log, job, value, move |job, value| {
                Box::pin(async move { write(&osc, &store, &job, value).await })
            })
            .await
        })
    }

    fn refused(&self, job: &Job, signed_in: &str) {
        let Some(log) = &self.audit else { return };
        let call =
            crate::audit::Call::on_page(job.audit.as_ref(), &job.tool, job.key.as_str(), signed_in);
        log.write(&crate::audit::Record {
            call: &call,
            outcome: crate::audit::Outcome::Refused(crate::domain::Rule::PagePerson),
            duration_ms: 0,
        });
    }
}

/// Runs the tool's write that `job` names with `value`.
async fn write(osc: &OscClient, store: &Store, job: &Job, value: SecretString) -> Ran {
    let done = match job.tool.as_str() {
        "set_tenant_secret" => super::set::asked(osc, job, &value).await,
        "rotate_tenant_secret" => super::rotate::asked(osc, store, job, value).await,
        _ => Err(Failure::tool(
            "This server cannot run what the one-time link asks for (a link made by a newer version of it?), \
             so nothing was written. Ask for a new link."
                .to_owned(),
        )),
    };
    match done {
        Ok(result) => Ran {
            result,
            key: KeyAfter::Written,
        },
        Err(e) => Ran {
            key: e.key,
            result: CallToolResult::error(vec![ContentBlock::text(e.text)]),
        },
    }
}
