//! Every rule a tool call can be refused by before it reaches OSC (or
//! instead of what it asked). Its name is the `rule` of the call's audit
//! record, and docs/security.md's table of rules is generated from
//! [`Rule::ALL`], so the two cannot drift apart. Pure data.

/// A rule that refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The tool is turned off, or the key is outside `--keys`.
    Guardrail,
    /// OAuth: the access token's scopes do not allow the tool.
    Scope,
    /// The arguments do not match the tool's input schema.
    Arguments,
    /// An argument breaks an input rule (a key, a service id, a value).
    Input,
    /// `--audit-required` and the audit log cannot be written.
    AuditRequired,
    /// `--max-writes-per-minute` is spent.
    MaxWritesPerMinute,
    /// `--max-deletes-per-minute` is spent.
    MaxDeletesPerMinute,
    /// askUser, and no one-time page can be served.
    NoPage,
    /// askUser, a client that cannot show the page, and
    /// `--ask-user-fallback off`.
    AskUserFallback,
    /// askUser's `requestState` is forged, altered, expired or spent.
    RequestState,
    /// The answer to askUser's input request is not an elicitation result.
    InputResponses,
    /// A confirmation's `requestState` is forged, altered, expired or spent.
    ConfirmState,
    /// The check whether the key exists, before asking, failed.
    ConfirmCheck,
    /// A confirmation is required and the client cannot be asked, or did
    /// not answer.
    ConfirmUnavailable,
    /// The human typed something other than the key.
    ConfirmMismatch,
    /// The human declined or dismissed the confirmation.
    ConfirmDeclined,
    /// The retry carried no usable answer to the confirmation form.
    ConfirmMissing,
    /// The state store, which single use and the ledger need, did not answer.
    StateStore,
    /// OAuth: an askUser page was used by a browser signed in as another
    /// subject than the one whose token asked for the link.
    PagePerson,
}

impl Rule {
    /// Every rule, in the order the docs list them.
    pub const ALL: [Rule; 19] = [
        Rule::Guardrail,
        Rule::Scope,
        Rule::Arguments,
        Rule::Input,
        Rule::AuditRequired,
        Rule::MaxWritesPerMinute,
        Rule::MaxDeletesPerMinute,
        Rule::NoPage,
        Rule::AskUserFallback,
        Rule::RequestState,
        Rule::InputResponses,
        Rule::ConfirmState,
        Rule::ConfirmCheck,
        Rule::ConfirmUnavailable,
        Rule::ConfirmMismatch,
        Rule::ConfirmDeclined,
        Rule::ConfirmMissing,
        Rule::StateStore,
        Rule::PagePerson,
    ];

    /// The name an audit record gives the rule.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Guardrail => "guardrail",
            Rule::Scope => "oauth_scope",
            Rule::Arguments => "arguments",
            Rule::Input => "input",
            Rule::AuditRequired => "audit_required",
            Rule::MaxWritesPerMinute => "max_writes_per_minute",
            Rule::MaxDeletesPerMinute => "max_deletes_per_minute",
            Rule::NoPage => "no_page",
            Rule::AskUserFallback => "ask_user_fallback",
            Rule::RequestState => "request_state",
            Rule::InputResponses => "input_responses",
            Rule::ConfirmState => "confirm_state",
            Rule::ConfirmCheck => "confirm_check",
            Rule::ConfirmUnavailable => "confirm_unavailable",
            Rule::ConfirmMismatch => "confirm_mismatch",
            Rule::ConfirmDeclined => "confirm_declined",
            Rule::ConfirmMissing => "confirm_missing",
            Rule::StateStore => "state_store",
            Rule::PagePerson => "page_person",
        }
    }

    /// When the rule refuses a call, in a few words for the docs' table.
    pub fn meaning(self) -> &'static str {
        match self {
            Rule::Guardrail => {
                "the tool is turned off (`--read-only`, `--tools`, `--exclude-tools`) or the key is outside `--keys`"
            }
            Rule::Scope => {
                "OAuth (`--oauth-issuer`): the access token's scopes do not allow the tool (`secrets:read`, `secrets:write` or `secrets:delete` by default)"
            }
            Rule::Arguments => "the arguments do not match the tool's input schema",
            Rule::Input => {
                "an argument breaks an input rule: a key, service id, secret name, value or value source"
            }
            Rule::AuditRequired => "`--audit-required` is set and the audit log cannot be written",
            Rule::MaxWritesPerMinute => "`--max-writes-per-minute` is spent for this minute",
            Rule::MaxDeletesPerMinute => "`--max-deletes-per-minute` is spent for this minute",
            Rule::NoPage => "`askUser`, and no one-time page can be served",
            Rule::AskUserFallback => {
                "`askUser` from a client without URL elicitation, with `--ask-user-fallback off`"
            }
            Rule::RequestState => {
                "an `askUser` retry's `requestState` is forged, altered, expired, spent or for another call"
            }
            Rule::InputResponses => {
                "the answer to the `askUser` input request is not an elicitation result"
            }
            Rule::ConfirmState => {
                "a confirmation retry's `requestState` is forged, altered, expired, spent or for another call"
            }
            Rule::ConfirmCheck => "the check whether the key exists, made before asking, failed",
            Rule::ConfirmUnavailable => {
                "a confirmation is required (`--confirm always`) and the client cannot be asked, or it did not answer"
            }
            Rule::ConfirmMismatch => "the human typed something other than the key",
            Rule::ConfirmDeclined => "the human declined or dismissed the confirmation",
            Rule::ConfirmMissing => "the retry carried no usable answer to the confirmation form",
            Rule::StateStore => {
                "the state store (the state directory or Redis, which single use and rotation from the ledger need) could not be reached in time"
            }
            Rule::PagePerson => {
                "OAuth: an `askUser` page was used by a browser signed in as someone other than the person whose token asked for the link"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    /// Names are unique snake_case words: an audit reader can tell every
    /// rule apart, and ALL lists every variant once.
    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        assert!(
            names
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
        assert!(names.contains(&"max_writes_per_minute"));
        assert!(names.contains(&"confirm_mismatch"));
    }
}
