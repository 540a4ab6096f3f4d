//! The one-time page signs the person in, when the server runs with OAuth:
//! a link opened by a token's subject writes only for a browser signed in
//! as that subject, through the same authorization server (authorization
//! code with PKCE; the page is a client registered there).
//!
//! What the sign-in needs is kept in the browser, sealed by the server's
//! key, so that any replica sharing the key finishes a sign-in another
//! started:
//! - while signing in, a cookie holding the PKCE verifier and the link,
//!   sealed under the `state` sent to the authorization server: it opens
//!   only for the answer to that one request, in the browser that made it;
//! - once signed in, a pass cookie holding the subject, for
//!   [`PASS_TTL`]: the person's other links open without signing in again.
//!
//! Both are `HttpOnly`, `SameSite=Lax` (the answer from the authorization
//! server is a navigation from another site), and with an https page
//! `Secure` and `__Host-` prefixed. Neither is ever read from anything but
//! the `Cookie` header, and no bearer token is accepted in their place: an
//! agent holds the person's token, never the person's browser.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a sign-in may take, from the page to the authorization server
/// and back.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long a browser stays signed in to the page.
pub const PASS_TTL: Duration = Duration::from_secs(600);

/// The path under the base URL the authorization server sends the browser
/// back to (the redirect URI to register), beside the links.
pub const SIGNED_IN_PATH: &str = "/ask/signed-in";

/// What a sealed sign-in cookie is bound to (with the `state` as name).
pub(crate) const FLOW_PURPOSE: &str = "askUser page sign-in";
/// What a sealed pass cookie is bound to.
pub(crate) const PASS_PURPOSE: &str = "askUser page pass";

/// Signs a person in through the authorization server: implemented by the
/// HTTP transport, which knows the server's endpoints and checks its
/// tokens.
pub trait SignIn: Send + Sync {
    /// The authorization request's URL: where the browser is sent.
    fn authorize(&self, request: &Authorize<'_>) -> String;

    /// Redeems `code` for an access token issued for this server's
    /// resource, and returns the subject it names (as the MCP endpoint
    /// reads a subject), or why not.
    fn redeem(&self, code: String, verifier: SecretString, redirect_uri: String) -> Redeemed;
}

/// What [`SignIn::redeem`] comes to: the subject, or why none.
pub type Redeemed =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, SignInFailed>> + Send>>;

/// One authorization request.
pub struct Authorize<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    /// The PKCE `code_challenge` (S256).
    pub challenge: &'a str,
    /// Ask the authorization server to sign the person in again, even if
    /// its own session names someone (`prompt=login`).
    pub again: bool,
}

/// Why a sign-in did not give a subject; fixed words, never what the
/// authorization server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailed {
    /// The authorization server refused the code (used, expired, or not
    /// this client's).
    Refused,
    /// It could not be reached, or did not answer in time.
    Unreachable,
    /// It answered with something that is not a token response.
    Garbled,
    /// The token it gave is not one this server accepts (the reason, in
    /// the resource server's words).
    Token(&'static str),
}

impl SignInFailed {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInFailed::Refused => "the authorization server refused the code",
            SignInFailed::Unreachable => "the authorization server could not be reached",
            SignInFailed::Garbled => "the authorization server's answer was not a token",
            SignInFailed::Token(why) => why,
        }
    }
}

/// A sign-in under way: kept in the browser, sealed under the `state`.
#[derive(Serialize, Deserialize)]
pub(crate) struct Flow {
    /// The link the person came from, to return to.
    pub link: String,
    /// The PKCE verifier of this request.
    pub verifier: String,
}

/// A browser signed in to the page.
#[derive(Serialize, Deserialize)]
pub(crate) struct Pass {
    pub subject: String,
}

/// The cookies' names: `__Host-` prefixed on an https page, where
/// browsers then refuse them from anything but this host, over https.
pub(crate) struct Cookies {
    pub secure: bool,
}

impl Cookies {
    pub fn for_base(base: &str) -> Cookies {
        Cookies {
            secure: base.starts_with("https://"),
        }
    }

    pub fn flow(&self) -> &'static str {
        if self.secure {
            "__Host-osc-ask-signin"
        } else {
            "osc-ask-signin"
        }
    }

    pub fn pass(&self) -> &'static str {
        if self.secure {
            "__Host-osc-ask-pass"
        } else {
            "osc-ask-pass"
        }
    }

    /// A `Set-Cookie` value: `value` for `ttl`, or, with `None`, one that
    /// removes the cookie.
    pub fn set(&self, name: &str, value: Option<&str>, ttl: Duration) -> Option<HeaderValue> {
        let (value, age) = match value {
            Some(value) => (value, ttl.as_secs()),
            None => ("", 0),
        };
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}"
        ))
        .ok()
    }
}

/// The value of the cookie `name`, if the request sent exactly one.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for line in headers.get_all(header::COOKIE) {
        let Ok(line) = line.to_str() else { continue };
        for pair in line.split(';') {
            let Some((n, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if n == name {
                if found.is_some() {
                    // Two cookies of one name: one was planted (a sibling
                    // domain's, or a path's); trust neither.
                    return None;
                }
                found = Some(v.trim());
            }
        }
    }
    found.filter(|v| !v.is_empty() && v.len() <= 4096)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 4.2).
pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::test_headers as headers;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_cookie_is_read_once_or_not_at_all() {
        let sent = headers(&[("cookie", "a=1; osc-ask-pass=sealed.x; b=2")]);
        assert_eq!(cookie(&sent, "osc-ask-pass"), Some("sealed.x"));
        assert_eq!(cookie(&sent, "osc-ask"), None);
        let twice = headers(&[
            ("cookie", "osc-ask-pass=one"),
            ("cookie", "osc-ask-pass=two"),
        ]);
        assert_eq!(cookie(&twice, "osc-ask-pass"), None);
        let empty = headers(&[("cookie", "osc-ask-pass=")]);
        assert_eq!(cookie(&empty, "osc-ask-pass"), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_on_https() {
        let https = Cookies::for_base("https://secrets.example.com");
        assert_eq!(https.pass(), "__Host-osc-ask-pass");
        let set = https
            .set(https.pass(), Some("v"), Duration::from_secs(600))
            .unwrap();
        assert_eq!(
            set.to_str().unwrap(),
            "__Host-osc-ask-pass=v; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        let http = Cookies::for_base("http://127.0.0.1:8765");
        assert_eq!(http.flow(), "osc-ask-signin");
        let gone = http.set(http.flow(), None, FLOW_TTL).unwrap();
        assert_eq!(
            gone.to_str().unwrap(),
            "osc-ask-signin=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }
}
