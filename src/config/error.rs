//! Settings that cannot be used, in words for the operator.

/// A setting that cannot be used, in words for the operator. Never quotes a
/// token.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "both MCP_AUTH_TOKEN and --auth-token-file (MCP_AUTH_TOKEN_FILE) are set: set only one"
    )]
    AuthTokenTwice,
    #[error(
        "cannot read the auth token file {path} given by --auth-token-file (MCP_AUTH_TOKEN_FILE): {kind}"
    )]
    AuthTokenFile {
        path: String,
        kind: std::io::ErrorKind,
    },
    #[error("{origin} holds an empty auth token")]
    AuthTokenEmpty { origin: &'static str },
    #[error("the auth token in {origin} {problem}")]
    AuthTokenUnusable {
        origin: &'static str,
        problem: &'static str,
    },
}
