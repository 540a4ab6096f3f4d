//! Confirmation by typing the key: deletes and replacing writes, each
//! `--confirm` mode, with a human who types the key, declines, dismisses,
//! types something else, or cannot be asked, in both protocol eras (an rmcp
//! client with a form-elicitation handler, over the session handshake and
//! over 2026-07-28 discovery, where rmcp drives the `InputRequiredResult`
//! retry itself). What OSC saw is checked from the emulator's request log.

use crate::support;
use crate::support::python::{python, run_python};
use std::sync::{Arc, Mutex};

use crate::support::{OSC_TOKEN, client_for, emulator, fast_retry, is_error, text};
use osc_secrets_mcp::audit::AuditLog;
use osc_secrets_mcp::emulator::Emulator;
use osc_secrets_mcp::policy::rates::RateLimits;
use osc_secrets_mcp::policy::{ConfirmMode, Policy};
use osc_secrets_mcp::server::SecretsServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ElicitRequestParams, ElicitResult, ElicitationAction, Implementation, InputResponses,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const CANARY: &str = "canary-confirm-value-93ad";
const KEY: &str = "user.db";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Era {
    Session,
    Retry,
}

/// What the human does with the form.
#[derive(Clone, Debug, PartialEq)]
enum Says {
    Types(&'static str),
    Declines,
    Cancels,
    /// The client does not advertise form elicitation.
    CannotBeAsked,
}

/// A client whose human answers every form the same way, and remembers
/// what it was asked.
#[derive(Clone)]
struct Human {
    says: Says,
    asked: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Human {
    fn new(says: Says) -> Human {
        Human {
            says,
            asked: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<(String, Value)> {
        self.asked.lock().unwrap().clone()
    }
}

impl ClientHandler for Human {
    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities = if self.says == Says::CannotBeAsked {
            ClientCapabilities::default()
        } else {
            serde_json::from_value(json!({"elicitation": {"form": {}}})).unwrap()
        };
        ClientConfig::new(capabilities, Implementation::new("confirm-test", "1.0.0"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = request
        else {
            panic!("confirmation is a form")
        };
        self.asked
            .lock()
            .unwrap()
            .push((message, serde_json::to_value(requested_schema).unwrap()));
        Ok(match &self.says {
            Says::Types(typed) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({ "key": typed }))
            }
            Says::Declines => ElicitResult::new(ElicitationAction::Decline),
            Says::Cancels | Says::CannotBeAsked => ElicitResult::new(ElicitationAction::Cancel),
        })
    }
}

fn server(emu: &Emulator, mode: ConfirmMode) -> SecretsServer {
    SecretsServer::new(Arc::new(client_for(emu, OSC_TOKEN, fast_retry()))).with_policy(Policy {
        confirm: mode,
        ..Policy::default()
    })
}

async fn connect(
    server: SecretsServer,
    human: Human,
    era: Era,
) -> RunningService<RoleClient, Human> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    match era {
        Era::Session => human.serve(client_io).await.expect("client initializes"),
        Era::Retry => human
            .serve_with_lifecycle(
                client_io,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .expect("client discovers"),
    }
}

async fn call(
    client: &RunningService<RoleClient, Human>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .expect("the call is answered")
}

/// The emulator's contract requests, as `METHOD path`.
fn seen(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

const LIST: &str = "GET /mytenantsecrets";
const DELETE: &str = "DELETE /mytenantsecrets/user.db";
const PUT: &str = "PUT /mytenantsecrets/user.db";

/// Every mode, every answer, both eras, on a delete of an existing key.
async fn delete_matrix(era: Era) {
    let answers = [
        Says::Types(KEY),
        Says::Types("  user.db\n"),
        Says::Types("user.db2"),
        Says::Types("USER.DB"),
        Says::Declines,
        Says::Cancels,
        Says::CannotBeAsked,
    ];
    for mode in [ConfirmMode::Auto, ConfirmMode::Always, ConfirmMode::Never] {
        for says in &answers {
            let case = format!("{era:?} {mode:?} {says:?}");
            let emu = emulator().await;
            emu.insert_tenant_secret(KEY, CANARY);
            let human = Human::new(says.clone());
            let client = connect(server(&emu, mode), human.clone(), era).await;
            let result = call(&client, "delete_tenant_secret", json!({ "key": KEY })).await;
            let said = text(&result);
            assert!(!said.contains(CANARY), "{case}: {said}");
            let can_ask = *says != Says::CannotBeAsked;
            let asks = mode != ConfirmMode::Never && can_ask;
            assert_eq!(human.asked().len(), usize::from(asks), "{case}");
            let confirmed = matches!(says, Says::Types(t) if t.trim() == KEY);
            let goes_ahead = match mode {
                ConfirmMode::Never => true,
                ConfirmMode::Auto => !can_ask || confirmed,
                ConfirmMode::Always => can_ask && confirmed,
            };
            if goes_ahead {
                assert!(!is_error(&result), "{case}: {said}");
                assert!(!emu.tenant_keys().contains(&KEY.to_owned()), "{case}");
                // The existence check is made only when someone is asked.
                let expected: Vec<&str> = if asks {
                    vec![LIST, DELETE]
                } else {
                    vec![DELETE]
                };
                assert_eq!(seen(&emu), expected, "{case}");
                continue;
            }
            assert!(is_error(&result), "{case}: {said}");
            assert!(said.contains("nothing was changed"), "{case}: {said}");
            assert_eq!(
                emu.tenant_value(KEY).unwrap().expose_secret(),
                CANARY,
                "{case}"
            );
            // Only the existence check reached OSC: no DELETE.
            assert_eq!(seen(&emu), [LIST], "{case}");
            match says {
                Says::Types(typed) => {
                    assert!(said.contains("did not match"), "{case}: {said}");
                    assert!(
                        !said.contains(typed.trim_start_matches("user.")),
                        "{case}: {said}"
                    );
                }
                Says::Declines => assert!(said.contains("declined"), "{case}: {said}"),
                Says::Cancels => assert!(said.contains("dismissed"), "{case}: {said}"),
                Says::CannotBeAsked => {
                    assert!(said.contains("--confirm always"), "{case}: {said}");
                    assert!(said.contains("form elicitation"), "{case}: {said}");
                }
            }
        }
    }
}

#[tokio::test]
async fn every_mode_and_answer_in_the_session_era() {
    delete_matrix(Era::Session).await;
}

#[tokio::test]
async fn every_mode_and_answer_in_the_retry_era() {
    delete_matrix(Era::Retry).await;
}

/// The form: one required string field titled to say what to type, and a
/// message that names the key and what happens.
#[tokio::test]
async fn the_form_asks_for_the_key_in_both_eras() {
    for era in [Era::Session, Era::Retry] {
        let emu = emulator().await;
        emu.insert_tenant_secret(KEY, CANARY);
        let human = Human::new(Says::Declines);
        let client = connect(server(&emu, ConfirmMode::Auto), human.clone(), era).await;
        call(&client, "delete_tenant_secret", json!({ "key": KEY })).await;
        let asked = human.asked();
        let (message, schema) = &asked[0];
        assert!(
            message.contains("`user.db`") && message.contains("delete"),
            "{message}"
        );
        assert!(message.contains("Type the key to confirm"), "{message}");
        assert_eq!(schema["type"], "object", "{schema}");
        assert_eq!(schema["required"], json!(["key"]), "{schema}");
        assert_eq!(schema["properties"]["key"]["type"], "string", "{schema}");
        assert!(
            schema["properties"]["key"]["title"]
                .as_str()
                .unwrap()
                .contains("Type the key to confirm"),
            "{schema}"
        );
    }
}

/// A write asks only when it would replace: upsert of an existing key asks,
/// upsert of a new key and any `create` do not.
#[tokio::test]
async fn only_a_write_that_replaces_asks() {
    for era in [Era::Session, Era::Retry] {
        let emu = emulator().await;
        emu.insert_tenant_secret(KEY, CANARY);
        let human = Human::new(Says::Declines);
        let client = connect(server(&emu, ConfirmMode::Always), human.clone(), era).await;

        // Replacing: asked, declined, the old value stays, no PUT.
        for args in [
            json!({"key": KEY, "generate": {}}),
            json!({"key": KEY, "generate": {}, "mode": "upsert"}),
        ] {
            emu.clear_requests();
            let result = call(&client, "set_tenant_secret", args).await;
            assert!(is_error(&result), "{era:?}: {}", text(&result));
            assert!(text(&result).contains("replacing"), "{}", text(&result));
            assert_eq!(seen(&emu), [LIST], "{era:?}");
        }
        let result = call(
            &client,
            "rotate_tenant_secret",
            json!({"key": KEY, "targets": [{"serviceId": "svc", "secretName": "db"}]}),
        )
        .await;
        assert!(is_error(&result), "{era:?}: {}", text(&result));
        assert_eq!(human.asked().len(), 3, "{era:?}");
        assert_eq!(emu.tenant_value(KEY).unwrap().expose_secret(), CANARY);
        assert!(
            !seen(&emu)
                .iter()
                .any(|r| r.starts_with("PUT") || r.starts_with("POST"))
        );

        // Creating never asks: a new key by upsert (one existence check),
        // and `create` (no check at all, and OSC refuses the existing key).
        emu.clear_requests();
        let result = call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.new", "generate": {}}),
        )
        .await;
        assert!(!is_error(&result), "{era:?}: {}", text(&result));
        assert_eq!(
            seen(&emu),
            [LIST, "PUT /mytenantsecrets/user.new"],
            "{era:?}"
        );
        emu.clear_requests();
        let result = call(
            &client,
            "set_tenant_secret",
            json!({"key": KEY, "generate": {}, "mode": "create"}),
        )
        .await;
        assert!(is_error(&result), "{era:?}");
        assert!(
            text(&result).contains("already exists"),
            "{}",
            text(&result)
        );
        assert_eq!(seen(&emu), ["POST /mytenantsecrets/user.db"], "{era:?}");
        assert_eq!(human.asked().len(), 3, "{era:?}: create asked");
        assert_eq!(emu.tenant_value(KEY).unwrap().expose_secret(), CANARY);
    }
}

/// A confirmed replace goes through, in both eras.
#[tokio::test]
async fn a_confirmed_replace_writes() {
    for era in [Era::Session, Era::Retry] {
        let emu = emulator().await;
        emu.insert_tenant_secret(KEY, CANARY);
        let human = Human::new(Says::Types(KEY));
        let client = connect(server(&emu, ConfirmMode::Auto), human.clone(), era).await;
        let result = call(
            &client,
            "set_tenant_secret",
            json!({"key": KEY, "generate": {}}),
        )
        .await;
        assert!(!is_error(&result), "{era:?}: {}", text(&result));
        assert_eq!(seen(&emu), [LIST, PUT], "{era:?}");
        assert_ne!(emu.tenant_value(KEY).unwrap().expose_secret(), CANARY);
        assert_eq!(human.asked().len(), 1);
    }
}

/// Deleting a key that does not exist loses nothing: nobody is asked, and
/// the tool says the key does not exist.
#[tokio::test]
async fn a_delete_of_a_missing_key_does_not_ask() {
    for era in [Era::Session, Era::Retry] {
        let emu = emulator().await;
        let human = Human::new(Says::Declines);
        let client = connect(server(&emu, ConfirmMode::Always), human.clone(), era).await;
        let result = call(&client, "delete_tenant_secret", json!({"key": "user.gone"})).await;
        assert!(is_error(&result));
        assert!(
            text(&result).contains("does not exist"),
            "{}",
            text(&result)
        );
        assert!(human.asked().is_empty());
        assert_eq!(seen(&emu), [LIST, "DELETE /mytenantsecrets/user.gone"]);
    }
}

/// `system.*` keys are refused by the tool before any request: the
/// confirmation step does not even check them.
#[tokio::test]
async fn system_keys_are_refused_before_any_question() {
    let emu = emulator().await;
    let human = Human::new(Says::Types("system.x"));
    let client = connect(
        server(&emu, ConfirmMode::Always),
        human.clone(),
        Era::Session,
    )
    .await;
    let result = call(&client, "delete_tenant_secret", json!({"key": "system.x"})).await;
    assert!(is_error(&result));
    assert!(human.asked().is_empty());
    assert!(seen(&emu).is_empty());
}

/// The first retry-era round by hand: the question and its sealed state.
async fn first_round(
    client: &RunningService<RoleClient, Human>,
    args: &Value,
) -> (String, CallToolRequestParams) {
    let request = CallToolRequestParams::new("delete_tenant_secret")
        .with_arguments(args.as_object().unwrap().clone());
    let CallToolResponse::InputRequired(asked) =
        client.peer().call_tool_once(request.clone()).await.unwrap()
    else {
        panic!("no question")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    assert_eq!(
        wire["inputRequests"]["confirm"]["params"]["mode"], "form",
        "{wire}"
    );
    (asked.request_state.clone().unwrap(), request)
}

fn typed(key: &str) -> InputResponses {
    serde_json::from_value(json!({"confirm": {"action": "accept", "content": {"key": key}}}))
        .unwrap()
}

/// A retry-era client asked to delete [`KEY`], with [`KEY`] and
/// `user.other` stored: the emulator, the client, and the first round's
/// request state and request.
async fn asked_to_delete() -> (
    Emulator,
    RunningService<RoleClient, Human>,
    String,
    CallToolRequestParams,
) {
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    emu.insert_tenant_secret("user.other", CANARY);
    let human = Human::new(Says::Types(KEY));
    let client = connect(server(&emu, ConfirmMode::Auto), human, Era::Retry).await;
    let (state, request) = first_round(&client, &json!({"key": KEY})).await;
    (emu, client, state, request)
}

/// The final result of a retry.
async fn retried(
    client: &RunningService<RoleClient, Human>,
    request: CallToolRequestParams,
) -> CallToolResult {
    match client.peer().call_tool_once(request).await.unwrap() {
        CallToolResponse::Complete(result) => result,
        _ => panic!("not a final result"),
    }
}

/// Nothing was deleted: both keys are there and OSC saw no DELETE.
fn assert_nothing_deleted(emu: &Emulator) {
    assert!(emu.tenant_keys().contains(&KEY.to_owned()));
    assert!(emu.tenant_keys().contains(&"user.other".to_owned()));
    assert!(
        !seen(emu).iter().any(|r| r.starts_with("DELETE")),
        "{:?}",
        seen(emu)
    );
}

/// A retry's state must be the server's, unaltered, for this very call:
/// otherwise nothing is deleted, whatever the answer says.
#[tokio::test]
async fn a_state_not_made_for_this_call_deletes_nothing() {
    let (emu, client, state, request) = asked_to_delete().await;
    // One character changed.
    let mut bytes = state.clone().into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let other = CallToolRequestParams::new("delete_tenant_secret")
        .with_arguments(json!({"key": "user.other"}).as_object().unwrap().clone());
    let set = CallToolRequestParams::new("set_tenant_secret").with_arguments(
        json!({"key": KEY, "generate": {}})
            .as_object()
            .unwrap()
            .clone(),
    );
    let cases = [
        (
            "tampered",
            request
                .clone()
                .with_request_state(tampered)
                .with_input_responses(typed(KEY)),
        ),
        (
            "forged",
            request
                .clone()
                .with_request_state("forged")
                .with_input_responses(typed(KEY)),
        ),
        (
            "made for user.db, presented for user.other",
            other
                .with_request_state(state.clone())
                .with_input_responses(typed("user.other")),
        ),
        (
            "made for a delete, presented for a set of the same key",
            set.with_request_state(state)
                .with_input_responses(typed(KEY)),
        ),
    ];
    for (case, retry) in cases {
        let r = retried(&client, retry).await;
        assert!(
            is_error(&r) && text(&r).contains("does not belong to this call"),
            "{case}: {}",
            text(&r)
        );
    }
    assert_nothing_deleted(&emu);
}

/// A state and no answer deletes nothing.
#[tokio::test]
async fn a_state_without_an_answer_deletes_nothing() {
    let (emu, client, state, request) = asked_to_delete().await;
    let r = retried(&client, request.with_request_state(state)).await;
    assert!(
        is_error(&r) && text(&r).contains("no usable answer"),
        "{}",
        text(&r)
    );
    assert_nothing_deleted(&emu);
}

/// The genuine state, once: deleted. Replayed: refused, and OSC sees nothing.
#[tokio::test]
async fn a_genuine_state_deletes_once_and_its_replay_is_refused() {
    let (emu, client, state, request) = asked_to_delete().await;
    let r = retried(
        &client,
        request
            .clone()
            .with_request_state(state.clone())
            .with_input_responses(typed(KEY)),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    assert!(!emu.tenant_keys().contains(&KEY.to_owned()));
    emu.insert_tenant_secret(KEY, CANARY);
    emu.clear_requests();
    let r = retried(
        &client,
        request
            .with_request_state(state)
            .with_input_responses(typed(KEY)),
    )
    .await;
    assert!(
        is_error(&r) && text(&r).contains("already used"),
        "{}",
        text(&r)
    );
    assert!(seen(&emu).is_empty(), "{:?}", seen(&emu));
    assert!(emu.tenant_keys().contains(&KEY.to_owned()));
}

/// Refusals are audit records with the rule that refused; the question
/// itself is not a record.
#[tokio::test]
async fn refusals_are_audited_with_their_rule() {
    let dir = support::scratch_dir("confirm-audit");
    let path = dir.join("audit.jsonl");
    let cases = [
        (Says::Declines, ConfirmMode::Auto, "confirm_declined"),
        (
            Says::Types("user.nope"),
            ConfirmMode::Auto,
            "confirm_mismatch",
        ),
        (
            Says::CannotBeAsked,
            ConfirmMode::Always,
            "confirm_unavailable",
        ),
    ];
    // One writer for the whole run, as in a server: the log is locked while
    // it is written.
    let audit = Arc::new(AuditLog::open(path.clone(), false).expect("the log is ours"));
    for (says, mode, _) in &cases {
        for era in [Era::Session, Era::Retry] {
            let emu = emulator().await;
            emu.insert_tenant_secret(KEY, CANARY);
            let server = server(&emu, *mode)
                .with_audit_log(Some(Arc::clone(&audit)))
                .with_rate_limits(RateLimits::none());
            let client = connect(server, Human::new(says.clone()), era).await;
            let result = call(&client, "delete_tenant_secret", json!({ "key": KEY })).await;
            assert!(is_error(&result));
        }
    }
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(!log.contains(CANARY) && !log.contains("user.nope"), "{log}");
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rules: Vec<&str> = records
        .iter()
        .map(|r| r["rule"].as_str().unwrap_or(""))
        .collect();
    let expected: Vec<&str> = cases
        .iter()
        .flat_map(|(_, _, rule)| [*rule, *rule])
        .collect();
    assert_eq!(rules, expected, "{log}");
    assert!(
        records
            .iter()
            .all(|r| r["outcome"] == "refused" && r["tool"] == "delete_tenant_secret"),
        "{log}"
    );
}

/// The flag and its environment twin reach the built binary: the
/// instructions name the mode, `always` refuses a client that cannot be
/// asked (this raw stdio client advertises nothing), `never` does not ask.
#[tokio::test]
async fn the_flag_and_its_environment_twin_set_the_mode() {
    for (args, env, refused) in [
        (vec!["--sandbox", "--confirm", "always"], vec![], true),
        (vec!["--sandbox"], vec![("OSC_MCP_CONFIRM", "always")], true),
        (vec!["--sandbox"], vec![("OSC_MCP_CONFIRM", "never")], false),
    ] {
        let case = format!("{args:?} {env:?}");
        let mut server = support::StdioServer::spawn(&args, &env);
        let init = server.initialize().await;
        let instructions = init["result"]["instructions"].as_str().unwrap();
        if refused {
            assert!(
                instructions.contains("confirm every delete"),
                "{case}: {instructions}"
            );
        } else {
            assert!(
                instructions.contains("turned confirmation off"),
                "{case}: {instructions}"
            );
        }
        let set = server
            .call_tool(
                "set_tenant_secret",
                json!({"key": "user.confirm-stdio", "generate": {}, "mode": "create"}),
            )
            .await;
        assert_eq!(set["result"]["isError"], false, "{case}: {set}");
        let deleted = server
            .call_tool("delete_tenant_secret", json!({"key": "user.confirm-stdio"}))
            .await;
        let said = deleted["result"]["content"][0]["text"].as_str().unwrap();
        assert_eq!(deleted["result"]["isError"], refused, "{case}: {deleted}");
        if refused {
            assert!(said.contains("--confirm always"), "{case}: {said}");
        }
        let (ok, _, _) = server.finish().await;
        assert!(ok, "{case}");
    }
    // Anything but the three modes stops the server at start, naming the flag.
    let server = support::StdioServer::spawn(&["--sandbox", "--confirm", "sometimes"], &[]);
    let (ok, _, stderr) = server.finish().await;
    assert!(!ok);
    assert!(stderr.contains("`--confirm <MODE>`"), "{stderr}");
}

/// The official Python SDK, in both eras: over the initialize handshake the
/// server sends elicitation/create; over 2026-07-28 discovery it answers
/// with an InputRequiredResult that the SDK retries through the same
/// callback. The key typed with spaces around it confirms; a wrong key and
/// a decline change nothing.
#[tokio::test]
#[ignore = "needs the MCP Python SDK: OSC_MCP_PYTHON names a Python with `mcp` 2.3.0; .ci/run installs it"]
async fn python_sdk_confirms_in_both_eras() {
    let key = "user.py-confirm";
    for mode in ["legacy", "auto"] {
        for answer in ["key", "wrong", "decline"] {
            let case = format!("{mode} {answer}");
            let emu = emulator().await;
            emu.insert_tenant_secret(key, CANARY);
            let url = emu.base_url();
            let mut client = python("tests/python/confirm_client.py");
            client
                .args(["--server", support::BIN, "--api-url", &url])
                .args(["--mode", mode, "--answer", answer, "--key", key])
                .env("OSC_MCP_TEST_TOKEN", OSC_TOKEN);
            let report = run_python(client, &case, &[CANARY, OSC_TOKEN]).await.report;
            let version = report["protocolVersion"].as_str().unwrap();
            if mode == "auto" {
                assert!(version >= "2026-07-28", "{case}: {version}");
            } else {
                assert!(version < "2026-07-28", "{case}: {version}");
            }
            let forms = report["forms"].as_array().unwrap();
            assert_eq!(forms.len(), 2, "{case}: {report}");
            assert_eq!(
                forms[0]["requestedSchema"]["required"],
                json!(["key"]),
                "{case}"
            );
            let calls = &report["calls"];
            let requests = seen(&emu);
            if answer == "key" {
                assert_eq!(calls["replace"]["isError"], false, "{case}: {report}");
                assert_eq!(calls["delete"]["isError"], false, "{case}: {report}");
                assert!(!emu.tenant_keys().contains(&key.to_owned()), "{case}");
                assert!(
                    requests.iter().any(|r| r.starts_with("PUT")),
                    "{case}: {requests:?}"
                );
                continue;
            }
            for call in ["replace", "delete"] {
                assert_eq!(calls[call]["isError"], true, "{case} {call}: {report}");
                let said = calls[call]["text"].as_str().unwrap();
                assert!(
                    said.contains("nothing was changed"),
                    "{case} {call}: {said}"
                );
                if answer == "wrong" {
                    assert!(
                        said.contains("did not match") && !said.contains("-not"),
                        "{case}: {said}"
                    );
                } else {
                    assert!(said.contains("declined"), "{case}: {said}");
                }
            }
            assert_eq!(
                emu.tenant_value(key).unwrap().expose_secret(),
                CANARY,
                "{case}"
            );
            assert!(
                requests.iter().all(|r| r == LIST),
                "{case}: only existence checks reached OSC: {requests:?}"
            );
        }
    }
}

/// Over Streamable HTTP the handler asks the same way: on a session, in
/// both eras, a wrong key changes nothing. Stateless HTTP keeps no
/// session-era capabilities, so there nobody can be asked: `always`
/// refuses without a form, and `auto` goes ahead.
#[tokio::test]
#[ignore = "needs the MCP Python SDK: OSC_MCP_PYTHON names a Python with `mcp` 2.3.0; .ci/run installs it"]
async fn python_sdk_over_http_sessions_and_stateless() {
    use support::http::Server;
    let key = "user.py-http";
    for (flags, mode, answer, asked, changed) in [
        (vec![], "legacy", "wrong", 2, false),
        (vec![], "auto", "wrong", 2, false),
        (
            vec!["--stateless", "--confirm", "always"],
            "legacy",
            "key",
            0,
            false,
        ),
        (vec!["--stateless"], "legacy", "key", 0, true),
    ] {
        let case = format!("{flags:?} {mode} {answer}");
        let emu = support::seeded_emulator().await;
        emu.insert_tenant_secret(key, CANARY);
        let server = Server::start(&emu, &flags, None).await;
        let url = server.url("/mcp");
        let mut client = python("tests/python/confirm_client.py");
        client
            .args([
                "--url", &url, "--mode", mode, "--answer", answer, "--key", key,
            ])
            .env("OSC_MCP_TEST_TOKEN", OSC_TOKEN);
        let report = run_python(client, &case, &[CANARY, OSC_TOKEN]).await.report;
        assert_eq!(
            report["forms"].as_array().unwrap().len(),
            asked,
            "{case}: {report}"
        );
        let calls = &report["calls"];
        for call in ["replace", "delete"] {
            assert_eq!(calls[call]["isError"], !changed, "{case} {call}: {report}");
        }
        if changed {
            assert!(!emu.tenant_keys().contains(&key.to_owned()), "{case}");
        } else {
            assert_eq!(
                emu.tenant_value(key).unwrap().expose_secret(),
                CANARY,
                "{case}"
            );
            assert!(
                seen(&emu).iter().all(|r| r == LIST),
                "{case}: {:?}",
                seen(&emu)
            );
        }
        if flags.contains(&"always") {
            let said = calls["delete"]["text"].as_str().unwrap();
            assert!(said.contains("--confirm always"), "{case}: {said}");
        }
        let log = server.log();
        assert!(!log.contains(CANARY), "{case}");
    }
}

/// The retry that answers a question spends no place in the rate limits:
/// the question's round was admitted, and its state opens once. With one
/// delete a minute a confirmed retry-era delete goes through, a second
/// delete is limited, and a forged state does not slip past the limit.
#[tokio::test]
async fn a_confirmed_retry_counts_once_against_the_rate_limit() {
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    emu.insert_tenant_secret("user.other", CANARY);
    let server = server(&emu, ConfirmMode::Auto)
        .with_audit_log(None)
        .with_rate_limits(RateLimits::in_memory(10, 1));
    let client = connect(server, Human::new(Says::Types(KEY)), Era::Retry).await;
    let peer = client.peer();

    let (state, request) = first_round(&client, &json!({"key": KEY})).await;
    let CallToolResponse::Complete(done) = peer
        .call_tool_once(
            request
                .with_request_state(state)
                .with_input_responses(typed(KEY)),
        )
        .await
        .unwrap()
    else {
        panic!("not a final result")
    };
    assert!(!is_error(&done), "{}", text(&done));
    assert!(seen(&emu).contains(&DELETE.to_owned()), "{:?}", seen(&emu));

    // The next delete, with or without a made-up state, is limited.
    for state in [None, Some("forged")] {
        let mut request = CallToolRequestParams::new("delete_tenant_secret")
            .with_arguments(json!({"key": "user.other"}).as_object().unwrap().clone());
        if let Some(state) = state {
            request = request
                .with_request_state(state)
                .with_input_responses(typed("user.other"));
        }
        let CallToolResponse::Complete(limited) = peer.call_tool_once(request).await.unwrap()
        else {
            panic!("the limit answers with a result")
        };
        assert!(is_error(&limited), "{}", text(&limited));
        assert!(text(&limited).contains("per minute"), "{}", text(&limited));
    }
    assert!(!seen(&emu).contains(&"DELETE /mytenantsecrets/user.other".to_owned()));
}

/// Two replicas on one store with one key file: a confirmation asked by
/// one is answered on the other, and a replay on the first is refused.
/// Each replica opens the state directory on its own connection, as two
/// processes do. A replica with its own key opens nothing of theirs.
#[tokio::test]
async fn a_confirmation_asked_on_one_replica_completes_on_another_once() {
    use osc_secrets_mcp::elicit::SealingKeys;
    use osc_secrets_mcp::store::Store;
    use osc_secrets_mcp::store::embedded::EmbeddedStore;

    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    emu.insert_tenant_secret("user.other", CANARY);
    let dir = support::scratch_dir("confirm-replicas");
    let key_line = SealingKeys::new_line().unwrap();
    let replica = |keys: &str| {
        let store = Store::embedded(Arc::new(EmbeddedStore::new(dir.clone())));
        server(&emu, ConfirmMode::Auto)
            .with_store(store, SealingKeys::parse(keys).unwrap())
            .unwrap()
    };
    let one = connect(replica(&key_line), Human::new(Says::Types(KEY)), Era::Retry).await;
    let two = connect(replica(&key_line), Human::new(Says::Types(KEY)), Era::Retry).await;
    let own_key = SealingKeys::new_line().unwrap();
    let stranger = connect(replica(&own_key), Human::new(Says::Types(KEY)), Era::Retry).await;

    let (state, request) = first_round(&one, &json!({"key": KEY})).await;
    let answer = request
        .clone()
        .with_request_state(state.clone())
        .with_input_responses(typed(KEY));
    let refused = retried(&stranger, answer.clone()).await;
    assert!(is_error(&refused));
    assert!(
        text(&refused).contains("does not belong to this call"),
        "{}",
        text(&refused)
    );
    assert_nothing_deleted(&emu);

    let done = retried(&two, answer.clone()).await;
    assert!(!is_error(&done), "{}", text(&done));
    assert!(!emu.tenant_keys().contains(&KEY.to_owned()));

    emu.insert_tenant_secret(KEY, CANARY);
    let replayed = retried(&one, answer).await;
    assert!(is_error(&replayed));
    assert!(
        text(&replayed).contains("already used once"),
        "{}",
        text(&replayed)
    );
    assert!(
        emu.tenant_keys().contains(&KEY.to_owned()),
        "deleted once only"
    );
}
