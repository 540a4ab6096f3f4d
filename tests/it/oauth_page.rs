//! askUser's one-time page knows the person, with real parts only: the
//! certified npm `oidc-provider` (tests/oauth/provider.mjs) as the
//! authorization server, with the page registered there as a confidential
//! client by dynamic registration, as an operator would register it; the
//! official MCP Python SDK's OAuth client as the agent that asks for values
//! (tests/python/oauth_ask_user.py); Debian's Chromium as each person's
//! browser (tests/browser/sign_in.mjs); and the built binary with
//! --oauth-issuer, --oauth-page-client-id, the secret in a file, and
//! --confirm always.
//!
//! Alice's agent opens three links, one of them replacing a key that
//! exists (refused under --confirm always without the sign-in). Alice
//! signs in and writes the first; Bob signs in on the second and is told
//! it is not his, nothing written and the attempt audited; Alice then
//! writes the second without signing in again. The agent, holding Alice's
//! access token, posts the third link's form itself and is refused. No
//! value, token or client secret reaches a log, a response or the agent.

use serde_json::{Value, json};

use crate::support::haproxy::free_port;
use crate::support::http::{Server, command};
use crate::support::provider::Provider;
use crate::support::python::{python, run_python};
use crate::support::{OSC_TOKEN, assert_no_leak, emulator, external, scratch_dir, stored};

const ALICE_FIRST: &str = "typed-by-alice-in-chromium-1f3a9c";
const ALICE_SECOND: &str = "typed-by-alice-in-chromium-77be21";
const BOB_TRIES: &str = "typed-by-bob-in-chromium-0c4d5e";
const AGENT_TRIES: &str = "typed-by-the-agent-with-alices-token-9e8d";

/// Registers the page at the authorization server as an operator would:
/// a confidential client whose one redirect URI is the page's.
async fn register_page(issuer: &str, redirect: &str) -> (String, String) {
    let http = crate::support::http::http();
    let metadata: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registration = metadata["registration_endpoint"].as_str().unwrap();
    let client: Value = http
        .post(registration)
        .json(&json!({
            "client_name": "osc-secrets-mcp one-time page",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "secrets:write",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
#[ignore = "needs oidc-provider (OSC_MCP_NODE, OSC_MCP_OIDC_PROVIDER), the MCP Python SDK (OSC_MCP_PYTHON) and Chromium (OSC_MCP_CHROMIUM, OSC_MCP_PLAYWRIGHT); .ci/run installs them"]
async fn only_the_person_who_asked_writes_on_the_page() {
    let chromium = external("OSC_MCP_CHROMIUM", "the page sign-in test");
    let playwright = external("OSC_MCP_PLAYWRIGHT", "the page sign-in test");
    let node = external("OSC_MCP_NODE", "the page sign-in test");
    let provider = Provider::start().await;
    let emu = emulator().await;
    emu.insert_tenant_secret("user.page-first", "the-old-value");
    let dir = scratch_dir("oauth-page");
    let audit = dir.join("audit.jsonl");
    let secret_file = dir.join("page-client-secret");
    // The port is chosen before the server starts (the redirect URI is
    // registered first, as an operator would): another process may take
    // it meanwhile, and then the page is registered again on another.
    let mut attempts = 0;
    let (server, base, client_id, client_secret) = loop {
        attempts += 1;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let (client_id, client_secret) =
            register_page(&provider.issuer, &format!("{base}/ask/signed-in")).await;
        std::fs::write(&secret_file, format!("{client_secret}\n")).unwrap();
        let listen = format!("127.0.0.1:{port}");
        let cmd = command(
            &emu,
            &[
                "--listen",
                &listen,
                "--oauth-issuer",
                &provider.issuer,
                "--oauth-page-client-id",
                &client_id,
                "--oauth-page-client-secret-file",
                secret_file.to_str().unwrap(),
                "--confirm",
                "always",
                "--audit-log",
                audit.to_str().unwrap(),
            ],
            None,
        );
        match Server::try_start_command(cmd).await {
            Ok(server) => break (server, base, client_id, client_secret),
            Err(log) if attempts < 3 && log.contains("Address already in use") => continue,
            Err(log) => panic!("the server did not start; its stderr:\n{log}"),
        }
    };
    assert!(
        server.log().contains(&format!(
            "one-time askUser pages sign people in as the client {client_id} of {} (redirect URI {base}/ask/signed-in)",
            provider.issuer
        )),
        "{}",
        server.log()
    );

    // Alice's agent asks for three values.
    let mut cmd = python("tests/python/oauth_ask_user.py");
    cmd.args(["--url", &server.url("/mcp"), "--provider", &provider.issuer])
        .args(["--login", "alice"])
        .args(["--key", "user.page-first", "--key", "user.page-second"])
        .args([
            "--agent-key",
            "user.page-agent",
            "--agent-value",
            AGENT_TRIES,
        ]);
    let run = run_python(cmd, "the askUser agent", &[OSC_TOKEN, &client_secret]).await;
    let report = &run.report;
    for key in ["user.page-first", "user.page-second", "user.page-agent"] {
        let link = &report["links"][key];
        assert_eq!(link["isError"], false, "{report:#}");
        assert_eq!(link["status"], "pending", "{report:#}");
        assert!(
            link["url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{base}/ask/")),
            "{report:#}"
        );
    }
    // The agent, with Alice's token and the page's own Origin, is not a
    // browser signed in as Alice.
    assert_eq!(report["agent"]["status"], 401, "{report:#}");
    assert!(
        report["agent"]["body"]
            .as_str()
            .unwrap()
            .contains("Sign in first"),
        "{report:#}"
    );
    assert_eq!(stored(&emu, "user.page-agent"), None);

    let first = report["links"]["user.page-first"]["url"].as_str().unwrap();
    let second = report["links"]["user.page-second"]["url"].as_str().unwrap();
    let config = json!({
        "chromium": chromium,
        "playwright": playwright,
        "steps": [
            {"person": "alice", "url": first, "login": "alice", "value": ALICE_FIRST},
            {"person": "bob", "url": second, "login": "bob", "value": BOB_TRIES},
            {"person": "alice", "url": second, "login": "alice", "value": ALICE_SECOND},
        ],
    });
    let (browser, browser_out) =
        crate::support::run_node_script(&node, "tests/browser/sign_in.mjs", &config).await;
    let results = browser["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{browser:#}");

    // Alice signed in at the authorization server, came back to the form
    // that names her, and wrote.
    assert_eq!(results[0]["signInShown"], true, "{browser:#}");
    assert_eq!(results[0]["formShown"], true, "{browser:#}");
    assert_eq!(results[0]["status"], 200, "{browser:#}");
    assert_eq!(results[0]["title"], "Done", "{browser:#}");
    assert_eq!(
        stored(&emu, "user.page-first").as_deref(),
        Some(ALICE_FIRST)
    );

    // Bob signed in and was told the link is not his; no form, nothing
    // written.
    assert_eq!(results[1]["signInShown"], true, "{browser:#}");
    assert_eq!(results[1]["formShown"], false, "{browser:#}");
    assert_eq!(results[1]["status"], 403, "{browser:#}");
    assert_eq!(results[1]["title"], "Another person's link", "{browser:#}");
    let told = results[1]["text"].as_str().unwrap();
    assert!(told.contains("You are signed in as bob"), "{told}");
    assert!(told.contains("Nothing was written"), "{told}");

    // Alice's browser still holds her sign-in: straight to the form. The
    // key holds what she typed, never what Bob did.
    assert_eq!(results[2]["signInShown"], false, "{browser:#}");
    assert_eq!(results[2]["formShown"], true, "{browser:#}");
    assert_eq!(results[2]["title"], "Done", "{browser:#}");
    assert_eq!(
        stored(&emu, "user.page-second").as_deref(),
        Some(ALICE_SECOND)
    );

    // The form named Alice; the page's cookies were HttpOnly and Lax.
    let responses = browser["responses"].as_array().unwrap();
    let form = responses
        .iter()
        .find(|r| {
            r["body"]
                .as_str()
                .is_some_and(|b| b.contains("name=\"value\""))
        })
        .expect("the form was served");
    assert!(
        form["body"]
            .as_str()
            .unwrap()
            .contains("You are signed in as <strong>alice</strong>"),
        "{form:#}"
    );
    let cookies: Vec<&str> = responses
        .iter()
        .filter_map(|r| r["headers"]["set-cookie"].as_str())
        .filter(|c| c.contains("osc-ask"))
        .collect();
    assert!(!cookies.is_empty(), "{browser:#}");
    for cookie in &cookies {
        for line in cookie.lines() {
            assert!(
                line.contains("HttpOnly")
                    && line.contains("SameSite=Lax")
                    && line.contains("Path=/"),
                "{line}"
            );
        }
    }

    let values = [
        ALICE_FIRST,
        ALICE_SECOND,
        BOB_TRIES,
        AGENT_TRIES,
        OSC_TOKEN,
        client_secret.as_str(),
    ];
    assert_no_leak("the browser's output", &browser_out, &values[4..]);
    for response in responses {
        assert_no_leak("a response the browser got", &response.to_string(), &values);
    }
    assert_no_leak("the agent's report", &run.stdout, &values);
    let (_, log) = server.terminate().await;
    let signatures: Vec<&str> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_no_leak("the server's log", &log, &values);
    assert_no_leak("the server's log", &log, &signatures);
    assert!(
        log.contains("one-time page refused link=")
            && log.contains("reason=\"signed in as another person\""),
        "{log}"
    );

    // The audit log: Alice's two page writes, Bob's refused attempt.
    let records = crate::support::audit_records(&audit);
    let page_records: Vec<(&str, &str, &str, &str)> = records
        .iter()
        .filter(|r| r["outcome"] != "pending")
        .map(|r| {
            (
                r["key"].as_str().unwrap_or_default(),
                r["subject"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap(),
                r["rule"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        page_records,
        [
            ("user.page-first", "alice", "ok", ""),
            ("user.page-second", "bob", "refused", "page_person"),
            ("user.page-second", "alice", "ok", ""),
        ],
        "{records:#?}"
    );
    let bobs = records.iter().find(|r| r["subject"] == "bob").unwrap();
    assert_eq!(bobs["transport"], "page", "{bobs:#}");
    assert!(bobs.get("clientId").is_none(), "{bobs:#}");
}
