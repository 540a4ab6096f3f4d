//! The built binary, spawned as a child process and spoken to over stdio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use secrecy::ExposeSecret;
use serde_json::json;
use support::{StdioServer, TOKEN, emulator};

#[tokio::test]
async fn serves_every_tool_over_stdio() {
    let emu = emulator().await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(&[], &[("OSC_API_URL", &url), ("OSC_ACCESS_TOKEN", TOKEN)]);
    let init = server.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    assert!(
        init["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("{{secrets.")
    );
    // Start-up and initialize send nothing upstream.
    assert!(emu.requests().is_empty());

    let tools = server.request("tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "delete_tenant_secret",
            "list_tenant_secrets",
            "materialize_tenant_secret",
            "set_tenant_secret",
        ]
    );

    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.db-password", "value": "pw-1"}),
        )
        .await;
    assert_eq!(set["result"]["isError"], false);
    assert_eq!(set["result"]["structuredContent"]["outcome"], "created");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(
        list["result"]["structuredContent"]["secrets"][0]["key"],
        "user.db-password"
    );
    let mat = server
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": "user.db-password", "serviceId": "eyevinn-db", "secretName": "dbpassword"}),
        )
        .await;
    assert_eq!(
        mat["result"]["structuredContent"]["reference"],
        "{{secrets.dbpassword}}"
    );
    let del = server
        .call_tool("delete_tenant_secret", json!({"key": "user.db-password"}))
        .await;
    assert_eq!(del["result"]["structuredContent"]["deleted"], true);
    let refused = server
        .call_tool("delete_tenant_secret", json!({"key": "system.x"}))
        .await;
    assert_eq!(refused["result"]["isError"], true);

    let (ok, _, _) = server.finish().await;
    assert!(ok, "exits 0 when the client closes stdin");
    assert_eq!(
        emu.service_secret("eyevinn-db", "dbpassword")
            .unwrap()
            .expose_secret(),
        "pw-1"
    );
    assert_eq!(emu.requests().len(), 4);
}

#[tokio::test]
async fn a_missing_token_stops_start_up_with_both_names() {
    let mut server = StdioServer::spawn(&[], &[("OSC_API_URL", "http://127.0.0.1:9")]);
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let (_, stdout, stderr) = server.finish().await;
    assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
    assert!(
        stderr.contains("OSC_ACCESS_TOKEN") && stderr.contains("OSC_PAT_JWT"),
        "{stderr}"
    );
    assert!(stderr.contains("--sandbox"), "{stderr}");
}

#[tokio::test]
async fn a_bad_api_url_stops_start_up() {
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", "deploy.svc.prod.osaas.io"),
            ("OSC_ACCESS_TOKEN", TOKEN),
        ],
    );
    let status = server.child.wait().await.unwrap();
    assert!(!status.success());
    let (_, _, stderr) = server.finish().await;
    assert!(stderr.contains("OSC_API_URL"), "{stderr}");
    assert!(!stderr.contains(TOKEN));
}

#[tokio::test]
async fn the_sandbox_needs_no_account() {
    let mut server = StdioServer::spawn(&["--sandbox"], &[]);
    server.initialize().await;
    let list = server
        .call_tool("list_tenant_secrets", json!({"prefix": "system"}))
        .await;
    assert_eq!(list["result"]["isError"], false);
    assert!(
        list["result"]["structuredContent"]["count"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.try-me", "value": "sandbox-value", "mode": "create"}),
        )
        .await;
    assert_eq!(set["result"]["structuredContent"]["outcome"], "created");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok);
    assert!(stderr.contains("SANDBOX"), "{stderr}");
}

#[tokio::test]
async fn the_token_is_never_taken_from_argv() {
    let mut server = StdioServer::spawn(&["--token", TOKEN], &[]);
    let status = server.child.wait().await.unwrap();
    assert!(!status.success());
    let (_, _, stderr) = server.finish().await;
    assert!(stderr.contains("--token"), "{stderr}");
}
