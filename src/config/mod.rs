//! Command line and environment. Every setting is a flag with an environment
//! twin; the OSC token is read from the environment only, never from argv.

mod ask;
mod audit;
mod emulator;
mod error;
mod guardrails;
mod http;
mod listen;
mod oauth;
mod sandbox;
mod serve;
mod state;
mod token;
mod values;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use ask::{ASK_TTL_SECS, AskArgs, public_base};
pub use audit::{AuditArgs, VerifyAuditArgs};
pub use emulator::EmulatorArgs;
pub use error::ConfigError;
pub use guardrails::GuardrailArgs;
pub use http::{AUTH_TOKEN_VAR, HttpArgs, MIN_AUTH_TOKEN_LEN};
pub use listen::parse_listen;
pub use oauth::{OAuthArgs, OAuthSettings, PAGE_SECRET_VAR, PageClient, check_url, is_loopback};
pub use serve::{Environment, ServeArgs, TOKEN_VARS, Transport};
pub use state::{StateArgs, default_state_dir};
pub use token::{TOKEN_FILE_VAR, TokenSource, missing_token_message, osc_token};
pub use values::ValuesArgs;

#[derive(Parser, Debug)]
#[command(
    name = "osc-secrets-mcp",
    version,
    about = "MCP server for Eyevinn Open Source Cloud tenant secrets: agents handle references, never values.",
    long_about = "MCP server for Eyevinn Open Source Cloud tenant secrets. Agents list, set, rotate, delete \
and materialize secrets and only ever see references such as {{secrets.apikey}}; no tool reads a value.\n\n\
The OSC personal access token is read from OSC_ACCESS_TOKEN (or OSC_PAT_JWT), or from the file named by \
OSC_ACCESS_TOKEN_FILE, never from the command line. \
Run with --sandbox to try it against a built-in offline emulator, without an OSC account."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Exits as clap would (status 2), but with [`usage_error`]'s sentence;
/// `--help` and `--version` print as usual.
fn exit_on_usage_error(error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    crate::logging::say(&usage_error(&error));
    crate::logging::flush(crate::logging::EXIT_FLUSH);
    std::process::exit(2)
}

/// What to tell the operator about a command line clap refused. clap's own
/// message repeats the offending text, and the text someone mistakenly put
/// on a command line is often the token (as a stray positional argument,
/// `--token VALUE`, or a value pasted into the wrong flag): only names this
/// server defines are repeated, never what was typed.
pub fn usage_error(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    const NOT_SHOWN: &str = "What was typed is not repeated, in case it was a credential: the OSC token is read \
        only from OSC_ACCESS_TOKEN, OSC_PAT_JWT or the file named by OSC_ACCESS_TOKEN_FILE. See `osc-secrets-mcp --help`.";
    // The name of a flag this server defines, as clap renders it from the
    // definition (`--listen <ADDR>`); only for kinds where clap puts the
    // definition, not the typed text, in this context.
    let defined = |error: &clap::Error| match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(name)) => Some(name.clone()),
        _ => None,
    };
    match error.kind() {
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand => {
            format!("unexpected argument on the command line. {NOT_SHOWN}")
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8 => {
            // This server's own parsers say what to write without quoting.
            let source = std::error::Error::source(error);
            let advice = source
                .and_then(|source| source.downcast_ref::<listen::ListenError>())
                .map(|e| format!(": {e}"))
                .or_else(|| {
                    source
                        .and_then(|s| s.downcast_ref::<crate::values::PatternError>())
                        .map(|e| format!(": {e}"))
                })
                .unwrap_or_default();
            match defined(error) {
                Some(name) => format!("invalid value for `{name}`{advice}. {NOT_SHOWN}"),
                None => format!("an invalid value on the command line{advice}. {NOT_SHOWN}"),
            }
        }
        ErrorKind::ArgumentConflict => match defined(error) {
            Some(name) => {
                format!("`{name}` cannot be used with another argument given. {NOT_SHOWN}")
            }
            None => format!("two arguments given cannot be used together. {NOT_SHOWN}"),
        },
        ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand => {
            format!("a required argument is missing. {NOT_SHOWN}")
        }
        _ => format!("the command line could not be read. {NOT_SHOWN}"),
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the offline OSC emulator (tenant and service secrets) on loopback.
    Emulator(EmulatorArgs),
    /// Check an audit log's hash chain (and its anchor): exit 0 and a summary when intact, 1 and the first broken record when not.
    VerifyAudit(VerifyAuditArgs),
    /// Check the OSC token as the server would use it: which API and which token source (never the token), then one list request; exit 0 when the token works, 1 with what to fix when not. Takes the server's settings after `check` (and from the environment).
    Check(Box<ServeArgs>),
    /// Print a fresh key for --state-key-file (64 hex characters) on standard output. Append it as the file's first line to rotate: the first line seals, every line opens.
    NewStateKey,
}

impl Cli {
    /// Parses the command line and the environment like [`Parser::parse`],
    /// and records which defaulted settings were in fact given. A bad
    /// command line exits with [`usage_error`]'s words, never clap's, which
    /// quote what was typed.
    pub fn parse_all() -> Cli {
        let matches = Cli::command()
            .try_get_matches()
            .unwrap_or_else(|e| exit_on_usage_error(e));
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| exit_on_usage_error(e));
        cli.serve.environment_given = matches!(
            matches.value_source("environment"),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        cli.serve.state.redis_url_on_command_line = matches!(
            matches.value_source("redis_url"),
            Some(ValueSource::CommandLine)
        );
        cli
    }
}
