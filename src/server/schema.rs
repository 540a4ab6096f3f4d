//! Tool schemas tidied for clients: input schemas in the plain shape strict
//! clients accept, and every schema trimmed to what the model needs, since
//! every word of tools/list is paid for in its context.

use rmcp::model::JsonObject;
use serde_json::Value;

/// `$ref`s are followed this deep at most (the schemas here nest once).
const MAX_DEPTH: usize = 8;

/// Rewrites an input schema into the plain shape strict clients accept:
/// local `$ref`s inlined, and optional properties stated once as their own
/// type rather than as "this or null" (`type: [T, "null"]`, a null `anyOf`
/// branch, a null in `enum`, `default: null`). Optional arguments are those
/// left out of `required`; sending null for one still means leaving it out.
pub(crate) fn tidy_input(schema: &mut JsonObject) {
    let defs = schema
        .remove("$defs")
        .or_else(|| schema.remove("definitions"));
    let mut root = Value::Object(std::mem::take(schema));
    // Twice: a nullable reference nested in an inlined definition
    // (`anyOf: [{$ref}, {type: null}]`) becomes a plain `$ref` only once its
    // null branch is dropped.
    for _ in 0..2 {
        if let Some(Value::Object(defs)) = &defs {
            inline_refs(&mut root, defs, 0);
        }
        drop_null(&mut root);
    }
    if let Value::Object(tidied) = root {
        *schema = tidied;
    }
    // A reference that could not be inlined still needs its definition.
    if let Some(defs) = defs
        && mentions_ref(&Value::Object(schema.clone()))
    {
        schema.insert("$defs".to_owned(), defs);
    }
}

/// Keywords that cost the model's context and tell it nothing the
/// descriptions do not already say: the meta-schema URI, `examples` and
/// `default` (every description names its example and default), and
/// `format` (only schemars' integer widths, which clients do not know).
const UNSAID: [&str; 4] = ["$schema", "examples", "default", "format"];

/// Shrinks a tidied input or an output schema to what the model needs:
/// drops [`UNSAID`] keywords everywhere and inlines local `$ref`s, so no
/// `$defs` section is listed. Validation is unchanged: none of these
/// keywords constrains a value (`format` here only annotates).
pub(crate) fn trim(schema: &mut JsonObject) {
    let defs = schema.remove("$defs");
    let mut root = Value::Object(std::mem::take(schema));
    if let Some(Value::Object(defs)) = &defs {
        inline_refs(&mut root, defs, 0);
    }
    drop_unsaid(&mut root, false);
    if let Value::Object(trimmed) = root {
        *schema = trimmed;
    }
    if let Some(defs) = defs
        && mentions_ref(&Value::Object(schema.clone()))
    {
        schema.insert("$defs".to_owned(), defs);
    }
}

/// Trims an output schema as [`trim`] does, and drops what only a
/// validator reads: `required`, `minimum`, and `null` as an allowed type of
/// a field. Every optional field of a result is left out rather than sent
/// as null, so a result still matches; the values of a map
/// (`additionalProperties`) may be null and keep it.
pub(crate) fn trim_output(schema: &mut JsonObject) {
    trim(schema);
    let mut root = Value::Object(std::mem::take(schema));
    drop_null_except(&mut root, Some("additionalProperties"));
    drop_unsaid(&mut root, true);
    drop_open_objects(&mut root);
    if let Value::Object(trimmed) = root {
        *schema = trimmed;
    }
}

/// `additionalProperties: true` says what JSON Schema assumes anyway: it
/// goes, so the model pays nothing for it.
fn drop_open_objects(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(true)) {
                map.remove("additionalProperties");
            }
            map.values_mut().for_each(drop_open_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_open_objects),
        _ => {}
    }
}

fn drop_unsaid(node: &mut Value, output: bool) {
    match node {
        Value::Object(map) => {
            // A property may itself be called `default` or `format`: only
            // keywords of a schema go, never the names in `properties`.
            for (name, child) in map.iter_mut() {
                if name == "properties" {
                    if let Value::Object(properties) = child {
                        properties.values_mut().for_each(|p| drop_unsaid(p, output));
                    }
                } else {
                    drop_unsaid(child, output);
                }
            }
            for keyword in UNSAID {
                map.remove(keyword);
            }
            if output {
                map.remove("required");
                map.remove("minimum");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| drop_unsaid(i, output)),
        _ => {}
    }
}

fn inline_refs(node: &mut Value, defs: &JsonObject, depth: usize) {
    match node {
        Value::Object(map) => {
            if depth < MAX_DEPTH
                && let Some(target) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| {
                        r.strip_prefix("#/$defs/")
                            .or_else(|| r.strip_prefix("#/definitions/"))
                    })
                    .and_then(|name| defs.get(name))
                    .and_then(Value::as_object)
            {
                let target = target.clone();
                map.remove("$ref");
                // The referring schema's own words (its description) win.
                for (k, v) in target {
                    map.entry(k).or_insert(v);
                }
            }
            for child in map.values_mut() {
                inline_refs(child, defs, depth + 1);
            }
        }
        Value::Array(items) => {
            for child in items {
                inline_refs(child, defs, depth + 1);
            }
        }
        _ => {}
    }
}

fn mentions_ref(node: &Value) -> bool {
    match node {
        Value::Object(map) => map.contains_key("$ref") || map.values().any(mentions_ref),
        Value::Array(items) => items.iter().any(mentions_ref),
        _ => false,
    }
}

fn is_null_schema(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("null")
}

fn drop_null(node: &mut Value) {
    drop_null_except(node, None);
}

/// [`drop_null`], leaving the subschemas under the keyword `skip` as they are.
fn drop_null_except(node: &mut Value, skip: Option<&str>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".to_owned(), only);
                }
            }
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            if map.get("default").is_some_and(Value::is_null) {
                map.remove("default");
            }
            for combinator in ["anyOf", "oneOf"] {
                let Some(Value::Array(branches)) = map.get_mut(combinator) else {
                    continue;
                };
                branches.retain(|b| !is_null_schema(b));
                if let [Value::Object(_)] = branches.as_slice()
                    && let Some(Value::Object(only)) = branches.pop()
                {
                    map.remove(combinator);
                    for (k, v) in only {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            for (keyword, child) in map.iter_mut() {
                if skip != Some(keyword.as_str()) {
                    drop_null_except(child, skip);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| drop_null_except(item, skip)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn tidy_flattens_every_nullable_shape() {
        let mut schema = object(json!({
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"], "default": null},
                "b": {"anyOf": [{"$ref": "#/$defs/Owner"}, {"type": "null"}], "description": "mine"},
                "c": {"type": ["string", "null"], "enum": ["x", "y", null]},
                "d": {"type": ["integer", "string", "null"]}
            },
            "$defs": {"Owner": {"type": "string", "enum": ["user", "system"], "description": "theirs"}}
        }));
        tidy_input(&mut schema);
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                "properties": {
                    "a": {"type": "string"},
                    "b": {"type": "string", "enum": ["user", "system"], "description": "mine"},
                    "c": {"type": "string", "enum": ["x", "y"]},
                    "d": {"type": ["integer", "string"]}
                }
            })
        );
    }

    #[test]
    fn a_nullable_reference_inside_a_definition_is_inlined() {
        let mut schema = object(json!({
            "type": "object",
            "properties": {"g": {"anyOf": [{"$ref": "#/$defs/G"}, {"type": "null"}]}},
            "$defs": {
                "G": {"type": "object", "properties": {
                    "a": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}], "description": "mine"}
                }},
                "A": {"type": "string", "enum": ["x", "y"]}
            }
        }));
        tidy_input(&mut schema);
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                "properties": {"g": {"type": "object", "properties": {
                    "a": {"type": "string", "enum": ["x", "y"], "description": "mine"}
                }}}
            })
        );
    }

    #[test]
    fn a_recursive_reference_keeps_its_definition() {
        let mut schema = object(json!({
            "type": "object",
            "properties": {"n": {"$ref": "#/$defs/N"}},
            "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}
        }));
        tidy_input(&mut schema);
        assert!(schema.contains_key("$defs"));
    }

    /// Trimming drops what only annotates, keeps every constraint and
    /// description, inlines definitions, and leaves a property that happens
    /// to be called `default` or `format` in place.
    #[test]
    fn trim_keeps_constraints_and_drops_annotations() {
        let mut schema = object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "format": {"type": "string", "examples": ["x"], "description": "d1"},
                "default": {"type": "integer", "format": "uint32", "minimum": 0, "default": 3},
                "g": {"anyOf": [{"$ref": "#/$defs/G"}, {"type": "null"}]}
            },
            "required": ["format"],
            "$defs": {"G": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}}}
        }));
        trim(&mut schema);
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                "properties": {
                    "format": {"type": "string", "description": "d1"},
                    "default": {"type": "integer", "minimum": 0},
                    "g": {"anyOf": [
                        {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}},
                        {"type": "null"}
                    ]}
                },
                "required": ["format"]
            })
        );
    }
}
