//! The composition root: configuration, then the OSC client, then the
//! handler, then the transport. `main` only parses and reports.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::ask_user::links::{FixedBase, Links, PageHost};
use crate::ask_user::page::ListenerBase;
use crate::audit::{self, AuditLog};
use crate::config::{self, ConfigError, EmulatorArgs, ServeArgs, Transport, VerifyAuditArgs};
use crate::elicit::NoRandomness;
use crate::emulator::{Emulator, EmulatorOptions, ListShape};
use crate::logging;
use crate::osc::{OscClient, OscConfig, OscError};
use crate::policy::PolicyError;
use crate::policy::rates::RateLimits;
use crate::server::SecretsServer;
use crate::store::Store;
use crate::store::embedded::{EmbeddedStore, OpenError};
use crate::store::redis::{RedisStore, RedisUrl, StartError};
use crate::transport::http::{self, HttpConfig, HttpError};
use crate::transport::page::LoopbackPage;
use crate::transport::stdio::{self, StdioError};

/// Why the server could not start or stopped badly. Each message is written
/// for the operator and never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{}", config::missing_token_message())]
    MissingToken,
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the sandbox emulator: {0}")]
    Sandbox(std::io::Error),
    #[error("cannot start the emulator on port {port}: {source}")]
    Emulator { port: u16, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Osc(#[from] OscError),
    #[error("{0}")]
    Guardrail(#[from] PolicyError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Stdio(#[from] StdioError),
    #[error("cannot start: {0}")]
    NoRandomness(#[from] NoRandomness),
    #[error(transparent)]
    AuditLocked(#[from] audit::AuditLocked),
    #[error("audit log {path} does not verify: {broken}")]
    AuditBroken { path: String, broken: audit::Broken },
    #[error(transparent)]
    State(#[from] OpenError),
    /// Never the URL: it may hold a password.
    #[error(
        "cannot use the Redis named by --redis-url (OSC_MCP_REDIS_URL): {0}. The server does not start without \
         its state store; once running, it refuses only what needs the store while Redis is away"
    )]
    Redis(#[from] StartError),
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
}

/// stdio serves one client, so one thread is enough and starts fastest.
pub fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, AppError> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(AppError::Runtime)
}

/// Serves MCP as `args` say, until the client goes away or a signal stops it.
pub async fn serve(args: ServeArgs) -> Result<(), AppError> {
    // Installed first: a SIGTERM during start-up then drains instead of
    // killing. stdio keeps the default action (it ends when stdin closes).
    let shutdown = (args.transport == Transport::Http).then(logging::shutdown_signal);
    if let Some(conflict) = args.sandbox_conflicts() {
        return Err(ConfigError::Sandbox { settings: conflict }.into());
    }
    // Checked before anything starts, so a typo stops the server at once.
    let policy = args.guardrails.policy()?;
    let oauth = args.oauth.settings(args.ask.public_base()?.as_deref())?;
    if oauth.is_some() && args.transport != Transport::Http {
        return Err(ConfigError::OAuthNeedsHttp.into());
    }
    if oauth.is_some() && args.http.auth_token()?.is_some() {
        return Err(HttpError::OAuthAndStaticToken.into());
    }
    let redis = args.state.redis()?;
    let links = ask_links(&args)?;
    // Over stdio a token problem is told through the client: the server
    // starts, and initialize and every call say what to fix.
    let (token, base_url, _emulator, problem) = match upstream(&args).await {
        Ok((token, base_url, emulator)) => (token, base_url, emulator, None),
        Err(e @ (AppError::MissingToken | AppError::Config(_)))
            if args.transport == Transport::Stdio =>
        {
            logging::say(&format!(
                "{e}; serving anyway so that the client can tell the person"
            ));
            let placeholder = SecretString::from("not-configured".to_owned());
            (placeholder, args.base_url(), None, Some(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    let upstream_token = token.clone();
    let osc = OscClient::new(OscConfig {
        base_url: base_url.clone(),
        token,
        request_timeout: args.request_timeout(),
        connect_timeout: args.connect_timeout(),
        retry: args.retry(),
    })?
    .with_limits(args.limits());
    announce(&args, &base_url);
    let audit_log = match args.audit.audit_log.clone() {
        Some(path) => Some(Arc::new(AuditLog::open(path, args.audit.audit_required)?)),
        None => None,
    };
    let keys = match args.state.sealing_keys()? {
        Some(keys) => keys,
        None => crate::elicit::SealingKeys::fresh()?,
    };
    let store = state_store(&args, redis).await?;
    let store = store.for_tenant(&base_url, upstream_token.expose_secret());
    let rates = RateLimits::counted_in(
        &store,
        args.audit.max_writes_per_minute,
        args.audit.max_deletes_per_minute,
    );
    // With OAuth the limits are each person's: one burst locks out no one else.
    let rates = if oauth.is_some() {
        rates.per_subject()
    } else {
        rates
    };
    for line in policy.summary() {
        logging::say(&format!("guardrail: {line}"));
    }
    let server = SecretsServer::new(Arc::new(osc))
        .sandboxed(args.sandbox)
        .with_policy(policy)
        .allow_env(args.values.allowlist())
        .ask_user(
            args.values.ask_settings(
                (args.transport == Transport::Http)
                    .then(|| Duration::from_secs(args.http.session_idle_secs)),
            ),
        )
        .with_audit_log(audit_log)
        .with_rate_limits(rates)
        .with_links(links)
        .with_store(store, keys)?;
    let server = match problem {
        Some(problem) => server.misconfigured(problem),
        None => server,
    };
    // The sealer of requestState; without one nobody could be asked, so
    // the server refuses to start rather than go on silently.
    server.states()?;
    match args.transport {
        Transport::Stdio => Ok(stdio::serve(server).await?),
        Transport::Http => {
            let config = http_config(&args)?;
            for warning in config.check(&upstream_token)? {
                logging::say(&format!("warning: {warning}"));
            }
            let shutdown = shutdown.unwrap_or_else(logging::shutdown_signal);
            Ok(http::serve(server, config, shutdown).await?)
        }
    }
}

/// The store the server keeps its state in: memory for the sandbox (and
/// where there is no home for a state directory), Redis when named, else
/// SQLite in the state directory.
///
/// Redis must answer at start (within a few seconds): a mistyped host or
/// password then stops the server at once, where it is seen, instead of
/// refusing every confirmation later. Once running, an outage fails only
/// what needs the store, and the connection comes back by itself. The
/// state directory is only checked here (in microseconds); SQLite opens on
/// first use.
async fn state_store(args: &ServeArgs, redis: Option<RedisUrl>) -> Result<Store, AppError> {
    if args.sandbox {
        return Ok(Store::memory());
    }
    if let Some(url) = redis {
        let facts = url
            .check()
            .map_err(|problem| ConfigError::RedisUrl { problem })?;
        if !facts.tls && !facts.loopback {
            logging::say(
                "warning: --redis-url (OSC_MCP_REDIS_URL) is redis:// to another machine: its password and the \
                 ledger cross the network in clear text; use rediss:// (TLS) unless that network is this \
                 deployment's own",
            );
        }
        let db = RedisStore::new(&url)?;
        for warning in db.check(facts.tls).await? {
            logging::say(&format!("warning: {warning}"));
        }
        tracing::info!(
            tls = facts.tls,
            "state: ledger and single use kept in Redis, shared by every replica that names it"
        );
        return Ok(Store::redis(Arc::new(db)));
    }
    let Some(dir) = args.state.dir() else {
        logging::say(
            "warning: no state directory (neither XDG_STATE_HOME nor HOME is set): the ledger of materializations \
             is kept in memory and ends with this process; set --state-dir (OSC_MCP_STATE_DIR)",
        );
        return Ok(Store::memory());
    };
    tracing::debug!(dir = %dir.display(), "state directory");
    let db = Arc::new(EmbeddedStore::new(dir));
    db.check()?;
    Ok(Store::embedded(db))
}

/// Says, when the token file won over a token variable, that it did.
fn say_token_source(source: config::TokenSource) {
    if let config::TokenSource::File { over: Some(name) } = source {
        logging::say(&format!(
            "the OSC token is read from the file named by {} ({} is set too and is not used)",
            config::TOKEN_FILE_VAR,
            name
        ));
    }
}

/// `check`: the token as the server would use it, tried with one list
/// request. The report goes to stdout, a sentence a line; `Ok(false)` when
/// the token does not work.
pub async fn check(args: ServeArgs) -> Result<bool, AppError> {
    use std::io::Write;
    let mut lines: Vec<String> = Vec::new();
    if args.sandbox {
        lines.push(
            "--sandbox needs no token: the server serves against its built-in emulator.".to_owned(),
        );
        return print_lines(&lines).map(|()| true);
    }
    let base_url = args.base_url();
    let api = reqwest::Url::parse(base_url.trim())
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| "an unusable URL".to_owned());
    let api_from = if args
        .api_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
    {
        "--api-url (OSC_API_URL)".to_owned()
    } else {
        format!(
            "--environment (OSC_ENVIRONMENT) {}",
            args.environment.as_str()
        )
    };
    lines.push(format!("OSC API: {api}, from {api_from}."));
    let (token, source) = match config::osc_token() {
        Ok(Some(found)) => found,
        Ok(None) => {
            lines.push(format!("Not working: {}.", config::missing_token_message()));
            return print_lines(&lines).map(|()| false);
        }
        Err(e) => {
            lines.push(format!("Not working: {e}."));
            return print_lines(&lines).map(|()| false);
        }
    };
    lines.push(match source {
        config::TokenSource::File { over: Some(name) } => {
            format!("Token: from {source} ({name} is set too and is not used: the file wins).")
        }
        _ => format!("Token: from {source}."),
    });
    let osc = OscClient::new(OscConfig {
        base_url,
        token,
        request_timeout: args.request_timeout(),
        connect_timeout: args.connect_timeout(),
        retry: args.retry(),
    });
    let osc = match osc {
        Ok(osc) => osc.with_limits(args.limits()),
        Err(e) => {
            lines.push(format!("Not working: {e}."));
            return print_lines(&lines).map(|()| false);
        }
    };
    let works = match osc.list().await {
        Ok(listing) => {
            lines.push(format!(
                "The token works: OSC listed {} tenant secret key(s). Connect a client next.",
                listing.entries.len()
            ));
            true
        }
        Err(e) => {
            let advice = crate::advice::advise(e, crate::advice::Op::List).text;
            lines.push(format!("Not working: {advice}"));
            false
        }
    };
    let _ = std::io::stdout().flush();
    print_lines(&lines).map(|()| works)
}

fn print_lines(lines: &[String]) -> Result<(), AppError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    lines
        .iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush())
        .map_err(AppError::Stdout)
}

/// `new-state-key`: a fresh line for a `--state-key-file`, on stdout.
pub fn new_state_key() -> Result<(), AppError> {
    use std::io::Write;
    let line = crate::elicit::SealingKeys::new_line()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(AppError::Stdout)
}

/// The OSC token and API URL to serve against: a sandbox emulator started
/// here (kept running while the returned handle lives), or the real OSC.
async fn upstream(args: &ServeArgs) -> Result<(SecretString, String, Option<Emulator>), AppError> {
    Ok(if args.sandbox {
        let token = SecretString::from(format!("sandbox-{:032x}", rand::random::<u128>()));
        // No admin endpoints: anyone on the machine could otherwise script
        // faults into this session or read its request log.
        let emulator = Emulator::start_without_admin(
            ([127, 0, 0, 1], 0).into(),
            EmulatorOptions {
                token: Some(token.clone()),
                seed: true,
                ..EmulatorOptions::default()
            },
        )
        .await
        .map_err(AppError::Sandbox)?;
        logging::say(&format!(
            "SANDBOX mode. Serving against an offline OSC emulator at {} with sample keys; \
             nothing reaches Open Source Cloud and nothing is kept after exit.",
            emulator.base_url()
        ));
        (token, emulator.base_url(), Some(emulator))
    } else {
        let (token, source) = config::osc_token()?.ok_or(AppError::MissingToken)?;
        say_token_source(source);
        (token, args.base_url(), None)
    })
}

/// Says on stderr which OSC API is served on which transport.
fn announce(args: &ServeArgs, base_url: &str) {
    // `OscClient::new` refused any URL with a user name, password or query,
    // so what is left names a host and a path, never a credential. It is
    // printed as the URL parser serializes it: control characters, which the
    // parser drops or encodes, cannot forge a log line.
    let api = reqwest::Url::parse(base_url.trim())
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let transport = match args.transport {
        Transport::Stdio => "stdio",
        Transport::Http => "HTTP",
    };
    if args.sandbox {
        tracing::info!("serving MCP on {transport}, against the sandbox emulator at {api}");
    } else {
        tracing::info!("serving MCP on {transport}, against the OSC API at {api}");
    }
}

/// askUser's one-time links, served where the transport says: on the HTTP
/// listener (under `--public-url` when given), or on a loopback listener
/// started on demand when serving stdio.
fn ask_links(args: &ServeArgs) -> Result<Arc<Links>, ConfigError> {
    let ttl = args.ask.ttl()?;
    let public = args.ask.public_base()?;
    let links = match args.transport {
        Transport::Stdio => {
            let listen = args.ask.loopback_listen()?;
            if public.is_some() {
                logging::say(
                    "warning: --public-url (OSC_MCP_PUBLIC_URL) applies to --transport http only; on stdio the \
                     one-time page is served on loopback (--ask-user-listen)",
                );
            }
            LoopbackPage::links(ttl, listen).0
        }
        Transport::Http => {
            let host: Arc<dyn PageHost> = match public {
                Some(base) => Arc::new(FixedBase(base)),
                None => Arc::new(ListenerBase::default()),
            };
            Arc::new(Links::new(ttl, host))
        }
    };
    links.set_sandbox(args.sandbox);
    Ok(links)
}

fn http_config(args: &ServeArgs) -> Result<HttpConfig, ConfigError> {
    let http = &args.http;
    let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    Ok(HttpConfig {
        listen: args.listen,
        auth_token: http.auth_token()?,
        oauth: args.oauth.settings(args.ask.public_base()?.as_deref())?,
        allowed_hosts: http.allowed_hosts.clone(),
        allowed_origins: http.allowed_origins.clone(),
        stateless: http.stateless,
        max_body_bytes: size(http.max_body_bytes),
        max_sessions: size(u64::from(http.max_sessions)),
        session_idle: Duration::from_secs(http.session_idle_secs),
        max_concurrent_per_client: size(u64::from(http.max_concurrent_per_client)),
        shutdown_grace: Duration::from_secs(http.shutdown_grace_secs),
        header_timeout: Duration::from_secs(http.header_timeout_secs),
        connection_idle: Duration::from_secs(http.connection_idle_secs),
        max_connections: size(u64::from(http.max_connections)),
        metrics_listen: http.metrics_listen,
    })
}

/// `osc-secrets-mcp emulator`: the offline OSC on its own, until a signal.
/// A test fixture: its `/__emulator/*` admin endpoints answer anyone who can
/// reach the port.
pub async fn emulator(args: EmulatorArgs) -> Result<(), AppError> {
    let token = config::osc_token()?.map(|(token, _)| token);
    let token_set = token.is_some();
    let emulator = Emulator::start(
        ([127, 0, 0, 1], args.port).into(),
        EmulatorOptions {
            token,
            seed: !args.empty,
            list_shape: if args.wrapped_list {
                ListShape::Wrapped
            } else {
                ListShape::Array
            },
        },
    )
    .await
    .map_err(|source| AppError::Emulator {
        port: args.port,
        source,
    })?;
    logging::say(&format!(
        "OSC emulator listening at {} ({}; admin endpoints at /__emulator/ open to anyone on this machine). \
         Point the server at it with OSC_API_URL={}. Ctrl-C stops it.",
        emulator.base_url(),
        if token_set {
            "accepting only the token in OSC_ACCESS_TOKEN, OSC_PAT_JWT or OSC_ACCESS_TOKEN_FILE"
        } else {
            "accepting any bearer token"
        },
        emulator.base_url()
    ));
    logging::shutdown_signal().await;
    emulator.shutdown();
    Ok(())
}

/// `osc-secrets-mcp verify-audit PATH`: checks the log's chain, and its head
/// against `--anchor FILE`, or else `PATH.anchor` when that exists. Returns
/// the summary to print when intact.
pub fn verify_audit(args: &VerifyAuditArgs) -> Result<String, AppError> {
    let beside = audit::anchor_path(&args.path);
    let anchor = match &args.anchor {
        Some(given) => Some(given.clone()),
        None => beside.exists().then_some(beside.clone()),
    };
    let verified =
        audit::verify(&args.path, anchor.as_deref()).map_err(|broken| AppError::AuditBroken {
            path: args.path.display().to_string(),
            broken,
        })?;
    let anchored = match &anchor {
        Some(path) => format!("; its last record matches the anchor {}", path.display()),
        None => format!(
            "; no anchor file was given or found at {}, so records cut off its end would go unnoticed",
            beside.display()
        ),
    };
    Ok(format!(
        "audit log {} is intact: {} record(s), last seq {}, last hash {}{anchored}.",
        args.path.display(),
        verified.records,
        verified.head.seq,
        verified.head.hash
    ))
}
