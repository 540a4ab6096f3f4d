//! The one-time page served in-process against an emulator, shared by
//! the ask_page and browser tests: a `Links` registry, the page on
//! its own loopback listener (the same accept loop the server uses), and
//! jobs that write through the real OSC client. Tests that check the page's
//! logs capture them with [`super::logs::Logs`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osc_secrets_mcp::ask_user::links::{BoxFuture, FixedBase, Job, Links, Settled, Ticket, Worker};
use osc_secrets_mcp::ask_user::page::{PageConfig, PageHosts};
use osc_secrets_mcp::domain::{Key, WriteMode};
use osc_secrets_mcp::emulator::Emulator;
use osc_secrets_mcp::osc::OscClient;
use osc_secrets_mcp::transport::page::{PAGE_LIMITS, serve_page};
use osc_secrets_mcp::web::HostRules;
use rmcp::model::{CallToolResult, ContentBlock};
use secrecy::SecretString;
use tokio::sync::oneshot;

use crate::support;

/// The value typed on the page; must never appear in any byte the page sends.
pub const CANARY: &str = "canary-typed-on-page-5c1f0e9a-never-echoed";

pub struct Page {
    pub emu: Emulator,
    pub links: Arc<Links>,
    pub addr: SocketAddr,
    pub base: String,
    /// Each attempt by another signed-in person: (key, who).
    pub refusals: Arc<Mutex<Vec<(String, String)>>>,
    gate: Gate,
}

impl Page {
    /// The page at `http://127.0.0.1:PORT`, links living `ttl`.
    pub async fn start(ttl: Duration) -> Page {
        let emu = support::emulator().await;
        let osc = Arc::new(support::client_for(
            &emu,
            support::OSC_TOKEN,
            support::fast_retry(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let links = Arc::new(Links::new(ttl, Arc::new(FixedBase(base.clone()))));
        let gate = Gate::default();
        let refusals = Arc::default();
        links.set_worker(Arc::new(Writes {
            osc: Arc::clone(&osc),
            gate: Arc::clone(&gate),
            refusals: Arc::clone(&refusals),
        }));
        serve_page(
            listener,
            PageConfig {
                links: Arc::clone(&links),
                hosts: PageHosts::Rules(HostRules::parse(&[], addr).unwrap()),
                origins: vec![base.clone()],
                body_timeout: Duration::from_secs(10),
            },
            PAGE_LIMITS,
        );
        Page {
            emu,
            links,
            addr,
            base,
            refusals,
            gate,
        }
    }

    /// Opens a link that upserts `key` with what the page receives.
    pub async fn open(&self, key: &str) -> Ticket {
        self.links
            .open(self.job(key, WriteMode::Upsert))
            .await
            .unwrap()
    }

    pub fn job(&self, key: &str, mode: WriteMode) -> Job {
        let key = Key::check(key).unwrap();
        let exists = self.emu.tenant_value(key.as_str()).is_some();
        Job {
            tool: "set_tenant_secret".into(),
            client: None,
            key,
            mode,
            exists: Some(exists),
            work: serde_json::Value::Null,
            audit: None,
            subject: None,
        }
    }

    /// The next job run tells `started` first, then writes only once
    /// `release` fires.
    pub fn hold_next(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (started_tx, started) = oneshot::channel();
        let (release, release_rx) = oneshot::channel::<()>();
        *self.gate.lock().unwrap() = Some((started_tx, release_rx));
        (started, release)
    }
}

type Gate = Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

/// Runs the page's jobs: upserts (or creates) the key through the real
/// OSC client, after the gate, if one is set.
struct Writes {
    osc: Arc<OscClient>,
    gate: Gate,
    refusals: Arc<Mutex<Vec<(String, String)>>>,
}

impl Worker for Writes {
    fn refused(&self, job: &Job, signed_in: &str) {
        self.refusals
            .lock()
            .unwrap()
            .push((job.key.as_str().to_owned(), signed_in.to_owned()));
    }

    fn run(&self, job: Job, value: SecretString) -> BoxFuture<Settled> {
        let osc = Arc::clone(&self.osc);
        let gate = self.gate.lock().unwrap().take();
        Box::pin(async move {
            if let Some((started, release)) = gate {
                let _ = started.send(());
                let _ = release.await;
            }
            let outcome = match job.mode {
                WriteMode::Upsert => osc.upsert(&job.key, &value).await,
                WriteMode::Create => osc.create(&job.key, &value).await,
            };
            let text = match outcome {
                Ok(_) => format!(
                    "Saved. The tenant secret {} now holds the value you typed; you can close this page.",
                    job.key.as_str()
                ),
                Err(_) => format!("The value could not be saved to {}.", job.key.as_str()),
            };
            Settled {
                result: CallToolResult::success(vec![ContentBlock::text(text.clone())]),
                title: "Done".into(),
                page_text: text,
            }
        })
    }
}
