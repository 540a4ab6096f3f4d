//! Shared by the integration tests: an emulator per test, clients for it, and
//! a line-level JSON-RPC driver for the spawned binary.

pub mod docs;
pub mod http;
pub mod logs;
pub mod page;

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osc_secrets_mcp::emulator::{Emulator, EmulatorOptions};
use osc_secrets_mcp::osc::{OscClient, OscConfig, RetryPolicy};
use osc_secrets_mcp::server::SecretsServer;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-pat-eyJ0eXAiOiJKV1QifQ.payload.signature";

/// Bound on every wait for a child process: an answer, its exit, the end of
/// its output.
pub const CHILD_WAIT: Duration = Duration::from_secs(30);

pub async fn emulator() -> Emulator {
    emulator_with(EmulatorOptions {
        token: Some(SecretString::from(TOKEN)),
        ..EmulatorOptions::default()
    })
    .await
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
    connect_with(client_for(emu, TOKEN, fast_retry())).await
}

/// A client whose server has an OSC client for a port nothing listens on
/// (port 9): for calls that must never reach OSC.
pub async fn connect_offline() -> RunningService<RoleClient, ()> {
    let osc = OscClient::new(OscConfig {
        base_url: "http://127.0.0.1:9".to_owned(),
        token: SecretString::from(TOKEN),
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

/// The text of a tool result's first content block.
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
/// developer's shell: only what the test sets.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_osc-secrets-mcp"));
    clear_settings(&mut cmd);
    cmd
}

/// Removes the developer's `OSC_*` and `MCP_*` settings from a child's environment.
pub fn clear_settings(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("OSC_") || name.starts_with("MCP_") {
            cmd.env_remove(name.as_ref());
        }
    }
}

/// The built binary, spoken to over stdio one JSON-RPC line at a time. Its
/// stderr is drained as it is written (a full pipe would stall the server).
pub struct StdioServer {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: JoinHandle<()>,
    next_id: u64,
    /// Every byte read from stdout, for leak checks.
    pub transcript: String,
}

impl StdioServer {
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> StdioServer {
        let mut cmd = binary();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("binary spawns");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut err = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = tokio::spawn(async move {
            let mut chunk = vec![0u8; 8192];
            while let Ok(n) = err.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        StdioServer {
            child,
            stdin,
            stdout,
            stderr,
            stderr_reader,
            next_id: 1,
            transcript: String::new(),
        }
    }

    pub async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Sends a request and returns its response, collecting any notification
    /// that arrives first into the transcript.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(CHILD_WAIT, self.stdout.read_line(&mut line))
                .await
                .expect("the server answers")
                .unwrap();
            assert!(n > 0, "the server closed stdout");
            self.transcript.push_str(&line);
            let message: Value = serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    pub async fn initialize(&mut self) -> Value {
        let answer = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"}
                }),
            )
            .await;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        answer
    }

    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// Closes stdin, waits (bounded) for exit and the end of both outputs,
    /// and returns (exit success, all of stdout, all of stderr).
    pub async fn finish(self) -> (bool, String, String) {
        let (status, stdout, stderr) = self.finish_with_status().await;
        (status.success(), stdout, stderr)
    }

    /// [`StdioServer::finish`] with the exit status itself.
    pub async fn finish_with_status(mut self) -> (ExitStatus, String, String) {
        drop(self.stdin);
        let mut rest = String::new();
        tokio::time::timeout(CHILD_WAIT, self.stdout.read_to_string(&mut rest))
            .await
            .expect("the server closes stdout")
            .unwrap();
        self.transcript.push_str(&rest);
        let status = tokio::time::timeout(CHILD_WAIT, self.child.wait())
            .await
            .expect("the server exits when stdin closes")
            .unwrap();
        tokio::time::timeout(CHILD_WAIT, self.stderr_reader)
            .await
            .expect("the server closes stderr")
            .unwrap();
        let stderr = self.stderr.lock().unwrap().clone();
        (status, self.transcript, stderr)
    }
}
