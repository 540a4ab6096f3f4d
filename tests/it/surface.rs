//! The tool surface that clients, manifests and docs depend on: fixed names
//! and arguments, complete metadata, schemas every client accepts, no way to
//! read a value, and generated docs that match the code.
//!
//! Everything about the tools is checked against what a real client receives:
//! the built binary's `tools/list` answer over stdio, raw JSON-RPC bytes. The
//! expected values are written here or committed in `tests/snapshots/`, never
//! read back from the code under test.

use crate::support;
use crate::support::docs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::{OSC_TOKEN, StdioServer, call, connect_offline, text};
use serde_json::{Map, Value, json};

/// The tools, by name, in the order clients see them (rmcp lists by name).
const TOOL_NAMES: [&str; 5] = [
    "delete_tenant_secret",
    "list_tenant_secrets",
    "materialize_tenant_secret",
    "rotate_tenant_secret",
    "set_tenant_secret",
];

/// What `tools/list` says about each tool, written down: name, title, and the
/// four hints (read_only, destructive, idempotent, open_world).
const ANNOTATIONS: [(&str, &str, bool, bool, bool, bool); 5] = [
    (
        "delete_tenant_secret",
        "Delete a tenant secret",
        false,
        true,
        true,
        true,
    ),
    (
        "list_tenant_secrets",
        "List tenant secrets",
        true,
        false,
        true,
        true,
    ),
    (
        "materialize_tenant_secret",
        "Materialize a tenant secret",
        false,
        true,
        true,
        true,
    ),
    (
        "rotate_tenant_secret",
        "Rotate a tenant secret",
        false,
        true,
        false,
        true,
    ),
    (
        "set_tenant_secret",
        "Set a tenant secret",
        false,
        true,
        true,
        true,
    ),
];

/// The tool definitions exactly as a client receives them: the built binary's
/// `tools/list` result over stdio. Nothing listens on port 9, and listing
/// never reaches OSC.
async fn listed() -> Vec<Value> {
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", "http://127.0.0.1:9"),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
        ],
    );
    server.initialize().await;
    let answer = server.request("tools/list", json!({})).await;
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "the server exits cleanly: {stderr}");
    let result = &answer["result"];
    assert!(
        result.get("nextCursor").is_none(),
        "one page holds every tool: {result}"
    );
    result["tools"].as_array().expect("a tool list").clone()
}

fn name(tool: &Value) -> &str {
    tool["name"].as_str().expect("a tool name")
}

fn input(tool: &Value) -> &Value {
    &tool["inputSchema"]
}

fn output(tool: &Value) -> Option<&Value> {
    tool.get("outputSchema")
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

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// (s) snapshots of the whole definition

fn snapshot_dir() -> PathBuf {
    root().join("tests/snapshots")
}

/// Every committed snapshot, by tool name.
fn snapshot_names() -> BTreeSet<String> {
    std::fs::read_dir(snapshot_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Each tool's full definition (name, title, description, annotations,
/// inputSchema, outputSchema) as a client receives it equals its committed
/// snapshot; there is a snapshot for every tool and for no other.
#[tokio::test]
async fn tools_list_matches_the_committed_snapshots() {
    let tools = listed().await;
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let regenerate = docs::REGENERATE;
    if update {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        for stale in snapshot_names() {
            if !tools.iter().any(|t| name(t) == stale) {
                std::fs::remove_file(snapshot_dir().join(format!("{stale}.json"))).unwrap();
            }
        }
    }
    for tool in &tools {
        let path = snapshot_dir().join(format!("{}.json", name(tool)));
        let mut pretty = serde_json::to_string_pretty(tool).unwrap();
        pretty.push('\n');
        if update {
            std::fs::write(&path, &pretty).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "no snapshot {} for the tool {}: run `{regenerate}`, review and commit it",
                path.display(),
                name(tool)
            )
        });
        assert!(
            committed == pretty,
            "{} differs from what a client receives from tools/list; if the change is \
             intended run `{regenerate}` and review the diff.\ncommitted:\n{committed}\nlisted:\n{pretty}",
            path.display()
        );
    }
    let listed: BTreeSet<String> = tools.iter().map(|t| name(t).to_owned()).collect();
    let orphans: Vec<String> = snapshot_names().difference(&listed).cloned().collect();
    assert!(
        orphans.is_empty(),
        "snapshots for tools that no longer exist: {orphans:?}; run `{regenerate}` to remove them"
    );
}

// (a) metadata

/// Names, titles and all four hints, per tool, as written in [`ANNOTATIONS`].
#[tokio::test]
async fn tool_names_titles_and_annotations_are_fixed() {
    let tools = listed().await;
    let names: Vec<&str> = tools.iter().map(name).collect();
    assert_eq!(
        names, TOOL_NAMES,
        "the tools, in the order clients see them"
    );
    for (tool, (expected, title, read_only, destructive, idempotent, open_world)) in
        tools.iter().zip(ANNOTATIONS)
    {
        assert_eq!(name(tool), expected);
        assert_eq!(tool["title"], title, "{expected}: title");
        // Every hint is declared, even where it equals MCP's default (not
        // read-only, destructive, not idempotent, open world): clients that
        // do not apply the defaults read a missing destructiveHint as false.
        let hints = &tool["annotations"];
        let hint =
            |name: &str, default: bool| hints.get(name).map_or(Some(default), Value::as_bool);
        assert_eq!(
            [
                hint("readOnlyHint", false),
                hint("destructiveHint", true),
                hint("idempotentHint", false),
                hint("openWorldHint", true),
            ],
            [
                Some(read_only),
                Some(destructive),
                Some(idempotent),
                Some(open_world)
            ],
            "{expected}: annotations {hints}"
        );
        for name in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(
                hints.get(name).is_some_and(Value::is_boolean),
                "{expected}: {name} is not declared"
            );
        }
        assert!(
            hints.get("title").is_none(),
            "{expected}: the title is listed once"
        );
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() >= 80),
            "{expected}: the description must tell the model what the tool does and returns"
        );
    }
}

// (b) schemas clients accept

#[tokio::test]
async fn input_schemas_are_plain_objects_clients_accept() {
    for tool in listed().await {
        let schema = input(&tool);
        let name = name(&tool);
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
        for format in formats(schema) {
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

#[tokio::test]
async fn every_tool_declares_an_object_output_schema() {
    for tool in listed().await {
        let name = name(&tool);
        let schema = output(&tool).unwrap_or_else(|| panic!("{name}: no output schema"));
        assert_eq!(schema["type"], "object", "{name}");
        // usize becomes `uint`, which clients warn about; use u32 or u64.
        assert!(
            !formats(schema).iter().any(|f| f == "uint"),
            "{name}: `uint` format in the output schema"
        );
    }
}

// (c) fixed names

#[tokio::test]
async fn tool_and_argument_names_are_fixed() {
    let expected: [(&str, &[&str], &[&str]); 5] = [
        ("delete_tenant_secret", &["key"], &["key"]),
        (
            "list_tenant_secrets",
            &["prefix", "contains", "limit", "after"],
            &[],
        ),
        (
            "materialize_tenant_secret",
            &["key", "serviceId", "secretName"],
            &["key", "serviceId", "secretName"],
        ),
        (
            "rotate_tenant_secret",
            &[
                "key", "targets", "create", "askUser", "generate", "value", "fromEnv",
            ],
            &["key"],
        ),
        (
            "set_tenant_secret",
            &["key", "askUser", "generate", "value", "fromEnv", "mode"],
            &["key"],
        ),
    ];
    let tools = listed().await;
    let names: Vec<&str> = tools.iter().map(name).collect();
    let wanted: Vec<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(names, wanted, "the tool set, in order");
    for (tool, (name, args, needed)) in tools.iter().zip(expected) {
        let schema = input(tool);
        assert_eq!(properties(schema), set(args), "{name}: argument names");
        assert_eq!(required(schema), set(needed), "{name}: required arguments");
    }
}

// (e) nothing reads a value

#[tokio::test]
async fn no_tool_offers_to_read_or_return_a_value() {
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
    for tool in listed().await {
        let name = name(&tool);
        for word in name.split('_') {
            assert!(
                !READ_WORDS.contains(&word),
                "{name}: a tool name that reads"
            );
        }
        let description = tool["description"]
            .as_str()
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
            for field in all_property_names(schema) {
                assert!(
                    !VALUE_FIELDS.contains(&field.to_lowercase().as_str()),
                    "{name}: output field `{field}` could carry a value"
                );
            }
        }
        // Only the two writes take a value, and only to write it.
        let takes_value = properties(input(&tool)).contains("value");
        assert_eq!(
            takes_value,
            name == "set_tenant_secret" || name == "rotate_tenant_secret",
            "{name}"
        );
    }
}

/// What a client is told at `initialize`.
#[tokio::test]
async fn the_instructions_say_no_value_is_returned() {
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", "http://127.0.0.1:9"),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
        ],
    );
    let init = server.initialize().await;
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    let instructions = init["result"]["instructions"].as_str().unwrap_or_default();
    assert!(
        instructions.contains("No tool ever returns a secret value"),
        "{instructions}"
    );
}

// (d) generated docs match the code

#[test]
fn generated_docs_match_the_code() {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        docs::generate(root(), false).expect("the generator writes");
    }
    // Compares every generated file (docs/tools.md, docs/configuration.md,
    // mcp-manifest.json, the README's tables) byte for byte.
    let stale = docs::drift(root()).expect("the generator runs");
    assert!(
        stale.is_empty(),
        "{} differ from what the code generates: run `{}` and commit the result",
        stale.join(", "),
        docs::REGENERATE
    );
}

/// The generated tool reference has a section for each tool, by the names
/// written here.
#[test]
fn the_tool_reference_has_a_section_per_tool() {
    let reference = docs::tools_markdown().expect("the reference generates");
    let headings: Vec<&str> = reference
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter(|h| h.ends_with("_secret") || h.ends_with("_secrets"))
        .collect();
    assert_eq!(headings, TOOL_NAMES, "{reference}");
}

#[test]
fn the_drift_check_fails_on_a_stale_copy_and_generation_fixes_it() {
    let dir = support::scratch_dir("surface-drift");
    std::fs::create_dir_all(dir.join("docs")).expect("temp dir");
    let readme = "# Title\n\n<!-- tools:start -->\nold\n<!-- tools:end -->\n\n\
                  <!-- config:start -->\n<!-- config:end -->\n\nHand-written.\n";
    std::fs::write(dir.join("README.md"), readme).expect("readme");
    std::fs::write(dir.join("docs/tools.md"), "stale\n").expect("tools.md");
    let security = "# Security\n\n<!-- rules:start -->\n| old |\n<!-- rules:end -->\n\nMore.\n";
    std::fs::write(dir.join("docs/security.md"), security).expect("security.md");

    let err = docs::generate(&dir, true).expect_err("stale files must fail the check");
    for path in [
        "docs/tools.md",
        "docs/configuration.md",
        "mcp-manifest.json",
        "README.md",
        "docs/security.md",
    ] {
        assert!(err.contains(path), "{err}");
    }
    assert!(err.contains(docs::REGENERATE), "{err}");

    docs::generate(&dir, false).expect("generation writes");
    assert_eq!(
        docs::drift(&dir).expect("generator runs"),
        Vec::<&str>::new()
    );
    let written = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    assert!(written.starts_with("# Title\n\n<!-- tools:start -->\n| tool |"));
    assert!(written.ends_with("<!-- config:end -->\n\nHand-written.\n"));
    assert!(!written.contains("\nold\n"));
    let rules = std::fs::read_to_string(dir.join("docs/security.md")).expect("security.md");
    assert!(rules.contains("| `max_writes_per_minute` | `--max-writes-per-minute` is spent"));
    assert!(rules.ends_with("<!-- rules:end -->\n\nMore.\n") && !rules.contains("| old |"));

    // Any edit inside a generated section is drift again.
    std::fs::write(
        dir.join("README.md"),
        written.replace("read-only", "harmless"),
    )
    .expect("edit");
    assert_eq!(docs::drift(&dir).expect("generator runs"), ["README.md"]);
}

#[test]
fn a_readme_without_markers_is_an_error() {
    let err = docs::readme_with_tables("# No markers\n").expect_err("markers are required");
    assert!(err.contains("<!-- tools:start -->"), "{err}");
}

#[tokio::test]
async fn the_manifest_lists_every_variable_transport_and_tool() {
    let manifest: Value = serde_json::from_str(&docs::manifest_json().expect("manifest generates"))
        .expect("valid JSON");
    assert_eq!(manifest["name"], "osc-secrets-mcp");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["license"], "MIT");
    assert_eq!(manifest["run"]["command"], "osc-secrets-mcp");

    // No package is published yet: none is named, never a fictional one.
    assert_eq!(manifest["packages"], json!([]));
    let vars = manifest["run"]["environmentVariables"]
        .as_array()
        .expect("environmentVariables");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from the manifest"))
    };
    for token in ["OSC_ACCESS_TOKEN", "OSC_PAT_JWT", "MCP_AUTH_TOKEN"] {
        assert_eq!(var(token)["isSecret"], true, "{token}");
        assert!(var(token).get("default").is_none(), "{token}");
    }
    assert_eq!(var("OSC_ACCESS_TOKEN")["isRequired"], true);
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

    // Its tools are what a client receives from tools/list, field for field.
    assert_eq!(
        manifest["tools"],
        Value::Array(listed().await),
        "the manifest's tools differ from tools/list"
    );
}

/// The split docs/errors.md describes: only an unknown tool is a JSON-RPC
/// error; bad arguments and broken rules are tool results.
#[tokio::test]
async fn only_unroutable_calls_are_protocol_errors() {
    let client = connect_offline().await;
    let unknown = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("get_tenant_secret")
                .with_arguments(json!({"key": "user.a"}).as_object().unwrap().clone()),
        )
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    let failed = |result: &rmcp::model::CallToolResult| {
        assert_eq!(result.is_error, Some(true), "{result:?}");
        text(result)
    };

    let missing = call(&client, "set_tenant_secret", json!({"key": "user.a"})).await;
    assert!(
        failed(&missing).starts_with("Refused before contacting OSC:")
            && failed(&missing)
                .contains("give exactly one of `askUser`, `generate`, `value` or `fromEnv`"),
        "{}",
        text(&missing)
    );

    let typed = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.a", "value": 12345}),
    )
    .await;
    assert!(failed(&typed).contains("got a number"), "{}", text(&typed));
    assert!(!text(&typed).contains("12345"), "{}", text(&typed));

    let refused = call(&client, "delete_tenant_secret", json!({"key": "system.x"})).await;
    assert!(
        failed(&refused).starts_with("Refused before contacting OSC:"),
        "{}",
        text(&refused)
    );
    let _ = client.cancel().await;
}

/// Every flag of the server, with its environment twin, is in the README's
/// configuration tables, not only in docs/configuration.md.
#[test]
fn every_flag_is_in_the_readme_configuration_tables() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .split("<!-- config:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- config:end -->").next())
        .expect("the README's configuration markers");
    let command = osc_secrets_mcp::config::Cli::command();
    let mut checked = 0;
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        let row = section
            .lines()
            .find(|line| line.contains(&format!("`--{long}`")))
            .unwrap_or_else(|| panic!("--{long} is not in the README's configuration tables"));
        if let Some(env) = env {
            assert!(row.contains(&format!("`{env}`")), "--{long}: {row}");
        }
        checked += 1;
    }
    // The server has dozens of settings; a walk that found few is broken.
    assert!(checked >= 30, "only {checked} flags found");
}
