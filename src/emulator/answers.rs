//! Answers as the live service (most likely Fastify) gives them: rejections,
//! error bodies, content types, and the request rules they enforce.

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

/// What Fastify sends with every JSON reply.
pub(super) const JSON_UTF8: &str = "application/json; charset=utf-8";
pub(super) const TEXT_UTF8: &str = "text/plain; charset=utf-8";

/// A request body as the route handler sees it, after the Fastify-level checks.
pub(super) struct Body {
    pub(super) declared_json: bool,
    pub(super) bytes: Bytes,
}

impl Body {
    /// Fastify only parses JSON when it is declared; anything else fails the
    /// route's object schema.
    pub(super) fn object(&self) -> Result<Map<String, Value>, Rejection> {
        if self.declared_json
            && let Ok(Value::Object(object)) = serde_json::from_slice(&self.bytes)
        {
            return Ok(object);
        }
        Err(validation("body must be object"))
    }
}
/// Keys are `user.<name>` or `system.<name>` with a non-empty name.
pub(super) fn check_key(key: &str) -> Result<(), Rejection> {
    let valid = ["user.", "system."].iter().any(|prefix| {
        key.strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty())
    });
    if valid {
        Ok(())
    } else {
        Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "Key must start with 'user.' or 'system.' followed by a name",
        ))
    }
}

/// A valid key the tenant may write: `system.*` belongs to the platform.
pub(super) fn writable_key(key: &str) -> Result<(), Rejection> {
    check_key(key)?;
    if key.starts_with("system.") {
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "system.* secrets are managed by the platform and cannot be modified",
        ));
    }
    Ok(())
}

/// A string field holding a value, wrapped at once so it is never a bare `String` for long.
pub(super) fn secret_from(
    object: &mut Map<String, Value>,
    name: &str,
) -> Result<SecretString, Rejection> {
    string_field(object, name).map(SecretString::from)
}

/// A string field that names something (service, secret) and so cannot be empty.
pub(super) fn name_field(object: &mut Map<String, Value>, name: &str) -> Result<String, Rejection> {
    let value = string_field(object, name)?;
    if value.is_empty() {
        return Err(validation(format!(
            "body/{name} must NOT have fewer than 1 characters"
        )));
    }
    Ok(value)
}

/// Messages follow Fastify's schema validation (ajv) and never include the value.
pub(super) fn string_field(
    object: &mut Map<String, Value>,
    name: &str,
) -> Result<String, Rejection> {
    match object.remove(name) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(validation(format!("body/{name} must be string"))),
        None => Err(validation(format!(
            "body must have required property '{name}'"
        ))),
    }
}

pub(super) fn validation(message: impl Into<String>) -> Rejection {
    Rejection::new(StatusCode::BAD_REQUEST, message).code("FST_ERR_VALIDATION")
}

pub(super) fn tenant_not_found() -> Rejection {
    Rejection::new(StatusCode::NOT_FOUND, "Tenant secret not found")
}

pub(super) fn service_secret_not_found() -> Rejection {
    Rejection::new(StatusCode::NOT_FOUND, "Service secret not found")
}

pub(super) fn route_not_found(method: &Method, path: &str) -> Rejection {
    Rejection::new(
        StatusCode::NOT_FOUND,
        format!("Route {method}:{path} not found"),
    )
}

/// What a route handler answers: a reply, or a Fastify-style error.
pub(super) type Answer = Result<Response, Rejection>;

/// A Fastify-style error on its way out; kept small so `?` stays cheap.
/// Messages are fixed text plus key, path or field names, never a value.
pub(super) struct Rejection {
    pub(super) status: StatusCode,
    pub(super) code: Option<&'static str>,
    pub(super) message: String,
}

impl Rejection {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            message: message.into(),
        }
    }

    /// Fastify's own errors carry a `code` such as `FST_ERR_VALIDATION`.
    pub(super) fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        fastify_error(self.status, self.code, &self.message)
    }
}

pub(super) fn reply(status: StatusCode, body: Value) -> Response {
    with_content_type((status, body.to_string()).into_response(), JSON_UTF8)
}

pub(super) fn with_content_type(mut response: Response, content_type: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// `{"statusCode","code"?,"error","message"}`, as Fastify's default error handler writes it.
pub(super) fn fastify_error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    reply(status, fastify_body(status, code, message))
}

pub(super) fn fastify_body(status: StatusCode, code: Option<&str>, message: &str) -> Value {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if let (Some(code), Some(object)) = (code, body.as_object_mut()) {
        object.insert("code".to_owned(), Value::from(code));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_need_a_known_prefix_and_a_name() {
        assert!(check_key("user.a").is_ok());
        assert!(check_key("system.gitea-admin-token").is_ok());
        assert!(check_key("user.gitcred.my-token").is_ok());
        for bad in ["user.", "system.", "user", "other.a", "", ".user.a"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
