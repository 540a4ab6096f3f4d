//! The audit log and the rate limits, over real runs of the built binary
//! (`--sandbox`, stdio), and `verify-audit` on what they wrote.

use crate::support;
use crate::support::assert_no_leak;
use std::path::{Path, PathBuf};

use crate::support::stdio::{result_is_error, result_text};
use crate::support::{StdioServer, WAIT, binary};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CANARY: &str = "canary-audit-7f3e9b1c-never-logged";
/// Not a key: the answer quotes it back (keys are not secret), the log never holds it.
const PASTED: &str = "pasted-value-4c1d";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A fresh directory for one test's files, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "osc-mcp-audit-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sha256_hex(line: &str) -> String {
    Sha256::digest(line.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn records(path: &Path) -> Vec<Value> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Spawns the sandboxed server on stdio with `args` added and initializes it.
async fn server(args: &[&str]) -> StdioServer {
    let mut all = vec!["--sandbox"];
    all.extend_from_slice(args);
    let mut server = StdioServer::spawn(&all, &[]);
    server.initialize().await;
    server
}

/// Runs the server with an audit log at `log` and writes `keys` with the canary.
async fn write_keys(log: &Path, keys: &[&str]) -> (String, String) {
    let mut server = server(&["--audit-log", log.to_str().unwrap()]).await;
    for key in keys {
        let set = server
            .call_tool("set_tenant_secret", json!({"key": key, "value": CANARY}))
            .await;
        assert!(!result_is_error(&set), "{set}");
    }
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    (stdout, stderr)
}

/// `verify-audit` with `args`: (exit code, stderr).
async fn verify(args: &[&str]) -> (i32, String) {
    let mut cmd = binary();
    cmd.arg("verify-audit").args(args).kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("verify-audit exits")
        .unwrap();
    assert!(out.stdout.is_empty());
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A real run records each change and each refusal, chained from genesis,
/// with the checked names and who called; a read that went through is not
/// recorded; the canary value is in no byte of the log, its anchor, or
/// anything the server wrote.
/// What a real run left: its directory (holding `audit.log` and its
/// anchor), and the server's stdout and stderr.
struct Run {
    dir: Dir,
    log: PathBuf,
    stdout: String,
    stderr: String,
}

/// A sandboxed run with an audit log: a write, a materialize, a list, three
/// refusals (a platform key, text that fails the key rule, a set with no
/// value) and a delete, each answered as expected.
async fn real_run(name: &str) -> Run {
    let dir = Dir::new(name);
    let log = dir.join("audit.log");
    let mut server = server(&["--audit-log", log.to_str().unwrap()]).await;
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.audit-a", "value": CANARY}),
        )
        .await;
    assert!(!result_is_error(&set), "{set}");
    let materialize = server
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": "user.audit-a", "serviceId": "my-service", "secretName": "apikey"}),
        )
        .await;
    assert!(!result_is_error(&materialize), "{materialize}");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert!(!result_is_error(&list), "{list}");
    let system = server
        .call_tool(
            "delete_tenant_secret",
            json!({"key": "system.gitea-admin-token"}),
        )
        .await;
    assert!(result_is_error(&system), "{system}");
    // Text that fails the key rule (a value pasted into the wrong field, say):
    // refused, and left out of the record.
    let pasted = server
        .call_tool("delete_tenant_secret", json!({"key": PASTED}))
        .await;
    assert!(result_is_error(&pasted), "{pasted}");
    let no_value = server
        .call_tool("set_tenant_secret", json!({"key": "user.audit-b"}))
        .await;
    assert!(result_is_error(&no_value), "{no_value}");
    let delete = server
        .call_tool("delete_tenant_secret", json!({"key": "user.audit-a"}))
        .await;
    assert!(!result_is_error(&delete), "{delete}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    Run {
        dir,
        log,
        stdout,
        stderr,
    }
}

/// Every change and every refusal is a record; the list is not.
#[tokio::test]
async fn a_real_run_records_each_change_and_refusal() {
    let run = real_run("records").await;
    let raw = lines(&run.log);
    let recs = records(&run.log);
    assert_eq!(recs.len(), 6, "{raw:#?}");
    let summary: Vec<(&str, &str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["rule"].as_str().or(r["error"].as_str()).unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("set_tenant_secret", "ok", ""),
            ("materialize_tenant_secret", "ok", ""),
            ("delete_tenant_secret", "refused", "input"),
            ("delete_tenant_secret", "refused", "input"),
            ("set_tenant_secret", "refused", "input"),
            ("delete_tenant_secret", "ok", ""),
        ]
    );
    assert_eq!(recs[0]["key"], "user.audit-a");
    assert_eq!(recs[0]["valueSource"], "value");
    assert_eq!(recs[0]["kind"], "write");
    assert_eq!(recs[1]["serviceId"], "my-service");
    assert_eq!(recs[1]["secretName"], "apikey");
    assert!(recs[1].get("valueSource").is_none());
    assert_eq!(recs[2]["key"], "system.gitea-admin-token");
    assert!(recs[3].get("key").is_none(), "{}", raw[3]);
    assert_eq!(recs[5]["kind"], "destroy");
    assert!(!raw.concat().contains(PASTED));
}

/// The records chain, each to the hash of the one before, and end at the
/// anchor; `verify-audit` says so.
#[tokio::test]
async fn a_real_run_writes_an_intact_chain() {
    let run = real_run("chain").await;
    let raw = lines(&run.log);
    let recs = records(&run.log);
    assert_eq!(recs.len(), 6, "{raw:#?}");
    let mut prev = GENESIS.to_owned();
    // Each record names the replica (the machine) that wrote it.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (i, (line, rec)) in raw.iter().zip(&recs).enumerate() {
        assert_eq!(rec["seq"], json!(i + 1), "{line}");
        assert_eq!(rec["prev"], json!(prev), "{line}");
        assert_eq!(rec["replica"], host.trim(), "{line}");
        prev = sha256_hex(line);
        assert_eq!(rec["transport"], "stdio", "{line}");
        assert_eq!(
            rec["client"],
            json!({"name": "test", "version": "0"}),
            "{line}"
        );
        assert!(rec["request"].is_string(), "{line}");
        assert!(rec["durationMs"].is_u64(), "{line}");
        let time = rec["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{line}");
    }
    let anchor: Value =
        serde_json::from_str(&std::fs::read_to_string(run.dir.join("audit.log.anchor")).unwrap())
            .unwrap();
    assert_eq!(anchor, json!({"seq": 6, "hash": sha256_hex(&raw[5])}));

    let (code, said) = verify(&[run.log.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("intact: 6 record(s), last seq 6"), "{said}");
    assert!(said.contains("matches the anchor"), "{said}");
}

/// Neither the value nor the sandbox token is in the log, the anchor or
/// the server's output.
#[tokio::test]
async fn a_real_run_writes_the_value_nowhere() {
    let Run {
        dir,
        log,
        stdout,
        stderr,
    } = real_run("no-value").await;
    for (what, bytes) in [
        ("log", std::fs::read_to_string(&log).unwrap()),
        (
            "anchor",
            std::fs::read_to_string(dir.join("audit.log.anchor")).unwrap(),
        ),
        ("stdout", stdout),
        ("stderr", stderr),
    ] {
        // The value, and the sandbox's token.
        assert_no_leak(&format!("the {what}"), &bytes, &[CANARY, "sandbox-"]);
    }
}

/// The log and its anchor are created readable and writable by the owner only.
#[cfg(unix)]
#[tokio::test]
async fn the_log_and_its_anchor_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("mode");
    let log = dir.join("audit.log");
    write_keys(&log, &["user.mode-a"]).await;
    for path in [log.clone(), dir.join("audit.log.anchor")] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

/// An edited record breaks the link to the next one; an edited last record
/// no longer matches the anchor.
#[tokio::test]
async fn a_tampered_record_is_found() {
    let dir = Dir::new("tamper");
    let log = dir.join("audit.log");
    write_keys(&log, &["user.t-a", "user.t-b", "user.t-c"]).await;
    let original = lines(&log);

    let mut edited = original.clone();
    edited[1] = edited[1].replace("user.t-b", "user.t-x");
    assert_ne!(edited[1], original[1]);
    std::fs::write(&log, edited.join("\n") + "\n").unwrap();
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("line 3 (seq 3)"), "{said}");
    assert!(said.contains("line 2 was altered"), "{said}");

    let mut last = original.clone();
    last[2] = last[2].replace("user.t-c", "user.t-y");
    std::fs::write(&log, last.join("\n") + "\n").unwrap();
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("does not match its anchor"), "{said}");
}

/// A removed record leaves a gap in the sequence.
#[tokio::test]
async fn a_deleted_record_is_found() {
    let dir = Dir::new("delete");
    let log = dir.join("audit.log");
    write_keys(&log, &["user.d-a", "user.d-b", "user.d-c"]).await;
    let mut kept = lines(&log);
    kept.remove(1);
    std::fs::write(&log, kept.join("\n") + "\n").unwrap();
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("line 2 holds seq 3 where seq 2 belongs"),
        "{said}"
    );
}

/// Records cut off the end leave an intact chain: only the anchor shows it,
/// found beside the log by default or named with --anchor. Without one,
/// verify-audit says the cut could not be seen.
#[tokio::test]
async fn a_cut_off_tail_shows_only_against_the_anchor() {
    let dir = Dir::new("tail");
    let log = dir.join("audit.log");
    write_keys(&log, &["user.c-a", "user.c-b", "user.c-c"]).await;
    let mut kept = lines(&log);
    kept.truncate(2);
    std::fs::write(&log, kept.join("\n") + "\n").unwrap();

    // The anchor beside the log is used by default.
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("ends at seq 2 but its anchor records seq 3"),
        "{said}"
    );

    // Moved elsewhere and named.
    let moved = dir.join("kept.anchor");
    std::fs::rename(dir.join("audit.log.anchor"), &moved).unwrap();
    let (code, said) = verify(&[log.to_str().unwrap(), "--anchor", moved.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("cut off"), "{said}");

    // No anchor at all: the chain is intact, and the summary says what it cannot see.
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("2 record(s)"), "{said}");
    assert!(said.contains("no anchor file"), "{said}");

    // A named anchor that is missing is an error, not a pass.
    let (code, said) = verify(&[
        log.to_str().unwrap(),
        "--anchor",
        dir.join("missing").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 1, "{said}");
}

/// A path under a regular file cannot be created, whoever runs the test.
fn unwritable(dir: &Dir) -> PathBuf {
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    file.join("audit.log")
}

/// A second process appending to the log would fork its chain: it refuses
/// to start, saying why, and the first one's log stays one chain.
#[tokio::test]
async fn a_second_writer_of_one_log_refuses_to_start() {
    let dir = Dir::new("locked");
    let log = dir.join("audit.log");
    let mut first = server(&["--audit-log", log.to_str().unwrap()]).await;
    let second = StdioServer::spawn(&["--sandbox", "--audit-log", log.to_str().unwrap()], &[]);
    let (status, _, stderr) = second.finish_with_status().await;
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("is being written by another process"),
        "{stderr}"
    );
    let set = first
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.l-1", "value": CANARY}),
        )
        .await;
    assert!(!result_is_error(&set), "{set}");
    let (ok, _, stderr) = first.finish().await;
    assert!(ok, "{stderr}");
    assert_eq!(records(&log).len(), 1);
}

/// Without --audit-required, an unwritable log is reported on stderr and
/// changes go on.
#[tokio::test]
async fn an_unwritable_log_is_reported_and_changes_go_on() {
    let dir = Dir::new("unwritable");
    let log = unwritable(&dir);
    let mut server = server(&["--audit-log", log.to_str().unwrap()]).await;
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.u-a", "value": CANARY}),
        )
        .await;
    assert!(!result_is_error(&set), "{set}");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("audit log"), "{stderr}");
    assert!(stderr.contains("cannot open it"), "{stderr}");
    assert!(!stderr.contains(CANARY));
}

/// With --audit-required, an unwritable log refuses every change before
/// OSC is contacted (the key is not there afterwards); reads go on.
#[tokio::test]
async fn an_unwritable_required_log_refuses_changes() {
    let dir = Dir::new("required");
    let log = unwritable(&dir);
    let mut server = server(&["--audit-log", log.to_str().unwrap(), "--audit-required"]).await;
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.r-a", "value": CANARY}),
        )
        .await;
    assert!(result_is_error(&set), "{set}");
    let said = result_text(&set);
    assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
    assert!(said.contains("audit log"), "{said}");
    let delete = server
        .call_tool(
            "delete_tenant_secret",
            json!({"key": "user.example-api-key"}),
        )
        .await;
    assert!(result_is_error(&delete), "{delete}");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert!(!result_is_error(&list), "{list}");
    let listed = list["result"]["structuredContent"].to_string();
    assert!(!listed.contains("user.r-a"), "{listed}");
    assert!(listed.contains("user.example-api-key"), "{listed}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("refused (--audit-required)"), "{stderr}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
}

/// With --audit-required, a change is sent only after its write-ahead
/// record was written. On a full disk (/dev/full opens, and refuses every
/// write) no change reaches OSC: each is refused, saying the log cannot be
/// written and nothing was changed; stderr says so once, and never that
/// the log can be written again.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_required_log_on_a_full_disk_lets_no_change_through() {
    let mut server = server(&["--audit-log", "/dev/full", "--audit-required"]).await;
    let keys = ["user.full-a", "user.full-b", "user.full-c"];
    for key in keys {
        let set = server
            .call_tool("set_tenant_secret", json!({"key": key, "value": CANARY}))
            .await;
        assert!(result_is_error(&set), "{set}");
        let said = result_text(&set);
        assert!(said.starts_with("Not done: this server must record every change in its audit log before making it (--audit-required), and the audit log cannot be written now, so nothing was changed."), "{said}");
    }
    let delete = server
        .call_tool(
            "delete_tenant_secret",
            json!({"key": "user.example-api-key"}),
        )
        .await;
    assert!(result_is_error(&delete), "{delete}");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert!(!result_is_error(&list), "{list}");
    let listed = list["result"]["structuredContent"]["secrets"].to_string();
    for key in keys {
        assert!(!listed.contains(key), "{key} reached OSC: {listed}");
    }
    assert!(listed.contains("user.example-api-key"), "{listed}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert_eq!(
        stderr
            .matches("audit log /dev/full: cannot append to it")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("changes are refused (--audit-required)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("can be written again; the chain continues"),
        "{stderr}"
    );
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
}

/// An anchor that cannot be rewritten stops changes as the log itself
/// would: made unwritable mid-run (its temporary file's place taken by a
/// directory, which stops root too), a set is refused and reaches no OSC,
/// `verify-audit` then says the anchor is behind; made writable again,
/// changes go on and the chain verifies, write-ahead records included.
#[tokio::test]
async fn a_required_log_whose_anchor_cannot_be_written_lets_no_change_through() {
    let dir = Dir::new("anchor-required");
    let log = dir.join("audit.log");
    let blocker = dir.join("audit.log.anchor.tmp");
    let mut server = server(&["--audit-log", log.to_str().unwrap(), "--audit-required"]).await;
    let set = |key: &str| json!({"key": key, "value": CANARY});
    let first = server
        .call_tool("set_tenant_secret", set("user.anchor-a"))
        .await;
    assert!(!result_is_error(&first), "{first}");

    std::fs::create_dir(&blocker).unwrap();
    let blocked = server
        .call_tool("set_tenant_secret", set("user.anchor-b"))
        .await;
    assert!(result_is_error(&blocked), "{blocked}");
    let said = result_text(&blocked);
    assert!(
        said.contains("the audit log cannot be written now, so nothing was changed"),
        "{said}"
    );
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    let listed = list["result"]["structuredContent"]["secrets"].to_string();
    assert!(listed.contains("user.anchor-a"), "{listed}");
    assert!(!listed.contains("user.anchor-b"), "{listed}");
    // The log went on past its anchor, which says so.
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("the anchor records seq 2, and the log goes on to seq 4"),
        "{said}"
    );

    std::fs::remove_dir(&blocker).unwrap();
    let third = server
        .call_tool("set_tenant_secret", set("user.anchor-c"))
        .await;
    assert!(!result_is_error(&third), "{third}");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("cannot rewrite its anchor file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("can be written again; the chain continues"),
        "{stderr}"
    );

    let summary: Vec<(String, String)> = records(&log)
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                format!(
                    "{}{}",
                    r["outcome"].as_str().unwrap(),
                    r["rule"]
                        .as_str()
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default()
                ),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("user.anchor-a", "attempt"),
        ("user.anchor-a", "ok"),
        ("user.anchor-b", "attempt"),
        ("user.anchor-b", "refused audit_required"),
        ("user.anchor-c", "attempt"),
        ("user.anchor-c", "ok"),
    ]
    .iter()
    .map(|(k, o)| ((*k).to_owned(), (*o).to_owned()))
    .collect();
    assert_eq!(summary, want);
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("intact: 6 record(s), last seq 6"), "{said}");
}

/// A real log file that stops taking writes mid-run (the file size limit,
/// RLIMIT_FSIZE, reached partway through a record): the change whose
/// write-ahead record was written goes through, and since its outcome
/// cannot be recorded, its result and stderr say so; the record cut off
/// mid-line is cut back, so the chain still verifies; the next change is
/// refused and sends nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn a_required_log_that_fills_mid_run_records_first_and_says_what_it_missed() {
    /// Room for one record of about 300 bytes, not for two.
    const LIMIT: u64 = 450;
    let dir = Dir::new("fills");
    let log = dir.join("audit.log");
    let args = [
        "--sandbox",
        "--audit-log",
        log.to_str().unwrap(),
        "--audit-required",
    ];
    let mut server = StdioServer::spawn_with(&args, &[], |cmd| {
        // SAFETY: between fork and exec only async-signal-safe calls:
        // signal(2) and setrlimit(2). An ignored SIGXFSZ makes a write past
        // the limit fail with EFBIG instead of killing the process.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                rlimit::setrlimit(rlimit::Resource::FSIZE, LIMIT, LIMIT)
            });
        }
    });
    server.initialize().await;
    let first = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.fills-a", "value": CANARY}),
        )
        .await;
    assert!(!result_is_error(&first), "{first}");
    assert_eq!(first["result"]["structuredContent"]["outcome"], "created");
    let said = result_text(&first);
    assert!(
        said.contains("Note: this call ran, but its outcome could not be written to the audit log"),
        "{said}"
    );
    assert!(said.contains("do not repeat the call"), "{said}");

    let second = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.fills-b", "value": CANARY}),
        )
        .await;
    assert!(result_is_error(&second), "{second}");
    assert!(
        result_text(&second)
            .contains("the audit log cannot be written now, so nothing was changed"),
        "{second}"
    );
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    let listed = list["result"]["structuredContent"]["secrets"].to_string();
    assert!(listed.contains("user.fills-a"), "{listed}");
    assert!(!listed.contains("user.fills-b"), "{listed}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(
            "set_tenant_secret on `user.fills-a` (request 2) ran, but its outcome could not be recorded"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("cannot append to it"), "{stderr}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));

    // What is left is whole: the attempt of the first change, anchored.
    let recs = records(&log);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["key"], "user.fills-a");
    assert_eq!(recs[0]["outcome"], "attempt");
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("intact: 1 record(s)"), "{said}");
    assert!(said.contains("matches the anchor"), "{said}");
}

/// A second run on the same log continues its chain from the last line./// A second run on the same log continues its chain from the last line.
#[tokio::test]
async fn a_restart_continues_the_chain() {
    let dir = Dir::new("restart");
    let log = dir.join("audit.log");
    write_keys(&log, &["user.s-a", "user.s-b"]).await;
    write_keys(&log, &["user.s-c"]).await;
    let raw = lines(&log);
    let recs = records(&log);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[2]["seq"], 3);
    assert_eq!(recs[2]["prev"], json!(sha256_hex(&raw[1])));
    assert_eq!(recs[2]["key"], "user.s-c");
    let (code, said) = verify(&[log.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("3 record(s)"), "{said}");
}

/// With 2 changes a minute, the third is refused with the seconds to wait,
/// nothing is written, and the refusal is recorded; deletes have their own
/// lower limit.
#[tokio::test]
async fn the_third_change_of_two_a_minute_is_refused_with_a_retry_time() {
    let dir = Dir::new("limits");
    let log = dir.join("audit.log");
    let mut server = server(&[
        "--audit-log",
        log.to_str().unwrap(),
        "--max-writes-per-minute",
        "2",
        "--max-deletes-per-minute",
        "1",
    ])
    .await;
    for key in ["user.l-a", "user.l-b"] {
        let set = server
            .call_tool("set_tenant_secret", json!({"key": key, "value": CANARY}))
            .await;
        assert!(!result_is_error(&set), "{set}");
    }
    let third = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.l-c", "value": CANARY}),
        )
        .await;
    assert!(result_is_error(&third), "{third}");
    let said = result_text(&third);
    assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
    assert!(said.contains("2 changes per minute"), "{said}");
    let wait: u64 = said
        .split("Retry after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry time in {said}"));
    assert!((1..=60).contains(&wait), "{said}");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert!(
        !list["result"]["structuredContent"]
            .to_string()
            .contains("user.l-c")
    );
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");

    let recs = records(&log);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[2]["outcome"], "refused");
    assert_eq!(recs[2]["rule"], "max_writes_per_minute");
    assert_eq!(recs[2]["key"], "user.l-c");

    let mut server = server_with_deletes().await;
    let first = server
        .call_tool(
            "delete_tenant_secret",
            json!({"key": "user.example-api-key"}),
        )
        .await;
    assert!(!result_is_error(&first), "{first}");
    let second = server
        .call_tool(
            "delete_tenant_secret",
            json!({"key": "user.gitcred.example-github-token"}),
        )
        .await;
    assert!(result_is_error(&second), "{second}");
    let said = result_text(&second);
    assert!(said.contains("allows 1 delete per minute,"), "{said}");
    assert!(said.contains("Retry after "), "{said}");
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.l-d", "value": CANARY}),
        )
        .await;
    assert!(!result_is_error(&set), "{set}");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
}

async fn server_with_deletes() -> StdioServer {
    server(&["--max-deletes-per-minute", "1"]).await
}

/// Over Streamable HTTP the record names that transport and the session;
/// the canary is not in the log.
#[tokio::test]
async fn streamable_http_records_its_transport_and_session() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = Dir::new("http");
    let log = dir.join("audit.log");
    let emu = support::seeded_emulator().await;
    let server =
        support::http::Server::start(&emu, &["--audit-log", log.to_str().unwrap()], None).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")),
    );
    let peer = tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .expect("the client connects in time")
        .expect("the client connects");
    let arguments = json!({"key": "user.http-a", "value": CANARY});
    let params = CallToolRequestParams::new("set_tenant_secret")
        .with_arguments(arguments.as_object().unwrap().clone());
    let result = tokio::time::timeout(WAIT, peer.call_tool(params))
        .await
        .expect("the call answers in time")
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let _ = peer.cancel().await;

    let recs = records(&log);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["transport"], "streamable-http");
    assert!(
        recs[0]["session"].as_str().is_some_and(|s| !s.is_empty()),
        "{}",
        recs[0]
    );
    assert_eq!(recs[0]["outcome"], "ok");
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(!written.contains(CANARY) && !written.contains(support::OSC_TOKEN));
    assert!(!server.log().contains(CANARY));
}
