//! What the server shows of itself without a session: the router of its
//! tools with their schemas tidied, the tool definitions, and what
//! `initialize` answers. Needs no OSC client, so the docs and the manifest
//! are written from it.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, JsonObject, ServerCapabilities, ServerConfig, Tool};
use serde_json::{Value, json};

use super::instructions::INSTRUCTIONS;
use super::schema;
use crate::policy::Policy;
use crate::tools::Toolkit;

/// The router of every tool of [`crate::domain::tool::TOOLS`], each added by its own
/// file in `crate::tools`, with every schema post-processed in this one
/// place: input schemas tidied into plain optional properties (see
/// `schema::tidy_input`), and every schema trimmed to what the model
/// needs (see `schema::trim`).
pub fn router() -> ToolRouter<Toolkit> {
    let mut router = Toolkit::delete_router()
        + Toolkit::list_router()
        + Toolkit::materialize_router()
        + Toolkit::rotate_router()
        + Toolkit::set_router();
    for route in router.map.values_mut() {
        let mut input = route.attr.input_schema.as_ref().clone();
        schema::tidy_input(&mut input);
        schema::trim(&mut input);
        route.attr.input_schema = Arc::new(input);
        if let Some(output) = &route.attr.output_schema {
            let mut output = output.as_ref().clone();
            schema::trim_output(&mut output);
            route.attr.output_schema = Some(Arc::new(output));
        }
    }
    router
}

/// The router a server with `tools` serves: the tools its policy leaves
/// on, and in the sandbox, output schemas that declare the `sandbox` field
/// (and only there: a server against the real OSC does not spend the
/// model's context on a field it never sends).
pub(super) fn served_router(tools: &Toolkit) -> ToolRouter<Toolkit> {
    let mut router = router();
    for name in tools.policy.tools.off_names() {
        router.remove_route(name);
    }
    if tools.sandboxed {
        for route in router.map.values_mut() {
            if let Some(output) = &route.attr.output_schema {
                let mut output = output.as_ref().clone();
                declare_sandbox_field(&mut output);
                route.attr.output_schema = Some(Arc::new(output));
            }
        }
    }
    router
}

/// Declares the optional `sandbox` field in an output schema, so a marked
/// structured result still matches it. Its value, [`SANDBOX_NOTE`], says
/// what it means, so the schema spends no description on it.
fn declare_sandbox_field(output: &mut JsonObject) {
    if let Some(Value::Object(properties)) = output.get_mut("properties") {
        properties
            .entry("sandbox")
            .or_insert_with(|| json!({ "type": "string" }));
    }
}

/// The tool definitions a client receives from `tools/list`, sorted by name.
/// Needs no OSC client.
pub fn definitions() -> Vec<Tool> {
    let mut tools = router().list_all();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// What the server says about itself at `initialize`: name, version, title,
/// instructions and capabilities. Needs no OSC client, so the docs and the
/// manifest are written from it.
pub fn info() -> ServerConfig {
    ServerConfig::new(
        ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .build(),
    )
    .with_server_info(
        Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .with_title("OSC Secrets")
            .with_description(env!("CARGO_PKG_DESCRIPTION")),
    )
    .with_instructions(INSTRUCTIONS)
}

/// What `initialize` answers under `policy`: the instructions end with what
/// the operator's guardrails change.
pub(super) fn info_for(policy: &Policy) -> ServerConfig {
    let lines = policy.summary();
    if lines.is_empty() {
        return info();
    }
    info().with_instructions(format!("{INSTRUCTIONS}\n\n{}", lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tool as registry;

    /// `--keys` is enforced on the `key` argument alone: a tool that took a
    /// tenant key under any other name would escape the operator's scope.
    #[test]
    fn every_key_argument_is_called_key() {
        for tool in definitions() {
            let Some(Value::Object(properties)) = tool.input_schema.get("properties") else {
                continue;
            };
            for name in properties.keys() {
                assert!(
                    name == "key" || !name.to_ascii_lowercase().contains("key"),
                    "{} takes a key as `{name}`: name it `key`, or extend off_limits",
                    tool.name
                );
            }
        }
    }

    /// Every tool's input schema is an object that names its arguments: a
    /// schema that could not be made is never shipped as an empty one.
    #[test]
    fn every_input_schema_lists_its_arguments() {
        for tool in definitions() {
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                tool.name
            );
            let properties = tool.input_schema.get("properties");
            assert!(
                properties
                    .and_then(Value::as_object)
                    .is_some_and(|p| p.contains_key("key") || tool.name == "list_tenant_secrets"),
                "{} lists no arguments",
                tool.name
            );
        }
    }

    /// The router serves exactly the tools of the table, no more, no fewer.
    #[test]
    fn the_router_serves_the_table() {
        let served: Vec<String> = definitions().iter().map(|t| t.name.to_string()).collect();
        let table: Vec<&str> = registry::TOOLS.iter().map(|e| e.name).collect();
        assert_eq!(served, table);
    }
}
