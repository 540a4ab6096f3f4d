//! Docs generated from the code, so they cannot drift silently.
//!
//! `docs/tools.md`, `docs/configuration.md`, `mcp-manifest.json` and two
//! tables in the README come from the live tool list
//! ([`server::definitions`]), the resources and prompts, and the clap
//! command ([`config::Cli`]).
//! The surface tests (`tests/it/surface.rs`) fail when a committed copy differs, and rewrite them
//! when run with `UPDATE_SNAPSHOTS=1`; the product binary writes no files. Output is
//! deterministic, byte for byte, and every file ends in one newline.

use std::any::TypeId;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, CommandFactory, ValueEnum};
use rmcp::model::{Implementation, Tool};
use serde::Serialize;
use serde_json::Value;

use osc_secrets_mcp::config::{self, Cli, Transport};
use osc_secrets_mcp::domain::Rule;
use osc_secrets_mcp::domain::tool as registry;
use osc_secrets_mcp::server;

/// The command that rewrites every generated file, and the tool snapshots
/// in `tests/snapshots/`.
pub const REGENERATE: &str = "UPDATE_SNAPSHOTS=1 cargo test --test it surface::";

pub const TOOLS_MD: &str = "docs/tools.md";
pub const CONFIGURATION_MD: &str = "docs/configuration.md";
pub const MANIFEST: &str = "mcp-manifest.json";
/// The MCP Registry's entry, and the MCP Bundle's manifest.
pub const SERVER_JSON: &str = "server.json";
pub const MCPB_MANIFEST: &str = "packaging/mcpb/manifest.json";
pub const README: &str = "README.md";

/// The README sections the generator owns, between these markers.
pub const TOOLS_START: &str = "<!-- tools:start -->";
pub const TOOLS_END: &str = "<!-- tools:end -->";
pub const CONFIG_START: &str = "<!-- config:start -->";
pub const CONFIG_END: &str = "<!-- config:end -->";
/// docs/security.md's table of refusal rules, between these markers.
pub const SECURITY_MD: &str = "docs/security.md";
pub const RULES_START: &str = "<!-- rules:start -->";
pub const RULES_END: &str = "<!-- rules:end -->";

const GENERATED: &str = "Generated from the code by `UPDATE_SNAPSHOTS=1 cargo test --test it surface::`; do not edit by hand.";

/// One generated file: its path relative to the repository root and the
/// exact bytes it must hold.
pub struct Output {
    pub path: &'static str,
    pub content: String,
}

/// Writes every generated file under `root`, or with `check` only compares
/// and fails naming the files that differ.
pub fn generate(root: &Path, check: bool) -> Result<(), String> {
    let outputs = expected(root)?;
    if check {
        let stale = stale(root, &outputs);
        return if stale.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} out of date with the code; run `{REGENERATE}` and commit the result",
                stale.join(", ")
            ))
        };
    }
    for output in &outputs {
        let path = root.join(output.path);
        if read(&path).as_deref() == Some(output.content.as_str()) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, &output.content)
            .map_err(|e| format!("cannot write {}: {e}", output.path))?;
        eprintln!("osc-secrets-mcp: wrote {}", output.path);
    }
    Ok(())
}

/// The generated files whose committed copy under `root` differs from what
/// the code generates (a missing file counts as differing).
pub fn drift(root: &Path) -> Result<Vec<&'static str>, String> {
    Ok(stale(root, &expected(root)?))
}

fn stale(root: &Path, outputs: &[Output]) -> Vec<&'static str> {
    outputs
        .iter()
        .filter(|o| read(&root.join(o.path)).as_deref() != Some(o.content.as_str()))
        .map(|o| o.path)
        .collect()
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Every generated file, the README included (its generated sections spliced
/// into the copy under `root`).
pub fn expected(root: &Path) -> Result<Vec<Output>, String> {
    let readme = std::fs::read_to_string(root.join(README))
        .map_err(|e| format!("cannot read {README} under {}: {e}", root.display()))?;
    Ok(vec![
        Output {
            path: TOOLS_MD,
            content: tools_markdown()?,
        },
        Output {
            path: CONFIGURATION_MD,
            content: configuration_markdown(),
        },
        Output {
            path: MANIFEST,
            content: manifest_json()?,
        },
        Output {
            path: SERVER_JSON,
            content: server_json()?,
        },
        Output {
            path: MCPB_MANIFEST,
            content: mcpb_manifest_json()?,
        },
        Output {
            path: README,
            content: readme_with_tables(&readme)?,
        },
        Output {
            path: SECURITY_MD,
            content: security_with_rules(root)?,
        },
    ])
}

/// `readme` with the text between each pair of markers replaced by the
/// generated table.
pub fn readme_with_tables(readme: &str) -> Result<String, String> {
    let readme = splice(readme, TOOLS_START, TOOLS_END, &readme_tool_table())?;
    splice(&readme, CONFIG_START, CONFIG_END, &readme_config_table())
}

/// docs/security.md under `root`, its table of refusal rules written from
/// [`Rule::ALL`]: every rule an audit record can name, and when it refuses.
fn security_with_rules(root: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(root.join(SECURITY_MD))
        .map_err(|e| format!("cannot read {SECURITY_MD} under {}: {e}", root.display()))?;
    let mut table = String::from("| `rule` | refused when |\n|---|---|\n");
    for rule in Rule::ALL {
        let _ = writeln!(table, "| `{}` | {} |", rule.name(), cell(rule.meaning()));
    }
    splice(&text, RULES_START, RULES_END, &table)
}

fn splice(text: &str, start: &str, end: &str, body: &str) -> Result<String, String> {
    let missing =
        || format!("the file needs the markers {start} and {end}, in that order, each once");
    let (before, rest) = text.split_once(start).ok_or_else(missing)?;
    let (_, after) = rest.split_once(end).ok_or_else(missing)?;
    if after.contains(start) || after.contains(end) {
        return Err(missing());
    }
    Ok(format!("{before}{start}\n{body}{end}{after}"))
}

// ---------------------------------------------------------------- tools.md

/// The tool reference, from the tool definitions every server lists.
pub fn tools_markdown() -> Result<String, String> {
    let tools = server::definitions();
    let info = server_info()?;
    let mut md = String::new();
    let _ = writeln!(md, "# Tools\n\n> {GENERATED}\n");
    let _ = writeln!(
        md,
        "{} {} serves {} tools. None of them returns a secret value: agents work with keys and with \
         references such as `{{{{secrets.apikey}}}}`. A failure the model can act on comes back as a tool \
         result with `isError: true` and a next step ([errors.md](errors.md)).\n",
        info.server.name,
        info.server.version,
        tools.len()
    );
    for tool in &tools {
        let _ = writeln!(md, "- [`{0}`](#{0}): {1}", tool.name, title(tool));
    }
    let _ = writeln!(
        md,
        "\n## Server instructions\n\nSent to every client at `initialize`:\n"
    );
    let _ = writeln!(md, "> {}\n", info.instructions.replace('\n', "\n> "));
    for tool in &tools {
        write_tool(&mut md, tool);
    }
    write_rest(&mut md);
    Ok(finish(md))
}

/// Confirmation, the resource and the prompts, after the tools.
fn write_rest(md: &mut String) {
    let _ = writeln!(
        md,
        "## Confirmation\n\n{}\n",
        osc_secrets_mcp::elicit::confirm::DOC
    );
    let _ = writeln!(md, "## Resources\n");
    for r in server::resources::definitions() {
        let _ = writeln!(
            md,
            "- `{}` ({}): {}",
            r.uri,
            r.mime_type.as_deref().unwrap_or("text/plain"),
            r.description.as_deref().unwrap_or_default()
        );
    }
    for t in server::resources::template_definitions() {
        let _ = writeln!(
            md,
            "- `{}` (template, {}): {}",
            t.uri_template,
            t.mime_type.as_deref().unwrap_or("text/plain"),
            t.description.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(md, "\n## Prompts\n");
    for p in server::prompts::list() {
        let _ = writeln!(
            md,
            "### {}\n\n{}\n\n| argument | required | description |\n|---|---|---|",
            p.name,
            p.description.as_deref().unwrap_or_default()
        );
        for a in p.arguments.iter().flatten() {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} |",
                a.name,
                if a.required == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                a.description.as_deref().unwrap_or_default()
            );
        }
        let _ = writeln!(md);
    }
}

fn write_tool(md: &mut String, tool: &Tool) {
    let _ = writeln!(md, "## {}\n\n**{}**\n", tool.name, title(tool));
    let _ = writeln!(md, "{}\n", tool.description.as_deref().unwrap_or_default());

    let _ = writeln!(md, "| annotation | value |\n|---|---|");
    let a = tool.annotations.clone().unwrap_or_default();
    // A hint left out means MCP's default for it.
    for (name, hint, default) in [
        ("readOnlyHint", a.read_only_hint, false),
        ("destructiveHint", a.destructive_hint, true),
        ("idempotentHint", a.idempotent_hint, false),
        ("openWorldHint", a.open_world_hint, true),
    ] {
        let shown = hint.map_or_else(|| format!("{default} (MCP default)"), |h| h.to_string());
        let _ = writeln!(md, "| `{name}` | {shown} |");
    }

    let input = Value::Object((*tool.input_schema).clone());
    let _ = writeln!(md, "\n### Arguments\n");
    let args = fields(&input);
    if args.is_empty() {
        let _ = writeln!(md, "None.\n");
    } else {
        let _ = writeln!(
            md,
            "| argument | type | required | description |\n|---|---|---|---|"
        );
        field_rows(md, &args);
    }

    let _ = writeln!(md, "### Result\n");
    match &tool.output_schema {
        Some(schema) => {
            let _ = writeln!(
                md,
                "`structuredContent` (and the same JSON as text) with these fields:\n\n\
                 | field | type | always | description |\n|---|---|---|---|"
            );
            field_rows(md, &fields(&Value::Object((**schema).clone())));
        }
        None => {
            let _ = writeln!(
                md,
                "No output schema is declared; the result is JSON text.\n"
            );
        }
    }
}

fn title(tool: &Tool) -> &str {
    tool.title
        .as_deref()
        .or_else(|| tool.annotations.as_ref().and_then(|a| a.title.as_deref()))
        .unwrap_or_default()
}

/// One row of an argument or result table.
/// One table row per field (path, type, required, description), then a blank line.
fn field_rows(md: &mut String, fields: &[Field]) {
    for f in fields {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} |",
            f.path,
            cell(&f.ty),
            if f.required { "yes" } else { "no" },
            cell(&f.description)
        );
    }
    let _ = writeln!(md);
}

struct Field {
    path: String,
    ty: String,
    required: bool,
    description: String,
}

/// The properties of an object schema, required ones first in declared
/// order, then the rest by name; nested objects and arrays of objects are
/// flattened as `a.b` and `a[].b`.
fn fields(root: &Value) -> Vec<Field> {
    let mut out = Vec::new();
    collect_fields(root, root, "", &mut out);
    out
}

fn collect_fields(schema: &Value, root: &Value, prefix: &str, out: &mut Vec<Field>) {
    let schema = resolve(schema, root);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort_by_key(|n| {
        (
            required.iter().position(|r| r == n).unwrap_or(usize::MAX),
            n.as_str(),
        )
    });
    for name in names {
        let Some(property) = properties.get(name) else {
            continue;
        };
        let path = format!("{prefix}{name}");
        let resolved = resolve(property, root);
        let mut description = text_of(property, "description")
            .or_else(|| text_of(resolved, "description"))
            .unwrap_or_default();
        if let Some(default) = resolved.get("default").filter(|d| !d.is_null()) {
            let _ = write!(description, " Default: `{default}`.");
        }
        out.push(Field {
            path: path.clone(),
            ty: type_of(property, root),
            required: required.contains(&name.as_str()),
            description: description.trim().to_owned(),
        });
        collect_fields(resolved, root, &format!("{path}."), out);
        if let Some(items) = resolved.get("items") {
            collect_fields(items, root, &format!("{path}[]."), out);
        }
    }
}

fn text_of(schema: &Value, key: &str) -> Option<String> {
    schema.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Follows a local `$ref` (`#/$defs/X` or `#/definitions/X`).
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
        return schema;
    };
    reference
        .strip_prefix("#/")
        .map(|p| p.split('/').try_fold(root, |node, part| node.get(part)))
        .and_then(|found| found)
        .unwrap_or(schema)
}

/// A short human reading of a schema's type: `string`, `array of object`,
/// `` `a` or `b` ``.
fn type_of(schema: &Value, root: &Value) -> String {
    let schema = resolve(schema, root);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(value) = schema.get("const") {
        return format!("`{value}`");
    }
    let named = |t: &str| match t {
        "array" => format!(
            "array of {}",
            schema
                .get("items")
                .map_or_else(|| "any".to_owned(), |i| type_of(i, root))
        ),
        other => other.to_owned(),
    };
    match schema.get("type") {
        Some(Value::String(t)) => named(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(named)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => ["anyOf", "oneOf"]
            .iter()
            .find_map(|k| schema.get(*k).and_then(Value::as_array))
            .map(|alternatives| {
                alternatives
                    .iter()
                    .map(|a| type_of(a, root))
                    .filter(|t| t != "null")
                    .collect::<Vec<_>>()
                    .join(" or ")
            })
            .unwrap_or_else(|| "any".to_owned()),
    }
}

// ---------------------------------------------------------------- README tables

/// The README's tool table: name, title, first sentence, effect.
pub fn readme_tool_table() -> String {
    let mut md = String::from("| tool | title | what it does | effect |\n|---|---|---|---|\n");
    for tool in server::definitions() {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} |",
            tool.name,
            cell(title(&tool)),
            cell(first_sentence(
                tool.description.as_deref().unwrap_or_default()
            )),
            effect(&tool)
        );
    }
    let _ = writeln!(
        md,
        "\nArguments, annotations and results: [docs/tools.md](docs/tools.md)."
    );
    md
}

fn effect(tool: &Tool) -> &'static str {
    match registry::kind_of(&tool.name) {
        Some(registry::Kind::Read) => "read-only",
        Some(registry::Kind::Write) => "writes",
        Some(registry::Kind::Destroy) | None => "destructive",
    }
}

/// The README's configuration tables: every setting, each with its flag,
/// default and the first sentence of its help; the core settings first,
/// then one table per help heading (HTTP transport, guardrails, ...), each
/// linked to its full section in docs/configuration.md.
pub fn readme_config_table() -> String {
    let vars = environment();
    let table = |rows: &mut dyn Iterator<Item = &EnvironmentVariable>| {
        let mut md =
            String::from("| variable | flag | default | what it sets |\n|---|---|---|---|\n");
        for var in rows {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} |",
                var.name,
                var.flag
                    .as_deref()
                    .map_or_else(|| "none: environment only".to_owned(), |f| format!("`{f}`")),
                var.default
                    .as_deref()
                    .map_or_else(String::new, |d| format!("`{d}`")),
                cell(first_sentence(&var.description))
            );
        }
        md
    };
    let mut md = table(&mut vars.iter().filter(|v| v.heading.is_none()));
    let mut headings: Vec<&str> = vars.iter().filter_map(|v| v.heading.as_deref()).collect();
    headings.dedup();
    for heading in headings {
        let _ = writeln!(
            md,
            "\n{heading} ([all about them](docs/configuration.md#{})):\n",
            anchor(heading)
        );
        md.push_str(&table(
            &mut vars
                .iter()
                .filter(|v| v.heading.as_deref() == Some(heading)),
        ));
    }
    let _ = writeln!(
        md,
        "\nEvery flag and subcommand in full: [docs/configuration.md](docs/configuration.md)."
    );
    md
}

/// GitHub's heading anchor for plain words.
fn anchor(heading: &str) -> String {
    heading.to_ascii_lowercase().replace(' ', "-")
}

/// Up to and including the first full stop that ends a sentence.
fn first_sentence(text: &str) -> &str {
    text.match_indices(". ")
        .find(|(i, _)| {
            text[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c == '`')
        })
        .map_or(text, |(i, _)| &text[..=i])
}

// ---------------------------------------------------------------- configuration

/// One environment variable the server reads, in `server.json` vocabulary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentVariable {
    pub name: String,
    pub description: String,
    pub is_required: bool,
    pub is_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `boolean`, `number` or `filepath`; absent for plain strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// The flag twin, without its value name; not part of `server.json`.
    #[serde(skip)]
    pub flag: Option<String>,
    /// The clap help heading (`None` for the core settings); not part of `server.json`.
    #[serde(skip)]
    pub heading: Option<String>,
}

/// The variables read from the environment only, never from a flag: the
/// tokens, each secret, and the path of the OSC token's file, which is not.
pub fn token_variables() -> Vec<EnvironmentVariable> {
    let [primary, alternate] = config::TOKEN_VARS;
    let token =
        |name: &str, description: String, is_required, heading: Option<&str>| EnvironmentVariable {
            name: name.to_owned(),
            description,
            is_required,
            is_secret: true,
            default: None,
            format: None,
            choices: None,
            flag: None,
            heading: heading.map(str::to_owned),
        };
    vec![
        token(
            primary,
            "The OSC personal access token, from the OSC web console (Settings, API); the name OSC's own tools use. \
             Required unless --sandbox. Environment only: a command line is visible to every user of the machine."
                .to_owned(),
            true,
            None,
        ),
        token(
            alternate,
            format!(
                "The same token under the name OSC's API docs use; read when {primary} is unset or blank."
            ),
            false,
            None,
        ),
        EnvironmentVariable {
            name: config::TOKEN_FILE_VAR.to_owned(),
            description: format!(
                "Path of a file holding the OSC token instead (Docker and Kubernetes secrets mounted as files); \
                 surrounding whitespace is ignored. When {primary} or {alternate} is set too, this file wins (the server says so at start)."
            ),
            is_required: false,
            is_secret: false,
            default: None,
            format: Some("filepath"),
            choices: None,
            flag: None,
            heading: None,
        },
        token(
            config::AUTH_TOKEN_VAR,
            format!(
                "The bearer token HTTP clients must send with --transport http (or use --auth-token-file): \
                 at least {} characters, and not the OSC token. Required to listen on a non-loopback address.",
                config::MIN_AUTH_TOKEN_LEN
            ),
            false,
            Some(HTTP_HEADING),
        ),
    ]
}

/// Where the HTTP settings are grouped; matches `HttpArgs`' help heading.
const HTTP_HEADING: &str = "HTTP transport";

/// Every environment variable the server reads: the tokens, then each
/// flag's twin in the order clap declares them.
pub fn environment() -> Vec<EnvironmentVariable> {
    let mut vars = token_variables();
    vars.extend(
        built_command()
            .get_arguments()
            .filter_map(environment_variable),
    );
    // The page client's secret has no flag; it sits next to its client ID.
    let at = vars
        .iter()
        .position(|v| v.name == "MCP_OAUTH_PAGE_CLIENT_ID")
        .map_or(vars.len(), |i| i + 1);
    vars.insert(
        at,
        EnvironmentVariable {
            name: config::PAGE_SECRET_VAR.to_owned(),
            description: "The secret of the client the one-time page signs people in as, with OAuth \
                          (--oauth-page-client-id; or use --oauth-page-client-secret-file). Never on a command line."
                .to_owned(),
            is_required: false,
            is_secret: true,
            default: None,
            format: None,
            choices: None,
            flag: None,
            heading: Some("OAuth".to_owned()),
        },
    );
    vars
}

fn built_command() -> clap::Command {
    let mut command = Cli::command();
    command.build();
    command
}

fn environment_variable(arg: &Arg) -> Option<EnvironmentVariable> {
    let name = arg.get_env()?.to_string_lossy().into_owned();
    if arg.is_hide_set() {
        return None;
    }
    Some(EnvironmentVariable {
        description: help(arg),
        is_required: arg.is_required_set(),
        // clap's mark for a value that must not be shown; names ending in
        // _TOKEN are secret whatever the flag says.
        is_secret: arg.is_hide_env_values_set() || name.ends_with("_TOKEN"),
        default: default(arg),
        format: format(arg),
        choices: choices(arg),
        flag: arg.get_long().map(|l| format!("--{l}")),
        heading: arg.get_help_heading().map(str::to_owned),
        name,
    })
}

fn help(arg: &Arg) -> String {
    arg.get_long_help()
        .or_else(|| arg.get_help())
        .map(|h| sentence(&h.to_string()))
        .unwrap_or_default()
}

/// Whitespace collapsed and a closing full stop, which clap drops from a
/// one-sentence doc comment.
fn sentence(text: &str) -> String {
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() && !text.ends_with('.') {
        text.push('.');
    }
    text
}

fn default(arg: &Arg) -> Option<String> {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn format(arg: &Arg) -> Option<&'static str> {
    let parser = arg.get_value_parser().type_id();
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse)
        || parser == TypeId::of::<bool>()
    {
        Some("boolean")
    } else if parser == TypeId::of::<PathBuf>() {
        Some("filepath")
    } else if [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<i64>(),
        TypeId::of::<f64>(),
    ]
    .iter()
    .any(|t| parser == *t)
    {
        Some("number")
    } else {
        None
    }
}

fn choices(arg: &Arg) -> Option<Vec<String>> {
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    (!values.is_empty() && format(arg) != Some("boolean")).then_some(values)
}

fn flag_with_value(arg: &Arg) -> Option<String> {
    let long = arg.get_long()?;
    let takes_value = arg.get_action().takes_values();
    Some(match arg.get_value_names().and_then(|n| n.first()) {
        Some(name) if takes_value => format!("--{long} <{name}>"),
        _ if takes_value => format!("--{long} <{}>", arg.get_id().as_str().to_ascii_uppercase()),
        _ => format!("--{long}"),
    })
}

/// The configuration reference, from the clap command.
pub fn configuration_markdown() -> String {
    let command = built_command();
    let name = command.get_name();
    let mut md = String::new();
    let _ = writeln!(md, "# Configuration\n\n> {GENERATED}\n");
    let _ = writeln!(
        md,
        "Every setting is a flag with an environment twin; a flag on the command line wins over its \
         variable. Tokens are the exception: they are read from the environment only (or, for the HTTP \
         token, a file), because a command line is visible to every user of the machine. Nothing is read \
         from the network at start-up.\n"
    );
    let _ = writeln!(
        md,
        "## Tokens\n\n| variable | secret | description |\n|---|---|---|"
    );
    for var in token_variables() {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} |",
            var.name,
            if var.is_secret { "yes" } else { "no" },
            cell(&var.description)
        );
    }
    let _ = writeln!(
        md,
        "\nWithout a usable OSC token (none given, or a token file that cannot be read; without `--sandbox`) \
         the HTTP server exits at start with a message naming the variables. Over stdio the server starts \
         anyway so that the client can tell the person: `initialize` says what is wrong first, and every tool \
         call answers with the problem and the fix, sending nothing to OSC. When a token file and a token \
         variable are both set, the file wins, and the server says so. `osc-secrets-mcp check` tries the token. With `--sandbox`, any of them (or `--api-url`, or an explicit `--environment`) is \
         refused at start: the sandbox never talks to OSC. The OSC token is sent to OSC only, as `x-pat-jwt: Bearer <token>`; no token \
         appears in a log line, an error or a tool result.\n"
    );
    let args: Vec<&Arg> = visible_args(&command);
    let mut headings: Vec<Option<&str>> = args.iter().map(|a| a.get_help_heading()).collect();
    headings.dedup();
    for heading in headings {
        let _ = writeln!(md, "## {}\n", heading.unwrap_or("Serving"));
        if heading.is_none() {
            let _ = writeln!(md, "`{name} [OPTIONS]` serves MCP.\n");
        }
        let group: Vec<&Arg> = args
            .iter()
            .copied()
            .filter(|a| a.get_help_heading() == heading)
            .collect();
        write_arg_table(&mut md, &group);
    }
    for sub in command
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
    {
        let _ = writeln!(md, "## `{name} {}`\n", sub.get_name());
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            let _ = writeln!(md, "{}\n", sentence(&about.to_string()));
        }
        write_arg_table(&mut md, &visible_args(sub));
    }
    finish(md)
}

fn visible_args(command: &clap::Command) -> Vec<&Arg> {
    command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .collect()
}

fn write_arg_table(md: &mut String, args: &[&Arg]) {
    if args.is_empty() {
        let _ = writeln!(md, "No options.\n");
        return;
    }
    let _ = writeln!(
        md,
        "| flag | variable | default | description |\n|---|---|---|---|"
    );
    for arg in args {
        let mut description = help(arg);
        if let Some(choices) = choices(arg) {
            let _ = write!(
                description,
                " One of {}.",
                choices
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if arg.is_hide_env_values_set() {
            description.push_str(" Secret: its value is never shown.");
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            flag_with_value(arg).map_or_else(String::new, |f| format!("`{f}`")),
            arg.get_env()
                .map_or_else(String::new, |e| format!("`{}`", e.to_string_lossy())),
            default(arg).map_or_else(String::new, |d| format!("`{d}`")),
            cell(&description)
        );
    }
    let _ = writeln!(md);
}

// ---------------------------------------------------------------- manifest

/// `mcp-manifest.json`: the server for registries and clients. Field names
/// follow the MCP registry's `server.json` where the two overlap
/// (`packages`, `registryType`, `transport`, `environmentVariables`,
/// `isRequired`, `isSecret`); `run`, `transports` and `tools` are this
/// manifest's own.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(rename = "$comment")]
    comment: &'static str,
    name: String,
    title: Option<String>,
    description: String,
    version: String,
    license: &'static str,
    repository: Repository,
    run: Run,
    packages: Vec<Package>,
    transports: Vec<TransportEntry>,
    tools: Vec<ManifestTool>,
    resources: Vec<rmcp::model::Resource>,
    #[serde(rename = "resourceTemplates")]
    resource_templates: Vec<rmcp::model::ResourceTemplate>,
    prompts: Vec<rmcp::model::Prompt>,
}

#[derive(Serialize)]
struct Repository {
    url: &'static str,
    source: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    command: &'static str,
    args: Vec<String>,
    install: &'static str,
    /// Serves against the built-in offline emulator; needs no token.
    sandbox_args: Vec<String>,
    environment_variables: Vec<EnvironmentVariable>,
}

/// A published package a registry entry could point at: none yet. The
/// crate is not on crates.io and no image or bundle is released (the
/// scripts build them; server.json names where a release puts them), so
/// the manifest names no package rather than a fictional one.
#[derive(Serialize)]
struct Package {}

#[derive(Serialize, Clone)]
struct TransportEntry {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// Arguments that select this transport; not part of `server.json`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestTool {
    name: String,
    title: Option<String>,
    description: Option<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    annotations: Value,
    input_schema: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_schema: Option<Value>,
}

/// The manifest, pretty-printed with a trailing newline.
pub fn manifest_json() -> Result<String, String> {
    let info = server_info()?;
    let command = env!("CARGO_PKG_NAME");
    let transports = transports()?;
    let manifest = Manifest {
        comment: GENERATED,
        name: info.server.name,
        title: info.server.title,
        description: env!("CARGO_PKG_DESCRIPTION").to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        license: env!("CARGO_PKG_LICENSE"),
        repository: Repository {
            url: env!("CARGO_PKG_REPOSITORY"),
            source: "github",
        },
        run: Run {
            command,
            args: Vec::new(),
            install: "No package is published yet. From a clone of the repository: scripts/build-static (a static Linux x86_64 binary), scripts/build-image (an OCI image), scripts/build-mcpb (an MCP Bundle), or cargo install --path .",
            sandbox_args: vec!["--sandbox".to_owned()],
            environment_variables: environment(),
        },
        packages: Vec::new(),
        transports,
        tools: server::definitions()
            .into_iter()
            .map(|tool| {
                Ok(ManifestTool {
                    title: Some(title(&tool).to_owned()).filter(|t| !t.is_empty()),
                    description: tool.description.as_deref().map(str::to_owned),
                    annotations: serde_json::to_value(&tool.annotations)
                        .map_err(|e| e.to_string())?,
                    input_schema: Value::Object((*tool.input_schema).clone()),
                    output_schema: tool
                        .output_schema
                        .as_deref()
                        .map(|s| Value::Object(s.clone())),
                    name: tool.name.into_owned(),
                })
            })
            .collect::<Result<_, String>>()?,
        resources: server::resources::definitions(),
        resource_templates: server::resources::template_definitions(),
        prompts: server::prompts::list(),
    };
    // Struct fields keep their declared order and serde_json's maps (the
    // schemas) a fixed one, so the bytes depend on the code alone.
    let mut json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    json.push('\n');
    Ok(json)
}

/// Each transport the `--transport` values select. Exhaustive over
/// [`Transport`], so a new variant cannot be left out of the manifest.
fn transports() -> Result<Vec<TransportEntry>, String> {
    let command = built_command();
    let find = |id: &str| command.get_arguments().find(|a| a.get_id().as_str() == id);
    let selector = find("transport")
        .and_then(Arg::get_long)
        .ok_or("the command has no --transport flag")?;
    let listen = find("listen")
        .and_then(default)
        .ok_or("the command has no --listen flag with a default")?;
    let mut out = Vec::new();
    for variant in Transport::value_variants() {
        let value = variant
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .ok_or("a Transport variant is hidden")?;
        let args = vec![format!("--{selector}"), value];
        match variant {
            Transport::Stdio => out.push(TransportEntry {
                kind: "stdio",
                url: None,
                args,
            }),
            Transport::Http => {
                out.push(TransportEntry {
                    kind: "streamable-http",
                    url: Some(format!("http://{listen}/mcp")),
                    args: args.clone(),
                });
                out.push(TransportEntry {
                    kind: "sse",
                    url: Some(format!("http://{listen}/sse")),
                    args,
                });
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- release

/// The MCP Registry's name for this server (GitHub namespace), also the
/// image's `io.modelcontextprotocol.server.name` label.
pub const REGISTRY_NAME: &str = "io.github.osc-secrets-mcp/osc-secrets-mcp";
/// The `server.json` schema the entry is written for.
pub const SERVER_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/// Where a release's image is pushed (`scripts/build-image` builds it
/// locally under `localhost/`).
pub fn image_reference() -> String {
    format!(
        "ghcr.io/osc-secrets-mcp/osc-secrets-mcp:{}",
        env!("CARGO_PKG_VERSION")
    )
}
/// The bundle's file name, as `scripts/build-mcpb` writes it.
pub fn mcpb_file_name() -> String {
    format!(
        "{}-{}-linux-x86_64.mcpb",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    )
}

/// The variables a desktop or container user sets: the OSC token (secret,
/// required), the environment, and the read-only switch.
fn package_variables() -> Vec<EnvironmentVariable> {
    let wanted = [
        config::TOKEN_VARS[0],
        "OSC_ENVIRONMENT",
        "OSC_MCP_READ_ONLY",
    ];
    let mut vars: Vec<EnvironmentVariable> = environment()
        .into_iter()
        .filter(|v| wanted.contains(&v.name.as_str()))
        .collect();
    vars.sort_by_key(|v| wanted.iter().position(|w| *w == v.name));
    vars
}

/// `server.json` for the official MCP Registry: the image (stdio) and the
/// HTTP form a team runs itself. The bundle's entry needs the released
/// file's SHA-256, so `scripts/build-mcpb` adds it to the copy it writes
/// beside the bundle.
pub fn server_json() -> Result<String, String> {
    let info = server_info()?;
    let description = env!("CARGO_PKG_DESCRIPTION");
    let listen = built_command()
        .get_arguments()
        .find(|a| a.get_id().as_str() == "listen")
        .and_then(default)
        .ok_or("the command has no --listen flag with a default")?;
    let port = listen.rsplit(':').next().unwrap_or_default().to_owned();
    let entry = serde_json::json!({
        "$schema": SERVER_SCHEMA,
        "name": REGISTRY_NAME,
        "title": info.server.title,
        "description": description,
        "version": env!("CARGO_PKG_VERSION"),
        "repository": {"url": env!("CARGO_PKG_REPOSITORY"), "source": "github"},
        "websiteUrl": env!("CARGO_PKG_REPOSITORY"),
        "packages": [{
            "registryType": "oci",
            "identifier": image_reference(),
            "runtimeHint": "docker",
            "transport": {"type": "stdio"},
            "environmentVariables": package_variables(),
        }],
        "remotes": [{
            "type": "streamable-http",
            "url": "https://{host}/mcp",
            "variables": {
                "host": {
                    "description": format!(
                        "Host name of your own deployment (the image with MCP_TRANSPORT=http behind TLS; it listens on port {port}); there is no shared public endpoint."
                    ),
                    "isRequired": true,
                    "placeholder": "mcp.example.com",
                },
            },
            "headers": [{
                "name": "Authorization",
                "description": "Bearer and the deployment's MCP_AUTH_TOKEN (never the OSC token).",
                "value": "Bearer {token}",
                "isRequired": true,
                "isSecret": true,
                "variables": {
                    "token": {
                        "description": "The deployment's MCP_AUTH_TOKEN.",
                        "isRequired": true,
                        "isSecret": true,
                    },
                },
            }],
        }],
    });
    let mut json = serde_json::to_string_pretty(&entry).map_err(|e| e.to_string())?;
    json.push('\n');
    Ok(json)
}

/// `manifest.json` of the MCP Bundle (`.mcpb`) for Claude Desktop:
/// the static Linux binary under `server/`, the OSC token as a sensitive
/// setting the desktop app keeps and hands over in the environment.
pub fn mcpb_manifest_json() -> Result<String, String> {
    let info = server_info()?;
    let name = env!("CARGO_PKG_NAME");
    let repository = env!("CARGO_PKG_REPOSITORY");
    let var = |name: &str| {
        package_variables()
            .into_iter()
            .find(|v| v.name == name)
            .map(|v| v.description)
            .ok_or_else(|| format!("{name} is not a variable of the server"))
    };
    let tools: Vec<Value> = server::definitions()
        .iter()
        .map(|tool| {
            serde_json::json!({
                "name": tool.name,
                "description": first_sentence(tool.description.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "manifest_version": "0.3",
        "name": name,
        "display_name": info.server.title,
        "version": env!("CARGO_PKG_VERSION"),
        "description": env!("CARGO_PKG_DESCRIPTION"),
        "author": {"name": "osc-secrets-mcp contributors", "url": repository},
        "repository": {"type": "git", "url": repository},
        "homepage": repository,
        "documentation": format!("{repository}#readme"),
        "support": format!("{repository}/issues"),
        "license": env!("CARGO_PKG_LICENSE"),
        "keywords": ["osc", "eyevinn", "secrets"],
        "server": {
            "type": "binary",
            "entry_point": format!("server/{name}"),
            "mcp_config": {
                "command": format!("${{__dirname}}/server/{name}"),
                "args": [],
                "env": {
                    "OSC_ACCESS_TOKEN": "${user_config.osc_access_token}",
                    "OSC_ENVIRONMENT": "${user_config.osc_environment}",
                    "OSC_MCP_READ_ONLY": "${user_config.read_only}",
                },
            },
        },
        "tools": tools,
        "tools_generated": false,
        "compatibility": {"platforms": ["linux"]},
        "user_config": {
            "osc_access_token": {
                "type": "string",
                "title": "OSC personal access token",
                "description": var("OSC_ACCESS_TOKEN")?,
                "sensitive": true,
                "required": true,
            },
            "osc_environment": {
                "type": "string",
                "title": "OSC environment",
                "description": format!("{} One of prod, dev, stage.", var("OSC_ENVIRONMENT")?),
                "default": "prod",
                "required": false,
            },
            "read_only": {
                "type": "boolean",
                "title": "Read-only",
                "description": var("OSC_MCP_READ_ONLY")?,
                "default": false,
                "required": false,
            },
        },
    });
    let mut json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    json.push('\n');
    Ok(json)
}

// ---------------------------------------------------------------- shared

struct Info {
    server: Implementation,
    instructions: String,
}

/// What the server says about itself at `initialize`; needs no OSC client.
fn server_info() -> Result<Info, String> {
    let info = server::info();
    Ok(Info {
        server: info.server_info,
        instructions: info.instructions.unwrap_or_default(),
    })
}

/// Text made safe for one Markdown table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Exactly one trailing newline.
fn finish(mut text: String) -> String {
    while text.ends_with('\n') {
        text.pop();
    }
    text.push('\n');
    text
}
