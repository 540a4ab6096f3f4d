//! The ledger of materializations, in the embedded store: rotation without
//! targets, the resource template, delete naming the copies, a restart, two
//! processes on one state directory, and a store that cannot be used.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::stdio::{result_is_error, result_text};
use crate::support::{self, OSC_TOKEN, StdioServer, emulator, scratch_dir};

const CANARY: &str = "ledger-canary-value-4f1d0c";

fn spawn(emu_url: &str, state_dir: &Path) -> StdioServer {
    StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", emu_url),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
            ("OSC_MCP_STATE_DIR", state_dir.to_str().unwrap()),
            ("OSC_MAX_RETRIES", "0"),
        ],
    )
}

fn structured(answer: &Value) -> &Value {
    &answer["result"]["structuredContent"]
}

async fn materialize(server: &mut StdioServer, key: &str, service: &str, secret: &str) {
    let answer = server
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": key, "serviceId": service, "secretName": secret}),
        )
        .await;
    assert!(!result_is_error(&answer), "{answer}");
}

async fn read_placements(server: &mut StdioServer, key: &str) -> Value {
    let uri = format!("osc://tenant-secrets/{key}/materializations");
    let answer = server.request("resources/read", json!({"uri": uri})).await;
    let text = answer["result"]["contents"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    serde_json::from_str(text).unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Materialize twice, rotate with no targets: both targets get the new
/// value, the result says they came from the ledger, the resource lists
/// them with who and when, and delete names them. The state files hold
/// neither the value nor the token.
#[tokio::test]
async fn rotation_without_targets_reaches_every_service_the_ledger_knows() {
    let emu = emulator().await;
    emu.insert_tenant_secret("user.db", CANARY);
    let state = scratch_dir("ledger-rotate");
    let mut server = spawn(&emu.base_url(), &state);
    server.initialize().await;

    materialize(&mut server, "user.db", "eyevinn-app-a", "dbpw").await;
    materialize(&mut server, "user.db", "eyevinn-app-b", "password").await;
    materialize(&mut server, "user.db", "eyevinn-app-c", "dbpw").await;
    // Another key into app-c's secret replaces user.db's entry there.
    emu.insert_tenant_secret("user.other", CANARY);
    materialize(&mut server, "user.other", "eyevinn-app-c", "dbpw").await;

    let listed = read_placements(&mut server, "user.db").await;
    assert_eq!(listed["key"], "user.db");
    let entries = listed["materializations"].as_array().unwrap();
    let targets: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["serviceId"].as_str().unwrap(),
                e["secretName"].as_str().unwrap(),
                e["by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("eyevinn-app-a", "dbpw", "test"),
            ("eyevinn-app-b", "password", "test")
        ]
    );
    assert!(
        entries[0]["materializedAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        listed["note"]
            .as_str()
            .unwrap()
            .contains("knows only what this server did"),
        "{listed}"
    );

    let rotated = server
        .call_tool("rotate_tenant_secret", json!({"key": "user.db"}))
        .await;
    assert!(!result_is_error(&rotated), "{rotated}");
    let out = structured(&rotated);
    let services: Vec<&str> = out["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["serviceId"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["eyevinn-app-a", "eyevinn-app-b"]);
    assert!(
        out["nextStep"]
            .as_str()
            .unwrap()
            .starts_with("The targets came from this server's ledger"),
        "{out}"
    );
    let new_value = support::stored(&emu, "user.db").unwrap();
    assert_ne!(new_value, CANARY);
    use secrecy::ExposeSecret;
    for (service, secret) in [("eyevinn-app-a", "dbpw"), ("eyevinn-app-b", "password")] {
        let copy = emu.service_secret(service, secret).unwrap();
        assert_eq!(copy.expose_secret(), new_value, "{service}");
    }
    // app-c holds user.other now; the rotation did not touch it.
    assert_eq!(
        emu.service_secret("eyevinn-app-c", "dbpw")
            .unwrap()
            .expose_secret(),
        CANARY
    );

    let deleted = server
        .call_tool("delete_tenant_secret", json!({"key": "user.db"}))
        .await;
    assert!(!result_is_error(&deleted), "{deleted}");
    let note = structured(&deleted)["note"].as_str().unwrap().to_owned();
    assert!(
        note.contains("`eyevinn-app-a` secret `dbpw`")
            && note.contains("`eyevinn-app-b` secret `password`")
            && !note.contains("eyevinn-app-c"),
        "{note}"
    );

    let (_, stdout, stderr) = server.finish().await;
    support::assert_no_leak("stdout", &stdout, &[CANARY, &new_value, OSC_TOKEN]);
    support::assert_no_leak("stderr", &stderr, &[CANARY, &new_value, OSC_TOKEN]);
    let files = files_under(&state);
    assert!(
        files.iter().any(|f| f.ends_with("state.sqlite3")),
        "{files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        support::assert_no_leak(
            &file.display().to_string(),
            &text,
            &[CANARY, &new_value, OSC_TOKEN],
        );
    }
}

/// The ledger outlives the process; a rotation of an unknown key or of a
/// key the ledger knows nothing of creates nothing and says what to do.
#[tokio::test]
async fn the_ledger_survives_a_restart_and_rotation_creates_nothing_unasked() {
    let emu = emulator().await;
    emu.insert_tenant_secret("user.api", CANARY);
    let state = scratch_dir("ledger-restart");
    {
        let mut first = spawn(&emu.base_url(), &state);
        first.initialize().await;
        materialize(&mut first, "user.api", "eyevinn-web", "apikey").await;
        first.finish().await;
    }
    let mut second = spawn(&emu.base_url(), &state);
    second.initialize().await;
    let rotated = second
        .call_tool("rotate_tenant_secret", json!({"key": "user.api"}))
        .await;
    assert!(!result_is_error(&rotated), "{rotated}");
    assert_eq!(
        structured(&rotated)["targets"][0]["serviceId"],
        "eyevinn-web"
    );

    // The ledger knows nothing of user.fresh, which does exist.
    emu.insert_tenant_secret("user.fresh", CANARY);
    let refused = second
        .call_tool("rotate_tenant_secret", json!({"key": "user.fresh"}))
        .await;
    assert!(result_is_error(&refused));
    let said = result_text(&refused);
    assert!(said.contains("ledger knows of no service"), "{said}");
    assert!(said.contains("\"targets\""), "{said}");

    // A key that does not exist is not created by a rotation...
    let target = json!([{"serviceId": "eyevinn-web", "secretName": "other"}]);
    let refused = second
        .call_tool(
            "rotate_tenant_secret",
            json!({"key": "user.typo", "targets": target}),
        )
        .await;
    assert!(result_is_error(&refused));
    let said = result_text(&refused);
    assert!(said.contains("`user.typo` does not exist"), "{said}");
    assert!(said.contains("\"create\": true"), "{said}");
    assert!(support::stored(&emu, "user.typo").is_none());
    assert!(emu.service_secret("eyevinn-web", "other").is_none());
    // ...unless the call says so.
    let created = second
        .call_tool(
            "rotate_tenant_secret",
            json!({"key": "user.typo", "targets": target, "create": true}),
        )
        .await;
    assert!(!result_is_error(&created), "{created}");
    assert!(support::stored(&emu, "user.typo").is_some());
    let next = structured(&created)["nextStep"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!next.contains("ledger"), "{next}");
    second.finish().await;
}

/// Two servers on one state directory at once, as two stdio clients start
/// them: what one records, the other reads.
#[tokio::test]
async fn two_processes_share_one_state_directory() {
    let emu = emulator().await;
    emu.insert_tenant_secret("user.shared", CANARY);
    let state = scratch_dir("ledger-shared");
    let mut one = spawn(&emu.base_url(), &state);
    let mut two = spawn(&emu.base_url(), &state);
    one.initialize().await;
    two.initialize().await;
    materialize(&mut one, "user.shared", "eyevinn-one", "secret").await;
    materialize(&mut two, "user.shared", "eyevinn-two", "secret").await;
    let seen = read_placements(&mut one, "user.shared").await;
    assert_eq!(
        seen["materializations"].as_array().unwrap().len(),
        2,
        "{seen}"
    );
    let rotated = two
        .call_tool("rotate_tenant_secret", json!({"key": "user.shared"}))
        .await;
    assert!(!result_is_error(&rotated), "{rotated}");
    assert_eq!(structured(&rotated)["targets"].as_array().unwrap().len(), 2);
    let (ok_one, _, err_one) = one.finish().await;
    let (ok_two, _, err_two) = two.finish().await;
    assert!(ok_one && ok_two, "{err_one}\n{err_two}");
}

/// A state file that is not a database stops the server at start with the
/// reason and what to do, over stdio and HTTP (SQLite itself is opened on
/// first use; the start-up check reads the file's header).
#[tokio::test]
async fn a_damaged_state_file_is_a_clear_error_at_start() {
    let emu = emulator().await;
    let state = scratch_dir("ledger-damaged");
    std::fs::write(
        state.join("state.sqlite3"),
        "not a database: a text file long enough for SQLite to read its header and refuse it",
    )
    .unwrap();
    let mut server = spawn(&emu.base_url(), &state);
    server
        .send(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}}),
        )
        .await;
    let (ok, _, stderr) = server.finish().await;
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("cannot use the state directory")
            && stderr.contains("is not a state store this server can read")
            && stderr.contains("--state-dir"),
        "{stderr}"
    );

    let cmd = support::http::command(&emu, &[], Some(&"t".repeat(32)));
    let mut cmd = cmd;
    cmd.env("OSC_MCP_STATE_DIR", &state);
    let (status, log) = support::http::run_to_exit(cmd).await;
    assert!(!status.success());
    assert!(
        log.contains("is not a state store this server can read"),
        "{log}"
    );
    assert!(!log.contains("listening on"), "{log}");
}

/// `new-state-key` prints a key; a key file that is not one is refused at
/// start without quoting it; the sandbox takes no state settings.
#[tokio::test]
async fn state_keys_and_the_sandbox() {
    let out = std::process::Command::new(support::BIN)
        .arg("new-state-key")
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let line = line.trim_end();
    assert_eq!(line.len(), 64, "{line}");
    assert!(line.bytes().all(|b| b.is_ascii_hexdigit()));

    let dir = scratch_dir("ledger-keys");
    let bad = dir.join("bad.key");
    let pasted = "ghp_thisLooksLikeSomeoneElsesToken0123456789";
    std::fs::write(&bad, format!("{line}\n{pasted}\n")).unwrap();
    let emu = emulator().await;
    let server = StdioServer::spawn(
        &["--state-key-file", bad.to_str().unwrap()],
        &[
            ("OSC_API_URL", &emu.base_url()),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
        ],
    );
    let (ok, _, stderr) = server.finish().await;
    assert!(!ok);
    assert!(stderr.contains("line 2 is not a key"), "{stderr}");
    assert!(stderr.contains("new-state-key"), "{stderr}");
    assert!(!stderr.contains(pasted), "{stderr}");

    let server = StdioServer::spawn(&["--sandbox", "--state-dir", dir.to_str().unwrap()], &[]);
    let (ok, _, stderr) = server.finish().await;
    assert!(!ok);
    assert!(
        stderr.contains("--state-dir (OSC_MCP_STATE_DIR)"),
        "{stderr}"
    );
}
