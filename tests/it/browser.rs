//! askUser's one-time page in a real browser: Debian's Chromium driven by
//! npm playwright-core (tests/browser/submit.mjs), with JavaScript off.
//! A human opens the link, sees the key, types a value, saves; the
//! emulator holds exactly that value and no response the browser got
//! carries it. Then a second use, an expired link and a multi-line value.
//!
//! Needs OSC_MCP_CHROMIUM, OSC_MCP_PLAYWRIGHT (a node_modules directory
//! holding playwright-core) and OSC_MCP_NODE, which .ci/run installs and
//! exports; asked for and missing, the test fails rather than skips.

use crate::support;
use std::time::Duration;

use crate::support::assert_no_leak;
use crate::support::logs::Logs;
use crate::support::page::{CANARY, Page};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "needs Chromium and playwright-core: OSC_MCP_CHROMIUM and OSC_MCP_PLAYWRIGHT; .ci/run installs them"]
async fn a_human_types_values_on_the_page_in_chromium() {
    let logs = Logs::capture();
    let chromium = support::external("OSC_MCP_CHROMIUM", "the browser test");
    let playwright = support::external("OSC_MCP_PLAYWRIGHT", "the browser test");
    let node = support::external("OSC_MCP_NODE", "the browser test");

    let page = Page::start(Duration::from_secs(600)).await;
    page.emu
        .insert_tenant_secret("user.api.token", "the-old-value");
    let masked = page.open("user.api.token").await;
    let multiline = page.open("user.tls.key").await;
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n{CANARY}\n+/=\n-----END PRIVATE KEY-----\n"
    );
    let expired_page = Page::start(Duration::ZERO).await;
    let expired = expired_page.open("user.late").await;

    let config = json!({
        "chromium": chromium,
        "playwright": playwright,
        "cases": [
            {"url": masked.url, "key": "user.api.token", "type": true, "field": "value", "value": CANARY},
            {"url": masked.url, "key": "user.api.token"},
            {"url": expired.url},
            {"url": multiline.url, "key": "user.tls.key", "type": true, "field": "multiline", "value": pem},
        ],
    });
    let (report, stdout) =
        crate::support::run_node_script(&node, "tests/browser/submit.mjs", &config).await;
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{report}");

    // Opened, saw the key, typed, saved, saw the confirmation.
    assert_eq!(results[0]["sawKey"], true, "{report}");
    assert_eq!(results[0]["status"], 200, "{report}");
    assert!(
        results[0]["text"].as_str().unwrap().contains("Saved."),
        "{report}"
    );
    assert_eq!(
        page.emu
            .tenant_value("user.api.token")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
    // A second use.
    assert_eq!(results[1]["status"], 410, "{report}");
    assert!(
        results[1]["text"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{report}"
    );
    // An expired link.
    assert_eq!(results[2]["status"], 410, "{report}");
    assert!(
        results[2]["text"]
            .as_str()
            .unwrap()
            .contains("Link expired"),
        "{report}"
    );
    assert!(expired_page.emu.tenant_value("user.late").is_none());
    // A multi-line value, byte for byte (the browser sent CRLF).
    assert_eq!(results[3]["status"], 200, "{report}");
    assert_eq!(
        page.emu
            .tenant_value("user.tls.key")
            .map(|v| v.expose_secret().to_owned()),
        Some(pem)
    );

    assert_page_responses(&report, &stdout);
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

/// Every response the browser got: the page's headers, never the value,
/// and no Content-Security-Policy violation.
fn assert_page_responses(report: &Value, stdout: &str) {
    let responses = report["responses"].as_array().unwrap();
    assert!(responses.len() >= 6, "{report}");
    for response in responses {
        let headers = &response["headers"];
        assert_eq!(headers["cache-control"], "no-store", "{response}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{response}");
        assert_eq!(headers["x-frame-options"], "DENY", "{response}");
    }
    assert_no_leak("a response the browser got", stdout, &[CANARY]);
    assert_eq!(report["cspViolations"], json!([]), "{report}");
}

/// The whole way: an agent on stdio (a client without URL elicitation)
/// gets the link, the human uses it in Chromium, the value lands in OSC,
/// and nothing the agent received carries it.
#[tokio::test]
#[ignore = "needs Chromium and playwright-core: OSC_MCP_CHROMIUM and OSC_MCP_PLAYWRIGHT; .ci/run installs them"]
async fn the_link_an_agent_got_over_stdio_works_in_chromium() {
    let chromium = support::external("OSC_MCP_CHROMIUM", "the browser test");
    let playwright = support::external("OSC_MCP_PLAYWRIGHT", "the browser test");
    let node = support::external("OSC_MCP_NODE", "the browser test");
    let emulator = support::emulator().await;
    let mut agent = support::StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &emulator.base_url()),
            ("OSC_ACCESS_TOKEN", support::OSC_TOKEN),
            ("OSC_MCP_LOG", "trace"),
        ],
    );
    agent.initialize().await;
    let answer = agent
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.agent.cred", "askUser": true}),
        )
        .await;
    let url = answer["result"]["structuredContent"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no link in {answer}"))
        .to_owned();
    let config = json!({
        "chromium": chromium,
        "playwright": playwright,
        "cases": [
            {"url": url, "key": "user.agent.cred", "type": true, "field": "value", "value": CANARY},
        ],
    });
    let (report, stdout) =
        crate::support::run_node_script(&node, "tests/browser/submit.mjs", &config).await;
    assert_eq!(report["results"][0]["sawKey"], true, "{report}");
    assert_eq!(report["results"][0]["status"], 200, "{report}");
    assert_eq!(
        emulator
            .tenant_value("user.agent.cred")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
    assert!(
        !stdout.contains(CANARY),
        "a response the browser got holds the value"
    );
    let listed = agent.call_tool("list_tenant_secrets", json!({})).await;
    assert!(listed.to_string().contains("user.agent.cred"), "{listed}");
    let (ok, transcript, stderr) = agent.finish().await;
    assert!(ok, "{stderr}");
    assert!(!transcript.contains(CANARY), "the agent received the value");
    assert!(
        !stderr.contains(CANARY),
        "the server's trace log holds the value"
    );
}
