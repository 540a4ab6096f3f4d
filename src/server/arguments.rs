//! Tool arguments, checked against the tool's own input schema before the
//! tool runs, and the schemas themselves tidied for clients.
//!
//! rmcp deserializes arguments with serde and answers a mismatch with serde's
//! text ("failed to deserialize parameters: invalid type: integer `5`,
//! expected a string"), which names neither the argument nor what to send.
//! Here every mismatch is answered in the server's words: the argument, the
//! type it must have, an example, and never the content of a `writeOnly`
//! (secret) argument. The check reads only the schema, so it covers every
//! tool in the table, including ones whose arguments change later.
//!
//! The checker is written here rather than taken from a JSON Schema crate:
//! those quote the offending instance in their messages (here that can be a
//! secret), cannot say what to send instead, and bring a large dependency
//! tree for schemas that are one object of primitive properties, a few of
//! them objects or arrays of objects whose fields are checked the same way
//! (named by path: `generate.length`, `targets[0].serviceId`).

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

use crate::advice::REFUSED;
use crate::domain::quoted;

/// What the model is shown for an example of a secret (`writeOnly`) argument.
const SECRET_EXAMPLE: &str = "<the secret, as text>";
/// At most this many problems are described; the rest are counted.
const MAX_PROBLEMS: usize = 4;
/// `$ref`s are followed this deep at most (the schemas here nest once).
const MAX_DEPTH: usize = 8;

/// Checks `arguments` against `tool`'s input schema. `Err` is the whole
/// message for the model: what is wrong, per argument, and what to send.
pub(crate) fn check(tool: &Tool, arguments: Option<&JsonObject>) -> Result<(), String> {
    let schema = tool.input_schema.as_ref();
    let empty = JsonObject::new();
    let arguments = arguments.unwrap_or(&empty);
    let mut problems = Vec::new();
    let mut unknown = false;
    let mut missing = false;
    fields(
        &Place::Arguments(&tool.name),
        schema,
        arguments,
        &mut problems,
        &mut unknown,
        &mut missing,
        0,
    );
    if problems.is_empty() {
        return Ok(());
    }
    tracing::info!(tool = %tool.name, problems = problems.len(), "arguments refused");
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    problems.truncate(MAX_PROBLEMS);
    let mut message = format!(
        "{REFUSED} the arguments do not match the input schema of {}. {}",
        tool.name,
        problems.join(" ")
    );
    if more > 0 {
        message.push_str(&format!(" …and {more} more problem(s) like these."));
    }
    if unknown || missing {
        message.push_str(&format!(" A complete call: `{}`.", whole_example(schema)));
    }
    Err(message)
}

/// Where a set of fields sits: the tool's arguments, or an object inside them.
enum Place<'a> {
    Arguments(&'a str),
    /// The path of the object, such as `generate` or `targets[0]`.
    Object(String),
}

impl Place<'_> {
    fn name(&self, field: &str) -> String {
        match self {
            Place::Arguments(_) => field.to_owned(),
            Place::Object(path) => format!("{path}.{field}"),
        }
    }
}

/// Checks the fields of one object (the arguments, or an object argument)
/// against its schema, and objects nested in them, at most [`MAX_DEPTH`] deep.
fn fields(
    place: &Place<'_>,
    schema: &JsonObject,
    given: &JsonObject,
    problems: &mut Vec<String>,
    unknown: &mut bool,
    missing: &mut bool,
    depth: usize,
) {
    let empty = JsonObject::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required = required(schema);
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (name, value) in given {
        match properties.get(name).and_then(Value::as_object) {
            None if closed => {
                *unknown = true;
                problems.push(match place {
                    Place::Arguments(tool) => format!(
                        "{} is not an argument of {tool}; {}.",
                        quoted(name),
                        argument_list(properties)
                    ),
                    Place::Object(path) => format!(
                        "{} is not a field of `{path}`; {}.",
                        quoted(name),
                        field_list(properties)
                    ),
                });
            }
            None => {}
            // An optional argument sent as null means the same as leaving it out.
            Some(_) if value.is_null() && !required.contains(&name.as_str()) => {}
            Some(property) => {
                let path = place.name(name);
                if let Some(problem) = mismatch(&path, property, value) {
                    problems.push(problem);
                } else if depth < MAX_DEPTH {
                    nested(
                        &path,
                        property,
                        value,
                        problems,
                        unknown,
                        missing,
                        depth + 1,
                    );
                }
            }
        }
    }
    for name in &required {
        if !given.contains_key(*name) {
            *missing = true;
            let property = properties.get(*name).and_then(Value::as_object);
            let path = place.name(name);
            problems.push(format!(
                "`{path}` is missing: it is required, {}, for example {}.",
                property.map_or_else(|| "any JSON value".to_owned(), expected),
                property.map_or_else(|| format!("`\"{name}\": …`"), |p| pair(name, p))
            ));
        }
    }
}

/// Checks inside an object argument, or inside each item of an array of
/// objects, when the schema describes their fields.
fn nested(
    path: &str,
    property: &JsonObject,
    value: &Value,
    problems: &mut Vec<String>,
    unknown: &mut bool,
    missing: &mut bool,
    depth: usize,
) {
    match value {
        Value::Object(object) if property.contains_key("properties") => fields(
            &Place::Object(path.to_owned()),
            property,
            object,
            problems,
            unknown,
            missing,
            depth,
        ),
        Value::Array(items) => {
            let Some(item) = property.get("items").and_then(Value::as_object) else {
                return;
            };
            for (i, given) in items.iter().enumerate() {
                if problems.len() > MAX_PROBLEMS {
                    return;
                }
                let at = format!("{path}[{i}]");
                if let Some(problem) = mismatch(&at, item, given) {
                    problems.push(problem);
                } else {
                    nested(&at, item, given, problems, unknown, missing, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn field_list(properties: &JsonObject) -> String {
    let names: Vec<String> = properties.keys().map(|k| format!("`{k}`")).collect();
    match names.split_last() {
        Some((last, [])) => format!("its only field is {last}"),
        Some((last, rest)) => format!("its fields are {} and {last}", rest.join(", ")),
        None => "it takes no fields".to_owned(),
    }
}

/// The answer when `arguments` is not a JSON object at all.
pub(crate) fn not_an_object(tool: &Tool, given: &Value) -> String {
    tracing::info!(tool = %tool.name, "arguments refused: not an object");
    format!(
        "{REFUSED} `arguments` must be a JSON object that holds {}'s arguments by name, got {}; \
         for example `{}`.",
        tool.name,
        kind(given),
        whole_example(tool.input_schema.as_ref())
    )
}

fn required(schema: &JsonObject) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn argument_list(properties: &JsonObject) -> String {
    if properties.is_empty() {
        return "it takes no arguments".to_owned();
    }
    let names: Vec<String> = properties.keys().map(|k| format!("`{k}`")).collect();
    match names.split_last() {
        Some((last, [])) => format!("its only argument is {last}"),
        Some((last, rest)) => format!("its arguments are {} and {last}", rest.join(", ")),
        None => "it takes no arguments".to_owned(),
    }
}

/// What is wrong with one given argument, if anything.
fn mismatch(name: &str, property: &JsonObject, given: &Value) -> Option<String> {
    let secret = is_secret(property);
    let types = types(property);
    if !types.is_empty() && !types.iter().any(|t| has_type(given, t)) {
        let mut sentence = format!(
            "`{name}` must be {}, got {}",
            expected(property),
            kind(given)
        );
        if given.is_number() && types.contains(&"string") {
            sentence.push_str(&format!(
                ": send it as a JSON string, in quotes, for example {}",
                pair(name, property)
            ));
            sentence.push_str(if secret {
                "; as a JSON number, digits can be lost (leading zeros, long or decimal numbers)."
            } else {
                "."
            });
        } else {
            sentence.push_str(&format!("; for example {}.", pair(name, property)));
        }
        return Some(sentence);
    }
    let allowed = allowed(property)?;
    if allowed.contains(given) {
        return None;
    }
    let shown = match given {
        Value::String(text) if !secret => quoted(text),
        other => kind(other).to_owned(),
    };
    Some(format!(
        "`{name}` must be one of {}, got {shown}; for example {}.",
        allowed.iter().map(show).collect::<Vec<_>>().join(" or "),
        pair(name, property)
    ))
}

/// The values an `enum` or `const` allows, if it restricts them.
fn allowed(property: &JsonObject) -> Option<Vec<Value>> {
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    property.get("const").map(|c| vec![c.clone()])
}

/// A `writeOnly` argument is sent and never shown again: its content is
/// never quoted, and its example is a placeholder.
fn is_secret(property: &JsonObject) -> bool {
    property.get("writeOnly") == Some(&Value::Bool(true))
}

fn types(property: &JsonObject) -> Vec<&str> {
    match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// "a string", "an integer or null", "`upsert` or `create`"…
fn expected(property: &JsonObject) -> String {
    let types = types(property);
    if types.is_empty() {
        return "any JSON value".to_owned();
    }
    types
        .iter()
        .map(|t| match *t {
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "true or false",
            "array" => "an array",
            "object" => "a JSON object",
            "null" => "null",
            _ => "a value",
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The JSON type of what arrived, never its content.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An allowed value as the model should write it.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// `` `"name": example` ``, named by the last field of a path
/// (`generate.length` is written `"length": 32`).
fn pair(name: &str, property: &JsonObject) -> String {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    format!("`\"{leaf}\": {}`", example(property))
}

/// An example for one argument: the schema's `examples`, else its first
/// allowed value, else the "e.g. `…`" of its description, else a
/// placeholder of its type.
fn example(property: &JsonObject) -> Value {
    if is_secret(property) {
        return Value::from(SECRET_EXAMPLE);
    }
    if let Some(first) = property
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(first) = allowed(property).and_then(|a| a.into_iter().next()) {
        return first;
    }
    let types = types(property);
    if types.contains(&"string") {
        let described = property
            .get("description")
            .and_then(Value::as_str)
            .and_then(|d| d.split_once("e.g. `"))
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(example, _)| example);
        return Value::from(described.unwrap_or("text"));
    }
    match types.first().copied() {
        Some("integer" | "number") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(JsonObject::new()),
        _ => Value::from("text"),
    }
}

/// A whole call's arguments: every required one, with its example.
fn whole_example(schema: &JsonObject) -> String {
    let empty = JsonObject::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let fields: Vec<String> = required(schema)
        .into_iter()
        .map(|name| {
            let example = properties
                .get(name)
                .and_then(Value::as_object)
                .map_or(Value::from("…"), example);
            format!("\"{name}\": {example}")
        })
        .collect();
    if fields.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{{}}}", fields.join(", "))
    }
}

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
