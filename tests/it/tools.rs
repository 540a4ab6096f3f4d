//! Every tool through a real rmcp client, in-process: success and error paths.

use crate::support::{
    call, client_for, connect, connect_with, emulator, fast_retry, fault, is_error,
    seeded_emulator, text,
};
use osc_secrets_mcp::emulator::Fault;
use rmcp::RoleClient;
use rmcp::service::RunningService;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

fn structured(result: &rmcp::model::CallToolResult) -> Value {
    assert!(!is_error(result), "unexpected error: {}", text(result));
    let value = result
        .structured_content
        .clone()
        .expect("structured content");
    // The plain-text copy says the same as the structured content.
    assert_eq!(serde_json::from_str::<Value>(&text(result)).unwrap(), value);
    value
}

#[tokio::test]
async fn initialize_explains_the_reference_model() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "osc-secrets-mcp");
    let instructions = info.instructions.clone().unwrap();
    assert!(instructions.contains("{{secrets."));
    assert!(instructions.contains("materialize_tenant_secret"));
    assert!(instructions.to_lowercase().contains("rotate"));
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 5);
    assert!(tools.iter().all(|t| t.output_schema.is_some()));
    // Listing made no request upstream.
    assert!(emu.requests().is_empty());
}

/// A seeded emulator and a client for it; what the tests below start from.
async fn seeded() -> (
    osc_secrets_mcp::emulator::Emulator,
    RunningService<RoleClient, ()>,
) {
    let emu = seeded_emulator().await;
    let client = connect(&emu).await;
    (emu, client)
}

/// No tool ever read a value back from OSC.
fn assert_no_value_read(emu: &osc_secrets_mcp::emulator::Emulator) {
    assert!(
        emu.requests()
            .iter()
            .all(|r| !(r.method == "GET" && r.path.starts_with("/mytenantsecrets/")))
    );
}

#[tokio::test]
async fn set_creates_then_replaces_and_create_mode_creates() {
    let (emu, client) = seeded().await;
    let out = structured(
        &call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.stripe-key", "value": "sk_live_1"}),
        )
        .await,
    );
    assert_eq!(out["key"], "user.stripe-key");
    assert_eq!(out["mode"], "upsert");
    assert_eq!(out["outcome"], "created");
    assert_eq!(
        emu.tenant_value("user.stripe-key").unwrap().expose_secret(),
        "sk_live_1"
    );

    let out = structured(
        &call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.stripe-key", "value": "sk_live_2", "mode": "upsert"}),
        )
        .await,
    );
    assert_eq!(out["outcome"], "written");
    assert_eq!(
        emu.tenant_value("user.stripe-key").unwrap().expose_secret(),
        "sk_live_2"
    );

    let out = structured(
        &call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.new", "value": "v", "mode": "create"}),
        )
        .await,
    );
    assert_eq!(out["outcome"], "created");
    assert_eq!(out["mode"], "create");

    assert_no_value_read(&emu);
}

#[tokio::test]
async fn list_is_sorted_with_update_times_and_filters() {
    let (emu, client) = seeded().await;
    structured(
        &call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.stripe-key", "value": "sk_live_2"}),
        )
        .await,
    );
    let all = structured(&call(&client, "list_tenant_secrets", json!({})).await);
    let keys: Vec<&str> = all["secrets"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.contains(&"user.stripe-key") && keys.iter().any(|k| k.starts_with("system.")),
        "{keys:?}"
    );
    assert_eq!(all["count"], keys.len());
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Each key maps to its last update time, never to anything else.
    assert!(
        all["secrets"]
            .as_object()
            .unwrap()
            .values()
            .all(|t| t.as_str().is_some_and(|t| t.ends_with('Z')))
    );

    let system =
        structured(&call(&client, "list_tenant_secrets", json!({"prefix": "system"})).await);
    // The seeded platform keys, exactly.
    let keys: Vec<&str> = system["secrets"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["system.gitea-admin-token", "system.sdlc-webhook-secret"]
    );
    assert_eq!(system["count"], 2);
    let stripe = structured(
        &call(
            &client,
            "list_tenant_secrets",
            json!({"contains": "STRIPE"}),
        )
        .await,
    );
    assert_eq!(stripe["count"], 1);
    assert!(stripe["secrets"]["user.stripe-key"].is_string(), "{stripe}");

    assert_no_value_read(&emu);
}

/// User and platform keys both materialize into a service, as a reference.
#[tokio::test]
async fn materialize_copies_the_value_and_answers_a_reference() {
    let (emu, client) = seeded().await;
    structured(
        &call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.stripe-key", "value": "sk_live_2"}),
        )
        .await,
    );
    let out = structured(
        &call(&client, "materialize_tenant_secret", json!({"key": "user.stripe-key", "serviceId": "eyevinn-shop", "secretName": "stripekey"})).await,
    );
    assert_eq!(out["reference"], "{{secrets.stripekey}}");
    assert_eq!(out["serviceId"], "eyevinn-shop");
    assert_eq!(out["secretName"], "stripekey");
    assert!(
        out["instruction"]
            .as_str()
            .unwrap()
            .contains("{{secrets.stripekey}}")
    );
    assert_eq!(
        emu.service_secret("eyevinn-shop", "stripekey")
            .unwrap()
            .expose_secret(),
        "sk_live_2"
    );

    // Platform keys can be materialized.
    let system_key = "system.gitea-admin-token";
    let out = structured(
        &call(
            &client,
            "materialize_tenant_secret",
            json!({"key": system_key, "serviceId": "eyevinn-ci", "secretName": "gitea"}),
        )
        .await,
    );
    assert_eq!(out["reference"], "{{secrets.gitea}}");

    assert_no_value_read(&emu);
}

/// Deleting the tenant secret leaves the copies made from it in place.
#[tokio::test]
async fn delete_leaves_materialized_copies_in_place() {
    let (emu, client) = seeded().await;
    structured(
        &call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.stripe-key", "value": "sk_live_2"}),
        )
        .await,
    );
    structured(&call(&client, "materialize_tenant_secret", json!({"key": "user.stripe-key", "serviceId": "eyevinn-shop", "secretName": "stripekey"})).await);
    let out = structured(
        &call(
            &client,
            "delete_tenant_secret",
            json!({"key": "user.stripe-key"}),
        )
        .await,
    );
    assert_eq!(out["deleted"], true);
    assert!(out["note"].as_str().unwrap().contains("stay in place"));
    assert!(emu.tenant_value("user.stripe-key").is_none());
    assert!(emu.service_secret("eyevinn-shop", "stripekey").is_some());

    assert_no_value_read(&emu);
}

/// Inputs that must be refused before any request is sent: the tool, its
/// arguments, and what the refusal must say.
fn refused_inputs() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "set_tenant_secret",
            json!({"key": "system.gitea-admin-token", "value": "v"}),
            "platform key",
        ),
        (
            "delete_tenant_secret",
            json!({"key": "system.sdlc-webhook-secret"}),
            "platform key",
        ),
        (
            "set_tenant_secret",
            json!({"key": "apikey", "value": "v"}),
            "must start with `user.`",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.", "value": "v"}),
            "no name after the prefix",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a/b", "value": "v"}),
            "a slash",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a..b", "value": "v"}),
            "empty segment",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a b", "value": "v"}),
            "whitespace",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a\u{200b}", "value": "v"}),
            "U+200B",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a\u{1}", "value": "v"}),
            "control character",
        ),
        (
            "set_tenant_secret",
            json!({"key": format!("user.{}", "k".repeat(300)), "value": "v"}),
            "the limit is 200",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": ""}),
            "`value`: is empty",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": "x".repeat(70_000)}),
            "limit is 65536 bytes",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": 12345}),
            "must be a string, got a number",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": "v", "mode": "replace"}),
            "`mode`",
        ),
        ("delete_tenant_secret", json!({"key": "user.a%2Fb"}), "`%`"),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "Bad_Service", "secretName": "apikey"}),
            "`serviceId`",
        ),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "svc", "secretName": "api-key"}),
            "`secretName`",
        ),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "svc", "secretName": ""}),
            "`secretName`: is empty",
        ),
        (
            "materialize_tenant_secret",
            json!({"key": "k", "serviceId": "svc", "secretName": "a"}),
            "`key`",
        ),
        (
            "list_tenant_secrets",
            json!({"prefix": "admin"}),
            "`prefix` must be one of `user` or `system`, got `admin`",
        ),
        (
            "list_tenant_secrets",
            json!({"contains": "a/b"}),
            "no key could match",
        ),
    ]
}

/// Inputs that must be refused before any request is sent.
#[tokio::test]
async fn refused_inputs_send_nothing() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let cases = refused_inputs();
    for (tool, args, expected) in cases {
        let result = call(&client, tool, args.clone()).await;
        assert!(is_error(&result), "{tool} {args} should be refused");
        let message = text(&result);
        assert!(message.contains(expected), "{tool} {args}: {message}");
        assert!(
            message.starts_with("Refused before contacting OSC"),
            "{message}"
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn system_refusal_says_it_can_still_be_materialized() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let result = call(&client, "delete_tenant_secret", json!({"key": "system.x"})).await;
    let message = text(&result);
    assert!(message.contains("materialize_tenant_secret"), "{message}");
    // A delete is told which keys can be deleted, not how to store one.
    assert!(
        message.contains("Only `user.*` keys can be deleted"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_arguments_are_errors_without_values() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let mut args = serde_json::Map::new();
    args.insert("key".into(), json!("user.k"));
    args.insert("secret".into(), json!("canary-in-unknown-field"));
    let result = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("set_tenant_secret").with_arguments(args),
        )
        .await
        .unwrap();
    assert!(is_error(&result));
    let message = text(&result);
    assert!(message.contains("`secret` is not an argument"), "{message}");
    assert!(!message.contains("canary-in-unknown-field"), "{message}");
    // There is no tool that reads a value, whatever it is called.
    for name in ["read_tenant_secret", "get_tenant_secret"] {
        let routed = client
            .call_tool(rmcp::model::CallToolRequestParams::new(name))
            .await;
        assert!(routed.is_err(), "{name} must not exist");
    }
    assert!(emu.requests().is_empty());
}

/// Each upstream failure comes back as a tool error that says what to do next.
/// An OSC answer of `status` to `method`.
fn osc_fault(method: &str, status: u16, retry_after: Option<&str>) -> Fault {
    Fault {
        retry_after: retry_after.map(str::to_owned),
        ..fault(method, status)
    }
}

/// A create of a key that exists advises `upsert` and changes nothing.
#[tokio::test]
async fn a_create_of_an_existing_key_advises_upsert() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    emu.insert_tenant_secret("user.exists", "v");
    let conflict = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.exists", "value": "v2", "mode": "create"}),
    )
    .await;
    assert!(is_error(&conflict));
    assert!(
        text(&conflict).contains("mode `upsert`"),
        "{}",
        text(&conflict)
    );
    assert_eq!(
        emu.tenant_value("user.exists").unwrap().expose_secret(),
        "v"
    );
}

/// A key OSC does not have: the answer points at list_tenant_secrets.
#[tokio::test]
async fn a_missing_key_advises_listing() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let missing = call(
        &client,
        "delete_tenant_secret",
        json!({"key": "user.absent"}),
    )
    .await;
    assert!(
        text(&missing).contains("list_tenant_secrets"),
        "{}",
        text(&missing)
    );
    let missing = call(
        &client,
        "materialize_tenant_secret",
        json!({"key": "user.absent", "serviceId": "svc", "secretName": "a"}),
    )
    .await;
    assert!(is_error(&missing) && text(&missing).contains("list_tenant_secrets"));
}

/// Each OSC failure status says what to do about it.
#[tokio::test]
async fn osc_failures_say_what_to_do() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let cases = [
        (osc_fault("GET", 401, None), "OSC_ACCESS_TOKEN"),
        (osc_fault("GET", 403, None), "403"),
        (osc_fault("GET", 429, Some("60")), "Retry after 60 s"),
        (osc_fault("GET", 503, None), "after 3 attempt(s)"),
        (osc_fault("GET", 500, None), "Retry in a moment"),
    ];
    for (f, expected) in cases {
        emu.clear_faults();
        emu.push_fault(f);
        let result = call(&client, "list_tenant_secrets", json!({})).await;
        assert!(is_error(&result));
        assert!(
            text(&result).contains(expected),
            "{expected}: {}",
            text(&result)
        );
    }
}

/// An ambiguous write failure does not claim success and says how to check.
#[tokio::test]
async fn an_ambiguous_write_failure_claims_nothing() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    emu.push_fault(osc_fault("PUT", 500, None));
    let result = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.k", "value": "v"}),
    )
    .await;
    assert!(is_error(&result));
    assert!(
        text(&result).contains("may or may not have been stored"),
        "{}",
        text(&result)
    );
}

#[tokio::test]
async fn a_wrong_token_is_explained() {
    let emu = emulator().await;
    let client = connect_with(client_for(&emu, "expired-token", fast_retry())).await;
    let result = call(&client, "list_tenant_secrets", json!({})).await;
    assert!(is_error(&result));
    let message = text(&result);
    assert!(
        message.contains("401") && message.contains("new token"),
        "{message}"
    );
    assert!(!message.contains("expired-token"));
}
