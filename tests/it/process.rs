//! The process and its configuration, tested on the built binary: stderr
//! that is closed, broken or never read; where the OSC token and API URL come
//! from and what is said about them; proxies; the sandbox's limits; `--listen`.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::http::{http, initialize_request, message_in, rpc};
use crate::support::{
    BIN, OSC_TOKEN, PROTOCOL, WAIT, binary, clear_settings, emulator, scratch_dir, sigterm,
};
use osc_secrets_mcp::emulator::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// Shaped like an OSC token so that any redaction by shape would also hide it:
/// the assertions must hold because nothing prints it, not because of a scrub.
const CANARY_TOKEN: &str = "canary-osc-token-5e1f0b7a2c94";

// ---------------------------------------------------------------------------
// Harness

/// What the child's stderr is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stderr {
    /// A pipe the test reads line by line.
    Read,
    /// A pipe the test holds open and never reads: it fills up.
    Unread,
    /// File descriptor 2 closed before the binary starts.
    Closed,
    /// A pipe whose read end is gone: every write fails with EPIPE.
    Broken,
}

/// The binary with `args`, only `env` set among OSC_*, MCP_* and proxy
/// variables (the developer's shell is not inherited there).
fn command(args: &[&str], env: &[(&str, &str)], stderr: Stderr) -> Command {
    let mut cmd = if stderr == Stderr::Closed {
        // `Stdio::null()` is an open /dev/null, not a closed descriptor.
        let mut cmd = Command::new("sh");
        clear_settings(&mut cmd);
        cmd.args(["-c", r#"exec 2>&-; exec "$0" "$@""#, BIN]);
        cmd
    } else {
        binary()
    };
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        if name
            .to_string_lossy()
            .to_ascii_uppercase()
            .ends_with("_PROXY")
        {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    match stderr {
        Stderr::Read | Stderr::Unread => {
            cmd.stderr(Stdio::piped());
        }
        Stderr::Closed => {
            cmd.stderr(Stdio::null());
        }
        Stderr::Broken => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            cmd.stderr(writer);
        }
    }
    cmd
}

/// A spawned binary spoken to over stdio, its stderr collected line by line.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// Every byte read from stdout.
    transcript: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
    /// Held, never read, with [`Stderr::Unread`].
    _unread: Option<ChildStderr>,
}

impl Proc {
    fn spawn(args: &[&str], env: &[(&str, &str)], stderr: Stderr) -> Proc {
        let mut child = command(args, env, stderr).spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut reader = None;
        let mut unread = None;
        match stderr {
            Stderr::Read => {
                let pipe = child.stderr.take().unwrap();
                let sink = Arc::clone(&lines);
                reader = Some(tokio::spawn(async move {
                    let mut pipe = BufReader::new(pipe).lines();
                    while let Ok(Some(line)) = pipe.next_line().await {
                        sink.lock().unwrap().push(line);
                    }
                }));
            }
            Stderr::Unread => unread = child.stderr.take(),
            Stderr::Closed | Stderr::Broken => {}
        }
        Proc {
            child,
            stdin,
            stdout,
            next_id: 1,
            transcript: String::new(),
            lines,
            reader,
            _unread: unread,
        }
    }

    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits, bounded, for a stderr line holding `needle`, and returns it.
    async fn stderr_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no stderr line with {needle:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&rpc(id, method, params)).await;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.stdout.read_line(&mut line))
                .await
                .expect("the server answers in time")
                .unwrap();
            assert!(
                n > 0,
                "the server closed stdout; stderr:\n{}",
                self.stderr()
            );
            self.transcript.push_str(&line);
            let message: Value = serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).unwrap();
        line.push(b'\n');
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(&line).await.unwrap();
        stdin.flush().await.unwrap();
    }

    async fn initialize(&mut self) {
        let init = self
            .request("initialize", initialize_request()["params"].clone())
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }

    async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// Closes stdin (a stdio server then exits; an HTTP one gets SIGTERM)
    /// and waits, bounded, for the exit; returns it with stdout and stderr.
    async fn finish(mut self) -> (ExitStatus, String, String) {
        drop(self.stdin.take());
        let mut rest = String::new();
        let _ = tokio::time::timeout(WAIT, self.stdout.read_to_string(&mut rest)).await;
        self.transcript.push_str(&rest);
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the server exits in time")
            .unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(WAIT, reader).await;
        }
        let stderr = self.stderr();
        (status, self.transcript, stderr)
    }

    fn terminate(&self) {
        sigterm(self.child.id().expect("still running"));
    }
}

/// Runs the binary with stdin closed to its exit (bounded): for settings
/// it must refuse before serving.
async fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut cmd = command(args, env, Stderr::Read);
    cmd.stdin(Stdio::null());
    let output = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("the binary exits in time")
        .unwrap();
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A loopback port free a moment ago, for a server whose stderr (and so its
/// `listening on` line) the test cannot read. Every other server of this
/// process binds port 0, which the kernel serves from its ephemeral range
/// (32768 and up by default); this port is below it, so no test running in
/// parallel can take it between this check and the child's bind.
fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let offset = std::process::id() as usize * 7;
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (offset + n) % 12_000;
        let port = u16::try_from(port).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000")
}

/// Waits, bounded, until `/healthz` at `addr` answers 200.
async fn wait_healthy(addr: SocketAddr) {
    let client = http();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get(format!("http://{addr}/healthz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "{addr} never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens a Streamable HTTP session at `addr` and calls list_tenant_secrets
/// in it; returns the tool result.
async fn list_over_http(addr: SocketAddr) -> Value {
    let client = http();
    let post = |session: Option<&str>, body: &Value| {
        let mut request = client
            .post(format!("http://{addr}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", PROTOCOL)
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session.to_owned());
        }
        request
    };
    let response = post(None, &initialize_request()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.text().await.unwrap();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(Some(&session), &initialized).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = post(
        Some(&session),
        &rpc(
            2,
            "tools/call",
            json!({"name": "list_tenant_secrets", "arguments": {}}),
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    message_in(&response.text().await.unwrap())
}

/// The settings that point the binary at the in-test emulator.
fn osc_env(emu: &Emulator) -> Vec<(&'static str, String)> {
    vec![
        ("OSC_API_URL", emu.base_url()),
        ("OSC_ACCESS_TOKEN", OSC_TOKEN.to_owned()),
        ("OSC_MAX_RETRIES", "0".to_owned()),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn ok_result(answer: &Value) -> &Value {
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    &answer["result"]["structuredContent"]
}

/// A file under the target's scratch space, unique to this call.
fn scratch_file(name: &str, content: &[u8]) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = scratch_dir(&format!(
        "process-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

/// The address in a `... at http://ADDR ...` or `listening on http://ADDR` line.
fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches([',', ';', '.', ')'])
        .to_owned()
}

// ---------------------------------------------------------------------------
// Logging never blocks or kills serving

/// A few calls in the sandbox over stdio, logging at trace, then a clean exit.
async fn stdio_session_survives(stderr: Stderr) {
    let mut server = Proc::spawn(&["--sandbox", "--log-level", "trace"], &[], stderr);
    server.initialize().await;
    for _ in 0..3 {
        let list = server.call_tool("list_tenant_secrets", json!({})).await;
        assert!(ok_result(&list)["count"].as_u64().unwrap() >= 1, "{list}");
    }
    let refused = server
        .call_tool("delete_tenant_secret", json!({"key": "system.x"}))
        .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let (status, _, _) = server.finish().await;
    assert!(status.success(), "{status}");
}

/// The same over HTTP: the port is chosen here, since the `listening on`
/// line cannot be read.
async fn http_session_survives(stderr: Stderr) {
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        "--sandbox",
        "--transport",
        "http",
        "--listen",
        &listen,
        "--log-level",
        "trace",
    ];
    let server = Proc::spawn(&args, &[], stderr);
    let addr: SocketAddr = listen.parse().unwrap();
    wait_healthy(addr).await;
    for _ in 0..3 {
        let answer = list_over_http(addr).await;
        assert!(
            ok_result(&answer)["count"].as_u64().unwrap() >= 1,
            "{answer}"
        );
    }
    server.terminate();
    let (status, _, _) = server.finish().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn stdio_serves_with_stderr_closed() {
    stdio_session_survives(Stderr::Closed).await;
}

#[tokio::test]
async fn http_serves_with_stderr_closed() {
    http_session_survives(Stderr::Closed).await;
}

#[tokio::test]
async fn stdio_serves_with_a_broken_stderr_pipe() {
    stdio_session_survives(Stderr::Broken).await;
}

#[tokio::test]
async fn http_serves_with_a_broken_stderr_pipe() {
    http_session_survives(Stderr::Broken).await;
}

#[tokio::test]
async fn a_stderr_nobody_reads_never_stalls_the_protocol() {
    // At trace every call logs; a pipe holds 64 KiB. Thousands of calls
    // write several times that: a blocking logger stops answering after a
    // few hundred, a dropping one goes on.
    let mut server = Proc::spawn(&["--sandbox", "--log-level", "trace"], &[], Stderr::Unread);
    let calls = async {
        server.initialize().await;
        for i in 0..3000 {
            if i % 3 == 0 {
                let list = server.call_tool("list_tenant_secrets", json!({})).await;
                ok_result(&list);
            } else {
                let refused = server
                    .call_tool("delete_tenant_secret", json!({"key": "system.x"}))
                    .await;
                assert_eq!(refused["result"]["isError"], true, "{refused}");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), calls)
        .await
        .expect("3000 calls complete although nobody reads stderr");
    let (status, _, _) = server.finish().await;
    assert!(status.success(), "{status}");
}

// ---------------------------------------------------------------------------
// The OSC API URL

#[tokio::test]
async fn a_bad_api_url_is_named_never_quoted() {
    // Someone will paste the token where the URL goes, or into the URL.
    for url in [
        CANARY_TOKEN.to_owned(),
        format!("https://user:{CANARY_TOKEN}@deploy.svc.prod.osaas.io"),
        format!("https://{CANARY_TOKEN}@deploy.svc.prod.osaas.io"),
        format!("https://deploy.svc.prod.osaas.io/?token={CANARY_TOKEN}"),
    ] {
        let (status, stderr) = run_to_exit(
            &[],
            &[("OSC_API_URL", &url), ("OSC_ACCESS_TOKEN", OSC_TOKEN)],
        )
        .await;
        assert!(!status.success(), "{url}");
        assert!(stderr.contains("OSC_API_URL"), "{url}: {stderr}");
        assert!(!stderr.contains(CANARY_TOKEN), "{url}: {stderr}");
        assert!(!stderr.contains(OSC_TOKEN), "{url}: {stderr}");
    }
}

#[tokio::test]
async fn plain_http_beyond_loopback_is_refused_at_start() {
    for url in ["http://192.0.2.10:8080", "http://deploy.svc.prod.osaas.io"] {
        let (status, stderr) = run_to_exit(
            &[],
            &[("OSC_API_URL", url), ("OSC_ACCESS_TOKEN", CANARY_TOKEN)],
        )
        .await;
        assert!(!status.success(), "{url}");
        assert!(
            stderr.contains("OSC_API_URL") && stderr.contains("https://"),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains(CANARY_TOKEN), "{url}: {stderr}");
    }
}

#[tokio::test]
async fn plain_http_to_localhost_is_served() {
    let emu = emulator().await;
    let url = format!("http://localhost:{}", emu.local_addr().port());
    let mut server = Proc::spawn(
        &[],
        &[("OSC_API_URL", &url), ("OSC_ACCESS_TOKEN", OSC_TOKEN)],
        Stderr::Read,
    );
    server.initialize().await;
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    ok_result(&list);
    let (status, _, _) = server.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn plain_http_never_goes_through_a_proxy() {
    // A proxy from the environment that counts every connection it gets.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let proxy_task = tokio::spawn(async move {
        while proxy.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let emu = emulator().await;
    let mut env = osc_env(&emu);
    env.push(("OSC_TIMEOUT_SECS", "5".to_owned()));
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        env.push((var, proxy_url.clone()));
    }
    let mut server = Proc::spawn(&[], &pairs(&env), Stderr::Read);
    server.initialize().await;
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    ok_result(&list);
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.via-proxy", "value": "v-1", "mode": "upsert"}),
        )
        .await;
    ok_result(&set);
    let (status, stdout, stderr) = server.finish().await;
    assert!(status.success());
    assert!(!stdout.contains(OSC_TOKEN) && !stderr.contains(OSC_TOKEN));
    assert_eq!(emu.tenant_keys(), ["user.via-proxy"]);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the proxy was connected to"
    );
    proxy_task.abort();
}

#[tokio::test]
async fn start_up_says_which_api_and_transport() {
    let emu = emulator().await;
    let api = emu.base_url();
    let env = [
        ("OSC_API_URL", api.as_str()),
        ("OSC_ACCESS_TOKEN", CANARY_TOKEN),
    ];

    let server = Proc::spawn(&["--log-level", "info"], &env, Stderr::Read);
    let line = server.stderr_line(&api).await;
    assert!(line.contains("INFO") && line.contains("stdio"), "{line}");
    let (_, stdout, stderr) = server.finish().await;
    assert!(!stderr.contains(CANARY_TOKEN) && !stdout.contains(CANARY_TOKEN));

    let server = Proc::spawn(
        &["--transport", "http", "--listen", "127.0.0.1:0"],
        &env,
        Stderr::Read,
    );
    let line = server.stderr_line(&api).await;
    assert!(line.contains("INFO") && line.contains("HTTP"), "{line}");
    // SIGTERM is handled once the server listens; sent earlier, it would
    // end the process the default way and fail the exit check by chance.
    server.stderr_line("listening on").await;
    server.terminate();
    let (status, _, stderr) = server.finish().await;
    assert!(status.success());
    assert!(!stderr.contains(CANARY_TOKEN), "{stderr}");
}

// ---------------------------------------------------------------------------
// The sandbox

#[tokio::test]
async fn the_sandbox_refuses_settings_for_the_real_osc() {
    let file = scratch_file("token", CANARY_TOKEN.as_bytes());
    type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 7] = [
        (
            &["--sandbox", "--api-url", "https://deploy.svc.dev.osaas.io"],
            vec![],
            "--api-url",
        ),
        (
            &["--sandbox"],
            vec![("OSC_API_URL", "https://deploy.svc.dev.osaas.io")],
            "OSC_API_URL",
        ),
        (
            &["--sandbox", "--environment", "prod"],
            vec![],
            "--environment",
        ),
        (
            &[],
            vec![("OSC_MCP_SANDBOX", "true"), ("OSC_ENVIRONMENT", "dev")],
            "OSC_ENVIRONMENT",
        ),
        (
            &["--sandbox"],
            vec![("OSC_ACCESS_TOKEN", CANARY_TOKEN)],
            "OSC_ACCESS_TOKEN",
        ),
        (
            &["--sandbox"],
            vec![("OSC_PAT_JWT", CANARY_TOKEN)],
            "OSC_PAT_JWT",
        ),
        (
            &["--sandbox"],
            vec![("OSC_ACCESS_TOKEN_FILE", &file)],
            "OSC_ACCESS_TOKEN_FILE",
        ),
    ];
    for (args, env, named) in cases {
        let (status, stderr) = run_to_exit(args, &env).await;
        assert!(!status.success(), "{named}");
        assert!(
            stderr.contains(named) && stderr.contains("--sandbox"),
            "{named}: {stderr}"
        );
        assert!(!stderr.contains("SANDBOX mode"), "{named}: {stderr}");
        assert!(!stderr.contains(CANARY_TOKEN), "{named}: {stderr}");
    }
}

#[tokio::test]
async fn the_sandbox_emulator_has_no_admin_endpoints() {
    let mut server = Proc::spawn(&["--sandbox"], &[], Stderr::Read);
    let base = url_in(&server.stderr_line("SANDBOX").await);
    let client = http();
    let attempts = [
        client.get(format!("{base}/__emulator/health")),
        client.get(format!("{base}/__emulator/requests")),
        client.delete(format!("{base}/__emulator/requests")),
        client
            .post(format!("{base}/__emulator/faults"))
            .header("content-type", "application/json")
            .body(r#"{"status": 503}"#),
        client.delete(format!("{base}/__emulator/faults")),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    // The refused fault did not land: the session still works.
    server.initialize().await;
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    ok_result(&list);
    let (status, _, _) = server.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn the_emulator_command_keeps_its_admin_endpoints() {
    // A test fixture: scripted faults are what it is for.
    let server = Proc::spawn(&["emulator", "--port", "0"], &[], Stderr::Read);
    let base = url_in(&server.stderr_line("OSC emulator listening at").await);
    let response = http()
        .get(format!("{base}/__emulator/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.terminate();
    let (status, _, _) = server.finish().await;
    assert!(status.success());
}

// ---------------------------------------------------------------------------
// The OSC token from a file

#[tokio::test]
async fn the_osc_token_can_come_from_a_file() {
    let emu = emulator().await;
    let file = scratch_file("osc-token", format!("  {OSC_TOKEN}\n\n").as_bytes());
    let api = emu.base_url();
    let env = [
        ("OSC_API_URL", api.as_str()),
        ("OSC_ACCESS_TOKEN_FILE", &file),
    ];
    let mut server = Proc::spawn(&[], &env, Stderr::Read);
    server.initialize().await;
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    ok_result(&list);
    let (status, stdout, stderr) = server.finish().await;
    assert!(status.success(), "{stderr}");
    assert!(!stdout.contains(OSC_TOKEN) && !stderr.contains(OSC_TOKEN));
    let requests = emu.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.authorized), "{requests:?}");
}

/// A token file and a token variable both set: the file, the explicit
/// choice (a client's configuration), wins, and the server says so; a
/// variable left over in the shell no longer stops it.
#[tokio::test]
async fn the_token_file_wins_over_a_token_variable_and_says_so() {
    let emu = emulator().await;
    let file = scratch_file("osc-token-wins", OSC_TOKEN.as_bytes());
    let api = emu.base_url();
    let env = [
        ("OSC_API_URL", api.as_str()),
        ("OSC_ACCESS_TOKEN_FILE", &file),
        ("OSC_ACCESS_TOKEN", CANARY_TOKEN),
    ];
    let mut server = Proc::spawn(&[], &env, Stderr::Read);
    server.initialize().await;
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    ok_result(&list);
    let (status, stdout, stderr) = server.finish().await;
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("read from the file named by OSC_ACCESS_TOKEN_FILE (OSC_ACCESS_TOKEN is set too and is not used)"),
        "{stderr}"
    );
    for secret in [OSC_TOKEN, CANARY_TOKEN] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    let requests = emu.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.authorized), "{requests:?}");
}

/// `check` says which API and token source it uses, never the token, and
/// tells a working token (exit 0) from one OSC refuses (exit 1).
#[tokio::test]
async fn check_tells_a_good_token_from_a_bad_one() {
    let emu = emulator().await;
    let api = emu.base_url();
    let file = scratch_file("osc-token-check", OSC_TOKEN.as_bytes());
    let run = |env: Vec<(&'static str, String)>| async move {
        let mut cmd = crate::support::binary();
        cmd.arg("check");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .unwrap()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, said, _) = run(vec![
        ("OSC_API_URL", api.clone()),
        ("OSC_ACCESS_TOKEN_FILE", file.clone()),
        ("OSC_MAX_RETRIES", "0".into()),
    ])
    .await;
    assert!(status.success(), "{said}");
    assert!(
        said.contains(&format!("OSC API: {api}, from --api-url (OSC_API_URL).")),
        "{said}"
    );
    assert!(
        said.contains("Token: from the file named by OSC_ACCESS_TOKEN_FILE."),
        "{said}"
    );
    assert!(said.contains("The token works"), "{said}");
    assert!(!said.contains(OSC_TOKEN));

    let (status, said, stderr) = run(vec![
        ("OSC_API_URL", api.clone()),
        ("OSC_ACCESS_TOKEN", CANARY_TOKEN.into()),
        ("OSC_MAX_RETRIES", "0".into()),
    ])
    .await;
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(
        said.contains("Token: from the environment variable OSC_ACCESS_TOKEN."),
        "{said}"
    );
    assert!(
        said.contains("Not working:") && said.contains("401"),
        "{said}"
    );
    assert!(!said.contains(CANARY_TOKEN) && !stderr.contains(CANARY_TOKEN));

    let (status, said, _) = run(vec![("OSC_API_URL", api)]).await;
    assert_eq!(status.code(), Some(1));
    assert!(said.contains("no OSC personal access token"), "{said}");
}

#[tokio::test]
async fn token_file_problems_are_named_never_quoted() {
    let empty = scratch_file("empty", b"  \n\n");
    let two_lines = scratch_file(
        "two-lines",
        format!("{CANARY_TOKEN}\nsecond-{CANARY_TOKEN}\n").as_bytes(),
    );
    let good = scratch_file("good", CANARY_TOKEN.as_bytes());
    let directory = scratch_dir(&format!("process-dir-{}", std::process::id()));
    let directory = directory.to_string_lossy().into_owned();
    let _ = good;
    let cases: [(Vec<(&str, &str)>, &str); 4] = [
        // The token itself pasted where the path goes.
        (vec![("OSC_ACCESS_TOKEN_FILE", CANARY_TOKEN)], "cannot read"),
        (vec![("OSC_ACCESS_TOKEN_FILE", &directory)], "cannot read"),
        (vec![("OSC_ACCESS_TOKEN_FILE", &empty)], "empty"),
        (vec![("OSC_ACCESS_TOKEN_FILE", &two_lines)], "token only"),
    ];
    // Over HTTP a token problem stops the server at start (over stdio it
    // is told through the client: see stdio.rs).
    for (mut env, problem) in cases {
        env.push(("OSC_API_URL", "http://127.0.0.1:9"));
        let (status, stderr) =
            run_to_exit(&["--transport", "http", "--listen", "127.0.0.1:0"], &env).await;
        assert!(!status.success(), "{problem}");
        assert!(
            stderr.contains("OSC_ACCESS_TOKEN_FILE") && stderr.contains(problem),
            "{problem}: {stderr}"
        );
        assert!(!stderr.contains(CANARY_TOKEN), "{problem}: {stderr}");
    }
}

// ---------------------------------------------------------------------------
// --listen

#[tokio::test]
async fn listen_accepts_localhost() {
    let server = Proc::spawn(
        &[
            "--sandbox",
            "--transport",
            "http",
            "--listen",
            "localhost:0",
        ],
        &[],
        Stderr::Read,
    );
    let line = server.stderr_line("listening on http://").await;
    let addr: SocketAddr = url_in(&line).trim_start_matches("http://").parse().unwrap();
    assert!(addr.ip().is_loopback(), "{line}");
    wait_healthy(addr).await;
    let answer = list_over_http(addr).await;
    ok_result(&answer);
    server.terminate();
    let (status, _, _) = server.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_listen_address_that_cannot_be_used_says_what_to_write() {
    for listen in ["localhost", "localhost:http", "no-such-host.invalid:8765"] {
        let (status, stderr) = run_to_exit(
            &["--sandbox", "--transport", "http", "--listen", listen],
            &[],
        )
        .await;
        assert!(!status.success(), "{listen}");
        assert!(
            stderr.contains("--listen") && stderr.contains("localhost:8765"),
            "{listen}: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_start_up_line_cannot_be_forged_through_the_url() {
    // The URL parser drops tabs and line breaks, so this URL is accepted;
    // it must not be printed as given.
    let emu = emulator().await;
    let api = format!("{}/\nforged-line", emu.base_url());
    let env = [
        ("OSC_API_URL", api.as_str()),
        ("OSC_ACCESS_TOKEN", OSC_TOKEN),
    ];
    let server = Proc::spawn(&["--log-level", "info"], &env, Stderr::Read);
    let line = server.stderr_line("against the OSC API at").await;
    assert!(line.contains(&emu.base_url()), "{line}");
    let (_, _, stderr) = server.finish().await;
    assert!(
        !stderr.lines().any(|l| l.starts_with("forged-line")),
        "{stderr}"
    );
}

/// clap's own errors repeat what was typed, and a token pasted onto a command
/// line (a stray positional argument, a made-up `--token`, a value in the
/// wrong flag) would be printed back to a terminal, a CI log or a client's
/// server log. Every refusal names only what this server defines.
#[tokio::test]
async fn a_token_typed_on_the_command_line_is_never_repeated() {
    let cases: [&[&str]; 8] = [
        &[CANARY_TOKEN],
        &["--token", CANARY_TOKEN],
        &[&format!("--token={CANARY_TOKEN}")],
        &[&format!("--{CANARY_TOKEN}")],
        &["--listen", CANARY_TOKEN],
        &["--timeout-secs", CANARY_TOKEN],
        &["--transport", CANARY_TOKEN],
        &["emulator", "--port", CANARY_TOKEN],
    ];
    for args in cases {
        let (status, stderr) = run_to_exit(args, &[]).await;
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(CANARY_TOKEN),
            "{args:?} was repeated: {stderr}"
        );
        assert!(
            stderr.contains("not repeated") && stderr.contains("OSC_ACCESS_TOKEN"),
            "{args:?}: {stderr}"
        );
    }
    // A flag this server defines is named, with its own advice.
    let (_, stderr) = run_to_exit(&["--listen", "localhost:99999"], &[]).await;
    assert!(stderr.contains("`--listen <ADDR>`"), "{stderr}");
    assert!(stderr.contains("for example 127.0.0.1:8765"), "{stderr}");
}
