//! askUser's one-time page when serving stdio: a loopback HTTP listener,
//! started when the first link is opened and kept for the rest of the
//! process. It answers only under its own address (`127.0.0.1:PORT` or
//! `localhost:PORT`), with the same accept loop, connection cap and
//! timeouts as the HTTP transport.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::http::conn::{ConnLimits, Connections, accept_loop};
use crate::ask_user::links::{BoxFuture, LinkError, Links, PageHost};
use crate::ask_user::page::{self, PageConfig, PageHosts};

/// Connection limits of a page listener of its own: one human, a few tabs.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    header_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
    max_connections: 32,
};

/// Timeouts and the connection cap of [`serve_page`].
#[derive(Clone, Copy, Debug)]
pub struct PageLimits {
    /// For a request head, and (again) for a form body.
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves the page alone on `listener` until the process ends.
pub fn serve_page(listener: TcpListener, config: PageConfig, limits: PageLimits) {
    // hyper's own answers to malformed requests carry the page's headers
    // too (one request per connection: a page is a GET and a POST).
    let connections = Arc::new(
        Connections::new(ConnLimits {
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            max_connections: limits.max_connections,
        })
        .answering_malformed(page::malformed_answer),
    );
    tokio::spawn(accept_loop(
        listener,
        page::standalone(config),
        connections,
        CancellationToken::new(),
        CancellationToken::new(),
        TaskTracker::new(),
    ));
}

/// The page's own address as browsers name it: `(hosts, origins, base)`.
fn names(local: SocketAddr) -> (Vec<String>, Vec<String>, String) {
    let port = local.port();
    let ip = match local {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    };
    let hosts = vec![format!("{ip}:{port}"), format!("localhost:{port}")];
    let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
    (hosts, origins, format!("http://{ip}:{port}"))
}

/// The stdio page host: binds its loopback listener on first use.
#[derive(Clone)]
pub struct LoopbackPage {
    inner: Arc<Inner>,
}

struct Inner {
    listen: SocketAddr,
    links: Weak<Links>,
    started: OnceCell<String>,
}

impl LoopbackPage {
    /// A links registry whose page is served on `listen` (a loopback
    /// address) once the first link is opened; and a handle that says
    /// whether it has started.
    pub fn links(ttl: Duration, listen: SocketAddr) -> (Arc<Links>, LoopbackPage) {
        let mut handle = None;
        let links = Arc::new_cyclic(|weak| {
            let host = LoopbackPage {
                inner: Arc::new(Inner {
                    listen,
                    links: weak.clone(),
                    started: OnceCell::new(),
                }),
            };
            handle = Some(host.clone());
            Links::new(ttl, Arc::new(host))
        });
        let handle = handle.unwrap_or_else(|| LoopbackPage {
            inner: Arc::new(Inner {
                listen,
                links: Weak::new(),
                started: OnceCell::new(),
            }),
        });
        (links, handle)
    }

    /// The base URL of the page, once its listener is up.
    pub fn started(&self) -> Option<String> {
        self.inner.started.get().cloned()
    }
}

impl Inner {
    async fn start(&self) -> Result<String, LinkError> {
        if !self.listen.ip().is_loopback() {
            return Err(LinkError::NoPage(
                "its listener must be on a loopback address".to_owned(),
            ));
        }
        let links = self
            .links
            .upgrade()
            .ok_or_else(|| LinkError::NoPage("the server is stopping".to_owned()))?;
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|e| LinkError::NoPage(format!("cannot listen on {}: {e}", self.listen)))?;
        let local = listener
            .local_addr()
            .map_err(|e| LinkError::NoPage(format!("cannot listen on {}: {e}", self.listen)))?;
        let (hosts, origins, base) = names(local);
        serve_page(
            listener,
            PageConfig {
                links,
                hosts: PageHosts::Exact(hosts),
                origins,
                body_timeout: PAGE_LIMITS.header_timeout,
            },
            PAGE_LIMITS,
        );
        tracing::info!("one-time askUser page served at {base} (loopback only)");
        Ok(base)
    }
}

impl PageHost for LoopbackPage {
    fn base(&self) -> BoxFuture<Result<String, LinkError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            inner
                .started
                .get_or_try_init(|| inner.start())
                .await
                .cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ask_user::links::Job;
    use crate::domain::{Key, WriteMode};

    /// Shown only: these tests never submit the page.
    fn job() -> Job {
        Job {
            tool: "set_tenant_secret".into(),
            client: None,
            key: Key::check("user.db").unwrap(),
            mode: WriteMode::Upsert,
            exists: Some(false),
            work: serde_json::Value::Null,
            audit: None,
            subject: None,
        }
    }

    #[tokio::test]
    async fn the_listener_starts_with_the_first_link_and_only_then() {
        let (links, page) =
            LoopbackPage::links(Duration::from_secs(60), "127.0.0.1:0".parse().unwrap());
        assert_eq!(
            page.started(),
            None,
            "nothing listens before a link is opened"
        );
        let ticket = links.open(job()).await.unwrap();
        let base = page.started().expect("started by the first link");
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(
            ticket.url.starts_with(&format!("{base}/ask/")),
            "{}",
            ticket.url
        );
        // A second link reuses the same listener.
        let second = links.open(job()).await.unwrap();
        assert!(second.url.starts_with(&format!("{base}/ask/")));
        assert_eq!(page.started().as_deref(), Some(base.as_str()));

        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let shown = tokio::time::timeout(Duration::from_secs(30), client.get(&ticket.url).send())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(shown.status(), 200);
        let page_text = shown.text().await.unwrap();
        assert!(page_text.contains("user.db"), "{page_text}");

        // Any Host but the listener's own is refused.
        let port = base.rsplit(':').next().unwrap();
        let foreign = tokio::time::timeout(
            Duration::from_secs(30),
            client
                .get(&ticket.url)
                .header("host", format!("evil.example:{port}"))
                .send(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(foreign.status(), 403);
        let other_port = tokio::time::timeout(
            Duration::from_secs(30),
            client.get(&ticket.url).header("host", "127.0.0.1:1").send(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(other_port.status(), 403);
    }

    #[tokio::test]
    async fn a_non_loopback_address_is_refused_when_starting() {
        let (links, page) =
            LoopbackPage::links(Duration::from_secs(60), "0.0.0.0:0".parse().unwrap());
        assert!(matches!(links.open(job()).await, Err(LinkError::NoPage(_))));
        assert_eq!(page.started(), None);
    }
}
