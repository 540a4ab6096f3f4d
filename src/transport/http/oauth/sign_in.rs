//! The one-time page's sign-in through the authorization server: the page
//! is a client registered there (`--oauth-page-client-id`), which sends the
//! browser to the authorization endpoint (authorization code, PKCE S256,
//! the resource indicator of this server) and redeems the code at the token
//! endpoint. The subject is read from the access token by the very check
//! the MCP endpoint uses ([`ResourceServer::validate`]): the page and the
//! endpoint cannot disagree on who a person is.
//!
//! No ID token is asked for or read: an access token for this resource is
//! what the endpoint trusts, and it is enough. The token is used once,
//! here, and never kept, logged or sent on.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::fetch::FetchError;
use super::{OAuthError, ResourceServer};
use crate::ask_user::sign_in::{Authorize, Redeemed, SignIn, SignInFailed};
use crate::config::PageClient;

/// Most bytes of a token response.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

pub(crate) struct PageSignIn {
    server: Arc<ResourceServer>,
    authorization: reqwest::Url,
    token: String,
    client_id: String,
    secret: Option<SecretString>,
    scope: String,
}

impl PageSignIn {
    /// The page's client of `server`'s issuer; fails when its metadata
    /// names no usable endpoint for it.
    pub(crate) fn new(
        server: Arc<ResourceServer>,
        client: &PageClient,
    ) -> Result<PageSignIn, OAuthError> {
        let (authorization, token) = server.endpoints.clone();
        let authorization = authorization
            .and_then(|a| reqwest::Url::parse(&a).ok())
            .ok_or(OAuthError::NoSignInEndpoint("authorization_endpoint"))?;
        let token = token.ok_or(OAuthError::NoSignInEndpoint("token_endpoint"))?;
        Ok(PageSignIn {
            server,
            authorization,
            token,
            client_id: client.client_id.clone(),
            secret: client.secret.clone(),
            scope: client.scope.clone(),
        })
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }
}

impl SignIn for PageSignIn {
    fn authorize(&self, request: &Authorize<'_>) -> String {
        let mut url = self.authorization.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", request.redirect_uri)
                .append_pair("scope", &self.scope)
                .append_pair("state", request.state)
                .append_pair("code_challenge", request.challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("resource", self.server.resource());
            if request.again {
                query.append_pair("prompt", "login");
            }
        }
        url.into()
    }

    fn redeem(&self, code: String, verifier: SecretString, redirect_uri: String) -> Redeemed {
        let server = Arc::clone(&self.server);
        let token_endpoint = self.token.clone();
        let client_id = self.client_id.clone();
        let secret = self.secret.clone();
        Box::pin(async move {
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier.expose_secret()),
                ("resource", server.resource()),
            ];
            // A confidential client authenticates with HTTP Basic
            // (client_secret_basic, every server's default); a public one
            // names itself in the form.
            let basic = match &secret {
                Some(secret) => Some((client_id.as_str(), secret.expose_secret())),
                None => {
                    form.push(("client_id", client_id.as_str()));
                    None
                }
            };
            let answer = server
                .fetcher
                .post_form(&token_endpoint, &form, basic, MAX_TOKEN_RESPONSE)
                .await
                .map_err(|e| match e {
                    FetchError::Status { status, .. } if (400..500).contains(&status) => {
                        SignInFailed::Refused
                    }
                    FetchError::Timeout { .. }
                    | FetchError::Unreachable { .. }
                    | FetchError::Status { .. } => SignInFailed::Unreachable,
                    _ => SignInFailed::Garbled,
                })?;
            let token = access_token(&answer).ok_or(SignInFailed::Garbled)?;
            let identity = server
                .validate(token)
                .await
                .map_err(|why| SignInFailed::Token(why.as_str()))?;
            Ok(identity.subject.to_string())
        })
    }
}

/// The bearer access token of a token response (RFC 6749 5.1).
fn access_token(answer: &Value) -> Option<&str> {
    let bearer = answer
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| bearer && !t.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_a_bearer_token_is_taken() {
        assert_eq!(
            access_token(&json!({"access_token": "a.b.c", "token_type": "Bearer"})),
            Some("a.b.c")
        );
        assert_eq!(
            access_token(&json!({"access_token": "a.b.c", "token_type": "DPoP"})),
            None
        );
        assert_eq!(access_token(&json!({"access_token": "a.b.c"})), None);
        assert_eq!(access_token(&json!({"token_type": "bearer"})), None);
    }
}
