//! Prompts for the common workflows: the steps, in the tools' own terms,
//! with the caller's key, service and secret name filled in. A prompt never
//! takes a value: secrets get in by `generate`, `askUser` or `fromEnv`.

use rmcp::ErrorData;
use rmcp::model::{
    GetPromptRequestParams, GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage,
    Role,
};
use serde_json::Value;

use crate::domain::{self, Key};
use crate::policy::ToolScope;

pub const WIRE: &str = "wire-secret-into-service";
pub const ROTATE: &str = "rotate-credential";

/// Most bytes of the free-text `targets` argument.
const MAX_TARGETS_TEXT: usize = 1024;

/// The tools each prompt walks the agent through: it is listed and served
/// only while every one of them is.
const NEEDS: [(&str, &[&str]); 2] = [
    (
        WIRE,
        &[
            "list_tenant_secrets",
            "set_tenant_secret",
            "materialize_tenant_secret",
        ],
    ),
    (ROTATE, &["rotate_tenant_secret"]),
];

fn served(name: &str, tools: &ToolScope) -> bool {
    NEEDS
        .iter()
        .find(|(prompt, _)| *prompt == name)
        .is_some_and(|(_, needs)| needs.iter().all(|tool| tools.off(tool).is_none()))
}

/// What `prompts/list` shows while `tools` are served.
pub fn listed(tools: &ToolScope) -> Vec<Prompt> {
    list()
        .into_iter()
        .filter(|p| served(&p.name, tools))
        .collect()
}

/// Every prompt, with every tool on; needs no policy, so the docs and the
/// manifest are written from it.
pub fn list() -> Vec<Prompt> {
    let arg = |name: &str, description: &str, required: bool| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(required)
    };
    vec![
        Prompt::new(
            WIRE,
            Some("Store a secret and wire it into a service parameter by reference."),
            Some(vec![
                arg(
                    "key",
                    "The `user.*` key, for example `user.db-password`.",
                    true,
                ),
                arg(
                    "serviceId",
                    "The service instance id, for example `eyevinn-my-db`.",
                    true,
                ),
                arg(
                    "secretName",
                    "The service secret name, lowercase letters and digits.",
                    true,
                ),
            ]),
        )
        .with_title("Wire a secret into a service"),
        Prompt::new(
            ROTATE,
            Some("Replace a credential's value everywhere it is used."),
            Some(vec![
                arg("key", "The `user.*` key to rotate.", true),
                arg(
                    "targets",
                    "Optional: the services that use it, in your words.",
                    false,
                ),
            ]),
        )
        .with_title("Rotate a credential"),
    ]
}

/// The prompt `request` names, with its arguments checked; an unknown name,
/// a prompt whose tools are off, or a bad argument is an invalid-params
/// error that says what to send.
pub fn get(
    request: &GetPromptRequestParams,
    tools: &ToolScope,
) -> Result<GetPromptResult, ErrorData> {
    if !served(&request.name, tools) {
        let names: Vec<String> = listed(tools).iter().map(|p| p.name.to_string()).collect();
        return Err(ErrorData::invalid_params(
            format!(
                "no prompt by that name is served here; the prompts served are: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
            None,
        ));
    }
    let args = request.arguments.as_ref();
    let text = match request.name.as_str() {
        WIRE => {
            let key = writable_key(args)?;
            let service = text_arg(args, "serviceId")?;
            let service = domain::service_id(service).map_err(invalid)?;
            let name = text_arg(args, "secretName")?;
            let name = domain::secret_name(name).map_err(invalid)?;
            format!(
                "Wire the secret `{key}` into service `{service}` as its secret `{name}`:\n\
                 1. If `{key}` does not exist yet (list_tenant_secrets), create it with set_tenant_secret, mode `create`: \
                 `generate` for a credential nobody needs to know, or `askUser` if a human must type it. Never ask for the value in chat.\n\
                 2. Call materialize_tenant_secret with key `{key}`, serviceId `{service}`, secretName `{name}`.\n\
                 3. Set the service parameter to the returned `reference`, exactly as returned, as its whole value.\n\
                 4. Restart instance `{service}` so it reads the value."
            )
        }
        ROTATE => {
            let key = writable_key(args)?;
            let targets = match args.and_then(|a| a.get("targets")) {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) if t.trim().is_empty() => None,
                Some(Value::String(t))
                    if t.len() <= MAX_TARGETS_TEXT && t.chars().all(domain::fits_one_line) =>
                {
                    Some(t.trim().to_owned())
                }
                Some(_) => {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "`targets` must be one line of text of at most {MAX_TARGETS_TEXT} bytes, or left out"
                        ),
                        None,
                    ));
                }
            };
            let targets = targets.map_or_else(
                || {
                    "Find every service secret that holds a copy of it (ask the user if unsure)."
                        .to_owned()
                },
                |t| format!("The user says it is used by: {t}. Check that list is complete."),
            );
            format!(
                "Rotate the credential `{key}` everywhere it is used:\n\
                 1. {targets}\n\
                 2. Call rotate_tenant_secret with key `{key}` and every target as a `serviceId` and `secretName` pair; \
                 leave the value out so the server generates it, or use `askUser` if a human must type it.\n\
                 3. If a target failed, call it again for that target alone; say which ones still hold the old value.\n\
                 4. Restart each target instance so it reads the new value."
            )
        }
        _ => {
            return Err(ErrorData::invalid_params(
                format!("no prompt by that name; the prompts are {WIRE} and {ROTATE}"),
                None,
            ));
        }
    };
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        text,
    )]))
}

fn invalid(e: domain::InputError) -> ErrorData {
    ErrorData::invalid_params(format!("{e}"), None)
}

fn text_arg<'a>(args: Option<&'a JsonObject>, name: &'static str) -> Result<&'a str, ErrorData> {
    match args.and_then(|a| a.get(name)) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(ErrorData::invalid_params(
            format!("the argument `{name}` is required, as a string"),
            None,
        )),
    }
}

fn writable_key(args: Option<&JsonObject>) -> Result<Key, ErrorData> {
    Key::parse(text_arg(args, "key")?)
        .and_then(|k| k.writable("write"))
        .map_err(invalid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn request(name: &str, args: Value) -> GetPromptRequestParams {
        let mut r = GetPromptRequestParams::new(name);
        r.arguments = args.as_object().cloned();
        r
    }

    #[test]
    fn a_bad_key_says_what_to_write() {
        let e = get(
            &request(
                WIRE,
                json!({"key": "db", "serviceId": "s", "secretName": "n"}),
            ),
            &ToolScope::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        assert!(e.message.contains("user."), "{}", e.message);
    }

    /// A prompt whose tools are off is neither listed nor served: under
    /// --read-only neither is; without rotate, only the wiring one.
    #[test]
    fn prompts_follow_the_tools_served() {
        let names = |tools: &ToolScope| -> Vec<String> {
            listed(tools).iter().map(|p| p.name.to_string()).collect()
        };
        let all = ToolScope::default();
        assert_eq!(names(&all), [WIRE, ROTATE]);
        let read_only = ToolScope::new(true, &[], &[]).unwrap();
        assert!(names(&read_only).is_empty());
        let no_rotate = ToolScope::new(false, &[], &["rotate_tenant_secret".to_owned()]).unwrap();
        assert_eq!(names(&no_rotate), [WIRE]);
        let args = json!({"key": "user.k"});
        let refused = get(&request(ROTATE, args.clone()), &no_rotate).unwrap_err();
        assert!(
            refused.message.contains("no prompt by that name"),
            "{}",
            refused.message
        );
        assert!(get(&request(ROTATE, args), &all).is_ok());
    }

    /// `targets` is one line: separators, bidi controls and zero-width
    /// characters are refused like control characters.
    #[test]
    fn targets_are_one_line_of_plain_text() {
        for bad in ["a\u{2028}b", "svc\u{202E}gpj", "a\u{200B}b", "a\nb"] {
            let args = json!({"key": "user.k", "targets": bad});
            let e = get(&request(ROTATE, args), &ToolScope::default()).unwrap_err();
            assert!(e.message.contains("one line"), "{bad:?}: {}", e.message);
        }
    }
}
