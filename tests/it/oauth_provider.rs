//! The main OAuth path, with real parts only: the authorization server is
//! the certified npm `oidc-provider` (tests/oauth/provider.mjs), the client
//! is the official MCP Python SDK's OAuth client provider
//! (tests/python/oauth_client.py), and the server is the built binary with
//! --oauth-issuer. The client registers itself, authorizes with PKCE and the
//! resource parameter, gets a JWT access token, lists and reads with
//! secrets:read, is refused a write with 403 insufficient_scope, steps up to
//! secrets:write and writes. The audit log names the person.

use serde_json::json;

use crate::support::http::Server;
use crate::support::provider::Provider;
use crate::support::python::{python, run_python};
use crate::support::{OSC_TOKEN, assert_no_leak, emulator, scratch_dir, stored};

#[tokio::test]
#[ignore = "needs oidc-provider (OSC_MCP_NODE, OSC_MCP_OIDC_PROVIDER) and the MCP Python SDK (OSC_MCP_PYTHON); .ci/run installs them"]
async fn the_python_sdk_signs_in_through_a_real_authorization_server_and_steps_up() {
    let provider = Provider::start().await;
    let emu = emulator().await;
    let dir = scratch_dir("oauth-provider");
    let audit = dir.join("audit.jsonl");
    let server = Server::start(
        &emu,
        &[
            "--oauth-issuer",
            &provider.issuer,
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        None,
    )
    .await;
    let url = server.url("/mcp");
    let mut cmd = python("tests/python/oauth_client.py");
    cmd.args(["--url", &url, "--provider", &provider.issuer])
        .args(["--login", "alice", "--key", "user.oauth-python"]);
    let run = run_python(cmd, "the OAuth client", &[OSC_TOKEN]).await;
    let report = &run.report;

    assert_eq!(report["clientRegistered"], true, "{report:#}");
    assert_eq!(report["toolsReadOnly"], json!(["list_tenant_secrets"]));
    assert_eq!(report["listReadOnly"]["isError"], false, "{report:#}");
    assert_eq!(report["setAfterStepUp"]["isError"], false, "{report:#}");
    assert_eq!(
        report["toolsAfter"],
        json!([
            "delete_tenant_secret",
            "list_tenant_secrets",
            "materialize_tenant_secret",
            "rotate_tenant_secret",
            "set_tenant_secret"
        ])
    );
    assert_eq!(report["deleteKey"]["isError"], false, "{report:#}");
    assert_eq!(stored(&emu, "user.oauth-python"), None);
    // Two authorizations, both with PKCE and the resource: the first, and
    // the step-up after the 403. The first token held only secrets:read.
    assert_eq!(report["authorizations"], 2, "{report:#}");
    for asked in report["requested"].as_array().unwrap() {
        assert_eq!(asked["method"], json!(["S256"]));
        assert_eq!(asked["resource"], json!([url]));
    }
    let granted: Vec<Vec<&str>> = report["grantedScopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut s: Vec<&str> = s.as_str().unwrap_or_default().split(' ').collect();
            s.sort_unstable();
            s
        })
        .collect();
    assert_eq!(granted[0], ["secrets:read"], "{report:#}");
    assert!(
        granted[1..]
            .iter()
            .any(|s| s.contains(&"secrets:write") && s.contains(&"secrets:delete")),
        "{report:#}"
    );

    let (_, log) = server.terminate().await;
    assert!(
        log.contains(r#"OAuth: request refused, the access token lacks its scope subject=alice request="set_tenant_secret" scope="secrets:write""#),
        "{log}"
    );
    let signatures: Vec<&str> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(!signatures.is_empty());
    assert_no_leak("the server's log", &log, &signatures);
    let records = crate::support::audit_records(&audit);
    let seen: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap(),
                r["subject"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("set_tenant_secret", "alice", "ok"),
            ("delete_tenant_secret", "alice", "ok"),
        ]
    );
    assert!(
        records
            .iter()
            .all(|r| r["clientId"].as_str().is_some_and(|c| !c.is_empty())),
        "{records:#?}"
    );
}
