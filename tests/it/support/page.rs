//! The one-time page served in-process against an emulator, shared by
//! the ask_page and browser tests: a `Links` registry, the page on
//! its own loopback listener (the same accept loop the server uses), and
//! jobs that write through the real OSC client. Tests that check the page's
//! logs capture them with [`super::logs::Logs`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use osc_secrets_mcp::ask_user::links::{FixedBase, Job, Links, Settled, Ticket};
use osc_secrets_mcp::ask_user::page::{PageConfig, PageHosts};
use osc_secrets_mcp::domain::{Key, WriteMode};
use osc_secrets_mcp::emulator::Emulator;
use osc_secrets_mcp::osc::OscClient;
use osc_secrets_mcp::transport::page::{PAGE_LIMITS, serve_page};
use osc_secrets_mcp::web::HostRules;
use rmcp::model::{CallToolResult, ContentBlock};
use secrecy::SecretString;

use crate::support;

/// The value typed on the page; must never appear in any byte the page sends.
pub const CANARY: &str = "canary-typed-on-page-5c1f0e9a-never-echoed";

pub struct Page {
    pub emu: Emulator,
    pub osc: Arc<OscClient>,
    pub links: Arc<Links>,
    pub addr: SocketAddr,
    pub base: String,
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
            osc,
            links,
            addr,
            base,
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
        let osc = Arc::clone(&self.osc);
        let key = Key::check(key).unwrap();
        let exists = self.emu.tenant_value(key.as_str()).is_some();
        Job {
            tool: "set_tenant_secret",
            client: None,
            key: key.clone(),
            mode,
            exists: Some(exists),
            run: Box::new(move |value: SecretString| {
                Box::pin(async move {
                    let outcome = match mode {
                        WriteMode::Upsert => osc.upsert(&key, &value).await,
                        WriteMode::Create => osc.create(&key, &value).await,
                    };
                    let text = match outcome {
                        Ok(_) => format!(
                            "Saved. The tenant secret {} now holds the value you typed; you can close this page.",
                            key.as_str()
                        ),
                        Err(_) => format!("The value could not be saved to {}.", key.as_str()),
                    };
                    Settled {
                        result: CallToolResult::success(vec![ContentBlock::text(text.clone())]),
                        title: "Done",
                        page_text: text,
                    }
                })
            }),
        }
    }
}
