//! Logging on stderr (stdout carries the protocol), a panic hook that never
//! prints a payload, and the shutdown signal.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Logs this crate at `level` and every other dependency at `warn` at most.
/// rmcp is silenced entirely: at debug it records whole requests (tool
/// arguments, and so values), and at warn and error some of its messages quote
/// a protocol message whole (a failed handshake, a failed send). What it would
/// report, this crate reports itself in its own words. A fixed target list,
/// not an env filter: no directive syntax to get wrong, no regex engine to load.
pub fn init(level: LevelFilter) {
    let filter = Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_target("rmcp", LevelFilter::OFF)
        .with_target(env!("CARGO_CRATE_NAME"), level);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(level)
        .finish()
        .with(filter)
        .try_init();
}

/// A panic's payload could hold anything it was formatted from; print only
/// where it happened.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| eprintln!("{}", panic_report(info))));
}

/// What the panic hook prints: the place, never the payload.
pub fn panic_report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    format!(
        "osc-secrets-mcp: internal error{place}; the message is withheld because it could hold a secret"
    )
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
