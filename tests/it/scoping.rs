//! Guardrails an operator sets at start: `--read-only`, `--tools`,
//! `--exclude-tools` and `--keys`, over stdio (the built binary, against the
//! test's emulator and in `--sandbox`), over HTTP, and in-process.

use crate::support;
use std::sync::Arc;

use crate::support::http::{self as web, Server, open_session, post_mcp};
use crate::support::stdio::result_text;
use crate::support::{CANARY, MCP_TOKEN};
use crate::support::{
    OSC_TOKEN, StdioServer, call, client_for, emulator, fast_retry, is_error, text,
};
use osc_secrets_mcp::emulator::Emulator;
use osc_secrets_mcp::policy::{KeyScope, Policy, ToolScope};
use osc_secrets_mcp::server::SecretsServer;
use rmcp::ServiceExt;
use serde_json::{Value, json};

const ALL: [&str; 5] = [
    "delete_tenant_secret",
    "list_tenant_secrets",
    "materialize_tenant_secret",
    "rotate_tenant_secret",
    "set_tenant_secret",
];

fn names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn listed_keys(answer: &Value) -> Vec<String> {
    answer["result"]["structuredContent"]["secrets"]
        .as_object()
        .unwrap_or_else(|| panic!("no listing in {answer}"))
        .keys()
        .cloned()
        .collect()
}

fn against(emu: &Emulator) -> Vec<(&'static str, String)> {
    vec![
        ("OSC_API_URL", emu.base_url()),
        ("OSC_ACCESS_TOKEN", OSC_TOKEN.to_owned()),
    ]
}

fn spawn(emu: &Emulator, args: &[&str], extra: &[(&str, &str)]) -> StdioServer {
    let env = against(emu);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    StdioServer::spawn(args, &all)
}

/// `--read-only` wins over `--tools`: only the read tool is listed, and a
/// write named in `--tools` is refused as turned off, before any request.
#[tokio::test]
async fn read_only_over_stdio_lists_and_refuses() {
    let emu = emulator().await;
    let mut server = spawn(
        &emu,
        &[
            "--read-only",
            "--tools",
            "list_tenant_secrets,set_tenant_secret",
        ],
        &[],
    );
    server.initialize().await;
    let list = server.request("tools/list", json!({})).await;
    assert_eq!(names(&list), ["list_tenant_secrets"]);

    for (tool, args) in [
        (
            "set_tenant_secret",
            json!({"key": "user.a", "value": CANARY}),
        ),
        ("delete_tenant_secret", json!({"key": "user.a"})),
        (
            "materialize_tenant_secret",
            json!({"key": "user.a", "serviceId": "eyevinn-x", "secretName": "a"}),
        ),
    ] {
        let answer = server.call_tool(tool, args).await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let said = result_text(&answer);
        assert!(said.contains(&format!("{tool} is turned off")), "{said}");
        assert!(said.contains("--read-only (OSC_MCP_READ_ONLY)"), "{said}");
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    assert!(!emu.tenant_keys().iter().any(|k| k == "user.a"));

    let listed = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(listed["result"]["isError"], false, "{listed}");
    assert_eq!(emu.requests().len(), 1);

    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    for secret in [CANARY, OSC_TOKEN] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
}

/// The environment twins, and `--exclude-tools` winning over `--tools`;
/// a turned-off tool called with non-object arguments is still refused as
/// turned off, never dispatched.
#[tokio::test]
async fn tools_and_exclude_tools_over_stdio() {
    let emu = emulator().await;
    let mut server = spawn(
        &emu,
        &[],
        &[
            (
                "OSC_MCP_TOOLS",
                "list_tenant_secrets, delete_tenant_secret,set_tenant_secret",
            ),
            ("OSC_MCP_EXCLUDE_TOOLS", "set_tenant_secret"),
        ],
    );
    server.initialize().await;
    let list = server.request("tools/list", json!({})).await;
    assert_eq!(
        names(&list),
        ["delete_tenant_secret", "list_tenant_secrets"]
    );

    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.a", "value": CANARY}),
        )
        .await;
    assert!(
        result_text(&set).contains("--exclude-tools (OSC_MCP_EXCLUDE_TOOLS)"),
        "{set}"
    );
    let mat = server
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": "user.a", "serviceId": "eyevinn-x", "secretName": "a"}),
        )
        .await;
    assert!(
        result_text(&mat).contains("--tools (OSC_MCP_TOOLS)"),
        "{mat}"
    );
    let odd = server
        .request(
            "tools/call",
            json!({"name": "set_tenant_secret", "arguments": "not an object"}),
        )
        .await;
    assert_eq!(odd["result"]["isError"], true, "{odd}");
    assert!(result_text(&odd).contains("is turned off"), "{odd}");
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());

    // A served tool still works.
    emu.insert_tenant_secret("user.gone", "v");
    let delete = server
        .call_tool("delete_tenant_secret", json!({"key": "user.gone"}))
        .await;
    assert_eq!(delete["result"]["isError"], false, "{delete}");
    let (ok, stdout, _) = server.finish().await;
    assert!(ok);
    assert!(!stdout.contains(CANARY));
}

/// `--keys`: the listing holds only keys in scope and counts nothing else;
/// every other key is refused before a request, naming the rule but no key
/// that exists.
#[tokio::test]
async fn keys_over_stdio_scope_listing_and_calls() {
    let emu = emulator().await;
    for key in [
        "user.gitcred.a",
        "user.gitcred.deep.b",
        "user.other",
        "system.gitea-admin-token",
        "system.x",
        "not a key",
    ] {
        emu.insert_tenant_secret(key, "v");
    }
    let mut server = spawn(&emu, &["--keys", "user.gitcred.*,system.gitea-*"], &[]);
    server.initialize().await;
    // Every tool stays listed: --keys limits keys, not tools.
    assert_eq!(names(&server.request("tools/list", json!({})).await), ALL);

    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(
        listed_keys(&list),
        ["system.gitea-admin-token", "user.gitcred.a"]
    );
    let listing = &list["result"]["structuredContent"];
    assert_eq!(listing["count"], 2);
    assert_eq!(listing["omitted"], 0);
    assert!(listing.get("omittedReasons").is_none(), "{listing}");
    assert_eq!(listing["truncated"], false);
    assert_eq!(emu.requests().len(), 1);

    for (tool, args) in [
        (
            "set_tenant_secret",
            json!({"key": "user.other", "value": CANARY}),
        ),
        (
            "delete_tenant_secret",
            json!({"key": "user.gitcred.deep.b"}),
        ),
        (
            "materialize_tenant_secret",
            json!({"key": "system.x", "serviceId": "eyevinn-x", "secretName": "a"}),
        ),
    ] {
        let answer = server.call_tool(tool, args).await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let said = result_text(&answer);
        assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
        assert!(said.contains("--keys"), "{said}");
        for other in ["user.gitcred.a", "system.gitea-admin-token"] {
            assert!(!said.contains(other), "{said}");
        }
    }
    assert_eq!(emu.requests().len(), 1, "{:?}", emu.requests());
    assert!(emu.tenant_keys().iter().any(|k| k == "user.gitcred.deep.b"));

    // Keys in scope are acted on as usual.
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.gitcred.new", "value": CANARY}),
        )
        .await;
    assert_eq!(set["result"]["isError"], false, "{set}");
    let mat = server
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": "system.gitea-admin-token", "serviceId": "eyevinn-x", "secretName": "a"}),
        )
        .await;
    assert_eq!(mat["result"]["isError"], false, "{mat}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
}

/// The same flags in `--sandbox`, where the instructions also say what the
/// operator limited.
#[tokio::test]
async fn sandbox_with_guardrails_over_stdio() {
    let mut server = StdioServer::spawn(
        &["--sandbox", "--read-only", "--keys", "user.gitcred.**"],
        &[],
    );
    let init = server.initialize().await;
    let instructions = init["result"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("turned off these tools on this server: delete_tenant_secret, materialize_tenant_secret, rotate_tenant_secret, set_tenant_secret"),
        "{instructions}"
    );
    assert!(instructions.contains("`user.gitcred.**`"), "{instructions}");
    assert_eq!(
        names(&server.request("tools/list", json!({})).await),
        ["list_tenant_secrets"]
    );
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(listed_keys(&list), ["user.gitcred.example-github-token"]);
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
}

/// Over Streamable HTTP the handler applies the same guardrails.
#[tokio::test]
async fn guardrails_over_http() {
    let emu = crate::support::seeded_emulator().await;
    let server = Server::start(
        &emu,
        &[
            "--exclude-tools",
            "delete_tenant_secret",
            "--keys",
            "user.gitcred.*",
        ],
        Some(MCP_TOKEN),
    )
    .await;
    let session = open_session(&server, Some(MCP_TOKEN)).await;
    let ask = |id: u64, body: Value| {
        let session = session.clone();
        let server = &server;
        async move {
            let _ = id;
            let response = post_mcp(server, Some(MCP_TOKEN), Some(&session), &body)
                .send()
                .await
                .unwrap();
            web::message_in(&response.text().await.unwrap())
        }
    };
    let list = ask(2, web::rpc(2, "tools/list", json!({}))).await;
    assert_eq!(
        names(&list),
        [
            "list_tenant_secrets",
            "materialize_tenant_secret",
            "rotate_tenant_secret",
            "set_tenant_secret"
        ]
    );
    let delete = ask(
        3,
        web::call(
            3,
            "delete_tenant_secret",
            json!({"key": "user.gitcred.example-github-token"}),
        ),
    )
    .await;
    assert!(result_text(&delete).contains("is turned off"), "{delete}");
    let set = ask(
        4,
        web::call(
            4,
            "set_tenant_secret",
            json!({"key": "user.example-api-key", "value": CANARY}),
        ),
    )
    .await;
    assert_eq!(set["result"]["isError"], true, "{set}");
    assert!(result_text(&set).contains("--keys"), "{set}");
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());

    let listed = ask(5, web::call(5, "list_tenant_secrets", json!({}))).await;
    assert_eq!(listed_keys(&listed), ["user.gitcred.example-github-token"]);
    assert_eq!(listed["result"]["structuredContent"]["count"], 1);
    assert_eq!(emu.requests().len(), 1);
    let (_, log) = server.terminate().await;
    crate::support::assert_no_leak("the server's log", &log, &crate::support::SECRETS);
    assert!(log.contains("guardrail:"), "{log}");
}

/// Settings that cannot be used stop the server at start, saying what the
/// real names are or what is wrong, without repeating what was typed.
#[tokio::test]
async fn bad_guardrails_stop_the_server_at_start() {
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["--tools", "list_tenant_secrets,lsit_tenant_secrets"],
            "the 2nd name in --tools (OSC_MCP_TOOLS) is not a tool of this server",
            "lsit",
        ),
        (
            &["--exclude-tools", "remove_tenant_secret"],
            "the 1st name in --exclude-tools (OSC_MCP_EXCLUDE_TOOLS) is not a tool",
            "remove_",
        ),
        (
            &["--keys", "user.ci.*,user.{a,b}"],
            "the 2nd pattern in --keys (OSC_MCP_KEYS) holds `{`",
            "user.{a",
        ),
        (
            &["--keys", "user.[zzz"],
            "the 1st pattern in --keys (OSC_MCP_KEYS) is not a valid glob",
            "[zzz",
        ),
        (
            &["--read-only", "--tools", "set_tenant_secret"],
            "no tool is left to serve",
            "\u{0}",
        ),
    ];
    for (args, said, hidden) in cases {
        let mut cmd = support::binary();
        cmd.arg("--sandbox").args(args);
        let (status, stderr) = web::run_to_exit(cmd).await;
        assert!(!status.success(), "{args:?} started");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(!stderr.contains(hidden), "{args:?}: {stderr}");
        if said.contains("not a tool") {
            assert!(
                stderr.contains(
                    "delete_tenant_secret, list_tenant_secrets, materialize_tenant_secret, rotate_tenant_secret, set_tenant_secret"
                ),
                "{stderr}"
            );
        }
        assert!(
            !stderr.contains("SANDBOX mode"),
            "started before checking: {stderr}"
        );
    }
    // An empty OSC_MCP_KEYS does not silently limit nothing: it is refused.
    let mut cmd = support::binary();
    cmd.arg("--sandbox").env("OSC_MCP_KEYS", "");
    let (status, stderr) = web::run_to_exit(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains("the 1st pattern in --keys (OSC_MCP_KEYS) is empty"),
        "{stderr}"
    );
}

/// In-process: the glob edges, through the real handler and a real client.
#[tokio::test]
async fn key_patterns_in_process() {
    let emu = emulator().await;
    for key in [
        "user.a",
        "user.a.b",
        "user.key1",
        "user.key12",
        "user.x.token",
        "user.x.y.token",
        "system.s",
    ] {
        emu.insert_tenant_secret(key, "v");
    }
    let cases: [(&[&str], &[&str]); 6] = [
        (&["user.*"], &["user.a", "user.key1", "user.key12"]),
        (&["user.a", "user.a.b"], &["user.a", "user.a.b"]),
        (&["user.key?"], &["user.key1"]),
        (&["user.**.token"], &["user.x.token", "user.x.y.token"]),
        (&["system.*"], &["system.s"]),
        (&["user.[ak]*.*"], &["user.a.b"]),
    ];
    for (patterns, shown) in cases {
        let given: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let policy = Policy {
            tools: ToolScope::default(),
            keys: KeyScope::new(&given).unwrap(),
            ..Policy::default()
        };
        let osc = client_for(&emu, OSC_TOKEN, fast_retry());
        let handler = SecretsServer::new(Arc::new(osc)).with_policy(policy);
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            if let Ok(running) = handler.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let client = ().serve(client_io).await.unwrap();
        let list = call(&client, "list_tenant_secrets", json!({})).await;
        assert!(!is_error(&list), "{}", text(&list));
        let got: Vec<String> = list.structured_content.as_ref().unwrap()["secrets"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(got, shown, "{patterns:?}");
        // `*` stays within a segment: `user.*` does not reach `user.a.b`.
        if patterns == ["user.*"] {
            let before = emu.requests().len();
            let refused = call(&client, "delete_tenant_secret", json!({"key": "user.a.b"})).await;
            assert!(is_error(&refused));
            assert!(text(&refused).contains("--keys"), "{}", text(&refused));
            assert_eq!(emu.requests().len(), before);
        }
        client.cancel().await.unwrap();
    }
}
