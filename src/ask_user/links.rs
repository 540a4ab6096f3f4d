//! One-time links for `askUser`: the human types a value on a page the
//! server serves, out of the model's sight.
//!
//! A tool opens a link with a [`Job`]: the key and mode it will write, and
//! what to do with the value once it arrives. The page, served over HTTP,
//! claims the link on submit (one use only), runs the job with the value,
//! and settles the link; the tool call, or a later one, waits for the
//! [`Fate`]. The value lives only inside the job's run.
//!
//! The registry lives in this process's memory. For replicas behind a load
//! balancer the job must become data (tool, key, mode, targets) that any
//! replica can run, and the registry a shared store with an atomic claim:
//! this type's methods are that seam.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rmcp::model::CallToolResult;
use secrecy::SecretString;
use tokio::sync::watch;

use crate::domain::{Key, WriteMode};
use crate::elicit::{NoRandomness, unguessable};
use crate::sync::lock;

/// A boxed future, as a job's run returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What running a job with the value came to.
#[derive(Clone, Debug)]
pub struct Settled {
    /// The tool result of the whole operation, for whoever awaits it.
    pub result: CallToolResult,
    /// The page's title: what happened to the key, in two or three words.
    pub title: &'static str,
    /// What the page tells the human: plain text, never the value.
    pub page_text: String,
}

/// What a link is waiting to do.
pub struct Job {
    /// The tool that opened it, for the page and the log.
    pub tool: &'static str,
    pub key: Key,
    pub mode: WriteMode,
    /// Whether the key existed when the link was opened, if known: the page
    /// says it will be replaced.
    pub exists: Option<bool>,
    /// Who the link counts against (see [`crate::elicit::Caller`]).
    pub client: Option<String>,
    /// Writes the value (and whatever follows, such as materializing).
    pub run: Box<dyn FnOnce(SecretString) -> BoxFuture<Settled> + Send>,
}

/// Where a link stands.
#[derive(Clone, Debug)]
pub enum Fate {
    /// Not used yet, or being used right now.
    Pending,
    /// The human submitted the page and the job ran.
    Done(Box<Settled>),
    /// The human declined on the page.
    Declined,
    /// The tool call that opened it was cancelled (`notifications/cancelled`)
    /// before the link was used; nothing was written.
    Withdrawn,
    /// Not used before its expiry; nothing was written.
    Expired,
    /// No such link (never made, or forgotten long after it settled).
    Unknown,
}

/// A link as the tool hands it out.
#[derive(Clone, Debug)]
pub struct Ticket {
    /// The unguessable id, part of the path.
    pub id: String,
    /// The whole URL to give the human.
    pub url: String,
    pub expires_at: SystemTime,
}

/// A link the page has claimed: its job, which only the claimer can run.
pub struct Claimed {
    pub id: String,
    pub job: Job,
}

/// What the page may show of a link before it is used.
#[derive(Clone, Debug)]
pub struct Shown {
    pub key: String,
    pub mode: WriteMode,
    pub exists: Option<bool>,
    pub expires_at: SystemTime,
    /// The server runs against the offline emulator: the page says so.
    pub sandbox: bool,
}

/// Why no link could be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the one-time page cannot be served: {0}")]
    NoPage(String),
    #[error("too many one-time links are open; let some expire or be used, then retry")]
    TooMany,
    #[error(
        "this client already has {0} one-time links open, the most one client may have; let some expire or be used, then retry"
    )]
    TooManyForClient(usize),
    #[error(transparent)]
    NoRandomness(#[from] NoRandomness),
}

/// Where the page is served: gives the base URL that links start with
/// (`https://host/prefix`, no trailing slash), starting a listener first
/// if need be.
pub trait PageHost: Send + Sync {
    fn base(&self) -> BoxFuture<Result<String, LinkError>>;

    /// The listener that serves the page is bound at `local` (for hosts
    /// that name the listener's own address).
    fn listening(&self, _local: std::net::SocketAddr) {}
}

/// A page served at a base URL known at start.
pub struct FixedBase(pub String);

impl PageHost for FixedBase {
    fn base(&self) -> BoxFuture<Result<String, LinkError>> {
        let base = self.0.trim_end_matches('/').to_owned();
        Box::pin(async move { Ok(base) })
    }
}

/// The path under the base URL where links live.
pub const LINK_PATH: &str = "/ask/";

struct Entry {
    /// Who it counts against.
    client: Option<String>,
    shown: Shown,
    deadline: Instant,
    job: Option<Job>,
    fate: watch::Sender<Fate>,
}

/// The open links of this process.
pub struct Links {
    entries: Mutex<HashMap<String, Entry>>,
    ttl: Duration,
    cap: usize,
    /// Most unused links one client may hold.
    per_client: usize,
    host: Arc<dyn PageHost>,
    /// Set once at start when the server is a sandbox.
    sandbox: AtomicBool,
}

/// Most unused links one client (a session, or an address) may hold: a
/// thirty-second of the process's 1024, so one client cannot lock every
/// other out of askUser.
pub const PER_CLIENT: usize = 32;

/// How long a settled or expired link is remembered, so that a late
/// visitor or a late retry still learns its fate.
const REMEMBERED: Duration = Duration::from_secs(3600);

impl Links {
    pub fn new(ttl: Duration, host: Arc<dyn PageHost>) -> Links {
        Links {
            entries: Mutex::new(HashMap::new()),
            ttl,
            cap: 1024,
            per_client: PER_CLIENT,
            host,
            sandbox: AtomicBool::new(false),
        }
    }

    /// Marks every page of these links as the sandbox's.
    pub fn set_sandbox(&self, on: bool) {
        self.sandbox.store(on, Ordering::Relaxed);
    }

    /// How long a link stays usable.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The base URL links start with (starting the page's listener first
    /// if the host does so on demand).
    pub fn base(&self) -> BoxFuture<Result<String, LinkError>> {
        self.host.base()
    }

    /// Tells the page host where the page's listener is bound.
    pub fn listening(&self, local: std::net::SocketAddr) {
        self.host.listening(local);
    }

    /// Opens a link for `job`.
    pub async fn open(&self, job: Job) -> Result<Ticket, LinkError> {
        let base = self.host.base().await?;
        let id = unguessable(24)?;
        let expires_at = SystemTime::now() + self.ttl;
        let mut entries = lock(&self.entries);
        self.sweep(&mut entries);
        if entries.values().filter(|e| e.job.is_some()).count() >= self.cap {
            return Err(LinkError::TooMany);
        }
        // One client cannot take every place: it gets a share of them.
        if let Some(client) = &job.client {
            let held = entries
                .values()
                .filter(|e| e.job.is_some() && e.client.as_ref() == Some(client))
                .count();
            if held >= self.per_client {
                return Err(LinkError::TooManyForClient(self.per_client));
            }
        }
        let shown = Shown {
            key: job.key.as_str().to_owned(),
            mode: job.mode,
            exists: job.exists,
            expires_at,
            sandbox: self.sandbox.load(Ordering::Relaxed),
        };
        let (fate, _) = watch::channel(Fate::Pending);
        entries.insert(
            id.clone(),
            Entry {
                client: job.client.clone(),
                shown,
                deadline: Instant::now() + self.ttl,
                job: Some(job),
                fate,
            },
        );
        Ok(Ticket {
            url: format!("{base}{LINK_PATH}{id}"),
            id,
            expires_at,
        })
    }

    /// What the page may show of an unused, unexpired link; `Err` with its
    /// fate otherwise.
    pub fn show(&self, id: &str) -> Result<Shown, Fate> {
        let mut entries = lock(&self.entries);
        self.sweep(&mut entries);
        match entries.get(id) {
            Some(entry) if entry.job.is_some() => Ok(entry.shown.clone()),
            Some(entry) => Err(entry.fate.borrow().clone()),
            None => Err(Fate::Unknown),
        }
    }

    /// Takes the link's job for the page to run: once only, and never after
    /// its expiry. `Err` with its fate otherwise.
    pub fn claim(&self, id: &str) -> Result<Claimed, Fate> {
        let mut entries = lock(&self.entries);
        self.sweep(&mut entries);
        let Some(entry) = entries.get_mut(id) else {
            return Err(Fate::Unknown);
        };
        match entry.job.take() {
            Some(job) => Ok(Claimed {
                id: id.to_owned(),
                job,
            }),
            None => Err(entry.fate.borrow().clone()),
        }
    }

    /// Records how a claimed link ended, waking whoever waits for it.
    pub fn settle(&self, id: &str, fate: Fate) {
        let entries = lock(&self.entries);
        if let Some(entry) = entries.get(id) {
            entry.fate.send_replace(fate);
        }
    }

    /// The human declined on the page: the job is dropped unrun.
    pub fn decline(&self, id: &str) -> Result<(), Fate> {
        let claimed = self.claim(id)?;
        self.settle(&claimed.id, Fate::Declined);
        Ok(())
    }

    /// The call that opened the link was cancelled: the job is dropped
    /// unrun, and the page says the link was withdrawn.
    pub fn withdraw(&self, id: &str) -> Result<(), Fate> {
        let claimed = self.claim(id)?;
        self.settle(&claimed.id, Fate::Withdrawn);
        Ok(())
    }

    /// The link's fate now.
    pub fn fate(&self, id: &str) -> Fate {
        let mut entries = lock(&self.entries);
        self.sweep(&mut entries);
        entries
            .get(id)
            .map_or(Fate::Unknown, |e| e.fate.borrow().clone())
    }

    /// Waits up to `within` for the link to settle or expire; returns
    /// [`Fate::Pending`] if it has done neither by then.
    pub async fn wait(&self, id: &str, within: Duration) -> Fate {
        let (mut fate, deadline) = {
            let mut entries = lock(&self.entries);
            self.sweep(&mut entries);
            match entries.get(id) {
                Some(e) => (e.fate.subscribe(), e.deadline),
                None => return Fate::Unknown,
            }
        };
        let until = (Instant::now() + within).min(deadline);
        let settled =
            tokio::time::timeout_at(until.into(), fate.wait_for(|f| !matches!(f, Fate::Pending)))
                .await;
        match settled {
            Ok(Ok(f)) => f.clone(),
            // Expired while waiting (or the registry dropped it): say so.
            _ => self.fate(id),
        }
    }

    /// Expires unused links past their deadline (dropping their jobs
    /// unrun) and forgets settled ones long past it. A link claimed but not
    /// yet settled is left alone: its job is running.
    fn sweep(&self, entries: &mut HashMap<String, Entry>) {
        let now = Instant::now();
        entries.retain(|_, e| {
            if e.deadline <= now && e.job.is_some() {
                e.job = None;
                e.fate.send_replace(Fate::Expired);
            }
            e.deadline + REMEMBERED > now
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use rmcp::model::ContentBlock;
    use secrecy::ExposeSecret;

    use super::*;

    fn links(ttl: Duration) -> Links {
        Links::new(ttl, Arc::new(FixedBase("http://127.0.0.1:9/".into())))
    }

    fn job(seen: Arc<Mutex<Option<String>>>) -> Job {
        Job {
            tool: "set_tenant_secret",
            client: None,
            key: Key::check("user.db").unwrap(),
            mode: WriteMode::Upsert,
            exists: Some(true),
            run: Box::new(move |value: SecretString| {
                Box::pin(async move {
                    *lock(&seen) = Some(value.expose_secret().len().to_string());
                    Settled {
                        result: CallToolResult::success(vec![ContentBlock::text("stored")]),
                        title: "Done",
                        page_text: "Stored.".into(),
                    }
                })
            }),
        }
    }

    #[tokio::test]
    async fn a_link_is_claimed_once_and_its_fate_reaches_the_waiter() {
        let links = Arc::new(links(Duration::from_secs(60)));
        let seen = Arc::new(Mutex::new(None));
        let ticket = links.open(job(seen.clone())).await.unwrap();
        assert!(
            ticket.url.starts_with("http://127.0.0.1:9/ask/"),
            "{}",
            ticket.url
        );
        assert_eq!(ticket.id.len(), 48);
        let shown = links.show(&ticket.id).unwrap();
        assert_eq!(shown.key, "user.db");
        assert_eq!(shown.exists, Some(true));

        let waiter = {
            let links = links.clone();
            let id = ticket.id.clone();
            tokio::spawn(async move { links.wait(&id, Duration::from_secs(30)).await })
        };
        let claimed = links.claim(&ticket.id).unwrap();
        assert!(matches!(links.claim(&ticket.id), Err(Fate::Pending)));
        let settled = (claimed.job.run)(SecretString::from("hunter22")).await;
        links.settle(&claimed.id, Fate::Done(Box::new(settled)));
        assert_eq!(lock(&seen).as_deref(), Some("8"));
        match tokio::time::timeout(Duration::from_secs(10), waiter).await {
            Ok(Ok(Fate::Done(s))) => assert_eq!(s.page_text, "Stored."),
            other => panic!("{other:?}"),
        }
        assert!(matches!(links.claim(&ticket.id), Err(Fate::Done(_))));
        assert!(matches!(links.show(&ticket.id), Err(Fate::Done(_))));
    }

    #[tokio::test]
    async fn unknown_declined_withdrawn_and_expired_links_do_nothing() {
        let links = links(Duration::from_secs(60));
        assert!(matches!(links.claim("nope"), Err(Fate::Unknown)));
        assert!(matches!(links.fate("nope"), Fate::Unknown));

        let seen = Arc::new(Mutex::new(None));
        let ticket = links.open(job(seen.clone())).await.unwrap();
        links.decline(&ticket.id).unwrap();
        assert!(matches!(links.claim(&ticket.id), Err(Fate::Declined)));

        let ticket = links.open(job(seen.clone())).await.unwrap();
        links.withdraw(&ticket.id).unwrap();
        assert!(matches!(links.claim(&ticket.id), Err(Fate::Withdrawn)));
        assert!(matches!(links.show(&ticket.id), Err(Fate::Withdrawn)));

        let short = self::links(Duration::ZERO);
        let ticket = short.open(job(seen.clone())).await.unwrap();
        assert!(matches!(short.claim(&ticket.id), Err(Fate::Expired)));
        assert!(matches!(
            short.wait(&ticket.id, Duration::from_secs(5)).await,
            Fate::Expired
        ));
        assert!(lock(&seen).is_none(), "no job ran");
    }

    #[tokio::test]
    async fn waiting_gives_up_at_its_own_limit_while_the_link_lives_on() {
        let links = links(Duration::from_secs(60));
        let ticket = links.open(job(Arc::default())).await.unwrap();
        assert!(matches!(
            links.wait(&ticket.id, Duration::from_millis(10)).await,
            Fate::Pending
        ));
        assert!(links.claim(&ticket.id).is_ok());
    }

    /// One client holds at most its share of the open links; others still
    /// get theirs, and a used link frees a place.
    #[tokio::test]
    async fn one_client_cannot_take_every_link() {
        let links = links(Duration::from_secs(60));
        let for_client = |who: &str| Job {
            client: Some(who.to_owned()),
            ..job(Arc::default())
        };
        let mut first = None;
        for _ in 0..PER_CLIENT {
            let ticket = links.open(for_client("session a")).await.unwrap();
            first.get_or_insert(ticket.id);
        }
        assert!(matches!(
            links.open(for_client("session a")).await,
            Err(LinkError::TooManyForClient(PER_CLIENT))
        ));
        assert!(links.open(for_client("session b")).await.is_ok());
        assert!(
            links.open(job(Arc::default())).await.is_ok(),
            "stdio: no client"
        );
        links.decline(&first.unwrap()).unwrap();
        assert!(links.open(for_client("session a")).await.is_ok());
    }
}
