//! What `--transport http` is given, the checks it gets before anything
//! listens, and why the HTTP server could not run.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::config::OAuthSettings;
use crate::web::{HostRules, OriginRules};

/// Everything `--transport http` needs besides the handler. No `Debug`: it
/// holds the token.
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The bearer token clients must present; None serves without
    /// authentication, which [`HttpConfig::check`] allows on loopback only.
    pub auth_token: Option<SecretString>,
    /// OAuth access tokens instead (`--oauth-issuer`); never with `auth_token`.
    pub oauth: Option<OAuthSettings>,
    /// Extra Host names (or host:port) besides loopback; `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins besides loopback ones.
    pub allowed_origins: Vec<String>,
    pub stateless: bool,
    pub max_body_bytes: usize,
    pub max_sessions: usize,
    pub session_idle: Duration,
    pub max_concurrent_per_client: usize,
    pub shutdown_grace: Duration,
    /// How long a client has to send a complete request head (from
    /// connecting, or from the first byte of a next request), and a body.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub connection_idle: Duration,
    /// Most connections open at once, lowered to fit the descriptor limit.
    pub max_connections: usize,
    /// A listener of its own for `/metrics`, without authentication.
    pub metrics_listen: Option<SocketAddr>,
}

impl HttpConfig {
    /// Start-up checks. Returns warnings to print, or the reason not to start.
    /// `osc_token` is the upstream token: the clients' token must differ.
    pub fn check(&self, osc_token: &SecretString) -> Result<Vec<String>, HttpError> {
        let mut warnings = Vec::new();
        let loopback = self.listen.ip().is_loopback();
        if self.oauth.is_some() && self.auth_token.is_some() {
            return Err(HttpError::OAuthAndStaticToken);
        }
        match &self.auth_token {
            Some(token) => {
                if bool::from(
                    token
                        .expose_secret()
                        .as_bytes()
                        .ct_eq(osc_token.expose_secret().as_bytes()),
                ) {
                    return Err(HttpError::SameToken);
                }
            }
            None if self.oauth.is_some() => {}
            None if !loopback => {
                return Err(HttpError::Exposed {
                    listen: self.listen,
                });
            }
            None => warnings.push(format!(
                "serving on {} WITHOUT authentication: every local process and user can manage the tenant's OSC \
                 secrets through this server. Set MCP_AUTH_TOKEN to require a bearer token",
                self.listen
            )),
        }
        let hosts = HostRules::parse(&self.allowed_hosts, self.listen).map_err(HttpError::Hosts)?;
        if hosts.any && self.auth_token.is_none() && self.oauth.is_none() {
            return Err(HttpError::AnyHostWithoutToken);
        }
        if hosts.any {
            warnings.push("Host checking is off (MCP_ALLOWED_HOSTS=*); Origin checking and the bearer token still apply".to_owned());
        } else if self.listen.ip().is_unspecified() && self.allowed_hosts.is_empty() {
            warnings.push(format!(
                "the server binds {} but answers only requests addressed to localhost, 127.0.0.1 or ::1; set MCP_ALLOWED_HOSTS \
                 to the host names clients use to reach it",
                self.listen
            ));
        }
        OriginRules::parse(&self.allowed_origins).map_err(HttpError::Origins)?;
        Ok(warnings)
    }
}

/// Why the HTTP server could not run.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "MCP_AUTH_TOKEN must differ from the OSC personal access token: every HTTP client would hold \
         the tenant's most powerful credential. Generate a separate one, for example with `openssl rand -hex 32`"
    )]
    SameToken,
    #[error(
        "refusing to listen on {listen} without authentication: anyone who can reach that address could list, \
         overwrite and delete the tenant's OSC secrets. Set MCP_AUTH_TOKEN (or --auth-token-file) to a long \
         random token that clients send as `Authorization: Bearer <token>`, or listen on 127.0.0.1"
    )]
    Exposed { listen: SocketAddr },
    #[error(
        "MCP_ALLOWED_HOSTS=* turns off DNS-rebinding protection, which a server without MCP_AUTH_TOKEN relies on: \
         list the host names clients use instead, or set MCP_AUTH_TOKEN"
    )]
    AnyHostWithoutToken,
    /// MCP_ALLOWED_HOSTS cannot be used; the rules' own sentence says why.
    #[error("{0}")]
    Hosts(String),
    /// MCP_ALLOWED_ORIGINS cannot be used; the rules' own sentence says why.
    #[error("{0}")]
    Origins(String),
    #[error(
        "--oauth-issuer (MCP_OAUTH_ISSUER) and the static bearer token (MCP_AUTH_TOKEN or --auth-token-file) are \
         both set, and a listener takes one or the other: clients that find OAuth metadata drop a configured \
         header. Remove the static token to use OAuth, or --oauth-issuer to keep the token"
    )]
    OAuthAndStaticToken,
    #[error("cannot start OAuth: {0}")]
    OAuth(#[from] super::oauth::OAuthError),
    #[error("the one-time askUser page cannot be served: {0}")]
    Page(String),
    #[error("the HTTP server stopped unexpectedly: {0}")]
    Stopped(String),
}

#[cfg(test)]
impl HttpConfig {
    /// A small configuration on `listen` for the tests of this transport.
    pub(super) fn for_tests(listen: &str, token: Option<&str>) -> HttpConfig {
        HttpConfig {
            listen: listen
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
            auth_token: token.map(|t| SecretString::from(t.to_owned())),
            oauth: None,
            allowed_hosts: vec![],
            allowed_origins: vec![],
            stateless: false,
            max_body_bytes: 1024,
            max_sessions: 2,
            session_idle: Duration::from_secs(60),
            max_concurrent_per_client: 2,
            shutdown_grace: Duration::from_secs(1),
            header_timeout: Duration::from_secs(10),
            connection_idle: Duration::from_secs(60),
            max_connections: 64,
            metrics_listen: None,
        }
    }
}
