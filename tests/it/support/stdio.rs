//! The built binary spoken to over stdio, one JSON-RPC line at a time.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

use super::{PROTOCOL, WAIT, binary};

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
        Self::spawn_with(args, env, |_| {})
    }

    /// [`StdioServer::spawn`], with `adjust` applied to the command first
    /// (limits for the child, say).
    pub fn spawn_with(
        args: &[&str],
        env: &[(&str, &str)],
        adjust: impl FnOnce(&mut tokio::process::Command),
    ) -> StdioServer {
        let mut cmd = binary();
        adjust(&mut cmd);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn_command(cmd)
    }

    /// `cmd` (the binary, or something that runs it) spoken to over its
    /// stdio.
    pub fn spawn_command(mut cmd: tokio::process::Command) -> StdioServer {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
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

    /// Writes `bytes` to the server's stdin as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next line the server writes to stdout, parsed as JSON.
    pub async fn next_message(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.stdout.read_line(&mut line))
            .await
            .expect("the server writes a line")
            .unwrap();
        assert!(n > 0, "the server closed stdout");
        self.transcript.push_str(&line);
        serde_json::from_str(&line).expect("stdout carries JSON-RPC only")
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
            let n = tokio::time::timeout(WAIT, self.stdout.read_line(&mut line))
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
                    "protocolVersion": PROTOCOL,
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
        tokio::time::timeout(WAIT, self.stdout.read_to_string(&mut rest))
            .await
            .expect("the server closes stdout")
            .unwrap();
        self.transcript.push_str(&rest);
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the server exits when stdin closes")
            .unwrap();
        tokio::time::timeout(WAIT, self.stderr_reader)
            .await
            .expect("the server closes stderr")
            .unwrap();
        let stderr = self.stderr.lock().unwrap().clone();
        (status, self.transcript, stderr)
    }
}

/// The text of the tool result in a JSON-RPC answer; fails if there is none.
pub fn result_text(answer: &Value) -> String {
    answer["result"]["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no tool result in {answer}"))
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the JSON-RPC answer is a tool result marked as an error.
pub fn result_is_error(answer: &Value) -> bool {
    answer["result"]["isError"] == json!(true)
}
