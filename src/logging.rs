//! Logging on stderr (stdout carries the protocol), a panic hook that never
//! prints a payload, and the shutdown signal.
//!
//! Nothing here writes to stderr from the caller's thread. Every line, from
//! tracing and from [`say`] alike, goes into a bounded queue that one writer
//! thread drains. When stderr is slow, full (a pipe nobody reads) or broken
//! (a reader that went away), lines are dropped and counted instead of
//! stalling the protocol loop; a write error is ignored instead of
//! panicking, as `eprintln!` would.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::sync::lock;

/// Lines held while stderr is not keeping up; beyond this, new lines are
/// dropped. At a few hundred bytes a line this bounds the queue to about a
/// quarter of a MiB (twice that while a batch is being written).
const QUEUE_LINES: usize = 1024;

/// How long `main` waits, at exit, for queued lines to reach stderr.
pub const EXIT_FLUSH: Duration = Duration::from_millis(500);

/// Logs this crate at `level` and every other dependency at `warn` at most.
/// rmcp is silenced entirely: at debug it records whole requests (tool
/// arguments, and so values), and at warn and error some of its messages quote
/// a protocol message whole (a failed handshake, a failed send). What it would
/// report, this crate reports itself in its own words. A fixed target list,
/// not an env filter: no directive syntax to get wrong, no regex engine to load.
pub fn init(level: LevelFilter, format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_target("rmcp", LevelFilter::OFF)
        .with_target(env!("CARGO_CRATE_NAME"), level);
    let builder = tracing_subscriber::fmt()
        .with_writer(StderrQueue)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(level);
    let _ = match format {
        LogFormat::Text => builder.finish().with(filter).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .finish()
            .with(filter)
            .try_init(),
    };
}

/// How lines are written on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-03T10:00:00Z  INFO message field=value`, for people.
    #[default]
    Text,
    /// One JSON object a line (`timestamp`, `level`, `message`, and the
    /// event's fields), for log shippers.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// A line of [`say`] or the panic hook: plain text, or, with `--log-format
/// json`, an object shaped like tracing's (`level` WARN: the operator is
/// meant to read it).
fn operator_line(message: &str) -> Vec<u8> {
    let mut line = match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => format!("osc-secrets-mcp: {message}").into_bytes(),
        LogFormat::Json => {
            let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            serde_json::to_vec(&serde_json::json!({
                "timestamp": timestamp,
                "level": "WARN",
                "message": message,
                "from": "osc-secrets-mcp",
            }))
            .unwrap_or_default()
        }
    };
    line.push(b'\n');
    line
}

/// Tells the operator something on stderr, prefixed with the program's name,
/// whatever the log level: a banner, a warning, why start-up failed. Never
/// blocks and never panics; the line is dropped if stderr is not keeping up.
pub fn say(message: &str) {
    sink().push(operator_line(message));
}

/// Waits until every queued line has been written to stderr, or `limit` has
/// passed, whichever comes first. Returns whether the queue drained.
pub fn flush(limit: Duration) -> bool {
    sink().drain(limit)
}

/// A panic's payload could hold anything it was formatted from; print only
/// where it happened.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let report = panic_report(info);
        let report = report.strip_prefix("osc-secrets-mcp: ").unwrap_or(&report);
        sink().push(operator_line(report));
        // A panic on the main thread ends the process: give the report
        // (and what was queued before it) a bounded chance to get out.
        if std::thread::current().name() == Some("main") {
            flush(EXIT_FLUSH);
        }
    }));
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

/// The writer tracing formats into: one `write` per event, queued whole.
#[derive(Clone, Copy)]
struct StderrQueue;

impl Write for StderrQueue {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sink().push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StderrQueue {
    type Writer = StderrQueue;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

struct Queue {
    lines: VecDeque<Vec<u8>>,
    /// Lines dropped since the writer last said so.
    dropped: u64,
    /// The writer holds a batch it has not finished writing.
    writing: bool,
    /// No writer thread could be started: lines are written by the caller.
    dead: bool,
}

struct Sink {
    queue: Mutex<Queue>,
    /// Signalled when a line is queued.
    queued: Condvar,
    /// Signalled when the writer has written everything queued.
    idle: Condvar,
}

/// Hand-written rather than tracing-appender's `non_blocking`: its guard,
/// when the queue is full at exit, reports that with `println!`, on stdout,
/// which is the MCP protocol channel here (and which panics when stdout is
/// gone). Operator messages share this queue too, so the order of lines on
/// stderr is the order they were written in.
fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("stderr".to_owned())
            .spawn(|| sink().write_forever());
        Sink {
            queue: Mutex::new(Queue {
                lines: VecDeque::new(),
                dropped: 0,
                writing: false,
                dead: spawned.is_err(),
            }),
            queued: Condvar::new(),
            idle: Condvar::new(),
        }
    })
}

impl Sink {
    fn push(&self, line: Vec<u8>) {
        let mut queue = lock(&self.queue);
        if queue.dead {
            // Without a writer thread (it could not be spawned) the line is
            // written here, best effort: better a rare stall than silence.
            drop(queue);
            let _ = std::io::stderr().write_all(&line);
            return;
        }
        if queue.lines.len() >= QUEUE_LINES {
            queue.dropped = queue.dropped.saturating_add(1);
            return;
        }
        queue.lines.push_back(line);
        drop(queue);
        self.queued.notify_one();
    }

    fn drain(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut queue = lock(&self.queue);
        while !queue.dead && (queue.writing || !queue.lines.is_empty()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self
                .idle
                .wait_timeout(queue, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        true
    }

    /// The writer thread: takes everything queued, writes it with the lock
    /// released, repeats. Write errors (a closed or broken stderr) are
    /// ignored: there is nowhere else to report them.
    fn write_forever(&self) {
        let mut stderr = std::io::stderr();
        loop {
            let (batch, dropped) = {
                let mut queue = lock(&self.queue);
                queue.writing = false;
                while queue.lines.is_empty() && queue.dropped == 0 {
                    self.idle.notify_all();
                    queue = self
                        .queued
                        .wait(queue)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                queue.writing = true;
                (
                    std::mem::take(&mut queue.lines),
                    std::mem::take(&mut queue.dropped),
                )
            };
            for line in &batch {
                let _ = stderr.write_all(line);
            }
            if dropped > 0 {
                let _ = writeln!(
                    stderr,
                    "osc-secrets-mcp: {dropped} log line(s) dropped because stderr was not keeping up"
                );
            }
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that
/// arrives while the server is still starting is not lost to the default
/// action (which would end the process without draining). Call it inside
/// the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                () = received(term) => {}
                () = received(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
