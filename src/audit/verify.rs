//! `verify-audit`: walks a log's chain from its first line and checks its
//! head against the anchor file.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::chain::{Anchor, Head, hash_line, link};

/// An intact chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    pub head: Head,
    /// Whether the head matched an anchor file.
    pub anchored: bool,
}

/// Why a log does not verify, with the first line that shows it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Broken {
    #[error("cannot read {what}: {kind}")]
    Unreadable { what: String, kind: io::ErrorKind },
    #[error(
        "line {line} is not an audit record (no seq and prev): the log was edited or cut mid-line"
    )]
    NotARecord { line: u64 },
    #[error(
        "line {line} holds seq {found} where seq {expected} belongs: records were removed or inserted before it"
    )]
    Seq {
        line: u64,
        expected: u64,
        found: u64,
    },
    #[error(
        "line {line} (seq {seq}) does not follow the line before it: its prev is not that line's hash, so line {} was altered",
        line - 1
    )]
    Prev { line: u64, seq: u64 },
    #[error("line {line} (seq 1) does not start a chain: its prev is not the genesis value")]
    Genesis { line: u64 },
    #[error("the anchor file is not an anchor (seq and hash)")]
    BadAnchor,
    #[error(
        "the log ends at seq {last} but its anchor records seq {anchored}: records were cut off its end"
    )]
    CutOff { last: u64, anchored: u64 },
    #[error(
        "the log's last record (seq {seq}) does not match its anchor: the last record was altered or the log replaced"
    )]
    AnchorMismatch { seq: u64 },
    #[error(
        "the anchor records seq {anchored}, and the log goes on to seq {last}: the records after seq {anchored} are \
         not anchored (the server could not rewrite the anchor after them, and said so on its stderr, or they were \
         appended by someone else)"
    )]
    AnchorBehind { anchored: u64, last: u64 },
}

/// Checks the chain of the log at `log`, then its head against `anchor`
/// when one is given.
pub fn verify(log: &Path, anchor: Option<&Path>) -> Result<Verified, Broken> {
    let unreadable = |what: &Path, e: io::Error| Broken::Unreadable {
        what: what.display().to_string(),
        kind: e.kind(),
    };
    let anchor = match anchor {
        None => None,
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| unreadable(path, e))?;
            let anchor: Anchor = serde_json::from_slice(&text).map_err(|_| Broken::BadAnchor)?;
            Some(anchor)
        }
    };
    let file = File::open(log).map_err(|e| unreadable(log, e))?;
    let mut reader = BufReader::new(file);
    let mut head = Head::genesis();
    // The record the anchor names, once the walk has passed it.
    let mut at_anchor: Option<Head> = None;
    let mut line = Vec::new();
    let mut number: u64 = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| unreadable(log, e))?;
        if read == 0 {
            break;
        }
        number += 1;
        let Some(body) = line.strip_suffix(b"\n") else {
            return Err(Broken::NotARecord { line: number });
        };
        let Some((seq, prev)) = link(body) else {
            return Err(Broken::NotARecord { line: number });
        };
        let expected = head.seq + 1;
        if seq != expected {
            return Err(Broken::Seq {
                line: number,
                expected,
                found: seq,
            });
        }
        if prev != head.hash {
            return Err(if seq == 1 {
                Broken::Genesis { line: number }
            } else {
                Broken::Prev { line: number, seq }
            });
        }
        head = Head {
            seq,
            hash: hash_line(body),
        };
        if anchor.as_ref().is_some_and(|a| a.seq == seq) {
            at_anchor = Some(head.clone());
        }
    }
    let anchored = match anchor {
        None => false,
        Some(anchor) => {
            if anchor.seq > head.seq {
                return Err(Broken::CutOff {
                    last: head.seq,
                    anchored: anchor.seq,
                });
            }
            // The record the anchor names must be the one it hashed,
            // wherever it stands in the log.
            if at_anchor.is_none_or(|at| at.hash != anchor.hash) {
                return Err(Broken::AnchorMismatch { seq: head.seq });
            }
            if anchor.seq < head.seq {
                return Err(Broken::AnchorBehind {
                    anchored: anchor.seq,
                    last: head.seq,
                });
            }
            true
        }
    };
    Ok(Verified {
        records: number,
        head,
        anchored,
    })
}
