//! The one table of tools: each tool's name, its kind, and the router that
//! serves it. Listing, the generated docs, the manifest and the tests all read
//! this table; read-only mode and allow/deny lists will filter it.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use crate::server::{SecretsServer, arguments};

/// What a tool does to the tenant's secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Changes nothing.
    Read,
    /// Writes a value or a copy of one; what was there before is replaced.
    Write,
    /// Removes something that cannot be brought back.
    Destroy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Destroy => "destroy",
        }
    }
}

/// One row of the table.
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
    router: fn() -> ToolRouter<SecretsServer>,
}

/// Every tool, sorted by name (the order `tools/list` shows them in).
pub const TOOLS: &[Entry] = &[
    Entry {
        name: "delete_tenant_secret",
        kind: Kind::Destroy,
        router: SecretsServer::delete_router,
    },
    Entry {
        name: "list_tenant_secrets",
        kind: Kind::Read,
        router: SecretsServer::list_router,
    },
    Entry {
        name: "materialize_tenant_secret",
        kind: Kind::Write,
        router: SecretsServer::materialize_router,
    },
    Entry {
        name: "set_tenant_secret",
        kind: Kind::Write,
        router: SecretsServer::set_router,
    },
];

/// Said in every output schema of the optional `sandbox` field.
const SANDBOX_FIELD: &str = "Present only when this server runs against its offline OSC emulator: \
says that nothing reached Open Source Cloud.";

/// The router of every tool in [`TOOLS`], with every schema post-processed
/// in this one place: input schemas tidied into plain optional properties
/// (see [`arguments::tidy_input`]), and the `sandbox` field declared in every
/// output schema.
pub fn router() -> ToolRouter<SecretsServer> {
    let mut router = TOOLS
        .iter()
        .fold(ToolRouter::new(), |all, entry| all + (entry.router)());
    for route in router.map.values_mut() {
        let mut input = route.attr.input_schema.as_ref().clone();
        arguments::tidy_input(&mut input);
        route.attr.input_schema = Arc::new(input);
        if let Some(output) = &route.attr.output_schema {
            let mut output = output.as_ref().clone();
            declare_sandbox_field(&mut output);
            route.attr.output_schema = Some(Arc::new(output));
        }
    }
    router
}

/// Declares the optional `sandbox` field in an output schema, so a marked
/// structured result still matches it.
fn declare_sandbox_field(output: &mut JsonObject) {
    if let Some(Value::Object(properties)) = output.get_mut("properties") {
        properties.entry("sandbox").or_insert_with(|| {
            json!({
                "type": "string",
                "description": SANDBOX_FIELD,
            })
        });
    }
}

/// The tool definitions a client receives from `tools/list`, in table order.
/// Needs no OSC client.
pub fn definitions() -> Vec<Tool> {
    let mut tools = router().list_all();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// The kind of the tool called `name`, if there is one.
pub fn kind_of(name: &str) -> Option<Kind> {
    TOOLS.iter().find(|e| e.name == name).map(|e| e.kind)
}
