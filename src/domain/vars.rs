//! The environment variables that hold (or point at) this server's own
//! credentials. Configuration reads them; the `fromEnv` value source never
//! may. Pure names, so both can depend on them.

/// Variables that may hold the OSC personal access token, in the order they
/// are read: OSC's own tools use the first, its API docs the second.
/// [`TOKEN_FILE_VAR`] may name a file holding it instead.
pub const TOKEN_VARS: [&str; 2] = ["OSC_ACCESS_TOKEN", "OSC_PAT_JWT"];

/// Names a file that holds the OSC token, for Docker and Kubernetes secrets
/// mounted as files.
pub const TOKEN_FILE_VAR: &str = "OSC_ACCESS_TOKEN_FILE";

/// Holds the bearer token HTTP clients must present.
pub const AUTH_TOKEN_VAR: &str = "MCP_AUTH_TOKEN";

/// Holds the secret of the client the one-time page signs people in as
/// (OAuth).
pub const PAGE_SECRET_VAR: &str = "MCP_OAUTH_PAGE_CLIENT_SECRET";

/// Names the Redis server, with its password when it has one.
pub const REDIS_URL_VAR: &str = "OSC_MCP_REDIS_URL";
