//! Where a secret value comes from. Exactly one source per write: one the
//! human types on a one-time page (`askUser`), a
//! value the model gives (`value`), one the server generates (`generate`),
//! or one the operator put in the server's environment (`fromEnv`). Only
//! `value` ever passes through the model; the others are born as
//! `SecretString`s on the server and never leave it except towards OSC.

pub mod env;
pub mod generate;

use secrecy::SecretString;

pub use env::{EnvAllowlist, EnvPattern, PatternError};
pub use generate::{Alphabet, GenerateArgs, Recipe};

use crate::advice::{Failure, refusal};
use crate::domain::{self, SecretArg};

/// Where a value came from, said without the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Given,
    Generated(Recipe),
    Env(String),
    /// Typed by the human on a one-time page.
    Asked,
}

impl Origin {
    /// The argument that gave the value.
    pub fn argument(&self) -> &'static str {
        match self {
            Origin::Given => "value",
            Origin::Generated(_) => "generate",
            Origin::Env(_) => "fromEnv",
            Origin::Asked => "askUser",
        }
    }
}

/// The four value arguments as they arrived (null counts as left out).
pub(crate) struct Sources {
    pub value: Option<SecretArg>,
    pub generate: Option<GenerateArgs>,
    pub from_env: Option<String>,
    /// `askUser`; the schema allows only `true`.
    pub ask_user: Option<bool>,
}

/// What a call's value source came to.
pub(crate) enum Resolved {
    /// The value is here.
    Ready(SecretString, Origin),
    /// The human is to type it on a one-time page.
    AskUser,
}

/// What to say when no source, or more than one, was given.
const PICK_ONE: &str = "give exactly one of `askUser`, `generate`, `value` or `fromEnv`. \
Use `\"askUser\": true` for a credential a human holds: they type it on a one-time page and you never see it. \
Use `\"generate\": {}` for a credential nobody needs to know: the server makes a strong random value and nobody, you included, ever sees it. \
Use `value` only for a value you already have for another reason. \
Use `fromEnv` with the name of an environment variable the operator allowed";

impl Sources {
    /// The value and where it came from, or the refusal (whole, starting
    /// with "Refused before contacting OSC:"). With `default_generate`, no
    /// source at all means `generate` with its defaults.
    pub(crate) fn resolve(
        self,
        allowlist: &EnvAllowlist,
        default_generate: bool,
    ) -> Result<Resolved, Failure> {
        // `"askUser": false` and an empty `fromEnv` say "not this source",
        // as leaving them out does.
        let ask_user = self.ask_user.filter(|ask| *ask);
        let from_env = self.from_env.filter(|name| !name.is_empty());
        let given: Vec<&str> = [
            ask_user.as_ref().map(|_| "`askUser`"),
            self.value.as_ref().map(|_| "`value`"),
            self.generate.as_ref().map(|_| "`generate`"),
            from_env.as_ref().map(|_| "`fromEnv`"),
        ]
        .into_iter()
        .flatten()
        .collect();
        match given.len() {
            0 if default_generate => {}
            0 => return Err(refusal(&format!("no value source was given: {PICK_ONE}"))),
            1 => {}
            _ => {
                return Err(refusal(&format!(
                    "{} were all given: {PICK_ONE}",
                    given.join(" and ")
                )));
            }
        }
        if ask_user.is_some() {
            return Ok(Resolved::AskUser);
        }
        if let Some(value) = self.value {
            let value = value.into_secret().map_err(crate::advice::refused)?;
            return Ok(Resolved::Ready(value, Origin::Given));
        }
        if let Some(name) = from_env {
            let value = allowlist.read(&name).map_err(|e| refusal(&e))?;
            domain::value(&value).map_err(|e| {
                refusal(&format!(
                    "the variable `{name}` cannot be stored: {}",
                    e.message
                ))
            })?;
            return Ok(Resolved::Ready(value, Origin::Env(name)));
        }
        let recipe = self
            .generate
            .unwrap_or_default()
            .recipe()
            .map_err(|e| refusal(&e))?;
        let value = generate::generate(recipe).map_err(|e| {
            tracing::warn!(error = %e, "value generation failed");
            Failure::tool(format!("{e}, so nothing was generated and nothing was written. Retry in a moment; if it keeps failing, tell the operator."))
        })?;
        Ok(Resolved::Ready(value, Origin::Generated(recipe)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sources(ask_user: Option<bool>, from_env: Option<&str>) -> Sources {
        Sources {
            value: None,
            generate: Some(GenerateArgs::default()),
            from_env: from_env.map(str::to_owned),
            ask_user,
        }
    }

    /// `"askUser": false` and `"fromEnv": ""` beside another source mean
    /// "not this source": the other one is used, nothing is refused.
    #[test]
    fn false_and_empty_sources_are_left_out() {
        let none = EnvAllowlist::default();
        for (ask, env) in [
            (Some(false), None),
            (None, Some("")),
            (Some(false), Some("")),
        ] {
            let resolved = sources(ask, env).resolve(&none, false);
            assert!(
                matches!(resolved, Ok(Resolved::Ready(_, Origin::Generated(_)))),
                "{ask:?} {env:?}"
            );
        }
        // `true` beside `generate` is still two sources.
        let two = sources(Some(true), None).resolve(&none, false);
        assert!(two.is_err_and(|f| f.text.contains("were all given")));
    }
}
