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
        "cannot read the file named by OSC_ACCESS_TOKEN_FILE ({kind}): set it to the path of a readable file holding the OSC token"
    )]
    OscTokenFile { kind: std::io::ErrorKind },
    #[error("the file named by OSC_ACCESS_TOKEN_FILE {problem}")]
    OscTokenFileUnusable { problem: &'static str },
    #[error(
        "--sandbox (OSC_MCP_SANDBOX) serves against the built-in offline emulator and never reaches OSC, \
         so it does not go with {}: remove {} (for example `env -u NAME osc-secrets-mcp --sandbox` for an \
         environment variable), or drop --sandbox to use the real OSC API",
        .settings.join(", "),
        if .settings.len() == 1 { "it" } else { "them" }
    )]
    Sandbox { settings: Vec<String> },
    #[error(
        "--ask-user-ttl-secs (OSC_MCP_ASK_USER_TTL_SECS) must be from {min} to {max} seconds: long enough for a \
         person to open the link and type a value, short enough that a forgotten link soon stops working"
    )]
    AskTtl { min: u64, max: u64 },
    #[error(
        "--ask-user-listen (OSC_MCP_ASK_USER_LISTEN) must be a loopback address such as 127.0.0.1:0: on stdio \
         the one-time page has no bearer token, so only this machine may reach it"
    )]
    AskListenNotLoopback,
    /// Never quotes the URL: a mistaken paste may be a token.
    #[error(
        "--public-url (OSC_MCP_PUBLIC_URL) {problem}; write the absolute URL browsers reach this server at, for \
         example https://secrets.example.com or https://example.com/mcp-prefix"
    )]
    PublicUrl { problem: &'static str },
    #[error(
        "cannot use the state key file {path} given by --state-key-file (OSC_MCP_STATE_KEY_FILE): {why}"
    )]
    StateKeyFile { path: String, why: String },
    /// Never quotes the URL: it may hold a password.
    #[error(
        "--redis-url (OSC_MCP_REDIS_URL) {problem}; write redis://HOST:PORT/DB, or rediss://HOST:PORT/DB for TLS, \
         with any user and password as rediss://USER:PASSWORD@HOST:PORT/DB in OSC_MCP_REDIS_URL only \
         (the URL is not repeated here)"
    )]
    RedisUrl {
        problem: crate::store::redis::RedisUrlError,
    },
    #[error(
        "--redis-url holds a password, and a command line can be read by every user of this machine (ps) and \
         is kept in shell history: remove --redis-url and set the URL in the environment variable \
         OSC_MCP_REDIS_URL instead (from a secret store or an env file), then rotate that password"
    )]
    RedisPasswordOnCommandLine,
    #[error(
        "--redis-url (OSC_MCP_REDIS_URL) needs --state-key-file (OSC_MCP_STATE_KEY_FILE): replicas that share \
         Redis answer each other's confirmations, and a replica opens only the requestState values sealed \
         with a key it holds. Make a key file once with `osc-secrets-mcp new-state-key > state.key` (mode \
         0600) and give every replica the same file"
    )]
    RedisWithoutKeyFile,
    #[error(
        "--redis-url (OSC_MCP_REDIS_URL) and --state-dir (OSC_MCP_STATE_DIR) name two state stores, and the \
         server keeps its state in one: remove --state-dir to keep it in Redis, shared by replicas, or \
         --redis-url to keep it in the state directory"
    )]
    TwoStores,
    /// Never quotes the URL: a mistaken paste may be a token.
    #[error(
        "--oauth-issuer (MCP_OAUTH_ISSUER) {problem}; write the authorization server's issuer exactly as its \
         metadata does, for example https://keycloak.example.com/realms/team or https://tenant.auth0.com/"
    )]
    OAuthIssuer { problem: &'static str },
    #[error(
        "--oauth-resource (MCP_OAUTH_RESOURCE) {problem}; write the public URL of this server's /mcp, for \
         example https://secrets.example.com/mcp"
    )]
    OAuthResource { problem: &'static str },
    #[error(
        "--oauth-resource (MCP_OAUTH_RESOURCE) is set without --oauth-issuer (MCP_OAUTH_ISSUER): set the \
         authorization server's issuer to turn OAuth on, or remove --oauth-resource"
    )]
    OAuthResourceAlone,
    #[error(
        "{flag} must be one scope name: printable ASCII without spaces, quotes or backslashes, at most 200 characters"
    )]
    OAuthScope { flag: &'static str },
    #[error(
        "--oauth-audience (MCP_OAUTH_AUDIENCE) takes audience values separated by commas, each printable ASCII \
         without spaces, at most 200 characters (for example Entra ID's application ID)"
    )]
    OAuthAudience,
    #[error(
        "--oauth-scope-read, --oauth-scope-write and --oauth-scope-delete must be three different scope names: \
         one scope granting two of them could not be told apart"
    )]
    OAuthScopesRepeat,
    #[error(
        "--oauth-issuer needs --transport http: over stdio the client is the process that started the server, \
         and there is no token to check"
    )]
    OAuthNeedsHttp,
    #[error(
        "{what} is set without --oauth-issuer (MCP_OAUTH_ISSUER): it has effect only with OAuth on; set the \
         issuer, or remove {what}"
    )]
    OAuthSettingAlone { what: &'static str },
    #[error(
        "--oauth-page-client-id (MCP_OAUTH_PAGE_CLIENT_ID) must be the client ID the authorization server gave \
         the page: printable ASCII without spaces, at most 200 characters"
    )]
    OAuthPageClientId,
    #[error(
        "the page client's secret is set twice, in MCP_OAUTH_PAGE_CLIENT_SECRET and in the file of \
         --oauth-page-client-secret-file (MCP_OAUTH_PAGE_CLIENT_SECRET_FILE): keep one"
    )]
    OAuthPageSecretTwice,
    #[error(
        "cannot read the page client's secret from --oauth-page-client-secret-file \
         (MCP_OAUTH_PAGE_CLIENT_SECRET_FILE): {kind}; check the path and that this user may read it"
    )]
    OAuthPageSecretFile { kind: std::io::ErrorKind },
    #[error(
        "the page client's secret ({origin}) {problem}; copy the secret the authorization server shows for the \
         page's client, and nothing else"
    )]
    OAuthPageSecretUnusable {
        origin: &'static str,
        problem: &'static str,
    },
    #[error(
        "--oauth-page-scope (MCP_OAUTH_PAGE_SCOPE) must be scope names separated by spaces, each printable \
         ASCII without quotes or backslashes, at most 400 characters in all"
    )]
    OAuthPageScope,
}
