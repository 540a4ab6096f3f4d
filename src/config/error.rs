//! Settings that cannot be used, in words for the operator.

/// A setting that cannot be used, in words for the operator. Never quotes a
/// token, nor a variable that should hold a path or URL but may hold a token.
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
    #[error(
        "the OSC token is set twice: OSC_ACCESS_TOKEN_FILE and OSC_ACCESS_TOKEN (or OSC_PAT_JWT) are both set; set only one"
    )]
    OscTokenTwice,
    #[error(
        "cannot read the file named by OSC_ACCESS_TOKEN_FILE ({kind}): set it to the path of a readable file holding the OSC token"
    )]
    OscTokenFile { kind: std::io::ErrorKind },
    #[error("the file named by OSC_ACCESS_TOKEN_FILE {problem}")]
    OscTokenFileUnusable { problem: &'static str },
    #[error("{0}")]
    Sandbox(String),
    /// An askUser page setting that cannot be used.
    #[error("{0}")]
    Ask(String),
}
