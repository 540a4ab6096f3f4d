//! The built binary served with `--transport http`, spawned as a child
//! process against an in-test OSC emulator, and the raw HTTP and JSON-RPC
//! helpers the HTTP tests share.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osc_secrets_mcp::emulator::Emulator;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{BIN, OSC_TOKEN, PROTOCOL, WAIT, binary, clear_settings, sigterm};

// ---------------------------------------------------------------------------
// Harness

/// The binary with `--transport http` on an ephemeral loopback port, the
/// emulator as its OSC API and `token` (if any) as its own bearer token.
/// Only the child's environment is set; settings inherited from the
/// developer's shell are removed.
pub fn command(emulator: &Emulator, args: &[&str], token: Option<&str>) -> Command {
    serving(binary(), emulator, args, token)
}

/// `cmd` (the binary, or a shell that execs it) set up as [`command`] says.
fn serving(mut cmd: Command, emulator: &Emulator, args: &[&str], token: Option<&str>) -> Command {
    cmd.args(["--transport", "http"]);
    if !args.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.args(args)
        .env("OSC_API_URL", emulator.base_url())
        .env("OSC_ACCESS_TOKEN", OSC_TOKEN)
        .env("OSC_MCP_LOG", "debug")
        .env("OSC_MAX_RETRIES", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        cmd.env("MCP_AUTH_TOKEN", token);
    }
    cmd
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Ends when the child's stderr closes.
    reader: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Spawns the server and waits for the `listening on http://ADDR` line.
    pub async fn start(emulator: &Emulator, args: &[&str], token: Option<&str>) -> Server {
        Self::start_command(command(emulator, args, token)).await
    }

    pub async fn start_command(cmd: Command) -> Server {
        Self::try_start_command(cmd)
            .await
            .unwrap_or_else(|log| panic!("the server did not start; its stderr:\n{log}"))
    }

    /// As [`Self::start_command`], but a server that does not start is
    /// its stderr, for a caller that can try again (a port chosen ahead
    /// and taken meanwhile).
    pub async fn try_start_command(mut cmd: Command) -> Result<Server, String> {
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        let reader = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1)
                    && let Some(tx) = ready.take()
                {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match tokio::time::timeout(WAIT, ready_rx).await {
            Ok(Ok(addr)) => addr.parse().unwrap(),
            _ => return Err(log.lock().unwrap().clone()),
        };
        Ok(Server {
            child,
            addr,
            log,
            reader,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits, bounded, until the server's stderr holds `text`. Log lines are
    /// written by a background thread, so one may land after the event that
    /// caused it was seen over the network.
    pub async fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the server never logged {text:?}; its stderr:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
        sigterm(self.pid());
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the server exits after SIGTERM")
            .unwrap();
        // The stderr reader ends at EOF, right after the exit.
        let _ = tokio::time::timeout(WAIT, &mut self.reader).await;
        let log = self.log();
        (exit, log)
    }
}

/// Runs the binary to its exit (it is expected to refuse to start).
pub async fn run_to_exit(mut cmd: Command) -> (ExitStatus, String) {
    let output = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("the server exits")
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

pub fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

pub fn initialize_request() -> Value {
    rpc(
        1,
        "initialize",
        json!({
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": { "name": "http-tests", "version": "1" }
        }),
    )
}

pub fn call(id: u64, tool: &str, arguments: Value) -> Value {
    rpc(
        id,
        "tools/call",
        json!({ "name": tool, "arguments": arguments }),
    )
}

/// A POST to /mcp as a Streamable HTTP client sends it.
pub fn post_mcp(
    server: &Server,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    post_mcp_at(server, "/mcp", token, session, body)
}

pub fn post_mcp_at(
    server: &Server,
    path: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = http()
        .post(server.url(path))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", PROTOCOL)
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request
}

/// Opens a legacy SSE stream (GET /sse) and reads its `endpoint` event.
/// Returns the stream, what was read past that event, and the endpoint.
pub async fn open_legacy_sse(
    server: &Server,
    token: Option<&str>,
) -> (reqwest::Response, String, String) {
    let mut request = http()
        .get(server.url("/sse"))
        .header("accept", "text/event-stream");
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    let mut stream = request.send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut buffer = String::new();
    let (event, endpoint) = read_events(&mut stream, &mut buffer, 1).await.remove(0);
    assert_eq!(event, "endpoint", "{endpoint}");
    (stream, buffer, endpoint)
}

/// A POST of `body` to a legacy SSE session's endpoint.
pub fn post_legacy(
    server: &Server,
    token: Option<&str>,
    endpoint: &str,
    body: String,
) -> reqwest::RequestBuilder {
    let mut request = http()
        .post(server.url(endpoint))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    request
}

/// The JSON-RPC message in a response body, whether sent as JSON or as SSE.
pub fn message_in(body: &str) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        return value;
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .find_map(|data| serde_json::from_str::<Value>(data).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC message in:\n{body}"))
}

/// Opens a Streamable HTTP session (initialize + initialized) and returns its id.
pub async fn open_session(server: &Server, token: Option<&str>) -> String {
    let response = post_mcp(server, token, None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let init = message_in(&response.text().await.unwrap());
    assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post_mcp(server, token, Some(&session), &initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    session
}

pub async fn error_of(response: reqwest::Response) -> (StatusCode, HeaderMap, Value, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, body, text)
}

/// Waits, bounded, until the emulator has seen `count` contract requests.
pub async fn emulator_saw(emulator: &Emulator, count: usize) {
    let deadline = Instant::now() + WAIT;
    while emulator.requests().len() < count {
        assert!(
            Instant::now() < deadline,
            "the emulator never saw the request"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads SSE events (`event`, `data`) from a streaming response until `want` have arrived.
pub async fn read_events(
    response: &mut reqwest::Response,
    buffer: &mut String,
    want: usize,
) -> Vec<(String, String)> {
    let mut events = Vec::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = "message".to_owned();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if !data.is_empty() {
                events.push((event, data));
            }
            if events.len() == want {
                return events;
            }
        }
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await
            .expect("an SSE event arrives")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

// ---------------------------------------------------------------------------
// Abuse helpers (http_abuse)

/// Like [`command`], but the server runs under a limit of `open_files`
/// descriptors (`ulimit -n`, applied by `sh` before it execs the binary).
pub fn command_with_open_files(
    emulator: &Emulator,
    args: &[&str],
    token: Option<&str>,
    open_files: u32,
) -> Command {
    let mut shell = Command::new("sh");
    clear_settings(&mut shell);
    shell
        .arg("-c")
        .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
        .arg(BIN);
    serving(shell, emulator, args, token)
}

/// Reads from a raw connection until the server closes it (EOF or reset),
/// returning what arrived; panics if it stays open longer than `bound`.
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream, bound: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {bound:?}; it sent:\n{}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
}
