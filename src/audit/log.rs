//! The audit log writer: one JSON line per record, appended and written
//! through to the file before the call's result goes out, each line chained
//! to the one before it, and the chain's head copied to an anchor file.
//!
//! Under `--audit-required` a change is preceded by a write-ahead record
//! ([`AuditLog::write_ahead`], outcome `attempt`), synced to disk: nothing
//! is sent to OSC unless it and the anchor were written.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::chain::{Anchor, Head, hash_line, link};
use super::record::{Call, Outcome, Record};
use crate::logging;
use crate::sync::lock;

/// Most bytes read back from the end of an existing log to find its last
/// record; a record is a few hundred bytes.
const TAIL_BYTES: u64 = 64 * 1024;

/// The anchor file of the log at `log`: `<log>.anchor`, beside it.
pub fn anchor_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".anchor");
    PathBuf::from(name)
}

/// An open (or, after a failure, closed and retried) audit log.
pub struct AuditLog {
    path: PathBuf,
    anchor: PathBuf,
    required: bool,
    /// A handle of the log held, with an advisory lock on it, for as long as
    /// this process writes the log: a second process appending to the same
    /// file would fork its chain.
    _lock: Option<File>,
    state: Mutex<State>,
    /// Which replica writes it: every record names it.
    replica: String,
}

/// Another process holds the log's lock: it is writing this log.
#[derive(Debug, thiserror::Error)]
#[error(
    "audit log {path} is being written by another process (it holds the log's lock); \
     two writers would fork its hash chain. Give each process its own --audit-log file"
)]
pub struct AuditLocked {
    pub path: String,
}

struct State {
    /// None while the log cannot be written; every record tries to open it again.
    file: Option<(File, Head)>,
    /// Whether a record failed since the last one written, so a failure is
    /// reported once, not per call, and its end once a record is written
    /// again (a log that opens is not yet one that can be written: a full
    /// disk opens fine).
    failing: bool,
}

impl AuditLog {
    /// Opens (or creates, with mode 0600) the log at `path` for appending and
    /// continues its chain. A log that cannot be opened is reported on
    /// stderr; the server still starts, and `required` makes it refuse every
    /// change until the log can be written.
    ///
    /// A log another process is writing (it holds the log's advisory lock)
    /// is refused: the server does not start.
    pub fn open(path: PathBuf, required: bool) -> Result<AuditLog, AuditLocked> {
        let held = hold(&path).map_err(|_| AuditLocked {
            path: path.display().to_string(),
        })?;
        let log = AuditLog {
            anchor: anchor_path(&path),
            path,
            required,
            _lock: held,
            replica: replica_name(),
            state: Mutex::new(State {
                file: None,
                failing: false,
            }),
        };
        let mut state = lock(&log.state);
        log.ensure_open(&mut state);
        drop(state);
        Ok(log)
    }

    /// Whether changes must be refused while the log cannot be written.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether a record could be written now (opening the log again if it was closed).
    pub fn ready(&self) -> bool {
        let mut state = lock(&self.state);
        self.ensure_open(&mut state)
    }

    /// Appends `record` as the next link of the chain. A failure is
    /// reported on stderr (once until the log works again) and closes the
    /// log, so the next record reopens it and rereads where the chain stands.
    pub fn write(&self, record: &Record<'_>) -> bool {
        self.append(record, false)
    }

    /// Appends the write-ahead record of `call` (outcome `attempt`) and
    /// syncs it to disk. `true` only when it and the anchor were written:
    /// then, and only then, may the change be sent.
    pub fn write_ahead(&self, call: &Call, duration_ms: u64) -> bool {
        self.append(
            &Record {
                call,
                outcome: Outcome::Attempt,
                duration_ms,
            },
            true,
        )
    }

    /// Says on stderr that `call` ran after its write-ahead record but its
    /// outcome could not be recorded.
    pub fn unrecorded(&self, call: &Call) {
        logging::say(&format!(
            "audit log {}: {} on {} (request {}) ran, but its outcome could not be recorded; \
             the log holds only its attempt record.",
            self.path.display(),
            call.tool,
            call.key
                .as_deref()
                .map_or("no valid key".to_owned(), |k| format!("`{k}`")),
            call.request
        ));
    }

    /// Appends `record`, synced to disk when `durable`. A line written only
    /// in part (a disk that filled mid-line) is cut off again, so the chain
    /// can go on once the log can be written. A whole line whose anchor
    /// could not be rewritten stays: it is what happened, and the anchor
    /// catches up with the next record written.
    fn append(&self, record: &Record<'_>, durable: bool) -> bool {
        let mut state = lock(&self.state);
        if !self.ensure_open(&mut state) {
            return false;
        }
        let Some((file, head)) = state.file.as_mut() else {
            return false;
        };
        let seq = head.seq.saturating_add(1);
        let before = file.metadata().map(|m| m.len());
        let written = record
            .line(seq, &head.hash, &self.replica)
            .and_then(|mut line| {
                let hash = hash_line(&line);
                line.push(b'\n');
                file.write_all(&line)?;
                file.flush()?;
                if durable {
                    sync(file)?;
                }
                Ok(hash)
            });
        match written {
            Ok(hash) => {
                *head = Head { seq, hash };
                let anchored = write_anchor(&self.anchor, head, durable);
                if let Err(error) = anchored {
                    state.file = None;
                    self.report(
                        &mut state,
                        &format!("cannot rewrite its anchor file: {}", error.kind()),
                    );
                    return false;
                }
                if state.failing {
                    logging::say(&format!(
                        "audit log {} can be written again; the chain continues.",
                        self.path.display()
                    ));
                }
                state.failing = false;
                true
            }
            Err(error) => {
                let cut = before.map(|before| cut_back(file, before));
                state.file = None;
                let why = match cut {
                    Ok(Err(_)) => format!(
                        "cannot append to it: {}, and the part of a record written could not be cut off again \
                         (run `osc-secrets-mcp verify-audit` on it)",
                        error.kind()
                    ),
                    _ => format!("cannot append to it: {}", error.kind()),
                };
                self.report(&mut state, &why);
                false
            }
        }
    }

    fn ensure_open(&self, state: &mut State) -> bool {
        if state.file.is_some() {
            return true;
        }
        match open_chain(&self.path) {
            Ok(opened) => {
                state.file = Some(opened);
                true
            }
            Err(why) => {
                self.report(state, &why);
                false
            }
        }
    }

    fn report(&self, state: &mut State, why: &str) {
        if state.failing {
            return;
        }
        state.failing = true;
        let then = if self.required {
            "changes are refused (--audit-required) until it can be written again"
        } else {
            "calls go on unrecorded; --audit-required would refuse changes instead"
        };
        logging::say(&format!(
            "audit log {}: {why}; {then}.",
            self.path.display()
        ));
    }
}

/// Takes the log's advisory lock on a handle of its own, kept while the
/// process runs. `Err` when another process holds it; `Ok(None)` when the
/// file cannot be opened at all (that is reported, and retried, when the
/// log is written).
fn hold(path: &Path) -> Result<Option<File>, ()> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let Ok(file) = options.open(path) else {
        return Ok(None);
    };
    // A device or a pipe holds no chain that two writers could fork.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(()),
        // A file system without locks: nothing to hold.
        Err(std::fs::TryLockError::Error(_)) => Ok(None),
    }
}

/// Opens the log for appending (creating it with mode 0600) and reads where
/// its chain stands from its last line.
fn open_chain(path: &Path) -> Result<(File, Head), String> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot open it: {}", e.kind()))?;
    let head = last_head(&mut file).map_err(|e| format!("cannot read it: {}", e.kind()))?;
    let head = head.ok_or_else(|| {
        "its last line is not a whole audit record, so the chain cannot be continued \
         (run `osc-secrets-mcp verify-audit` on it, then move it aside)"
            .to_owned()
    })?;
    Ok((file, head))
}

/// The head of the chain in `file`: genesis when it is empty, None when its
/// last line is not a complete record.
fn last_head(file: &mut File) -> io::Result<Option<Head>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Some(Head::genesis()));
    }
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    Read::by_ref(file).take(TAIL_BYTES).read_to_end(&mut tail)?;
    let Some(body) = tail.strip_suffix(b"\n") else {
        return Ok(None);
    };
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if start == 0 => body,
        None => return Ok(None),
    };
    Ok(link(line).map(|(seq, _)| Head {
        seq,
        hash: hash_line(line),
    }))
}

/// Syncs a record to disk. A file that cannot be synced at all (a device
/// such as /dev/null says `EINVAL`) has nothing more to sync.
fn sync(file: &File) -> io::Result<()> {
    match file.sync_data() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

/// Cuts `file` back to `len` bytes if a failed write left more; `Err` when
/// that is needed and fails.
fn cut_back(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() > len {
        file.set_len(len)?;
    }
    Ok(())
}

/// Rewrites the anchor atomically: a temporary file beside it, then a rename.
fn write_anchor(path: &Path, head: &Head, durable: bool) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    let mut body = serde_json::to_vec(&Anchor {
        seq: head.seq,
        hash: head.hash.clone(),
    })
    .map_err(io::Error::other)?;
    body.push(b'\n');
    file.write_all(&body)?;
    file.flush()?;
    if durable {
        sync(&file)?;
    }
    drop(file);
    std::fs::rename(&temp, path)
}

/// The name of the machine (a pod's name in Kubernetes), as the kernel
/// knows it: what tells one replica's records from another's once an
/// operator collects the logs. Cut to one short safe line.
fn replica_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(64)
        .collect();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        name
    }
}
