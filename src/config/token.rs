//! Where the OSC token comes from: one environment variable, or a file named
//! by one (the container-secrets convention). Never from a flag.

use std::io::Read;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::error::ConfigError;
use super::serve::TOKEN_VARS;

pub use crate::domain::vars::TOKEN_FILE_VAR;

/// Largest token file read: a token is a few KiB at most, and a path to
/// something endless (a device, a log) must not stall start-up.
const TOKEN_FILE_LIMIT: u64 = 64 * 1024;

/// Where the OSC token was taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable, by name.
    Var(&'static str),
    /// The file named by [`TOKEN_FILE_VAR`]; `over` names a variable that
    /// was set too and was not used.
    File { over: Option<&'static str> },
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Var(name) => write!(f, "the environment variable {name}"),
            TokenSource::File { .. } => write!(f, "the file named by {TOKEN_FILE_VAR}"),
        }
    }
}

/// The OSC token from the file named by [`TOKEN_FILE_VAR`], else from the
/// first of [`TOKEN_VARS`] that is set and not blank; None when none is
/// set. With both, the file wins: naming a file is the explicit choice (a
/// client's configuration), a variable may be left over in the shell.
/// Errors name the variable to fix and never quote its value or the file's
/// content (someone will paste the token itself where the path should go).
pub fn osc_token() -> Result<Option<(SecretString, TokenSource)>, ConfigError> {
    let from_var = TOKEN_VARS
        .iter()
        .find_map(|name| non_blank(name).map(|token| (token, *name)));
    match (from_var, token_file_path()) {
        (var, Some(path)) => {
            let over = var.map(|(_, name)| name);
            read_token_file(&path).map(|token| Some((token, TokenSource::File { over })))
        }
        (Some((token, name)), None) => {
            Ok(Some((SecretString::from(token), TokenSource::Var(name))))
        }
        (None, None) => Ok(None),
    }
}

/// The ways of giving the OSC token that are set (not blank), by name.
pub fn osc_token_vars_set() -> Vec<&'static str> {
    let mut set: Vec<&'static str> = TOKEN_VARS
        .into_iter()
        .filter(|name| non_blank(name).is_some())
        .collect();
    if token_file_path().is_some() {
        set.push(TOKEN_FILE_VAR);
    }
    set
}

/// A token variable's trimmed value; None when unset, blank or not Unicode
/// (a token is ASCII).
fn non_blank(name: &str) -> Option<String> {
    let raw = std::env::var(name).ok()?;
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// The token file's path, as given (a path need not be Unicode); None when
/// unset or empty.
fn token_file_path() -> Option<PathBuf> {
    std::env::var_os(TOKEN_FILE_VAR)
        .filter(|raw| !raw.is_empty())
        .map(PathBuf::from)
}

fn read_token_file(path: &Path) -> Result<SecretString, ConfigError> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(TOKEN_FILE_LIMIT + 1).read_to_end(&mut raw))
        .map_err(|e| ConfigError::OscTokenFile { kind: e.kind() })?;
    if raw.len() as u64 > TOKEN_FILE_LIMIT {
        return Err(ConfigError::OscTokenFileUnusable {
            problem: "is larger than 64 KiB; it must hold the token only",
        });
    }
    let text = String::from_utf8(raw).map_err(|_| ConfigError::OscTokenFileUnusable {
        problem: "is not UTF-8 text; it must hold the token only",
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ConfigError::OscTokenFileUnusable {
            problem: "is empty; put the token from the OSC web console (Settings, API) in it",
        });
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::OscTokenFileUnusable {
            problem: "holds more than the token (spaces, line breaks, control or non-ASCII characters); \
                      it must hold the token only",
        });
    }
    Ok(SecretString::from(token.to_owned()))
}

/// The start-up error for a missing token.
pub fn missing_token_message() -> String {
    format!(
        "no OSC personal access token: set {} (or {}) to the token from the OSC web console (Settings, API), \
         or {TOKEN_FILE_VAR} to a file holding it, or run with --sandbox to try the server against the \
         built-in emulator",
        TOKEN_VARS[0], TOKEN_VARS[1]
    )
}
