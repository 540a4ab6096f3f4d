//! `/metrics`: the process's Prometheus metrics ([`crate::metrics`]), on
//! the main listener behind the bearer token, and on a listener of its own
//! (`--metrics-listen`) for a scraper that cannot send it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::conn::{self, ConnLimits, Connections};
use super::paths::METRICS_PATH;
use crate::ask_user::links::Links;
use crate::web::error_response;

/// What a scrape reads besides the counters: the links open in the store.
#[derive(Clone)]
pub(super) struct Scrape {
    pub(super) links: Option<Arc<Links>>,
}

/// The metrics, with the open links counted in the store first (a store
/// that does not answer leaves the last count).
pub(super) async fn scrape(State(scrape): State<Scrape>) -> Response {
    let metrics = crate::metrics::metrics();
    if let Some(links) = &scrape.links
        && let Ok(open) = links.open_count().await
    {
        metrics.set_links_pending(open);
    }
    (
        [
            (header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics.encode(),
    )
        .into_response()
}

/// Serves `GET /metrics` alone on `listener` until `stop`, with the same
/// connection limits as the main listener.
pub(super) fn serve(
    listener: TcpListener,
    scrape: Scrape,
    limits: ConnLimits,
    stop: CancellationToken,
) {
    let router = Router::new()
        .route(METRICS_PATH, get(self::scrape))
        .with_state(scrape)
        .fallback(|| async {
            error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("This listener serves {METRICS_PATH} only."),
            )
        });
    let connections = Arc::new(Connections::new(limits));
    tokio::spawn(conn::accept_loop(
        listener,
        router,
        connections,
        stop.clone(),
        stop,
        TaskTracker::new(),
    ));
}

/// Binds the metrics listener at `addr`.
pub(super) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
