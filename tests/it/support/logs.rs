//! This process's tracing output, captured per test.
//!
//! A capture is the calling thread's default subscriber while it lives. A
//! `#[tokio::test]` runs every task it spawns on its own thread, so the
//! capture sees everything the code under test traces for that test, and
//! nothing another test running in parallel traces.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

pub struct Logs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: DefaultGuard,
}

impl Logs {
    /// Every event, from every crate, at trace level.
    pub fn capture() -> Logs {
        Self::with(Targets::new().with_default(LevelFilter::TRACE))
    }

    /// The product's filter (`logging::init`): this crate at trace, rmcp
    /// off, every other dependency at warn.
    pub fn capture_as_the_product() -> Logs {
        Self::with(
            Targets::new()
                .with_default(LevelFilter::WARN)
                .with_target("rmcp", LevelFilter::OFF)
                .with_target("osc_secrets_mcp", LevelFilter::TRACE),
        )
    }

    fn with(filter: Targets) -> Logs {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(Arc::clone(&buffer));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish()
            .with(filter);
        Logs {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Everything traced so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
