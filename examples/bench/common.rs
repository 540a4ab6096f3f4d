//! What the two benchmark baselines share: the transports, served exactly
//! as the product serves them (stdio on a current-thread runtime;
//! Streamable HTTP, stateless with JSON responses, on a multi-thread one).

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `--http ADDR` serves Streamable HTTP on ADDR at `/mcp`; otherwise stdio.
pub fn run<S, F>(make: F) -> Result<(), Error>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let server = make().serve(rmcp::transport::stdio_pipes()).await?;
                server.waiting().await?;
                Ok(())
            }),
        [flag, addr] if flag == "--http" => {
            let addr: std::net::SocketAddr = addr.parse()?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(async move {
                    let config = StreamableHttpServerConfig::default()
                        .with_legacy_session_mode(false)
                        .with_json_response(true);
                    let service = StreamableHttpService::new(
                        move || Ok(make()),
                        Arc::new(NeverSessionManager::default()),
                        config,
                    );
                    let router = axum::Router::new().route_service("/mcp", service);
                    let listener = tokio::net::TcpListener::bind(addr).await?;
                    eprintln!("listening on {}", listener.local_addr()?);
                    axum::serve(listener, router).await?;
                    Ok(())
                })
        }
        _ => Err("usage: [--http ADDR]".into()),
    }
}
