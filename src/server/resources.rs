//! The resource `osc://tenant-secrets`: the tenant's keys and their
//! metadata, never a value, for clients that browse resources.
//!
//! It is what `list_tenant_secrets` returns without arguments, through the
//! same code (so `--keys` filters it the same way and it is capped at one
//! page), and it exists only while that tool is served.

use rmcp::ErrorData;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};
use serde_json::Value;

use super::instructions::SANDBOX_NOTE;
use crate::tools::Toolkit;
use crate::tools::list::ListArgs;

pub const URI: &str = "osc://tenant-secrets";
const LIST_TOOL: &str = "list_tenant_secrets";

/// What `resources/list` shows: the inventory, unless the operator turned
/// the list tool off.
pub fn list(tools: &Toolkit) -> Vec<Resource> {
    if tools.policy.tools.off(LIST_TOOL).is_some() {
        return Vec::new();
    }
    definitions()
}

/// Every resource of a server with every tool on; needs no OSC client, so
/// the docs and the manifest are written from it.
pub fn definitions() -> Vec<Resource> {
    vec![
        Resource::new(URI, "tenant-secrets")
            .with_title("Tenant secrets")
            .with_description(
                "The tenant's keys, each with its last update time, never values; the first page of list_tenant_secrets.",
            )
            .with_mime_type("application/json"),
    ]
}

/// `resources/read`: one OSC request. An unknown URI (or the inventory while
/// the list tool is off) is "resource not found"; an OSC failure is an
/// internal error carrying the list tool's advice.
pub async fn read(tools: &Toolkit, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    if uri != URI || tools.policy.tools.off(LIST_TOOL).is_some() {
        return Err(ErrorData::resource_not_found(
            format!("no such resource; the one resource of this server is {URI}"),
            None,
        ));
    }
    let listing = tools
        .list_tenant_secrets(Parameters(ListArgs::default()))
        .await
        .map_err(|failure| ErrorData::internal_error(failure.text, None))?;
    let mut json = serde_json::to_value(&listing.0)
        .map_err(|_| ErrorData::internal_error("the listing did not serialize", None))?;
    if tools.sandboxed
        && let Value::Object(map) = &mut json
    {
        map.insert("sandbox".to_owned(), Value::from(SANDBOX_NOTE));
    }
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(json.to_string(), URI).with_mime_type("application/json"),
    ]))
}
