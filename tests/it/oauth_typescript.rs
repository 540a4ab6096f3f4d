//! The main OAuth path through the official MCP TypeScript SDK's OAuth
//! client (npm `@modelcontextprotocol/sdk`: an `OAuthClientProvider` given
//! to `StreamableHTTPClientTransport`, tests/oauth/ts_client.mjs), with the
//! certified npm `oidc-provider` as authorization server
//! (tests/oauth/provider.mjs) and the built binary with --oauth-issuer.
//! The client is refused with 401, registers itself, authorizes with PKCE
//! and the resource parameter, gets a JWT access token, lists and reads
//! with secrets:read, is refused a write with 403 insufficient_scope,
//! steps up to secrets:write and writes (then likewise deletes). The audit
//! log names the person and the client.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::http::Server;
use crate::support::provider::Provider;
use crate::support::{
    OSC_TOKEN, assert_no_leak, clear_settings, external, repo_path, scratch_dir, seeded_emulator,
    stored,
};

#[tokio::test]
#[ignore = "needs oidc-provider and the MCP TypeScript SDK (OSC_MCP_NODE, OSC_MCP_OIDC_PROVIDER, OSC_MCP_TS_SDK); .ci/run installs them"]
async fn the_typescript_sdk_signs_in_through_a_real_authorization_server_and_steps_up() {
    let sdk = external("OSC_MCP_TS_SDK", "the MCP TypeScript SDK's OAuth client");
    let node = external("OSC_MCP_NODE", "the MCP TypeScript SDK's OAuth client");
    let provider = Provider::start().await;
    let emu = seeded_emulator().await;
    let dir = scratch_dir("oauth-typescript");
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
    let key = "user.oauth-typescript";
    let report = run_client(
        &node,
        &[
            "--sdk",
            &sdk,
            "--url",
            &url,
            "--provider",
            &provider.issuer,
            "--login",
            "alice",
            "--key",
            key,
        ],
    )
    .await;

    // Refused with 401, the SDK registered itself and sent the person to
    // sign in; the first connection ends with its UnauthorizedError and the
    // next, after finishAuth, succeeds.
    assert_eq!(report["clientRegistered"], true, "{report:#}");
    assert_eq!(report["connectRefused"]["error"], "UnauthorizedError");
    // With secrets:read only: one tool, and it reads OSC.
    assert_eq!(report["toolsReadOnly"], json!(["list_tenant_secrets"]));
    assert_eq!(report["listReadOnly"]["isError"], false, "{report:#}");
    let listed: Value = serde_json::from_str(report["listReadOnly"]["text"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("the listing is not JSON ({e}): {report:#}"));
    let mut keys: Vec<&str> = listed["secrets"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "system.gitea-admin-token",
            "system.sdlc-webhook-secret",
            "user.example-api-key",
            "user.gitcred.example-github-token",
        ],
        "{report:#}"
    );
    // The write was refused (403 insufficient_scope, see the log below):
    // the SDK sent the person to authorize again and the call, made again
    // in the same session, wrote. Likewise the delete.
    assert_eq!(
        report["refusedBeforeStepUp"],
        json!([
            {"tool": "set_tenant_secret", "error": "UnauthorizedError", "message": "Unauthorized"},
            {"tool": "delete_tenant_secret", "error": "UnauthorizedError", "message": "Unauthorized"},
        ]),
        "{report:#}"
    );
    assert_eq!(report["stepUps"], 2, "{report:#}");
    assert_eq!(report["sameSession"], true, "{report:#}");
    assert_eq!(report["setAfterStepUp"]["isError"], false, "{report:#}");
    let set: Value =
        serde_json::from_str(report["setAfterStepUp"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(set["key"], key, "{report:#}");
    assert_eq!(set["outcome"], "created", "{report:#}");
    assert_eq!(report["deleteKey"]["isError"], false, "{report:#}");
    assert_eq!(stored(&emu, key), None);
    // Only the three calls that were allowed reached OSC, each once.
    let osc: Vec<(String, String)> = emu
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        osc,
        [
            ("GET".to_owned(), "/mytenantsecrets".to_owned()),
            ("PUT".to_owned(), format!("/mytenantsecrets/{key}")),
            ("DELETE".to_owned(), format!("/mytenantsecrets/{key}")),
        ]
    );

    // Three authorizations, each with PKCE (S256) and this server as the
    // resource. The SDK (1.32.2) asks first for the protected resource
    // metadata's scopes_supported, and on a step-up for exactly the scopes
    // the 403 names, without adding those it already had; the challenge
    // names them (the token's and the one needed), so it keeps reading
    // after stepping up to write, and the delete steps up once more.
    assert_eq!(report["authorizations"], 3, "{report:#}");
    let requested: Vec<&str> = report["requested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|asked| {
            assert_eq!(asked["method"], json!(["S256"]), "{report:#}");
            assert_eq!(asked["hasChallenge"], true, "{report:#}");
            assert_eq!(asked["resource"], json!([url]), "{report:#}");
            asked["scope"][0].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        requested,
        [
            "secrets:read secrets:write secrets:delete",
            "secrets:read secrets:write",
            "secrets:read secrets:write secrets:delete"
        ]
    );
    // The provider granted the first only secrets:read (what alice was
    // allowed then), the step-ups what they asked for.
    assert_eq!(
        report["grantedScopes"],
        json!([
            "secrets:read",
            "secrets:read secrets:write",
            "secrets:read secrets:write secrets:delete"
        ])
    );
    assert_eq!(
        report["toolsAfter"],
        json!([
            "list_tenant_secrets",
            "materialize_tenant_secret",
            "rotate_tenant_secret",
            "set_tenant_secret"
        ])
    );

    let (_, log) = server.terminate().await;
    for (tool, scope) in [
        ("set_tenant_secret", "secrets:write"),
        ("delete_tenant_secret", "secrets:delete"),
    ] {
        let refusal = format!(
            r#"OAuth: request refused, the access token lacks its scope subject=alice request="{tool}" scope="{scope}""#
        );
        assert!(log.contains(&refusal), "{refusal}\n{log}");
    }
    let signatures: Vec<&str> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(signatures.len(), 3, "{report:#}");
    assert_no_leak("the server's log", &log, &signatures);
    // The audit log names the person and the client the SDK registered.
    let records = crate::support::audit_records(&audit);
    let seen: Vec<(&str, &str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap(),
                r["subject"].as_str().unwrap_or_default(),
                r["clientId"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let client = report["clientId"].as_str().unwrap();
    assert!(!client.is_empty(), "{report:#}");
    assert_eq!(
        seen,
        [
            ("set_tenant_secret", "alice", client, "ok"),
            ("delete_tenant_secret", "alice", client, "ok"),
        ]
    );
}

/// Runs tests/oauth/ts_client.mjs with `args`, bounded; it must succeed,
/// and neither of its outputs may hold the OSC token. Returns its JSON
/// report.
async fn run_client(node: &str, args: &[&str]) -> Value {
    let mut cmd = tokio::process::Command::new(node);
    clear_settings(&mut cmd);
    cmd.arg(repo_path("tests/oauth/ts_client.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the TypeScript client finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the TypeScript client failed:\n{stdout}\n{stderr}"
    );
    assert_no_leak("the TypeScript client's output", &stdout, &[OSC_TOKEN]);
    assert_no_leak("the TypeScript client's stderr", &stderr, &[OSC_TOKEN]);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("no JSON report from the TypeScript client ({e}):\n{stdout}\n{stderr}")
    })
}
