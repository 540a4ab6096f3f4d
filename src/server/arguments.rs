//! Tool arguments, checked against the tool's own input schema before the
//! tool runs (the schemas themselves are tidied for clients in
//! [`super::schema`]).
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
/// Objects nested in arguments are checked this deep at most (the schemas
/// here nest once).
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
        message.push_str(&format!(
            " A complete call: `{}`.",
            whole_example(schema, Some(arguments))
        ));
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
            // An optional argument sent as null means the same as leaving it out;
            // so does `false` for an optional object or an optional switch that
            // can only be `true` (`"generate": false`, `"askUser": false`:
            // "not this source").
            Some(_) if value.is_null() && !required.contains(&name.as_str()) => {}
            Some(property)
                if *value == Value::Bool(false)
                    && (types(property) == ["object"]
                        || property.get("const") == Some(&Value::Bool(true)))
                    && !required.contains(&name.as_str()) => {}
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
        whole_example(tool.input_schema.as_ref(), None)
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
        // One item, itself a complete example: an empty list is refused
        // wherever a list is required.
        Some("array") => Value::Array(
            property
                .get("items")
                .and_then(Value::as_object)
                .map(example)
                .into_iter()
                .collect(),
        ),
        Some("object") => Value::Object(required_example(property).into_iter().collect()),
        _ => Value::from("text"),
    }
}

/// `schema`'s required properties in the order it lists them, each with
/// its example.
fn required_example(schema: &JsonObject) -> Vec<(String, Value)> {
    let empty = JsonObject::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    required(schema)
        .into_iter()
        .map(|name| {
            let example = properties
                .get(name)
                .and_then(Value::as_object)
                .map_or(Value::from("…"), example);
            (name.to_owned(), example)
        })
        .collect()
}

/// A whole call's arguments: every required one, with its example, and
/// every optional list or object the caller gave (a rotation's `targets`):
/// the example keeps what the caller meant to do.
fn whole_example(schema: &JsonObject, given: Option<&JsonObject>) -> String {
    let mut fields: Vec<String> = required_example(schema)
        .into_iter()
        .map(|(name, example)| format!("\"{name}\": {example}"))
        .collect();
    let empty = JsonObject::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required = required(schema);
    for (name, property) in properties {
        let structured = property
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t == "array" || t == "object");
        if structured
            && !required.contains(&name.as_str())
            && given.is_some_and(|g| g.contains_key(name))
            && let Some(property) = property.as_object()
        {
            fields.push(format!("\"{name}\": {}", example(property)));
        }
    }
    if fields.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{{}}}", fields.join(", "))
    }
}
