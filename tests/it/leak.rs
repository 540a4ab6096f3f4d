//! The whole-server leak test: a canary token and a canary value driven
//! through every tool and every error path of the built binary, with logging
//! at trace level, over stdio, Streamable HTTP (with sessions and stateless)
//! and legacy SSE. Neither canary may appear in any byte the server writes:
//! results, errors, notifications, HTTP headers and bodies, SSE events, logs.
//!
//! Each call's outcome is written down (success, tool error or JSON-RPC
//! error) and checked one by one, so a path that silently stopped running
//! fails the test. Success paths run against a server with a generous OSC
//! timeout; the timeout path runs against one with a 1 s timeout and an
//! emulator delay of minutes, so no wall-clock race can swap the two.

use crate::support;
use crate::support::StdioServer;
use crate::support::http::{
    Server, call, command, message_in, open_legacy_sse, post_legacy, post_mcp, read_events, rpc,
};
use crate::support::{MCP_TOKEN, assert_no_leak};
use osc_secrets_mcp::emulator::{Emulator, EmulatorOptions, Fault};
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde_json::{Value, json};

const CANARY_TOKEN: &str = "CANARYTOKEN-7f3a9c-eyJhbGciOiJIUzI1NiJ9.Y2FuYXJ5.c2ln";
const CANARY_VALUE: &str = "CANARYVALUE-51d2e8-do-not-leak";
/// Every piece of the canaries a leak could show, whole or in part.
const CANARIES: [&str; 6] = [
    CANARY_TOKEN,
    CANARY_VALUE,
    "CANARYTOKEN",
    "CANARYVALUE",
    "eyJhbGciOiJIUzI1NiJ9",
    MCP_TOKEN,
];
/// The OSC timeout of the server the success and error paths run against: no
/// emulator answer on loopback comes near it.
const PATIENT_SECS: &str = "120";
/// The emulator's delay on the timeout path, far beyond the 1 s OSC timeout
/// of the server that path runs against.
const HOLD_MS: u64 = 10 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A tool result with `isError: false`.
    Success,
    /// A tool result with `isError: true`.
    ToolError,
    /// A JSON-RPC error.
    RpcError,
}
use Expect::{RpcError, Success, ToolError};

struct Case {
    what: &'static str,
    fault: Option<Fault>,
    tool: &'static str,
    args: Value,
    expect: Expect,
}

fn case(what: &'static str, tool: &'static str, args: Value, expect: Expect) -> Case {
    Case {
        what,
        fault: None,
        tool,
        args,
        expect,
    }
}

fn faulty(what: &'static str, fault: Fault, tool: &'static str, args: Value) -> Case {
    Case {
        fault: Some(fault),
        ..case(what, tool, args, ToolError)
    }
}

/// A fault on every `method` request until cleared, so retries meet it too.
fn fault(method: &str, status: u16, body: String) -> Fault {
    Fault {
        body: Some(body),
        content_type: Some("application/json".into()),
        ..support::fault(method, status)
    }
}

/// An upstream error body that echoes everything it was sent.
fn echoing_body() -> String {
    json!({
        "statusCode": 400,
        "error": "Bad Request",
        "message": format!("value {CANARY_VALUE} rejected for x-pat-jwt Bearer {CANARY_TOKEN}"),
        "reason": CANARY_VALUE,
    })
    .to_string()
}

fn set(key: &str, mode: &str) -> Value {
    json!({"key": key, "value": CANARY_VALUE, "mode": mode})
}

fn rotate(key: &str) -> Value {
    json!({
        "key": key,
        "value": CANARY_VALUE,
        "targets": [
            {"serviceId": "svc", "secretName": "rotated"},
            {"serviceId": "svc-b", "secretName": "rotated"},
        ],
    })
}

fn materialize(key: &str, secret_name: &str) -> Value {
    json!({"key": key, "serviceId": "svc", "secretName": secret_name})
}

/// Every tool and error path, in order, against a fresh seeded emulator.
fn cases() -> Vec<Case> {
    let echo = echoing_body;
    vec![
        case(
            "create by upsert",
            "set_tenant_secret",
            set("user.canary", "upsert"),
            Success,
        ),
        case(
            "replace by upsert",
            "set_tenant_secret",
            set("user.canary", "upsert"),
            Success,
        ),
        case(
            "create",
            "set_tenant_secret",
            set("user.canary-2", "create"),
            Success,
        ),
        case("list all", "list_tenant_secrets", json!({}), Success),
        case(
            "list filtered",
            "list_tenant_secrets",
            json!({"prefix": "user", "contains": "canary"}),
            Success,
        ),
        case(
            "materialize",
            "materialize_tenant_secret",
            materialize("user.canary", "canary"),
            Success,
        ),
        case(
            "materialize a system key",
            "materialize_tenant_secret",
            materialize("system.gitea-admin-token", "gitea"),
            Success,
        ),
        case(
            "rotate to a given value",
            "rotate_tenant_secret",
            rotate("user.canary"),
            Success,
        ),
        case(
            "set a generated value",
            "set_tenant_secret",
            json!({"key": "user.canary-generated", "generate": {"alphabet": "symbols"}}),
            Success,
        ),
        case(
            "delete",
            "delete_tenant_secret",
            json!({"key": "user.canary-2"}),
            Success,
        ),
        // Refused before any request.
        case(
            "write a system key",
            "set_tenant_secret",
            set("system.gitea-admin-token", "upsert"),
            ToolError,
        ),
        case(
            "bad key",
            "set_tenant_secret",
            set("bad key", "upsert"),
            ToolError,
        ),
        case(
            "unknown mode",
            "set_tenant_secret",
            set("user.ok", "overwrite"),
            ToolError,
        ),
        case(
            "value too large",
            "set_tenant_secret",
            json!({"key": "user.big", "value": format!("{CANARY_VALUE}{}", "x".repeat(70_000))}),
            ToolError,
        ),
        case(
            "NUL in the value",
            "set_tenant_secret",
            json!({"key": "user.nul", "value": format!("{CANARY_VALUE}\u{0}")}),
            ToolError,
        ),
        case(
            "value is an object",
            "set_tenant_secret",
            json!({"key": "user.obj", "value": {"nested": CANARY_VALUE}}),
            ToolError,
        ),
        case(
            "value is an array",
            "set_tenant_secret",
            json!({"key": "user.arr", "value": [CANARY_VALUE]}),
            ToolError,
        ),
        case(
            "unknown argument",
            "set_tenant_secret",
            json!({"key": "user.extra", "value": CANARY_VALUE, "secret": CANARY_VALUE}),
            ToolError,
        ),
        case(
            "no key",
            "set_tenant_secret",
            json!({"value": CANARY_VALUE}),
            ToolError,
        ),
        case(
            "delete a system key",
            "delete_tenant_secret",
            json!({"key": "system.sdlc-webhook-secret"}),
            ToolError,
        ),
        case(
            "bad service id",
            "materialize_tenant_secret",
            json!({"key": "user.canary", "serviceId": "Bad Id", "secretName": "x"}),
            ToolError,
        ),
        // OSC says no.
        case(
            "create an existing key",
            "set_tenant_secret",
            set("user.canary", "create"),
            ToolError,
        ),
        case(
            "delete an absent key",
            "delete_tenant_secret",
            json!({"key": "user.absent"}),
            ToolError,
        ),
        case(
            "materialize an absent key",
            "materialize_tenant_secret",
            materialize("user.absent", "x"),
            ToolError,
        ),
        // Upstream errors, most echoing what they were sent.
        faulty(
            "400 on upsert",
            fault("PUT", 400, echo()),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "400 on create",
            fault("POST", 400, echo()),
            "set_tenant_secret",
            set("user.fresh", "create"),
        ),
        faulty(
            "500 with an HTML body",
            fault(
                "PUT",
                500,
                format!("<html>{CANARY_VALUE} {CANARY_TOKEN}</html>"),
            ),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "403",
            fault("PUT", 403, echo()),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "401",
            fault("PUT", 401, echo()),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "409 on upsert",
            fault("PUT", 409, echo()),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "429",
            fault("PUT", 429, echo()),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "418",
            fault("PUT", 418, echo()),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        faulty(
            "502 on delete",
            fault("DELETE", 502, echo()),
            "delete_tenant_secret",
            json!({"key": "user.canary"}),
        ),
        faulty(
            "404 on materialize",
            fault("POST", 404, echo()),
            "materialize_tenant_secret",
            materialize("user.canary", "x"),
        ),
        // The write goes through (PUT); every materialize (POST) fails.
        faulty(
            "a rotation whose materialize fails",
            fault("POST", 404, echo()),
            "rotate_tenant_secret",
            rotate("user.canary"),
        ),
        faulty(
            "a key list that is not JSON",
            fault("GET", 200, format!("not json {CANARY_VALUE}")),
            "list_tenant_secrets",
            json!({}),
        ),
        faulty(
            "401 on list",
            fault("GET", 401, echo()),
            "list_tenant_secrets",
            json!({}),
        ),
        // Answers that carry a value anyway: read past, not repeated.
        Case {
            fault: Some(fault(
                "GET",
                200,
                json!([{"key": "user.canary", "value": CANARY_VALUE}]).to_string(),
            )),
            ..case(
                "a key list with values",
                "list_tenant_secrets",
                json!({}),
                Success,
            )
        },
        Case {
            fault: Some(fault(
                "POST",
                200,
                json!({"reference": CANARY_VALUE}).to_string(),
            )),
            ..case(
                "a materialize answer echoing the value",
                "materialize_tenant_secret",
                materialize("user.canary", "x"),
                Success,
            )
        },
        // One transient failure, then the retry succeeds.
        Case {
            fault: Some(Fault {
                times: Some(1),
                ..fault("GET", 503, echo())
            }),
            ..case(
                "503 then success",
                "list_tenant_secrets",
                json!({}),
                Success,
            )
        },
        case(
            "an unknown tool",
            "read_tenant_secret",
            json!({"key": "user.canary"}),
            RpcError,
        ),
    ]
}

/// Runs against a server whose OSC timeout is 1 s: the emulator holds every
/// PUT for minutes, so each attempt (the first and its retry) times out.
fn timeout_case() -> Case {
    faulty(
        "OSC times out",
        Fault {
            method: Some("PUT".into()),
            delay_ms: Some(HOLD_MS),
            ..Fault::default()
        },
        "set_tenant_secret",
        set("user.canary", "upsert"),
    )
}

/// A JSON-RPC message that is not a valid call, with the value as its params.
fn malformed() -> Value {
    json!({"jsonrpc": "2.0", "id": 99_999, "method": "tools/call", "params": CANARY_VALUE})
}

async fn emulator() -> Emulator {
    support::emulator_with(EmulatorOptions {
        token: Some(SecretString::from(CANARY_TOKEN)),
        seed: true,
        ..EmulatorOptions::default()
    })
    .await
}

/// The server's settings besides the transport: the canary token, trace
/// logs, one fast retry, and the given OSC timeout.
fn settings(emu: &Emulator, timeout_secs: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OSC_API_URL", emu.base_url()),
        ("OSC_ACCESS_TOKEN", CANARY_TOKEN.to_owned()),
        ("OSC_MCP_LOG", "trace".to_owned()),
        ("OSC_MAX_RETRIES", "1".to_owned()),
        ("OSC_RETRY_BASE_MS", "1".to_owned()),
        ("OSC_TIMEOUT_SECS", timeout_secs.to_owned()),
    ]
}

fn outcome(answer: &Value) -> Option<Expect> {
    if answer.get("error").is_some() {
        Some(RpcError)
    } else {
        match answer["result"]["isError"].as_bool() {
            Some(true) => Some(ToolError),
            Some(false) => Some(Success),
            None => None,
        }
    }
}

/// Tallies the outcomes and checks each against its case.
#[derive(Default)]
struct Tally {
    successes: usize,
    tool_errors: usize,
    rpc_errors: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn record(&mut self, index: usize, case: &Case, answer: &Value) {
        let got = outcome(answer);
        match got {
            Some(Success) => self.successes += 1,
            Some(ToolError) => self.tool_errors += 1,
            Some(RpcError) => self.rpc_errors += 1,
            None => {}
        }
        if got != Some(case.expect) {
            self.wrong.push(format!(
                "#{index} {} ({}): expected {:?}, got {got:?}: {answer}",
                case.what, case.tool, case.expect
            ));
        }
    }

    /// The exact counts `cases` must give, one by one and in total.
    fn assert_matches(&self, cases: &[Case], transport: &str) {
        assert!(
            self.wrong.is_empty(),
            "{transport}: calls with the wrong outcome:\n{}",
            self.wrong.join("\n")
        );
        let count = |e: Expect| cases.iter().filter(|c| c.expect == e).count();
        assert_eq!(
            (self.successes, self.tool_errors, self.rpc_errors),
            (count(Success), count(ToolError), count(RpcError)),
            "{transport}: (successes, tool errors, JSON-RPC errors)"
        );
    }
}

/// The counts written down, so a case list that lost its error paths fails.
#[test]
fn the_cases_cover_every_outcome() {
    let cases = cases();
    let count = |e: Expect| cases.iter().filter(|c| c.expect == e).count();
    assert_eq!(
        (count(Success), count(ToolError), count(RpcError)),
        (13, 27, 1)
    );
    let tools: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.tool).collect();
    for tool in [
        "delete_tenant_secret",
        "list_tenant_secrets",
        "materialize_tenant_secret",
        "rotate_tenant_secret",
        "set_tenant_secret",
    ] {
        assert!(tools.contains(tool), "{tool} is not driven");
    }
}

/// Trace logging really was on and OSC really was called, so a clean log
/// means something.
fn assert_traced(what: &str, log: &str) {
    assert!(
        log.contains("osc request"),
        "{what}: no trace-level OSC request lines:\n{log}"
    );
}

fn arm(emu: &Emulator, case: &Case) {
    emu.clear_faults();
    if let Some(fault) = &case.fault {
        emu.push_fault(fault.clone());
    }
}

/// The value-reading endpoint is never called.
fn assert_never_read(emu: &Emulator) {
    assert!(
        emu.requests()
            .iter()
            .all(|r| !(r.method == "GET" && r.path.starts_with("/mytenantsecrets/")))
    );
}

// ---------------------------------------------------------------------------
// stdio

async fn stdio_run(emu: &Emulator, timeout_secs: &str, cases: &[Case]) -> (String, String) {
    let env = settings(emu, timeout_secs);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = StdioServer::spawn(&[], &env);
    server.initialize().await;
    server.request("tools/list", json!({})).await;
    let mut tally = Tally::default();
    for (index, case) in cases.iter().enumerate() {
        arm(emu, case);
        let answer = server.call_tool(case.tool, case.args.clone()).await;
        tally.record(index, case, &answer);
    }
    tally.assert_matches(cases, "stdio");
    server.send(&malformed()).await;
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "the server exits cleanly: {stderr}");
    (stdout, stderr)
}

#[tokio::test]
async fn no_canary_leaves_the_server_over_stdio() {
    let emu = emulator().await;
    let (stdout, stderr) = stdio_run(&emu, PATIENT_SECS, &cases()).await;
    assert_traced("stdio", &stderr);
    assert_no_leak("stdout", &stdout, &CANARIES);
    assert_no_leak("stderr", &stderr, &CANARIES);
    assert_never_read(&emu);
}

#[tokio::test]
async fn an_osc_timeout_over_stdio_leaks_nothing() {
    let emu = emulator().await;
    let (stdout, stderr) = stdio_run(&emu, "1", &[timeout_case()]).await;
    assert_no_leak("stdout", &stdout, &CANARIES);
    assert_no_leak("stderr", &stderr, &CANARIES);
    // The first attempt and its retry were both held.
    let puts = emu.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 2);
}

// ---------------------------------------------------------------------------
// HTTP

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Http {
    /// Streamable HTTP with a session.
    Session,
    /// Streamable HTTP, `--stateless`.
    Stateless,
    /// The legacy HTTP+SSE transport.
    LegacySse,
}

fn head(headers: &HeaderMap) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
        .collect()
}

/// Every byte the server sent to the client, and how to send it more.
struct HttpClient<'a> {
    server: &'a Server,
    mode: Http,
    session: Option<String>,
    /// The legacy transport's stream, where every answer arrives.
    stream: Option<(reqwest::Response, String)>,
    endpoint: String,
    seen: String,
}

impl<'a> HttpClient<'a> {
    async fn open(server: &'a Server, mode: Http) -> HttpClient<'a> {
        let mut client = HttpClient {
            server,
            mode,
            session: None,
            stream: None,
            endpoint: String::new(),
            seen: String::new(),
        };
        if mode == Http::LegacySse {
            let (stream, buffer, endpoint) = open_legacy_sse(server, Some(MCP_TOKEN)).await;
            client.seen.push_str(&head(stream.headers()));
            client.seen.push_str(&endpoint);
            client.endpoint = endpoint;
            client.stream = Some((stream, buffer));
        }
        if mode != Http::Stateless {
            let init = rpc(
                0,
                "initialize",
                json!({
                    "protocolVersion": support::PROTOCOL,
                    "capabilities": {},
                    "clientInfo": { "name": "leak-test", "version": "1" }
                }),
            );
            let answer = client.send(&init, 0).await;
            assert_eq!(
                answer["result"]["serverInfo"]["name"], "osc-secrets-mcp",
                "{answer}"
            );
            let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
            client.post(&initialized.to_string()).await;
        }
        client
    }

    /// POSTs `body` where this transport takes messages; returns the
    /// response's body (after adding it and its headers to what was seen).
    async fn post(&mut self, body: &str) -> String {
        let request = if self.mode == Http::LegacySse {
            post_legacy(
                self.server,
                Some(MCP_TOKEN),
                &self.endpoint,
                body.to_owned(),
            )
        } else {
            post_mcp(
                self.server,
                Some(MCP_TOKEN),
                self.session.as_deref(),
                &json!({}),
            )
            .body(body.to_owned())
        };
        let response = request.send().await.unwrap();
        self.seen.push_str(&head(response.headers()));
        if self.session.is_none()
            && self.mode == Http::Session
            && let Some(id) = response.headers().get("mcp-session-id")
        {
            self.session = Some(id.to_str().unwrap().to_owned());
        }
        let text = response.text().await.unwrap();
        self.seen.push_str(&text);
        self.seen.push('\n');
        text
    }

    /// Sends a request and returns the answer with id `id`.
    async fn send(&mut self, message: &Value, id: u64) -> Value {
        let body = self.post(&message.to_string()).await;
        let Some((stream, buffer)) = self.stream.as_mut() else {
            return message_in(&body);
        };
        loop {
            let (_, data) = read_events(stream, buffer, 1).await.remove(0);
            self.seen.push_str(&data);
            self.seen.push('\n');
            let answer: Value = serde_json::from_str(&data).unwrap();
            if answer["id"] == json!(id) {
                return answer;
            }
        }
    }
}

async fn http_run(emu: &Emulator, mode: Http, timeout_secs: &str, cases: &[Case]) {
    let mut cmd = command(
        emu,
        if mode == Http::Stateless {
            &["--stateless"]
        } else {
            &[]
        },
        Some(MCP_TOKEN),
    );
    for (name, value) in settings(emu, timeout_secs) {
        cmd.env(name, value);
    }
    let server = Server::start_command(cmd).await;
    let mut client = HttpClient::open(&server, mode).await;
    client.send(&rpc(1, "tools/list", json!({})), 1).await;
    let mut tally = Tally::default();
    for (index, case) in cases.iter().enumerate() {
        arm(emu, case);
        let id = 100 + index as u64;
        let answer = client
            .send(&call(id, case.tool, case.args.clone()), id)
            .await;
        tally.record(index, case, &answer);
    }
    tally.assert_matches(cases, &format!("{mode:?}"));
    // Whatever the server makes of a malformed call is seen too.
    client.post(&malformed().to_string()).await;
    let seen = std::mem::take(&mut client.seen);
    drop(client);
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{mode:?}: exit {status}; log:\n{log}");
    if cases.iter().any(|c| c.expect == Success) {
        assert_traced(&format!("{mode:?}"), &log);
    }
    // What was seen holds the answers themselves, so its check means something.
    assert!(
        seen.contains("isError"),
        "{mode:?}: no answers seen:\n{seen}"
    );
    assert_no_leak(
        &format!("{mode:?}: what the client received"),
        &seen,
        &CANARIES,
    );
    assert_no_leak(&format!("{mode:?}: the server log"), &log, &CANARIES);
    assert_never_read(emu);
}

#[tokio::test]
async fn no_canary_leaves_the_server_over_streamable_http() {
    let emu = emulator().await;
    http_run(&emu, Http::Session, PATIENT_SECS, &cases()).await;
    let emu = emulator().await;
    http_run(&emu, Http::Session, "1", &[timeout_case()]).await;
}

#[tokio::test]
async fn no_canary_leaves_the_server_over_stateless_http() {
    let emu = emulator().await;
    http_run(&emu, Http::Stateless, PATIENT_SECS, &cases()).await;
    let emu = emulator().await;
    http_run(&emu, Http::Stateless, "1", &[timeout_case()]).await;
}

#[tokio::test]
async fn no_canary_leaves_the_server_over_legacy_sse() {
    let emu = emulator().await;
    http_run(&emu, Http::LegacySse, PATIENT_SECS, &cases()).await;
    let emu = emulator().await;
    http_run(&emu, Http::LegacySse, "1", &[timeout_case()]).await;
}

// ---------------------------------------------------------------------------
// Before initialize

/// A client that sends a call and then a stray response before `initialize`:
/// rmcp's handshake error quotes the offending message whole, so the server
/// must not print it.
#[tokio::test]
async fn a_call_before_initialize_leaks_nothing() {
    let emu = emulator().await;
    let env = settings(&emu, PATIENT_SECS);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = StdioServer::spawn(&[], &env);
    server
        .send(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "set_tenant_secret", "arguments": {"key": "user.early", "value": CANARY_VALUE}}
        }))
        .await;
    // A response to a request never made, carrying the value: not a request,
    // so the handshake fails on it.
    server
        .send(&json!({"jsonrpc": "2.0", "id": 7, "result": {"value": CANARY_VALUE}}))
        .await;
    let (ok, stdout, stderr) = server.finish().await;
    assert!(!ok, "the handshake failed");
    assert!(stderr.contains("was not `initialize`"), "{stderr}");
    assert_no_leak("stdout", &stdout, &CANARIES);
    assert_no_leak("stderr", &stderr, &CANARIES);
    assert!(emu.requests().is_empty());
}

// ---------------------------------------------------------------------------
// askUser: the value arrives on the one-time page, never through MCP

/// Posts the one-time page at `url` as a browser would; its status and body.
async fn post_page(url: &str, value: &str) -> (u16, String) {
    let (origin, _) = url.split_once("/ask/").expect("a one-time page URL");
    let body = format!("value={value}&multiline=&action=save");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(url)
        .header("Origin", origin)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .expect("the page answers");
    let status = response.status().as_u16();
    let headers = head(response.headers());
    (
        status,
        format!("{headers}\n{}", response.text().await.unwrap()),
    )
}

/// A client without elicitation gets the pending link for set and rotate;
/// the canary value typed on the page, stored and materialized, then again
/// against an OSC that echoes it in its error, appears in no result, no
/// page answer and no log line at trace level.
#[tokio::test]
async fn an_ask_user_value_typed_on_the_page_leaks_nothing() {
    let emu = emulator().await;
    let env = settings(&emu, PATIENT_SECS);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = StdioServer::spawn(&[], &env);
    server.initialize().await;
    let mut pages = String::new();
    let calls = [
        (
            "set_tenant_secret",
            json!({"key": "user.leak-asked", "askUser": true}),
            None,
        ),
        (
            "rotate_tenant_secret",
            json!({"key": "user.leak-asked", "askUser": true,
                   "targets": [{"serviceId": "eyevinn-leak", "secretName": "asked"}]}),
            None,
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.leak-echoed", "askUser": true}),
            Some(fault("PUT", 400, echoing_body())),
        ),
    ];
    for (tool, args, upstream) in calls {
        let answer = server.call_tool(tool, args).await;
        let out = &answer["result"]["structuredContent"];
        assert_eq!(out["status"], "pending", "{answer}");
        emu.clear_faults();
        if let Some(fault) = upstream.clone() {
            emu.push_fault(fault);
        }
        let (status, page) = post_page(out["url"].as_str().unwrap(), CANARY_VALUE).await;
        assert_eq!(status, 200, "{page}");
        pages.push_str(&page);
        // Used once: the second post changes nothing and says so.
        let (_, again) = post_page(out["url"].as_str().unwrap(), CANARY_VALUE).await;
        pages.push_str(&again);
    }
    emu.clear_faults();
    assert_eq!(
        emu.tenant_value("user.leak-asked")
            .map(|v| secrecy::ExposeSecret::expose_secret(&v).to_owned())
            .as_deref(),
        Some(CANARY_VALUE)
    );
    assert!(emu.service_secret("eyevinn-leak", "asked").is_some());
    assert!(emu.tenant_value("user.leak-echoed").is_none());
    let listed = server.call_tool("list_tenant_secrets", json!({})).await;
    assert!(listed.to_string().contains("user.leak-asked"), "{listed}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "the server exits cleanly: {stderr}");
    assert_traced("stdio", &stderr);
    assert_no_leak("stdout", &stdout, &CANARIES);
    assert_no_leak("stderr", &stderr, &CANARIES);
    assert_no_leak("the page's answers", &pages, &CANARIES);
    assert_never_read(&emu);
}
