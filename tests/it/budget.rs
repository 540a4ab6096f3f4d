//! What the model pays for this server in its context, in bytes, as a real
//! client receives them: the whole `tools/list` answer, and a list result
//! per key. Sizes are deterministic, so these are exact budgets, not timing.

use crate::support;
use crate::support::{OSC_TOKEN, StdioServer};
use serde_json::{Value, json};

/// The whole `tools/list` result, every tool with its output schema.
const TOOLS_LIST_BUDGET: usize = 6 * 1024;

/// The `tools/list` result the built binary sends over stdio, as the bytes
/// of its JSON (compact, as on the wire).
async fn tools_list_bytes(args: &[&str], env: &[(&str, &str)]) -> (usize, Value) {
    let mut server = StdioServer::spawn(args, env);
    server.initialize().await;
    let answer = server.request("tools/list", json!({})).await;
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "the server exits cleanly: {stderr}");
    let result = answer["result"].clone();
    assert_eq!(
        result["tools"].as_array().map(Vec::len),
        Some(5),
        "every tool is listed: {result}"
    );
    (serde_json::to_string(&result).unwrap().len(), result)
}

#[tokio::test]
async fn tools_list_fits_the_context_budget_against_a_real_url() {
    // Nothing listens on port 9; listing never reaches OSC.
    let (bytes, result) = tools_list_bytes(
        &[],
        &[
            ("OSC_API_URL", "http://127.0.0.1:9"),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
        ],
    )
    .await;
    println!("tools/list: {bytes} bytes, about {} tokens", bytes / 4);
    assert!(
        bytes <= TOOLS_LIST_BUDGET,
        "tools/list is {bytes} bytes, over its budget of {TOOLS_LIST_BUDGET}: {result}"
    );
    for tool in result["tools"].as_array().unwrap() {
        assert!(tool.get("outputSchema").is_some(), "{tool}");
    }
}

#[tokio::test]
async fn tools_list_fits_the_context_budget_in_the_sandbox() {
    let (bytes, result) = tools_list_bytes(&["--sandbox"], &[]).await;
    println!("tools/list (sandbox): {bytes} bytes");
    assert!(
        bytes <= TOOLS_LIST_BUDGET,
        "tools/list is {bytes} bytes in the sandbox, over {TOOLS_LIST_BUDGET}: {result}"
    );
}

/// Bytes of the list result, as the model reads it, per key beyond the key
/// itself, on average.
const PER_KEY_BUDGET: usize = 40;

/// A list page costs at most [`PER_KEY_BUDGET`] bytes per key beyond the
/// key, in the structured result and in its text copy alike: the page is
/// measured with no keys and with 200, and the keys' own bytes subtracted.
#[tokio::test]
async fn a_list_result_costs_at_most_40_bytes_per_key_beyond_the_key() {
    let emu = support::emulator().await;
    let client = support::connect(&emu).await;
    let list = || support::call(&client, "list_tenant_secrets", json!({}));
    let empty = list().await;
    let keys: Vec<String> = (0..200)
        .map(|i| format!("user.service-{i:03}-api-key"))
        .collect();
    for key in &keys {
        emu.insert_tenant_secret(key, "canary-budget-value");
    }
    let full = list().await;
    let structured = full
        .structured_content
        .clone()
        .expect("a structured result");
    assert_eq!(structured["count"], 200, "{structured}");
    for key in &keys {
        assert!(
            structured["secrets"][key].is_string(),
            "{key} is listed with its update time: {structured}"
        );
    }
    let key_bytes: usize = keys.iter().map(String::len).sum();
    let structured_bytes = |r: &rmcp::model::CallToolResult| {
        serde_json::to_string(r.structured_content.as_ref().unwrap())
            .unwrap()
            .len()
    };
    let text_bytes = |r: &rmcp::model::CallToolResult| support::text(r).len();
    for (what, bytes) in [
        (
            "structured result",
            &structured_bytes as &dyn Fn(_) -> usize,
        ),
        ("text copy", &text_bytes),
    ] {
        let added = bytes(&full) - bytes(&empty);
        let per_key = (added - key_bytes) / keys.len();
        println!("list {what}: {per_key} bytes per key beyond the key");
        assert!(
            per_key <= PER_KEY_BUDGET,
            "the list's {what} costs {per_key} bytes per key beyond the key, over {PER_KEY_BUDGET}"
        );
    }
    assert!(!support::text(&full).contains("canary-budget-value"));
}
