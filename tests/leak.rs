//! The whole-server leak test: a canary token and canary values driven
//! through every tool and every error path of the built binary, with logging
//! at trace level. Neither canary may appear in any byte the server writes:
//! results, errors, notifications (all of stdout) and logs (all of stderr).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use osc_secrets_mcp::emulator::{EmulatorOptions, Fault};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{StdioServer, emulator_with};

const CANARY_TOKEN: &str = "CANARYTOKEN-7f3a9c-eyJhbGciOiJIUzI1NiJ9.Y2FuYXJ5.c2ln";
const CANARY_VALUE: &str = "CANARYVALUE-51d2e8-do-not-leak";

fn fault(method: &str, status: u16, body: Option<String>) -> Fault {
    Fault {
        method: Some(method.into()),
        status: Some(status),
        body,
        content_type: Some("application/json".into()),
        times: Some(1),
        ..Fault::default()
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

#[tokio::test]
async fn no_canary_leaves_the_server() {
    let emu = emulator_with(EmulatorOptions {
        token: Some(SecretString::from(CANARY_TOKEN)),
        seed: true,
        ..EmulatorOptions::default()
    })
    .await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &url),
            ("OSC_ACCESS_TOKEN", CANARY_TOKEN),
            ("OSC_MCP_LOG", "trace"),
            ("OSC_MAX_RETRIES", "1"),
            ("OSC_RETRY_BASE_MS", "1"),
            ("OSC_TIMEOUT_SECS", "1"),
        ],
    );
    server.initialize().await;
    server.request("tools/list", json!({})).await;

    let set = |key: &str, mode: &str| json!({"key": key, "value": CANARY_VALUE, "mode": mode});
    let mut calls: Vec<(Option<Fault>, &str, Value)> = vec![
        // Successes.
        (None, "set_tenant_secret", set("user.canary", "upsert")),
        (None, "set_tenant_secret", set("user.canary", "upsert")),
        (None, "set_tenant_secret", set("user.canary-2", "create")),
        (None, "list_tenant_secrets", json!({})),
        (
            None,
            "list_tenant_secrets",
            json!({"prefix": "user", "contains": "canary"}),
        ),
        (
            None,
            "materialize_tenant_secret",
            json!({"key": "user.canary", "serviceId": "svc", "secretName": "canary"}),
        ),
        (
            None,
            "materialize_tenant_secret",
            json!({"key": "system.gitea-admin-token", "serviceId": "svc", "secretName": "gitea"}),
        ),
        (
            None,
            "delete_tenant_secret",
            json!({"key": "user.canary-2"}),
        ),
        // Refusals.
        (
            None,
            "set_tenant_secret",
            set("system.gitea-admin-token", "upsert"),
        ),
        (None, "set_tenant_secret", set("bad key", "upsert")),
        (None, "set_tenant_secret", set("user.ok", "overwrite")),
        (
            None,
            "set_tenant_secret",
            json!({"key": "user.big", "value": format!("{CANARY_VALUE}{}", "x".repeat(70_000))}),
        ),
        (
            None,
            "set_tenant_secret",
            json!({"key": "user.nul", "value": format!("{CANARY_VALUE}\u{0}")}),
        ),
        (
            None,
            "set_tenant_secret",
            json!({"key": "user.obj", "value": {"nested": CANARY_VALUE}}),
        ),
        (
            None,
            "set_tenant_secret",
            json!({"key": "user.arr", "value": [CANARY_VALUE]}),
        ),
        (
            None,
            "set_tenant_secret",
            json!({"key": "user.extra", "value": CANARY_VALUE, "secret": CANARY_VALUE}),
        ),
        (None, "set_tenant_secret", json!({"value": CANARY_VALUE})),
        (
            None,
            "delete_tenant_secret",
            json!({"key": "system.sdlc-webhook-secret"}),
        ),
        (
            None,
            "materialize_tenant_secret",
            json!({"key": "user.canary", "serviceId": "Bad Id", "secretName": "x"}),
        ),
        // Upstream errors, some echoing what they were sent.
        (None, "set_tenant_secret", set("user.canary", "create")),
        (None, "delete_tenant_secret", json!({"key": "user.absent"})),
        (
            None,
            "materialize_tenant_secret",
            json!({"key": "user.absent", "serviceId": "svc", "secretName": "x"}),
        ),
        (
            Some(fault("PUT", 400, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("POST", 400, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.fresh", "create"),
        ),
        (
            Some(fault(
                "PUT",
                500,
                Some(format!("<html>{CANARY_VALUE} {CANARY_TOKEN}</html>")),
            )),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("PUT", 403, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("PUT", 401, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("PUT", 409, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("PUT", 429, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("PUT", 418, Some(echoing_body()))),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
        (
            Some(fault("DELETE", 502, Some(echoing_body()))),
            "delete_tenant_secret",
            json!({"key": "user.canary"}),
        ),
        (
            Some(fault("POST", 404, Some(echoing_body()))),
            "materialize_tenant_secret",
            json!({"key": "user.canary", "serviceId": "svc", "secretName": "x"}),
        ),
        // A list answer that carries values anyway, and one that is garbage.
        (
            Some(fault(
                "GET",
                200,
                Some(json!([{"key": "user.canary", "value": CANARY_VALUE}]).to_string()),
            )),
            "list_tenant_secrets",
            json!({}),
        ),
        (
            Some(fault("GET", 200, Some(format!("not json {CANARY_VALUE}")))),
            "list_tenant_secrets",
            json!({}),
        ),
        (
            Some(fault("GET", 401, Some(echoing_body()))),
            "list_tenant_secrets",
            json!({}),
        ),
        // A materialize answer that echoes the value instead of a reference.
        (
            Some(fault(
                "POST",
                200,
                Some(json!({"reference": CANARY_VALUE}).to_string()),
            )),
            "materialize_tenant_secret",
            json!({"key": "user.canary", "serviceId": "svc", "secretName": "x"}),
        ),
        // A timeout.
        (
            Some(Fault {
                method: Some("PUT".into()),
                delay_ms: Some(1_500),
                times: Some(2),
                ..Fault::default()
            }),
            "set_tenant_secret",
            set("user.canary", "upsert"),
        ),
    ];
    let total = calls.len();
    let mut errors = 0;
    for (f, tool, args) in calls.drain(..) {
        emu.clear_faults();
        if let Some(f) = f {
            emu.push_fault(f);
        }
        let answer = server.call_tool(tool, args).await;
        if answer["result"]["isError"] == true || answer.get("error").is_some() {
            errors += 1;
        }
    }
    // An unknown method and a malformed line too.
    server
        .request(
            "tools/call",
            json!({"name": "read_tenant_secret", "arguments": {"key": "user.canary"}}),
        )
        .await;
    server
        .send(&json!({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": CANARY_VALUE}))
        .await;

    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok);
    assert!(
        errors > 20 && errors < total,
        "the paths ran: {errors} errors of {total}"
    );
    // Logging really was at trace level, so the assertion below means something.
    assert!(stderr.contains("osc request"), "trace logs were written");
    for canary in [
        CANARY_TOKEN,
        CANARY_VALUE,
        "CANARYTOKEN",
        "CANARYVALUE",
        "eyJhbGciOiJIUzI1NiJ9",
    ] {
        let leaked: Vec<&str> = stdout.lines().filter(|l| l.contains(canary)).collect();
        assert!(leaked.is_empty(), "{canary} leaked on stdout: {leaked:#?}");
        assert!(!stderr.contains(canary), "{canary} leaked on stderr");
    }
    // And the value-reading endpoint was never called.
    assert!(
        emu.requests()
            .iter()
            .all(|r| !(r.method == "GET" && r.path.starts_with("/mytenantsecrets/")))
    );
}

/// A client that sends a call and then a stray response before `initialize`:
/// rmcp's handshake error quotes the offending message whole, so the server
/// must not print it.
#[tokio::test]
async fn a_call_before_initialize_leaks_nothing() {
    let emu = emulator_with(EmulatorOptions {
        token: Some(SecretString::from(CANARY_TOKEN)),
        ..EmulatorOptions::default()
    })
    .await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &url),
            ("OSC_ACCESS_TOKEN", CANARY_TOKEN),
            ("OSC_MCP_LOG", "trace"),
        ],
    );
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
    for canary in [CANARY_TOKEN, CANARY_VALUE] {
        assert!(
            !stdout.contains(canary),
            "{canary} leaked on stdout: {stdout}"
        );
        assert!(
            !stderr.contains(canary),
            "{canary} leaked on stderr: {stderr}"
        );
    }
    assert!(emu.requests().is_empty());
}
