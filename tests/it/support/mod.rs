//! The integration tests' one harness: the emulator, in-process clients for
//! it, the built binary (over stdio in [`stdio`], over HTTP in [`http`]),
//! external clients, and the leak check.

pub mod docs;
pub mod haproxy;
pub mod http;
pub mod issuer;
pub mod logs;
pub mod page;
pub mod provider;
pub mod python;
pub mod redis;
pub mod stdio;

pub use stdio::StdioServer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use osc_secrets_mcp::emulator::{Emulator, EmulatorOptions, Fault};
use osc_secrets_mcp::osc::{OscClient, OscConfig, RetryPolicy};
use osc_secrets_mcp::server::SecretsServer;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::process::Command;

/// The built binary. Spawn it with [`binary`]; the path is for what execs
/// it (a shell, an external client).
pub const BIN: &str = env!("CARGO_BIN_EXE_osc-secrets-mcp");

/// The OSC token the emulator accepts and the servers under test send.
pub const OSC_TOKEN: &str = "osc-pat-tests-eyJhbGciOiJIUzI1NiJ9.e30.sig";
/// The bearer token HTTP clients send to a server under test.
pub const MCP_TOKEN: &str = "mcp-client-token-http-tests-4b1d0c9a7e";
/// A value tests write; it must never come back.
pub const CANARY: &str = "canary-value-7f3c9d1e-must-never-be-printed";
/// What no client and no operator's log may ever see.
pub const SECRETS: [&str; 3] = [OSC_TOKEN, MCP_TOKEN, CANARY];
/// The protocol version the tests' own JSON-RPC speaks.
pub const PROTOCOL: &str = "2025-06-18";

/// Bound on every wait for a child process or a server (an answer, an exit,
/// the end of an output); never a sleep to let it get ready.
pub const WAIT: Duration = Duration::from_secs(30);

/// An empty emulator that accepts [`OSC_TOKEN`].
pub async fn emulator() -> Emulator {
    emulator_with(EmulatorOptions {
        token: Some(SecretString::from(OSC_TOKEN)),
        ..EmulatorOptions::default()
    })
    .await
}

/// An emulator that accepts [`OSC_TOKEN`], holding its seed secrets.
pub async fn seeded_emulator() -> Emulator {
    emulator_with(EmulatorOptions {
        token: Some(SecretString::from(OSC_TOKEN)),
        seed: true,
        ..EmulatorOptions::default()
    })
    .await
}

/// Fails naming `what` and the lines that hold any of `secrets`.
pub fn assert_no_leak(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        let leaked: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "{what} holds {secret:?}: {leaked:#?}");
    }
}

pub async fn emulator_with(opts: EmulatorOptions) -> Emulator {
    Emulator::start("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .expect("emulator starts")
}

/// Fast retries so retry paths run in milliseconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(2),
    }
}

/// An OSC client for `emu`, patient enough that no answer on loopback can
/// time out however loaded the machine (timeout tests build their own).
pub fn client_for(emu: &Emulator, token: &str, retry: RetryPolicy) -> OscClient {
    OscClient::new(OscConfig {
        base_url: emu.base_url(),
        token: SecretString::from(token.to_owned()),
        request_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(1),
        retry,
    })
    .expect("client builds")
}

/// A real rmcp client talking to the handler in-process over a duplex pipe.
pub async fn connect(emu: &Emulator) -> RunningService<RoleClient, ()> {
    connect_with(client_for(emu, OSC_TOKEN, fast_retry())).await
}

/// A client whose server has an OSC client for a port nothing listens on
/// (port 9): for calls that must never reach OSC.
pub async fn connect_offline() -> RunningService<RoleClient, ()> {
    let osc = OscClient::new(OscConfig {
        base_url: "http://127.0.0.1:9".to_owned(),
        token: SecretString::from(OSC_TOKEN),
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        retry: RetryPolicy::default(),
    })
    .expect("client builds");
    connect_with(osc).await
}

pub async fn connect_with(osc: OscClient) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = SecretsServer::new(Arc::new(osc));
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.expect("client initializes")
}

pub async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    let Value::Object(map) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
        .await
        .expect("the call is routed")
}

/// A tool result's structured content.
pub fn structured(result: &CallToolResult) -> Value {
    result
        .structured_content
        .clone()
        .expect("a structured result")
}

/// The value the emulator holds for the tenant secret `key`.
pub fn stored(emu: &Emulator, key: &str) -> Option<String> {
    emu.tenant_value(key).map(|v| v.expose_secret().to_owned())
}

/// The text of a tool result's content blocks.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// The built binary, with none of the settings (`OSC_*`, `MCP_*`) of the
/// developer's shell: only what the test sets, on the child alone.
pub fn binary() -> Command {
    let mut cmd = Command::new(BIN);
    clear_settings(&mut cmd);
    cmd
}

/// Removes the developer's `OSC_*` and `MCP_*` settings from a child's
/// environment, and gives it a state home of its own (a fresh, empty
/// directory), so that no test reads or writes the developer's ledger or
/// another test's.
pub fn clear_settings(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("OSC_") || name.starts_with("MCP_") {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.env("XDG_STATE_HOME", fresh_state_home());
}

/// A directory no other child has been given.
pub fn fresh_state_home() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("state-homes")
        .join(format!("{}-{n}", std::process::id()))
}

/// Sends SIGTERM to the process `pid`.
pub fn sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A fault on every `method` request answering `status`, until cleared;
/// the rest of [`Fault`] is set with struct update.
pub fn fault(method: &str, status: u16) -> Fault {
    Fault {
        method: Some(method.to_owned()),
        status: Some(status),
        ..Fault::default()
    }
}

/// The external client named by `var`. The tests that need one are
/// `#[ignore]`d, so they run only when asked for (`--include-ignored`, which
/// `scripts/test` passes when `OSC_MCP_INCLUDE_IGNORED=1`); asked for and
/// missing, they fail rather than pass without having run.
pub fn external(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!(
            "{var} is not set, so {what} cannot run. .ci/run installs it and exports {var}; \
             or run plain `cargo test`, which reports this test as ignored"
        ),
    }
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A fresh directory under the target directory, removed first if left over.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The records of the audit log at `path`, one JSON object a line.
pub fn audit_records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs the Node.js script `script` (a path under the repository) with
/// `node` and one JSON argument, bounded to two minutes; it must succeed.
/// Returns the JSON line it printed and all of its output (for leak checks).
pub async fn run_node_script(
    node: &str,
    script: &str,
    config: &serde_json::Value,
) -> (serde_json::Value, String) {
    let mut command = tokio::process::Command::new(node);
    command
        .arg(repo_path(script))
        .arg(config.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the script ends in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n{stderr}\n{stdout}"
    );
    (serde_json::from_str(stdout.trim()).unwrap(), stdout)
}
