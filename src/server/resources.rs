//! The resource `osc://tenant-secrets`: the tenant's keys and their
//! metadata, never a value, for clients that browse resources.
//!
//! It is what `list_tenant_secrets` returns without arguments, through the
//! same code (so `--keys` filters it the same way and it is capped at one
//! page), and it exists only while that tool is served.
//!
//! The template `osc://tenant-secrets/{key}/materializations`: where one key
//! was materialized, from this server's ledger. It needs no OSC request,
//! follows `--keys`, and is served while the list tool is.

use rmcp::ErrorData;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use super::instructions::SANDBOX_NOTE;
use crate::tools::Toolkit;
use crate::tools::list::ListArgs;

pub const URI: &str = "osc://tenant-secrets";
pub const PLACEMENTS: &str = "osc://tenant-secrets/{key}/materializations";
const PLACEMENTS_SUFFIX: &str = "/materializations";
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

/// What `resources/templates/list` shows: the ledger's template, unless the
/// operator turned the list tool off.
pub fn templates(tools: &Toolkit) -> Vec<ResourceTemplate> {
    if tools.policy.tools.off(LIST_TOOL).is_some() {
        return Vec::new();
    }
    template_definitions()
}

/// Every resource template of a server with every tool on.
pub fn template_definitions() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(PLACEMENTS, "materializations")
            .with_title("Where a key was materialized")
            .with_description(
                "The service secrets this server copied one key into (serviceId, secretName, when, by whom), from its ledger; \
                 rotate_tenant_secret without targets rotates into them. It knows only what this server did.",
            )
            .with_mime_type("application/json"),
    ]
}

/// `resources/read`: one OSC request. An unknown URI (or the inventory while
/// the list tool is off) is "resource not found"; an OSC failure is an
/// internal error carrying the list tool's advice.
pub async fn read(tools: &Toolkit, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    if let Some(key) = uri
        .strip_prefix("osc://tenant-secrets/")
        .and_then(|rest| rest.strip_suffix(PLACEMENTS_SUFFIX))
        && tools.policy.tools.off(LIST_TOOL).is_none()
    {
        return placements(tools, uri, key).await;
    }
    if uri != URI || tools.policy.tools.off(LIST_TOOL).is_some() {
        return Err(ErrorData::resource_not_found(
            format!("no such resource; this server's resources are {URI} and {PLACEMENTS}"),
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

/// The ledger's entries for one key, as the template's resource.
async fn placements(
    tools: &Toolkit,
    uri: &str,
    key: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let key = crate::domain::Key::parse(key).map_err(|e| {
        ErrorData::invalid_params(format!("{PLACEMENTS}: `key` {}", e.message), None)
    })?;
    if !tools.policy.keys.allows(&key) {
        return Err(ErrorData::resource_not_found(
            format!(
                "`{key}` is outside the keys this server's operator allows (--keys), so its ledger is not shown"
            ),
            None,
        ));
    }
    let placements = tools
        .store
        .placements(&key)
        .await
        .map_err(|e| ErrorData::internal_error(format!("{e}; retry in a minute"), None))?;
    let mut json = json!({
        "key": key.to_string(),
        "materializations": placements,
        "note": "From this server's ledger, which knows only what this server did: a service given the key another way is not listed.",
    });
    if tools.sandboxed
        && let Value::Object(map) = &mut json
    {
        map.insert("sandbox".to_owned(), Value::from(SANDBOX_NOTE));
    }
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(json.to_string(), uri).with_mime_type("application/json"),
    ]))
}
