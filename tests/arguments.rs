//! What the model sees when it gets the arguments wrong, through a real
//! rmcp client in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use serde_json::{Map, Value, json};
use support::{connect, emulator, is_error, text};

/// Never to appear in any byte the server sends back.
const CANARY: &str = "canary-5e1f0a-do-not-echo";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn call_raw(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Map<String, Value>,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .expect("the call is routed to the tool")
}

/// True when `message` ends with exactly one period and has no doubled
/// period outside a quoted (backticked) span.
fn one_period(message: &str) -> bool {
    let outside: String = message
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, part)| part)
        .collect::<Vec<_>>()
        .join("`");
    message.ends_with('.') && !message.ends_with("..") && !outside.contains("..")
}

#[tokio::test]
async fn every_refusal_ends_with_one_period() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let cases = [
        (
            "set_tenant_secret",
            json!({"key": "system.x", "value": "v"}),
        ),
        ("delete_tenant_secret", json!({"key": "system.x"})),
        ("set_tenant_secret", json!({"key": "", "value": "v"})),
        ("set_tenant_secret", json!({"key": "user.", "value": "v"})),
        ("set_tenant_secret", json!({"key": "apikey", "value": "v"})),
        ("set_tenant_secret", json!({"key": "user..x", "value": "v"})),
        (
            "set_tenant_secret",
            json!({"key": "user.a b", "value": "v"}),
        ),
        ("set_tenant_secret", json!({"key": "user.k", "value": ""})),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": "a\u{0}b"}),
        ),
        ("delete_tenant_secret", json!({"key": "user.a%2Fb"})),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "Bad_Service", "secretName": "a"}),
        ),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "svc", "secretName": "api-key"}),
        ),
        ("list_tenant_secrets", json!({"prefix": "admin"})),
        ("list_tenant_secrets", json!({"contains": "a/b"})),
    ];
    for (tool, args) in cases {
        let result = call_raw(&client, tool, object(args.clone())).await;
        assert!(is_error(&result), "{tool} {args}");
        let message = text(&result);
        assert!(one_period(&message), "{tool} {args}: {message}");
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn a_refused_delete_of_a_system_key_does_not_advise_storing() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let delete = text(
        &call_raw(
            &client,
            "delete_tenant_secret",
            object(json!({"key": "system.gitea_token"})),
        )
        .await,
    );
    assert!(delete.contains("cannot delete"), "{delete}");
    assert!(delete.contains("materialize_tenant_secret"), "{delete}");
    assert!(!delete.to_lowercase().contains("store"), "{delete}");
    let set = text(
        &call_raw(
            &client,
            "set_tenant_secret",
            object(json!({"key": "system.gitea_token", "value": CANARY})),
        )
        .await,
    );
    assert!(
        set.contains("To store your own secret, use a `user.` key."),
        "{set}"
    );
    assert!(!set.contains(CANARY), "{set}");
    assert!(emu.requests().is_empty());
}
