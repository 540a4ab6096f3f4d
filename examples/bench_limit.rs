//! The job's limit: the floor's server whose one tool, `list`, makes one
//! request to OSC (`GET /mytenantsecrets` at `OSC_API_URL`, with the token
//! from `OSC_ACCESS_TOKEN`) through one shared reqwest client configured as
//! the product's, and returns the answer as text. The least work any server
//! doing this job must do per call; `scripts/bench` quotes the product as a
//! ratio to it. stdio by default; `--http ADDR` as for `bench_floor`.

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

#[path = "bench/common.rs"]
mod common;

#[derive(Clone)]
struct Limit {
    http: reqwest::Client,
    url: Arc<str>,
    token: Arc<str>,
    tool_router: ToolRouter<Limit>,
}

#[tool_router]
impl Limit {
    #[tool(description = "List the tenant's secrets")]
    async fn list(&self) -> Result<String, String> {
        let answer = self
            .http
            .get(&*self.url)
            .header("x-pat-jwt", format!("Bearer {}", self.token))
            .send()
            .await
            .map_err(|_| "request failed".to_owned())?;
        answer
            .text()
            .await
            .map_err(|_| "answer unreadable".to_owned())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Limit {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn main() -> Result<(), common::Error> {
    let base = std::env::var("OSC_API_URL").map_err(|_| "set OSC_API_URL")?;
    let token = std::env::var("OSC_ACCESS_TOKEN").map_err(|_| "set OSC_ACCESS_TOKEN")?;
    // The product's client for a plain-HTTP upstream: ring, no system
    // roots, no proxy, no redirects, the same timeouts.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .tls_certs_only([])
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let server = Limit {
        http,
        url: format!("{}/mytenantsecrets", base.trim_end_matches('/')).into(),
        token: token.into(),
        tool_router: Limit::tool_router(),
    };
    common::run(move || server.clone())
}
