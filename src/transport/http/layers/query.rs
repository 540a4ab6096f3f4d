//! No credentials in the URL: a token there ends up in proxy logs, browser
//! history and `Referer` headers. Refused whatever its value, even next to
//! a valid `Authorization` header.

use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::around::Around;
use super::refused;
use crate::web::error_response;

/// Query parameter names that carry credentials, compared lowercase without
/// `-` and `_`; any name containing `token` counts too.
const CREDENTIAL_PARAMS: [&str; 12] = [
    "auth",
    "authorization",
    "bearer",
    "apikey",
    "key",
    "jwt",
    "pat",
    "password",
    "passwd",
    "secret",
    "credential",
    "credentials",
];

/// The layer: `400 credentials_in_query`, else on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefuseCredentials;

impl Around for RefuseCredentials {
    type Note = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        if !has_credentials(request.uri()) {
            return Ok(());
        }
        Err(refused(error_response(
            StatusCode::BAD_REQUEST,
            "credentials_in_query",
            "Credentials are never accepted in the URL, where proxies, logs and browser history keep them. Send the token \
             in the `Authorization: Bearer <token>` header instead, and treat a token that was put in a URL as leaked.",
        )))
    }
}

fn has_credentials(uri: &Uri) -> bool {
    let Some(query) = uri.query() else {
        return false;
    };
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or_default().replace('+', " ");
        let name: String = percent_decode_str(&name)
            .decode_utf8_lossy()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        name.contains("token") || CREDENTIAL_PARAMS.contains(&name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::super::around::AroundLayer;
    use axum::Router;
    use axum::routing::get;

    use super::super::testing::{request, send, text};
    use super::*;

    #[test]
    fn credential_names_are_recognised() {
        for bad in [
            "access_token=x",
            "token=x",
            "a=1&API-Key=x",
            "Auth=x",
            "sessionId=1&id_token=2",
            "x%5Ftoken=1",
            "key",
        ] {
            let uri: Uri = format!("/mcp?{bad}").parse().unwrap();
            assert!(has_credentials(&uri), "{bad}");
        }
        for ok in ["sessionId=abc", "", "monkey=1"] {
            let uri: Uri = format!("/messages?{ok}").parse().unwrap();
            assert!(!has_credentials(&uri), "{ok}");
        }
    }

    #[tokio::test]
    async fn a_token_in_the_query_is_refused_without_being_quoted() {
        let router = Router::new()
            .route("/mcp", get(|| async { "reached" }))
            .layer(AroundLayer(RefuseCredentials));
        let response = send(
            &router,
            request("GET", "/mcp?access_token=canary-0123456789", &[], ""),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = text(response).await;
        assert!(body.contains("credentials_in_query"), "{body}");
        assert!(!body.contains("canary"), "{body}");
        let response = send(&router, request("GET", "/mcp?sessionId=1", &[], "")).await;
        assert_eq!(text(response).await, "reached");
    }
}
