//! `list_tenant_secrets`: keys and their metadata, never a value, in pages.
//!
//! Every key comes from OSC, so every key passes the same rules as the
//! model's own input before it is shown; one that does not is left out and
//! counted, never echoed. A page is capped in keys and in bytes.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Toolkit;
use crate::advice::{Failure, Op, advise, refused};
use crate::domain::{self, InputError, Owner};
use crate::osc::Listing;
use crate::policy::KeyScope;

/// Most keys on one page, and the default.
pub const MAX_PAGE_KEYS: u32 = 200;
/// Most bytes of keys and times on one page (as JSON), about 32 KiB.
pub const MAX_PAGE_BYTES: usize = 32 * 1024;

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only keys of this owner.
    #[serde(default)]
    #[schemars(schema_with = "prefix_schema")]
    pub prefix: Option<String>,
    /// Part of the key, any case.
    #[serde(default)]
    pub contains: Option<String>,
    /// Keys per page.
    #[serde(default)]
    #[schemars(schema_with = "limit_schema")]
    pub limit: Option<u64>,
    /// A page's `nextAfter`.
    #[serde(default)]
    pub after: Option<String>,
}
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOutput {
    // Keys on this page.
    #[schemars(schema_with = "count_schema")]
    pub count: u32,
    /// Key: last update (RFC 3339) or null.
    #[schemars(schema_with = "secrets_schema")]
    pub secrets: BTreeMap<String, Option<String>>,
    // More keys match.
    pub truncated: bool,
    // The `after` of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
    /// Invalid keys from OSC, never shown.
    #[schemars(schema_with = "count_schema")]
    pub omitted: u32,
    // Why, with counts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub omitted_reasons: Vec<String>,
}
/// The page as one object, key to last update: about 26 bytes per key
/// beyond the key, where an array of `{key, prefix, updatedAt}` objects took
/// 61. The owner is the key's own prefix, so it is not repeated. A key whose
/// time OSC did not give maps to null.
fn secrets_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "type": ["string", "null"] },
        "description": "Key: last update (RFC 3339) or null."
    })
}

/// A plain non-negative integer: the `uint32` format schemars would add is
/// unknown to several clients' validators, which warn about it.
fn count_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "integer", "minimum": 0 })
}

/// An enum in the schema; read as text so a wrong value gets the tool's own
/// refusal, which says what to do, instead of a deserialization error.
fn prefix_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["user", "system"],
        "description": "Only keys of this owner."
    })
}

fn limit_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_PAGE_KEYS,
        "description": "Keys per page."
    })
}

#[tool_router(router = list_router, vis = "pub(crate)")]
impl Toolkit {
    #[tool(
        title = "List tenant secrets",
        description = "List secret keys, sorted, 200 a page: \
if `truncated`, pass `nextAfter` as `after`. Never returns values.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub(crate) async fn list_tenant_secrets(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<Json<ListOutput>, Failure> {
        let owner = args
            .prefix
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(Owner::parse_filter)
            .transpose()
            .map_err(refused)?;
        let contains = args
            .contains
            .as_deref()
            .map(domain::filter)
            .transpose()
            .map_err(refused)?
            .map(str::to_ascii_lowercase);
        let after = args
            .after
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(domain::cursor)
            .transpose()
            .map_err(refused)?;
        let limit = match args.limit {
            None => MAX_PAGE_KEYS,
            Some(n) if (1..=u64::from(MAX_PAGE_KEYS)).contains(&n) => {
                u32::try_from(n).unwrap_or(MAX_PAGE_KEYS)
            }
            Some(n) => {
                return Err(refused(InputError {
                    field: "limit",
                    message: format!(
                        "is {n}; give 1 to {MAX_PAGE_KEYS}, and page with `after` for more"
                    ),
                }));
            }
        };
        let listing = self.osc.list().await.map_err(|e| advise(e, Op::List))?;
        Ok(Json(page(
            listing,
            &Page {
                owner,
                contains: contains.as_deref(),
                after,
                limit,
                scope: &self.policy.keys,
            },
        )))
    }
}

/// What one call asked for.
struct Page<'a> {
    owner: Option<Owner>,
    contains: Option<&'a str>,
    after: Option<&'a str>,
    limit: u32,
    /// The operator's `--keys`: keys outside it are never shown.
    scope: &'a KeyScope,
}

/// Filters the checked listing (sorted, unique) and cuts one page from it.
///
/// Under `--keys`, entries that are not valid keys are not counted in
/// `omitted`: they cannot be matched against the patterns, and counting
/// them would tell the agent that keys outside its scope exist.
fn page(listing: Listing, want: &Page<'_>) -> ListOutput {
    let (omitted, omitted_reasons) = if want.scope.is_unlimited() {
        (
            listing.omitted_total(),
            listing
                .omitted
                .iter()
                .map(|(why, n)| format!("{} ({n})", why.reason()))
                .collect(),
        )
    } else {
        (0, Vec::new())
    };
    let matching = listing.entries.into_iter().filter(|e| {
        want.scope.allows(&e.key)
            && want.owner.is_none_or(|o| o == e.key.owner())
            && want
                .contains
                .is_none_or(|c| e.key.as_str().to_ascii_lowercase().contains(c))
            && want.after.is_none_or(|a| e.key.as_str() > a)
    });
    let mut secrets = BTreeMap::new();
    let mut last: Option<String> = None;
    let mut bytes = 0usize;
    let mut truncated = false;
    for entry in matching {
        // The entry as JSON (`"key":"time",` or `"key":null,`): checked keys
        // and normalised times are plain ASCII that JSON never escapes.
        let time = entry.updated_at.as_ref().map_or(4, |t| t.len() + 2);
        let size = entry.key.as_str().len() + time + 4;
        let full = secrets.len() >= usize::try_from(want.limit).unwrap_or(usize::MAX);
        if full || bytes.saturating_add(size) > MAX_PAGE_BYTES {
            truncated = true;
            break;
        }
        bytes = bytes.saturating_add(size);
        let key = entry.key.to_string();
        last = Some(key.clone());
        secrets.insert(key, entry.updated_at);
    }
    let next_after = if truncated { last } else { None };
    ListOutput {
        count: u32::try_from(secrets.len()).unwrap_or(u32::MAX),
        secrets,
        truncated,
        next_after,
        omitted,
        omitted_reasons,
    }
}
