//! The peek of `POST /mcp`: its body is read first, through the one capped
//! reader, to tell an `initialize` from a call (for the session cap and the
//! permits) and to learn a call's JSON-RPC id (should shutdown cut it off).
//! The body is handed on unchanged; nothing but the method name's verdict,
//! the id and what the request needs (for OAuth scopes: the called tool's
//! kind, from the tool table) is kept.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::refused;
use crate::domain::tool::{self as registry, Kind};
use crate::web::BodyCap;

/// What the peek learnt of a `POST /mcp` body, in the request's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Peeked {
    pub(crate) is_initialize: bool,
    /// The JSON-RPC id of a request (a number or a string); None for
    /// notifications and for the client's responses.
    pub(crate) id: Option<Value>,
    /// What the request does to secrets, when it does anything: a known
    /// tool's kind, or reading for the resources and prompts.
    pub(crate) needs: Option<Needs>,
}

/// What a request needs to be allowed, and how to name it in a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Needs {
    pub(crate) kind: Kind,
    /// The tool's name, or what else the request is.
    pub(crate) what: &'static str,
}

/// What a JSON-RPC request with `method` and `params` needs. Tools unknown
/// to the table need nothing here (rmcp refuses them).
pub(crate) fn needs(method: &str, params: Option<&Value>) -> Option<Needs> {
    match method {
        "tools/call" => {
            let name = params?.get("name")?.as_str()?;
            let entry = registry::entry(name)?;
            Some(Needs {
                kind: entry.kind,
                what: entry.name,
            })
        }
        "resources/read" => Some(Needs {
            kind: Kind::Read,
            what: "Reading a resource",
        }),
        "prompts/get" => Some(Needs {
            kind: Kind::Read,
            what: "Getting a prompt",
        }),
        _ => None,
    }
}

/// Reads the body (`413` or `408` when it is too large or too slow), notes
/// what it is, and hands the request on with the same bytes.
pub(crate) async fn peek(State(cap): State<BodyCap>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let bytes = match cap.read(body).await {
        Ok(bytes) => bytes,
        Err(error) => return refused(error.into_response()),
    };
    parts.extensions.insert(what(&bytes));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

pub(crate) fn what(bytes: &[u8]) -> Peeked {
    #[derive(serde::Deserialize)]
    struct Peek {
        method: Option<String>,
        id: Option<Value>,
        params: Option<Value>,
    }
    let peek = serde_json::from_slice::<Peek>(bytes).ok();
    let needs = peek
        .as_ref()
        .and_then(|p| needs(p.method.as_deref()?, p.params.as_ref()));
    Peeked {
        needs,
        is_initialize: peek
            .as_ref()
            .and_then(|m| m.method.as_deref())
            .is_some_and(|m| m == "initialize"),
        // Only a request (a method and an id) is answered; a client's own
        // response to the server carries an id but no method.
        id: peek
            .filter(|m| m.method.is_some())
            .and_then(|m| m.id)
            .filter(|id| id.is_number() || id.is_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::middleware::from_fn_with_state;
    use axum::routing::post;
    use serde_json::json;

    use super::super::testing::{request, send, text};
    use super::*;

    #[test]
    fn initialize_and_ids_are_told_apart() {
        let init = what(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        assert!(init.is_initialize);
        assert_eq!(init.id, Some(json!(1)));
        let call = what(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call"}"#);
        assert!(!call.is_initialize);
        assert_eq!(call.id, Some(json!("a")));
        // A notification, the client's own response, an odd id, no JSON.
        assert_eq!(
            what(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).id,
            None
        );
        assert_eq!(what(br#"{"jsonrpc":"2.0","id":2,"result":{}}"#).id, None);
        assert_eq!(
            what(br#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#).id,
            None
        );
        let junk = what(b"not json");
        assert!(!junk.is_initialize && junk.id.is_none() && junk.needs.is_none());
        let delete = what(
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_tenant_secret"}}"#,
        );
        assert_eq!(
            delete.needs,
            Some(Needs {
                kind: Kind::Destroy,
                what: "delete_tenant_secret"
            })
        );
        let read = what(br#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{}}"#);
        assert_eq!(read.needs.map(|n| n.kind), Some(Kind::Read));
        for free in [
            br#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#.as_slice(),
            br#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"nope"}}"#,
        ] {
            assert_eq!(what(free).needs, None);
        }
    }

    #[tokio::test]
    async fn the_body_goes_on_unchanged_with_what_was_learnt() {
        let cap = BodyCap {
            max_bytes: 128,
            timeout: Duration::from_secs(1),
        };
        let router = Router::new()
            .route(
                "/mcp",
                post(|request: Request| async move {
                    let peeked = request.extensions().get::<Peeked>().cloned().unwrap();
                    let body = axum::body::to_bytes(request.into_body(), 1024)
                        .await
                        .unwrap();
                    format!("{} {:?} {}", peeked.is_initialize, peeked.id, body.len())
                }),
            )
            .layer(from_fn_with_state(cap, peek));
        let body = r#"{"jsonrpc":"2.0","id":5,"method":"initialize"}"#;
        let response = send(&router, request("POST", "/mcp", &[], body)).await;
        assert_eq!(
            text(response).await,
            format!("true Some(Number(5)) {}", body.len())
        );
        let response = send(&router, request("POST", "/mcp", &[], &"x".repeat(129))).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
