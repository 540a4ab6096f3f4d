//! Shared by the integration tests: an emulator per test, clients for it, and
//! a line-level JSON-RPC driver for the spawned binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod http;

use std::process::Stdio;
use std::sync::Arc;
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

pub const TOKEN: &str = "test-pat-eyJ0eXAiOiJKV1QifQ.payload.signature";

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

pub fn client_for(emu: &Emulator, token: &str, retry: RetryPolicy) -> OscClient {
    OscClient::new(OscConfig {
        base_url: emu.base_url(),
        token: SecretString::from(token.to_owned()),
        request_timeout: Duration::from_secs(2),
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

/// The built binary, spoken to over stdio one JSON-RPC line at a time.
pub struct StdioServer {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// Every byte read from stdout, for leak checks.
    pub transcript: String,
}

impl StdioServer {
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> StdioServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_osc-secrets-mcp"));
        cmd.args(args)
            .env_remove("OSC_ACCESS_TOKEN")
            .env_remove("OSC_PAT_JWT")
            .env_remove("OSC_API_URL")
            .env_remove("OSC_MCP_LOG")
            .env_remove("MCP_TRANSPORT")
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
        StdioServer {
            child,
            stdin,
            stdout,
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
            let n = tokio::time::timeout(Duration::from_secs(20), self.stdout.read_line(&mut line))
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

    /// Closes stdin, waits for exit, and returns (exit success, rest of stdout, all of stderr).
    pub async fn finish(mut self) -> (bool, String, String) {
        drop(self.stdin);
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).await.unwrap();
        self.transcript.push_str(&rest);
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut stderr).await.unwrap();
        }
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server exits when stdin closes")
            .unwrap();
        (status.success(), self.transcript, stderr)
    }
}
