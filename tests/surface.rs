//! The tool surface that clients, manifests and docs depend on: fixed names
//! and arguments, complete metadata, schemas every client accepts, no way to
//! read a value, and generated docs that match the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use osc_secrets_mcp::config::{AUTH_TOKEN_VAR, TOKEN_VARS};
use osc_secrets_mcp::osc::{OscClient, OscConfig, RetryPolicy};
use osc_secrets_mcp::server::{INSTRUCTIONS, SecretsServer, registry};

#[path = "support/docs.rs"]
mod docs;

/// The tools, by name, as clients must see them.
const TOOL_NAMES: [&str; 4] = [
    "delete_tenant_secret",
    "list_tenant_secrets",
    "materialize_tenant_secret",
    "set_tenant_secret",
];
use rmcp::ServiceExt;
use rmcp::model::Tool;
use secrecy::SecretString;
use serde_json::{Map, Value};

fn tools() -> Vec<Tool> {
    registry::definitions()
}

fn input(tool: &Tool) -> Value {
    Value::Object((*tool.input_schema).clone())
}

fn output(tool: &Tool) -> Option<Value> {
    tool.output_schema
        .as_deref()
        .map(|s| Value::Object(s.clone()))
}

fn properties(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Calls `visit` on every object in `value`, depth first.
fn walk(value: &Value, visit: &mut dyn FnMut(&Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            visit(map);
            map.values().for_each(|v| walk(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

/// Every property name declared anywhere in a schema, nested ones included.
fn all_property_names(schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    walk(schema, &mut |map| {
        if let Some(Value::Object(props)) = map.get("properties") {
            names.extend(props.keys().cloned());
        }
    });
    names
}

fn formats(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(schema, &mut |map| {
        if let Some(Value::String(f)) = map.get("format") {
            found.push(f.clone());
        }
    });
    found
}

// (a) metadata

#[test]
fn every_tool_has_a_title_a_description_and_all_four_annotations() {
    for tool in tools() {
        let name = &tool.name;
        assert!(
            tool.title.as_deref().is_some_and(|t| !t.trim().is_empty()),
            "{name}: no title"
        );
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() >= 80),
            "{name}: the description must tell the model what the tool does and returns"
        );
        let a = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no annotations"));
        assert!(a.read_only_hint.is_some(), "{name}: read_only_hint not set");
        assert!(
            a.destructive_hint.is_some(),
            "{name}: destructive_hint not set"
        );
        assert!(
            a.idempotent_hint.is_some(),
            "{name}: idempotent_hint not set"
        );
        assert!(
            a.open_world_hint.is_some(),
            "{name}: open_world_hint not set"
        );
        assert_eq!(
            a.title, tool.title,
            "{name}: annotation title differs from the title"
        );
    }
}

#[test]
fn annotations_say_what_each_tool_does() {
    for tool in tools() {
        let a = tool.annotations.clone().unwrap_or_default();
        let read_only = tool.name == "list_tenant_secrets";
        assert_eq!(a.read_only_hint, Some(read_only), "{}", tool.name);
        // Writes replace values or service secrets, or remove keys.
        assert_eq!(a.destructive_hint, Some(!read_only), "{}", tool.name);
        // Every tool talks to OSC.
        assert_eq!(a.open_world_hint, Some(true), "{}", tool.name);
    }
}

// (b) schemas clients accept

#[test]
fn input_schemas_are_plain_objects_clients_accept() {
    for tool in tools() {
        let schema = input(&tool);
        let name = &tool.name;
        assert_eq!(
            schema["type"], "object",
            "{name}: the root type must be object"
        );
        for combinator in ["oneOf", "anyOf", "allOf", "not"] {
            assert!(
                schema.get(combinator).is_none(),
                "{name}: top-level `{combinator}` makes some clients reject the whole tools/list"
            );
        }
        for format in formats(&schema) {
            assert!(
                !format.starts_with("uint") && !format.starts_with("int"),
                "{name}: input format `{format}` is not JSON Schema; clients warn about it"
            );
        }
        for (arg, property) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}.{arg}: no description for the model"
            );
        }
    }
}

#[test]
fn every_tool_declares_an_object_output_schema() {
    for tool in tools() {
        let schema = output(&tool).unwrap_or_else(|| panic!("{}: no output schema", tool.name));
        assert_eq!(schema["type"], "object", "{}", tool.name);
        // usize becomes `uint`, which clients warn about; use u32 or u64.
        assert!(
            !formats(&schema).iter().any(|f| f == "uint"),
            "{}: `uint` format in the output schema",
            tool.name
        );
    }
}

// (c) fixed names

#[test]
fn tool_and_argument_names_are_fixed() {
    let expected: [(&str, &[&str], &[&str]); 4] = [
        ("list_tenant_secrets", &["prefix", "contains"], &[]),
        (
            "set_tenant_secret",
            &["key", "value", "mode"],
            &["key", "value"],
        ),
        ("delete_tenant_secret", &["key"], &["key"]),
        (
            "materialize_tenant_secret",
            &["key", "serviceId", "secretName"],
            &["key", "serviceId", "secretName"],
        ),
    ];
    let tools = tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let wanted: Vec<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(set(&names), set(&wanted), "the tool set");
    // The order clients see (rmcp lists tools by name) is the order documented.
    assert_eq!(names, TOOL_NAMES);
    for (name, args, needed) in expected {
        let tool = tools.iter().find(|t| t.name == name).expect("listed");
        let schema = input(tool);
        assert_eq!(properties(&schema), set(args), "{name}: argument names");
        assert_eq!(required(&schema), set(needed), "{name}: required arguments");
    }
}

// (e) nothing reads a value

#[test]
fn no_tool_offers_to_read_or_return_a_value() {
    const READ_WORDS: [&str; 9] = [
        "get", "read", "reveal", "show", "fetch", "export", "value", "decrypt", "dump",
    ];
    const VALUE_FIELDS: [&str; 7] = [
        "value",
        "values",
        "secretvalue",
        "secretdata",
        "data",
        "plaintext",
        "secret",
    ];
    for tool in tools() {
        let name = &tool.name;
        for word in name.split('_') {
            assert!(
                !READ_WORDS.contains(&word),
                "{name}: a tool name that reads"
            );
        }
        let description = tool
            .description
            .as_deref()
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            description.contains("never") && description.contains("value"),
            "{name}: the description must say values are never returned"
        );
        for phrase in [
            "returns the value",
            "return the value",
            "reveal",
            "decrypt",
            "plaintext",
        ] {
            assert!(
                !description.contains(phrase),
                "{name}: description offers `{phrase}`"
            );
        }
        if let Some(schema) = output(&tool) {
            for field in all_property_names(&schema) {
                assert!(
                    !VALUE_FIELDS.contains(&field.to_lowercase().as_str()),
                    "{name}: output field `{field}` could carry a value"
                );
            }
        }
        // Only set_tenant_secret takes a value, and only to write it.
        let takes_value = properties(&input(&tool)).contains("value");
        assert_eq!(takes_value, tool.name == "set_tenant_secret", "{name}");
    }
    assert!(INSTRUCTIONS.contains("No tool ever returns a secret value"));
}

// (d) generated docs match the code

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_docs_match_the_code() {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        docs::generate(root(), false).expect("the generator writes");
    }
    let stale = docs::drift(root()).expect("the generator runs");
    assert!(
        stale.is_empty(),
        "{} differ from what the code generates: run `{}` and commit the result",
        stale.join(", "),
        docs::REGENERATE
    );
    // Each generated piece is in place, not just byte-equal by accident.
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(readme.contains(&docs::readme_tool_table()));
    assert!(readme.contains(&docs::readme_config_table()));
    let manifest = std::fs::read_to_string(root().join("mcp-manifest.json")).expect("manifest");
    assert_eq!(manifest, docs::manifest_json().expect("manifest generates"));
    let reference = std::fs::read_to_string(root().join("docs/tools.md")).expect("tools.md");
    for tool in tools() {
        assert!(reference.contains(&format!("## {}", tool.name)));
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_drift_check_fails_on_a_stale_copy_and_generation_fixes_it() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "osc-secrets-mcp-surface-{}-{:x}",
        std::process::id(),
        rand_suffix()
    )));
    std::fs::create_dir_all(dir.0.join("docs")).expect("temp dir");
    let readme = "# Title\n\n<!-- tools:start -->\nold\n<!-- tools:end -->\n\n\
                  <!-- config:start -->\n<!-- config:end -->\n\nHand-written.\n";
    std::fs::write(dir.0.join("README.md"), readme).expect("readme");
    std::fs::write(dir.0.join("docs/tools.md"), "stale\n").expect("tools.md");

    let err = docs::generate(&dir.0, true).expect_err("stale files must fail the check");
    for path in [
        "docs/tools.md",
        "docs/configuration.md",
        "mcp-manifest.json",
        "README.md",
    ] {
        assert!(err.contains(path), "{err}");
    }
    assert!(err.contains(docs::REGENERATE), "{err}");

    docs::generate(&dir.0, false).expect("generation writes");
    assert_eq!(
        docs::drift(&dir.0).expect("generator runs"),
        Vec::<&str>::new()
    );
    let written = std::fs::read_to_string(dir.0.join("README.md")).expect("readme");
    assert!(written.starts_with("# Title\n\n<!-- tools:start -->\n| tool |"));
    assert!(written.ends_with("<!-- config:end -->\n\nHand-written.\n"));
    assert!(!written.contains("\nold\n"));

    // Any edit inside a generated section is drift again.
    std::fs::write(
        dir.0.join("README.md"),
        written.replace("read-only", "harmless"),
    )
    .expect("edit");
    assert_eq!(docs::drift(&dir.0).expect("generator runs"), ["README.md"]);
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos().into())
        .unwrap_or(0)
}

#[test]
fn a_readme_without_markers_is_an_error() {
    let err = docs::readme_with_tables("# No markers\n").expect_err("markers are required");
    assert!(err.contains("<!-- tools:start -->"), "{err}");
}

#[test]
fn the_manifest_lists_every_variable_transport_and_tool() {
    let manifest: Value = serde_json::from_str(&docs::manifest_json().expect("manifest generates"))
        .expect("valid JSON");
    assert_eq!(manifest["name"], "osc-secrets-mcp");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["license"], "MIT");
    assert_eq!(manifest["run"]["command"], "osc-secrets-mcp");

    let vars = manifest["packages"][0]["environmentVariables"]
        .as_array()
        .expect("environmentVariables");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from the manifest"))
    };
    for token in TOKEN_VARS.into_iter().chain([AUTH_TOKEN_VAR]) {
        assert_eq!(var(token)["isSecret"], true, "{token}");
        assert!(var(token).get("default").is_none(), "{token}");
    }
    assert_eq!(var(TOKEN_VARS[0])["isRequired"], true);
    for name in [
        "OSC_ENVIRONMENT",
        "OSC_API_URL",
        "OSC_MCP_SANDBOX",
        "MCP_TRANSPORT",
        "MCP_LISTEN",
    ] {
        assert_eq!(var(name)["isSecret"], false, "{name}");
        assert!(
            var(name)["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    assert_eq!(var("OSC_ENVIRONMENT")["default"], "prod");

    // Every flag's environment twin is listed.
    use clap::CommandFactory;
    let command = osc_secrets_mcp::config::Cli::command();
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            var(&env.to_string_lossy());
        }
    }

    let transports: Vec<&str> = manifest["transports"]
        .as_array()
        .expect("transports")
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert_eq!(transports, ["stdio", "streamable-http", "sse"]);

    let listed: Vec<&str> = manifest["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(listed, TOOL_NAMES);
    for tool in manifest["tools"].as_array().into_iter().flatten() {
        for field in [
            "title",
            "description",
            "annotations",
            "inputSchema",
            "outputSchema",
        ] {
            assert!(tool.get(field).is_some(), "{}: no {field}", tool["name"]);
        }
    }
}

async fn in_process_client() -> Result<rmcp::service::RunningService<rmcp::RoleClient, ()>, String>
{
    // Nothing listens on port 9: these tests never reach OSC.
    let osc = OscClient::new(OscConfig {
        base_url: "http://127.0.0.1:9".to_owned(),
        token: SecretString::from("unused"),
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        retry: RetryPolicy::default(),
    })
    .map_err(|e| e.to_string())?;
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = SecretsServer::new(Arc::new(osc));
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.map_err(|e| e.to_string())
}

/// The docs are generated from `tool_definitions()`; this checks that it is
/// exactly what a client receives from `tools/list`.
#[tokio::test]
async fn tools_list_over_mcp_matches_the_definitions() {
    let client = in_process_client().await.expect("client initializes");
    let listed = client.list_all_tools().await.expect("tools/list");
    assert_eq!(
        serde_json::to_value(&listed).expect("serializes"),
        serde_json::to_value(tools()).expect("serializes")
    );
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.instructions.as_deref(), Some(INSTRUCTIONS));
    let _ = client.cancel().await;
}

/// The split docs/errors.md describes: only an unknown tool is a JSON-RPC
/// error; bad arguments and broken rules are tool results.
#[tokio::test]
async fn only_unroutable_calls_are_protocol_errors() {
    let client = in_process_client().await.expect("client initializes");
    let call = |name: &str, args: Value| {
        let mut params = rmcp::model::CallToolRequestParams::new(name.to_owned());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        client.call_tool(params)
    };
    let text = |result: &rmcp::model::CallToolResult| {
        assert_eq!(result.is_error, Some(true), "{result:?}");
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<String>()
    };

    assert!(
        call("get_tenant_secret", serde_json::json!({"key": "user.a"}))
            .await
            .is_err()
    );

    let missing = call("set_tenant_secret", serde_json::json!({"key": "user.a"}))
        .await
        .expect("routed");
    assert!(
        text(&missing).starts_with("Refused before contacting OSC:")
            && text(&missing).contains("`value` is missing"),
        "{}",
        text(&missing)
    );

    let typed = call(
        "set_tenant_secret",
        serde_json::json!({"key": "user.a", "value": 12345}),
    )
    .await
    .expect("routed");
    assert!(text(&typed).contains("got a number"), "{}", text(&typed));
    assert!(!text(&typed).contains("12345"), "{}", text(&typed));

    let refused = call(
        "delete_tenant_secret",
        serde_json::json!({"key": "system.x"}),
    )
    .await
    .expect("routed");
    assert!(
        text(&refused).starts_with("Refused before contacting OSC:"),
        "{}",
        text(&refused)
    );
    let _ = client.cancel().await;
}
