//! Command line and environment. Every setting is a flag with an environment
//! twin; the OSC token is read from the environment only, never from argv.

mod emulator;
mod error;
mod http;
mod listen;
mod sandbox;
mod serve;
mod token;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use emulator::EmulatorArgs;
pub use error::ConfigError;
pub use http::{AUTH_TOKEN_VAR, HttpArgs, MIN_AUTH_TOKEN_LEN};
pub use listen::parse_listen;
pub use serve::{Environment, ServeArgs, TOKEN_VARS, Transport};
pub use token::{TOKEN_FILE_VAR, missing_token_message, osc_token};

#[derive(Parser, Debug)]
#[command(
    name = "osc-secrets-mcp",
    version,
    about = "MCP server for Eyevinn Open Source Cloud tenant secrets: agents handle references, never values.",
    long_about = "MCP server for Eyevinn Open Source Cloud tenant secrets. Agents list, set, delete and \
materialize secrets and only ever see references such as {{secrets.apikey}}; no tool reads a value.\n\n\
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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the offline OSC emulator (tenant and service secrets) on loopback.
    Emulator(EmulatorArgs),
}

impl Cli {
    /// Parses the command line and the environment like [`Parser::parse`]
    /// (exiting with clap's message on a bad flag), and records which
    /// defaulted settings were in fact given.
    pub fn parse_all() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.serve.environment_given = matches!(
            matches.value_source("environment"),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        cli
    }
}
