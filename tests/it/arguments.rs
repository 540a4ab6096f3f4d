//! What the model sees when it gets the arguments wrong: every malformed
//! shape, for every tool, through a real rmcp client in-process. Each answer
//! is a tool result with `isError: true` that names the argument, the
//! expected type and an example, and never shows a value's content.

use std::sync::Arc;

use crate::support;
use crate::support::{
    OSC_TOKEN, StdioServer, client_for, connect, emulator, fast_retry, http, is_error, text,
};
use osc_secrets_mcp::server::SecretsServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, CustomRequest, ServerResult,
};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};

/// Never to appear in any byte the server sends back.
const CANARY: &str = "canary-5e1f0a-do-not-echo";

/// A tool, valid arguments for it, and (argument, example shown) pairs.
type Case = (&'static str, Value, Vec<(&'static str, &'static str)>);

/// One valid call per tool, and for each argument the example the model is
/// shown when that argument is wrong or missing.
fn valid_calls() -> Vec<Case> {
    vec![
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": CANARY, "mode": "upsert"}),
            vec![
                ("key", "\"key\": \"user.stripe-api-key\""),
                ("value", "\"value\": \"<the secret, as text>\""),
                ("mode", "\"mode\": \"upsert\""),
            ],
        ),
        (
            "delete_tenant_secret",
            json!({"key": "user.k"}),
            vec![("key", "\"key\": \"user.my-api-key\"")],
        ),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "svc", "secretName": "apikey"}),
            vec![
                ("key", "\"key\": \"user.my-api-key\""),
                ("serviceId", "\"serviceId\": \"eyevinn-my-service\""),
                ("secretName", "\"secretName\": \"apikey\""),
            ],
        ),
        // list_tenant_secrets' arguments are checked by the same code; its
        // examples come from its own schema, so only the names are fixed here.
        (
            "list_tenant_secrets",
            json!({"contains": "k"}),
            vec![("contains", "\"contains\": ")],
        ),
    ]
}

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

/// Asserts the common shape of every argument refusal and returns its text.
fn refusal(result: &CallToolResult, what: &str) -> String {
    assert!(is_error(result), "{what}: not an error: {result:?}");
    let message = text(result);
    assert!(
        message.starts_with("Refused before contacting OSC: "),
        "{what}: {message}"
    );
    assert!(
        !message.contains("failed to deserialize"),
        "{what}: rmcp's wording leaked: {message}"
    );
    assert!(!message.contains(CANARY), "{what}: value shown: {message}");
    assert!(
        result.structured_content.is_none(),
        "{what}: an error has no structured content"
    );
    message
}

#[tokio::test]
async fn a_wrong_type_names_the_argument_the_type_and_an_example() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    for (tool, valid, examples) in valid_calls() {
        for (arg, example) in examples {
            // Every argument here is a string; send each other JSON type.
            for (wrong, got) in [
                (json!(5), "got a number"),
                (json!(true), "got a boolean"),
                (json!([CANARY]), "got an array"),
                (json!({"nested": CANARY}), "got an object"),
            ] {
                let mut args = object(valid.clone());
                args.insert(arg.to_owned(), wrong.clone());
                let what = format!("{tool}.{arg} = {wrong}");
                let message = refusal(&call_raw(&client, tool, args).await, &what);
                assert!(message.contains(&format!("`{arg}`")), "{what}: {message}");
                assert!(message.contains("must be a string"), "{what}: {message}");
                assert!(message.contains(got), "{what}: {message}");
                assert!(message.contains("for example"), "{what}: {message}");
                assert!(message.contains(example), "{what}: {message}");
            }
        }
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

/// The complete call a refusal suggests is one the server accepts: for a
/// rotation target without `secretName`, a `targets` list with one whole
/// target, never an empty list (which is refused too).
#[tokio::test]
async fn the_suggested_complete_call_is_accepted() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let args = object(json!({"key": "user.k", "targets": [{"serviceId": "svc"}]}));
    let message = refusal(
        &call_raw(&client, "rotate_tenant_secret", args).await,
        "a target without secretName",
    );
    let suggested = message
        .split_once("A complete call: `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(call, _)| call)
        .unwrap_or_else(|| panic!("no complete call suggested: {message}"));
    let suggested: Value = serde_json::from_str(suggested).expect("the suggestion is JSON");
    assert_eq!(
        suggested["targets"].as_array().map(Vec::len),
        Some(1),
        "{suggested}"
    );
    let result = call_raw(&client, "rotate_tenant_secret", object(suggested.clone())).await;
    assert!(
        !text(&result).starts_with("Refused before contacting OSC"),
        "{suggested}: {}",
        text(&result)
    );
}

#[tokio::test]
async fn a_missing_argument_is_named_with_its_type_and_an_example() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let required = [
        ("set_tenant_secret", "key"),
        // `value` is one of three optional sources now; giving none is
        // refused by the tool (value_sources).
        ("delete_tenant_secret", "key"),
        ("materialize_tenant_secret", "key"),
        ("materialize_tenant_secret", "serviceId"),
        ("materialize_tenant_secret", "secretName"),
    ];
    for (tool, arg) in required {
        let (_, valid, examples) = valid_calls()
            .into_iter()
            .find(|(t, ..)| *t == tool)
            .unwrap();
        let example = examples.iter().find(|(a, _)| *a == arg).unwrap().1;
        for shape in ["absent", "null"] {
            let mut args = object(valid.clone());
            if shape == "absent" {
                args.remove(arg);
            } else {
                args.insert(arg.to_owned(), Value::Null);
            }
            let what = format!("{tool} with {arg} {shape}");
            let message = refusal(&call_raw(&client, tool, args).await, &what);
            assert!(message.contains(&format!("`{arg}`")), "{what}: {message}");
            assert!(message.contains("a string"), "{what}: {message}");
            assert!(message.contains(example), "{what}: {message}");
            let said = if shape == "absent" {
                "is missing"
            } else {
                "got null"
            };
            assert!(message.contains(said), "{what}: {message}");
        }
    }
    // No arguments at all: every required one is named.
    let message = refusal(
        &call_raw(&client, "materialize_tenant_secret", Map::new()).await,
        "materialize without arguments",
    );
    for arg in ["`key`", "`serviceId`", "`secretName`"] {
        assert!(message.contains(arg), "{message}");
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn an_unknown_argument_is_named_and_its_content_never_shown() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    for (tool, valid, _) in valid_calls() {
        let mut args = object(valid);
        args.insert("secret".to_owned(), json!(CANARY));
        let message = refusal(&call_raw(&client, tool, args).await, tool);
        assert!(
            message.contains("`secret` is not an argument of"),
            "{tool}: {message}"
        );
        // It says which arguments there are.
        let listed = match tool {
            "set_tenant_secret" => vec!["`key`", "`value`", "`mode`"],
            "delete_tenant_secret" => vec!["`key`"],
            "materialize_tenant_secret" => vec!["`key`", "`serviceId`", "`secretName`"],
            _ => vec!["`contains`"],
        };
        for arg in listed {
            assert!(message.contains(arg), "{tool}: {message}");
        }
    }
    // A name that is itself hostile is escaped, and a flood of them is cut short.
    let mut args = object(json!({"key": "user.k", "value": CANARY}));
    args.insert("bad\u{1b}[31mname".to_owned(), json!(CANARY));
    for i in 0..500 {
        args.insert(format!("extra{i}"), json!(CANARY));
    }
    let message = refusal(
        &call_raw(&client, "set_tenant_secret", args).await,
        "hostile names",
    );
    assert!(!message.contains('\u{1b}'), "{message}");
    assert!(message.len() < 2_000, "{} bytes: {message}", message.len());
    assert!(message.contains("more"), "{message}");
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn a_value_is_never_quoted_whatever_its_shape() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let digits = "90071992547409931234";
    for value in [
        json!(9007199254740993u64),
        serde_json::from_str::<Value>(digits).unwrap(),
        json!(0.1234567),
        json!(true),
        json!([CANARY, 12345678]),
        json!({"canary": CANARY}),
    ] {
        let args = object(json!({"key": "user.k", "value": value}));
        let what = format!("value {value}");
        let message = refusal(&call_raw(&client, "set_tenant_secret", args).await, &what);
        assert!(message.contains("`value`"), "{what}: {message}");
        assert!(message.contains("must be a string"), "{what}: {message}");
        for fragment in [
            "9007199254740993",
            "9007199254",
            "1234567",
            digits,
            "canary",
        ] {
            assert!(!message.contains(fragment), "{what}: quoted: {message}");
        }
    }
    // A number gets the reason to send it as text.
    let args = object(json!({"key": "user.k", "value": 1234}));
    let message = refusal(&call_raw(&client, "set_tenant_secret", args).await, "1234");
    assert!(message.contains("JSON string"), "{message}");
    assert!(message.contains("digits can be lost"), "{message}");
    assert!(!message.contains("1234"), "{message}");
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn a_mode_outside_its_enum_lists_the_allowed_values() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let args = object(json!({"key": "user.k", "value": CANARY, "mode": "replace"}));
    let message = refusal(&call_raw(&client, "set_tenant_secret", args).await, "mode");
    assert!(message.contains("`mode`"), "{message}");
    assert!(
        message.contains("`upsert`") && message.contains("`create`"),
        "{message}"
    );
    assert!(message.contains("got `replace`"), "{message}");
    assert!(
        message.contains("for example `\"mode\": \"upsert\"`"),
        "{message}"
    );
    assert!(emu.requests().is_empty());
    // An optional argument sent as null means the same as leaving it out.
    let args = object(json!({"key": "user.k", "value": "v", "mode": null}));
    let result = call_raw(&client, "set_tenant_secret", args).await;
    assert!(!is_error(&result), "{}", text(&result));
    assert_eq!(result.structured_content.unwrap()["mode"], "upsert");
}

/// `arguments` that are not an object reach rmcp as an unparsable
/// `tools/call`; they are answered as a tool error too.
#[tokio::test]
async fn arguments_that_are_not_an_object_are_a_tool_error() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    for (tool, example) in [
        ("set_tenant_secret", "\"key\": \"user.stripe-api-key\""),
        ("delete_tenant_secret", "\"key\": \"user.my-api-key\""),
        (
            "materialize_tenant_secret",
            "\"serviceId\": \"eyevinn-my-service\"",
        ),
        ("list_tenant_secrets", "{}"),
    ] {
        for (arguments, got) in [
            (json!([CANARY]), "got an array"),
            (json!(CANARY), "got a string"),
            (json!(42), "got a number"),
            (json!(false), "got a boolean"),
        ] {
            let what = format!("{tool} with arguments {arguments}");
            let answer = client
                .send_request(ClientRequest::CustomRequest(CustomRequest::new(
                    "tools/call",
                    Some(json!({"name": tool, "arguments": arguments})),
                )))
                .await
                .unwrap_or_else(|e| panic!("{what}: a JSON-RPC error: {e}"));
            let answer = match answer {
                ServerResult::CallToolResult(result) => serde_json::to_value(result).unwrap(),
                ServerResult::CustomResult(custom) => custom.0,
                other => panic!("{what}: {other:?}"),
            };
            let result: CallToolResult = serde_json::from_value(answer).unwrap();
            let message = refusal(&result, &what);
            assert!(message.contains("`arguments`"), "{what}: {message}");
            assert!(message.contains("a JSON object"), "{what}: {message}");
            assert!(message.contains(got), "{what}: {message}");
            assert!(message.contains("for example"), "{what}: {message}");
            assert!(message.contains(example), "{what}: {message}");
        }
    }
    // An unknown tool stays a protocol error, whatever its arguments.
    let answer = client
        .send_request(ClientRequest::CustomRequest(CustomRequest::new(
            "tools/call",
            Some(json!({"name": "get_tenant_secret", "arguments": [1]})),
        )))
        .await;
    let error = format!("{:?}", answer.expect_err("unknown tool"));
    assert!(error.contains("tool not found"), "{error}");
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

fn walk(schema: &Value, path: &str, visit: &mut dyn FnMut(&str, &Map<String, Value>)) {
    match schema {
        Value::Object(map) => {
            visit(path, map);
            for (k, v) in map {
                walk(v, &format!("{path}/{k}"), visit);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}/{i}"), visit);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn input_schemas_have_plain_optional_fields_and_mode_is_an_enum() {
    let emu = emulator().await;
    let client = connect(&emu).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 5);
    for tool in &tools {
        let schema = Value::Object((*tool.input_schema).clone());
        for combinator in ["oneOf", "anyOf"] {
            assert!(schema.get(combinator).is_none(), "{}", tool.name);
        }
        walk(&schema, &tool.name, &mut |path, node| {
            if let Some(Value::Array(types)) = node.get("type") {
                assert!(!types.contains(&json!("null")), "{path}: nullable type");
            }
            if let Some(Value::Array(values)) = node.get("enum") {
                assert!(!values.contains(&Value::Null), "{path}: null in enum");
            }
            for combinator in ["oneOf", "anyOf"] {
                for branch in node
                    .get(combinator)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    assert_ne!(branch["type"], "null", "{path}: a null branch");
                }
            }
            assert!(
                node.get("default").is_none_or(|d| !d.is_null()),
                "{path}: default null"
            );
        });
    }
    let set = tools
        .iter()
        .find(|t| t.name == "set_tenant_secret")
        .unwrap();
    let mode = &set.input_schema["properties"]["mode"];
    assert_eq!(mode["type"], "string", "{mode}");
    assert_eq!(mode["enum"], json!(["upsert", "create"]), "{mode}");
    // The default is said in words, not repeated as a `default` keyword.
    assert!(
        mode["description"]
            .as_str()
            .is_some_and(|d| d.contains("default `upsert`")),
        "{mode}"
    );
    assert!(
        !set.input_schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("mode"))
    );
    // The secret is marked as something a client sends and never gets back.
    assert_eq!(set.input_schema["properties"]["value"]["writeOnly"], true);
    let list = tools
        .iter()
        .find(|t| t.name == "list_tenant_secrets")
        .unwrap();
    assert_eq!(
        list.input_schema["properties"]["contains"]["type"],
        "string"
    );
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
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": "v", "mode": "x"}),
        ),
        ("set_tenant_secret", json!({"key": "user.k", "value": 5})),
        ("set_tenant_secret", json!({"key": "user.k"})),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": "v", "x": 1}),
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

const SANDBOX: &str =
    "Sandbox: this result came from the offline OSC emulator; nothing reached Open Source Cloud.";

async fn connect_server(server: SecretsServer) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.expect("client initializes")
}

/// A server in the sandbox and one not, over the same OSC client.
async fn sandboxed_and_plain(
    emu: &osc_secrets_mcp::emulator::Emulator,
) -> (
    RunningService<RoleClient, ()>,
    RunningService<RoleClient, ()>,
) {
    let osc = Arc::new(client_for(emu, OSC_TOKEN, fast_retry()));
    let sandboxed = connect_server(SecretsServer::new(osc.clone()).sandboxed(true)).await;
    let plain = connect_server(SecretsServer::new(osc).sandboxed(false)).await;
    (sandboxed, plain)
}

#[tokio::test]
async fn a_sandboxed_server_marks_every_result() {
    let emu = emulator().await;
    let (sandboxed, _) = sandboxed_and_plain(&emu).await;
    let tools = sandboxed.list_all_tools().await.unwrap();

    let cases = [
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": CANARY}),
            false,
        ),
        ("list_tenant_secrets", json!({}), false),
        (
            "materialize_tenant_secret",
            json!({"key": "user.k", "serviceId": "svc", "secretName": "apikey"}),
            false,
        ),
        ("delete_tenant_secret", json!({"key": "user.k"}), false),
        // OSC's 404, an input rule, a schema mismatch.
        ("delete_tenant_secret", json!({"key": "user.k"}), true),
        ("delete_tenant_secret", json!({"key": "system.x"}), true),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": 5}),
            true,
        ),
    ];
    for (tool, args, error) in cases {
        let result = call_raw(&sandboxed, tool, object(args.clone())).await;
        let what = format!("{tool} {args}");
        assert_eq!(is_error(&result), error, "{what}: {}", text(&result));
        let blocks: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        assert_eq!(blocks.last().map(String::as_str), Some(SANDBOX), "{what}");
        assert!(!text(&result).contains(CANARY), "{what}");
        if !error {
            // The structured result says it too, in a field its schema declares.
            let structured = result.structured_content.clone().expect("structured");
            assert_eq!(structured["sandbox"], SANDBOX, "{what}");
            let tool = tools.iter().find(|t| t.name == tool).unwrap();
            let output = tool.output_schema.as_ref().expect("output schema");
            assert_eq!(output["properties"]["sandbox"]["type"], "string", "{what}");
            assert_ne!(output.get("additionalProperties"), Some(&json!(false)));
            // The first block is still exactly the structured content.
            assert_eq!(
                serde_json::from_str::<Value>(&blocks[0]).unwrap(),
                structured
            );
        }
    }
}

#[tokio::test]
async fn a_sandboxed_server_marks_non_object_arguments_too() {
    let emu = emulator().await;
    let (sandboxed, _) = sandboxed_and_plain(&emu).await;
    let answer = sandboxed
        .send_request(ClientRequest::CustomRequest(CustomRequest::new(
            "tools/call",
            Some(json!({"name": "list_tenant_secrets", "arguments": []})),
        )))
        .await
        .unwrap();
    let answer = match answer {
        ServerResult::CallToolResult(result) => serde_json::to_value(result).unwrap(),
        ServerResult::CustomResult(custom) => custom.0,
        other => panic!("{other:?}"),
    };
    assert!(answer.to_string().contains(SANDBOX), "{answer}");
}

/// Without the marker, nothing is said about a sandbox.
#[tokio::test]
async fn a_server_outside_the_sandbox_says_nothing_about_one() {
    let emu = emulator().await;
    let (_, plain) = sandboxed_and_plain(&emu).await;
    for (tool, args, _) in [
        ("list_tenant_secrets", json!({}), false),
        ("delete_tenant_secret", json!({"key": "system.x"}), true),
    ] {
        let result = call_raw(&plain, tool, object(args)).await;
        assert!(!text(&result).contains("Sandbox"), "{}", text(&result));
        if let Some(structured) = result.structured_content {
            assert!(structured.get("sandbox").is_none(), "{structured}");
        }
    }
}

/// Malformed calls, each with the argument its refusal must name.
fn bad_calls() -> [(&'static str, Value, &'static str); 5] {
    [
        ("set_tenant_secret", json!([CANARY]), "`arguments`"),
        ("set_tenant_secret", json!(CANARY), "`arguments`"),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "value": 12345}),
            "`value`",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.k", "secret": CANARY}),
            "`secret`",
        ),
        ("delete_tenant_secret", json!({"key": null}), "`key`"),
    ]
}

/// The same answers from the built binary over stdio, with logging at
/// `trace`: a tool error on the wire, and the canary (and the number) in no
/// byte of stdout or stderr.
#[tokio::test]
async fn the_built_binary_answers_malformed_arguments_over_stdio() {
    let bad_calls = bad_calls();
    let emu = emulator().await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &url),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
            ("OSC_MCP_LOG", "trace"),
        ],
    );
    server.initialize().await;
    for (tool, arguments, named) in &bad_calls {
        let answer = server.call_tool(tool, arguments.clone()).await;
        assert_eq!(
            answer["result"]["isError"], true,
            "stdio {tool} {arguments}: {answer}"
        );
        let message = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains(named),
            "stdio {tool} {arguments}: {message}"
        );
    }
    let (ok, transcript, stderr) = server.finish().await;
    assert!(ok);
    for (what, bytes) in [("stdout", &transcript), ("stderr", &stderr)] {
        assert!(!bytes.contains(CANARY), "{what} holds the canary:\n{bytes}");
        assert!(
            !bytes.contains("12345"),
            "{what} holds the number:\n{bytes}"
        );
    }

    assert!(emu.requests().is_empty());
}

/// The same answers over Streamable HTTP: a tool error, and the canary in no
/// HTTP body and no line of the log.
#[tokio::test]
async fn the_built_binary_answers_malformed_arguments_over_http() {
    let bad_calls = bad_calls();
    let emu = support::seeded_emulator().await;
    let server =
        http::Server::start(&emu, &["--log-level", "trace"], Some(support::MCP_TOKEN)).await;
    let session = http::open_session(&server, Some(support::MCP_TOKEN)).await;
    let mut bodies = String::new();
    for (id, (tool, arguments, named)) in (10u64..).zip(&bad_calls) {
        let body = http::post_mcp(
            &server,
            Some(support::MCP_TOKEN),
            Some(&session),
            &http::call(id, tool, arguments.clone()),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
        let answer = http::message_in(&body);
        assert_eq!(
            answer["result"]["isError"], true,
            "http {tool} {arguments}: {answer}"
        );
        let message = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains(named),
            "http {tool} {arguments}: {message}"
        );
        bodies.push_str(&body);
    }
    let (_, log) = server.terminate().await;
    for (what, bytes) in [("HTTP bodies", &bodies), ("stderr", &log)] {
        assert!(!bytes.contains(CANARY), "{what} holds the canary:\n{bytes}");
    }
    assert!(emu.requests().is_empty());
}
