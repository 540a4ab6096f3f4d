//! `askUser`: the human types the value on a one-time page, and the model
//! never holds it. In-process rmcp clients in both protocol eras play the
//! client; the "human" uses the link exactly as the page does (claim, run,
//! settle). Expected values are written here; stored values are read from
//! the emulator.

use crate::support;
use crate::support::assert_no_leak;
use crate::support::logs::Logs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{
    OSC_TOKEN, client_for, emulator, fast_retry, is_error, stored, structured, text,
};
use osc_secrets_mcp::ask_user::AskSettings;
use osc_secrets_mcp::ask_user::links::{Fate, FixedBase, LINK_PATH, Links};
use osc_secrets_mcp::audit::AuditLog;
use osc_secrets_mcp::emulator::Emulator;
use osc_secrets_mcp::policy::rates::RateLimits;
use osc_secrets_mcp::policy::{ConfirmMode, KeyScope, Policy, ToolScope};
use osc_secrets_mcp::server::SecretsServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    CustomNotification, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationCapability, FormElicitationCapability, InputResponses, ProtocolVersion,
    UrlElicitationCapability,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RequestContext, RunningService,
};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const CANARY: &str = "canary-typed-by-the-human-3c9e71ad";
const BASE: &str = "http://127.0.0.1:9";
/// A bound on every wait for something a test started.
const WAIT: Duration = Duration::from_secs(20);

/// How the "human" answers a URL elicitation.
#[derive(Clone, Copy, PartialEq)]
enum Does {
    /// Accepts, and types the value on the page.
    Types,
    /// Accepts, and never opens the page.
    Ignores,
    /// Declines in the client.
    Declines,
    /// Answers with a JSON-RPC error whose message carries [`CLIENT_TEXT`].
    Fails,
}

/// What a hostile client puts in its error message: it must reach no log.
const CLIENT_TEXT: &str = "client-said-b71f\u{1b}[31m";

/// The client: an rmcp client that advertises `elicitation` (URL mode or
/// not), records every request and notification it receives, and plays the
/// human for URL elicitations.
#[derive(Clone)]
struct Human {
    links: Arc<Links>,
    does: Does,
    url_mode: bool,
    /// Advertises form-mode elicitation (alone, without `url_mode`).
    form_mode: bool,
    version: ProtocolVersion,
    /// Every server request and notification this client received, as JSON.
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Human {
    fn new(links: &Arc<Links>, does: Does, url_mode: bool, version: ProtocolVersion) -> Human {
        Human {
            links: links.clone(),
            does,
            url_mode,
            form_mode: false,
            version,
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

/// The link id at the end of a page URL.
fn link_id(url: &str) -> String {
    let (_, id) = url.split_once(LINK_PATH).expect("a link URL");
    id.to_owned()
}

/// What the page does on submit: claim the link, run its job with the
/// value, settle it. Returns the page's text.
async fn type_on_page(links: &Links, url: &str, value: &str) -> String {
    let claimed = links.claim(&link_id(url)).await.expect("an open link");
    let id = claimed.id.clone();
    let settled = links
        .run(claimed, SecretString::from(value.to_owned()))
        .await;
    let page = settled.page_text.clone();
    links.settle(&id, Fate::Done(Box::new(settled))).await;
    page
}

impl ClientHandler for Human {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.seen
            .lock()
            .unwrap()
            .push(json!({"elicitation": serde_json::to_value(&request).unwrap()}));
        let ElicitRequestParams::UrlElicitationParams { url, .. } = request else {
            panic!("only URL elicitations are expected");
        };
        let action = match self.does {
            Does::Fails => return Err(ErrorData::internal_error(CLIENT_TEXT, None)),
            Does::Declines => ElicitationAction::Decline,
            Does::Ignores => ElicitationAction::Accept,
            Does::Types => {
                let links = self.links.clone();
                tokio::spawn(async move { type_on_page(&links, &url, CANARY).await });
                ElicitationAction::Accept
            }
        };
        Ok(ElicitResult::new(action))
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _: NotificationContext<RoleClient>,
    ) {
        self.seen
            .lock()
            .unwrap()
            .push(serde_json::to_value(&notification).unwrap());
    }

    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if self.url_mode {
            capabilities.elicitation =
                Some(ElicitationCapability::new().with_url(UrlElicitationCapability::new()));
        } else if self.form_mode {
            capabilities.elicitation =
                Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
        }
        let mut info = ClientConfig::default();
        info.protocol_version = self.version.clone();
        info.capabilities = capabilities;
        info
    }
}

fn links(ttl: Duration) -> Arc<Links> {
    Arc::new(Links::new(ttl, Arc::new(FixedBase(BASE.to_owned()))))
}

fn handler(emu: &Emulator, links: &Arc<Links>) -> SecretsServer {
    SecretsServer::new(Arc::new(client_for(emu, OSC_TOKEN, fast_retry()))).with_links(links.clone())
}

const SESSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;
const RETRY: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// Serves `server` in-process to `human`, in `human`'s era.
async fn connect(server: SecretsServer, human: Human) -> RunningService<RoleClient, Human> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    if human.version >= RETRY {
        human
            .serve_with_lifecycle(
                client_io,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![RETRY],
                },
            )
            .await
            .expect("client discovers")
    } else {
        human.serve(client_io).await.expect("client initializes")
    }
}

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(map) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(map)
}

/// A call, with every MRTR round driven by the client.
async fn call(
    client: &RunningService<RoleClient, Human>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    tokio::time::timeout(WAIT, client.call_tool(params(tool, args)))
        .await
        .expect("the call ends")
        .expect("the call is routed")
}

/// One round of a call, not driven further.
async fn once(
    client: &RunningService<RoleClient, Human>,
    params: CallToolRequestParams,
) -> CallToolResponse {
    tokio::time::timeout(WAIT, client.call_tool_once(params))
        .await
        .expect("the round ends")
        .expect("the call is routed")
}

/// Checks that no byte the client received carries the canary.
fn set_ask(key: &str) -> Value {
    json!({"key": key, "askUser": true})
}

#[tokio::test]
async fn session_era_url_elicitation_writes_what_the_human_typed() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, true, SESSION);
    let client = connect(handler(&emu, &links), human.clone()).await;

    let result = call(&client, "set_tenant_secret", set_ask("user.typed")).await;
    assert!(!is_error(&result), "{}", text(&result));
    let out = structured(&result);
    assert_eq!(out["key"], "user.typed");
    assert_eq!(out["source"], "askUser");
    assert_eq!(out["status"], "completed");
    assert_eq!(out["outcome"], "created");
    assert!(out.get("url").is_none(), "{out}");
    assert_eq!(stored(&emu, "user.typed").as_deref(), Some(CANARY));

    let seen = human.seen();
    let asked = &seen[0]["elicitation"];
    assert_eq!(asked["mode"], "url", "{seen:?}");
    assert!(
        asked["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:9/ask/"),
        "{asked}"
    );
    assert!(
        asked["message"].as_str().unwrap().contains("user.typed"),
        "{asked}"
    );
    let id = asked["elicitationId"].as_str().unwrap();
    assert!(!id.is_empty());
    // The completion notice, for the same elicitation, arrives before the result.
    let complete = seen
        .iter()
        .find(|m| m["method"] == "notifications/elicitation/complete")
        .unwrap_or_else(|| panic!("no completion notice: {seen:?}"));
    assert_eq!(complete["params"]["elicitationId"], id);
    assert_no_leak(
        "the result",
        &serde_json::to_string(&result).unwrap(),
        &[CANARY],
    );
    assert_no_leak(
        "what the human saw",
        &serde_json::to_string(&seen).unwrap(),
        &[CANARY],
    );
}

#[tokio::test]
async fn session_era_decline_writes_nothing_and_kills_the_link() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Declines, true, SESSION);
    let client = connect(handler(&emu, &links), human.clone()).await;

    let result = call(&client, "set_tenant_secret", set_ask("user.declined")).await;
    assert!(is_error(&result));
    let said = text(&result);
    assert!(
        said.contains("declined") && said.contains("nothing was written"),
        "{said}"
    );
    assert_eq!(stored(&emu, "user.declined"), None);
    let url = human.seen()[0]["elicitation"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        links.claim(&link_id(&url)).await,
        Err(Fate::Declined)
    ));
    assert!(
        !human
            .seen()
            .iter()
            .any(|m| m["method"] == "notifications/elicitation/complete")
    );
}

/// A client that answers the URL elicitation with an error gets the link
/// withdrawn and nothing written, and its error text reaches no log line,
/// even at trace level.
#[tokio::test]
async fn a_client_error_to_the_url_elicitation_reaches_no_log() {
    let logs = Logs::capture_as_the_product();

    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Fails, true, SESSION);
    let client = connect(handler(&emu, &links), human.clone()).await;
    let result = call(&client, "set_tenant_secret", set_ask("user.failing")).await;
    assert!(is_error(&result), "{}", text(&result));
    assert_eq!(stored(&emu, "user.failing"), None);
    let logs = logs.text();
    assert!(
        logs.contains("the URL elicitation got no answer"),
        "the failure was not logged at all: {logs}"
    );
    assert!(!logs.contains("client-said-b71f"), "{logs}");
    assert!(!text(&result).contains("client-said-b71f"));
}

#[tokio::test]
async fn session_era_link_left_unused_expires_and_writes_nothing() {
    let emu = emulator().await;
    let links = links(Duration::from_millis(300));
    let human = Human::new(&links, Does::Ignores, true, SESSION);
    let client = connect(handler(&emu, &links), human.clone()).await;

    let result = call(&client, "set_tenant_secret", set_ask("user.late")).await;
    assert!(is_error(&result));
    let said = text(&result);
    assert!(
        said.contains("expired") && said.contains("nothing was written"),
        "{said}"
    );
    assert_eq!(stored(&emu, "user.late"), None);
    let url = human.seen()[0]["elicitation"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        links.claim(&link_id(&url)).await,
        Err(Fate::Expired)
    ));
}

#[tokio::test]
async fn session_era_rotation_writes_then_materializes_into_both_targets() {
    let emu = emulator().await;
    emu.insert_tenant_secret("user.db", "old-value");
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, true, SESSION);
    let client = connect(handler(&emu, &links), human.clone()).await;

    let result = call(
        &client,
        "rotate_tenant_secret",
        json!({"key": "user.db", "askUser": true, "targets": [
            {"serviceId": "eyevinn-api", "secretName": "dbpassword"},
            {"serviceId": "eyevinn-worker", "secretName": "dbpass"},
        ]}),
    )
    .await;
    assert!(!is_error(&result), "{}", text(&result));
    let out = structured(&result);
    assert_eq!(out["source"], "askUser");
    assert_eq!(out["status"], "completed");
    assert_eq!(out["targets"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(out["targets"][1]["serviceId"], "eyevinn-worker");
    assert_eq!(stored(&emu, "user.db").as_deref(), Some(CANARY));
    for (service, name) in [("eyevinn-api", "dbpassword"), ("eyevinn-worker", "dbpass")] {
        assert_eq!(
            emu.service_secret(service, name)
                .map(|v| v.expose_secret().to_owned())
                .as_deref(),
            Some(CANARY),
            "{service}"
        );
    }
    assert_no_leak(
        "the result",
        &serde_json::to_string(&result).unwrap(),
        &[CANARY],
    );
    assert_no_leak(
        "the human's messages",
        &serde_json::to_string(&human.seen()).unwrap(),
        &[CANARY],
    );
}

#[tokio::test]
async fn retry_era_input_required_then_the_page_completes_the_call() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, true, RETRY);
    let client = connect(handler(&emu, &links), human.clone()).await;

    // rmcp's client drives the rounds: the URL request, then the retry.
    let result = call(&client, "set_tenant_secret", set_ask("user.retry")).await;
    assert!(!is_error(&result), "{}", text(&result));
    let out = structured(&result);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["source"], "askUser");
    assert_eq!(stored(&emu, "user.retry").as_deref(), Some(CANARY));
    let seen = human.seen();
    assert_eq!(seen.len(), 1, "one URL request, nothing else: {seen:?}");
    assert_eq!(seen[0]["elicitation"]["mode"], "url");
    assert_no_leak(
        "the result",
        &serde_json::to_string(&result).unwrap(),
        &[CANARY],
    );
    assert_no_leak(
        "what the human saw",
        &serde_json::to_string(&seen).unwrap(),
        &[CANARY],
    );
}

/// The first round asks; a retry while the page is unused gets a fresh
/// state-only answer; the retry after the page was used gets the result.
#[tokio::test]
async fn retry_era_rounds_continue_state_only_until_the_page_is_used() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Ignores, true, RETRY);
    let server = handler(&emu, &links).ask_user(AskSettings {
        retry_wait: Duration::from_millis(20),
        ..AskSettings::default()
    });
    let client = connect(server, human).await;
    let first = params("set_tenant_secret", set_ask("user.rounds"));

    let CallToolResponse::InputRequired(asked) = once(&client, first.clone()).await else {
        panic!("the first round asks")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    let request = &wire["inputRequests"]["askUser"];
    assert_eq!(request["method"], "elicitation/create", "{wire}");
    assert_eq!(request["params"]["mode"], "url", "{wire}");
    let url = request["params"]["url"].as_str().unwrap().to_owned();
    let state = asked.request_state.clone().unwrap();

    let accepted: InputResponses =
        serde_json::from_value(json!({"askUser": {"action": "accept"}})).unwrap();
    let retry = first
        .clone()
        .with_input_responses(accepted)
        .with_request_state(state.clone());
    let CallToolResponse::InputRequired(again) = once(&client, retry).await else {
        panic!("an unused page gets another round")
    };
    let wire = serde_json::to_value(&again).unwrap();
    assert!(wire.get("inputRequests").is_none(), "state only: {wire}");
    let fresh = again.request_state.clone().unwrap();
    assert_ne!(fresh, state);
    assert_eq!(stored(&emu, "user.rounds"), None);

    let page = type_on_page(&links, &url, CANARY).await;
    assert!(
        page.contains("user.rounds") && !page.contains(CANARY),
        "{page}"
    );
    let done = first.clone().with_request_state(fresh);
    let CallToolResponse::Complete(result) = once(&client, done).await else {
        panic!("a used page completes the call")
    };
    assert!(!is_error(&result), "{}", text(&result));
    assert_eq!(structured(&result)["status"], "completed");
    assert_eq!(stored(&emu, "user.rounds").as_deref(), Some(CANARY));
    assert_no_leak(
        "the result",
        &serde_json::to_string(&result).unwrap(),
        &[CANARY],
    );
}

#[tokio::test]
async fn retry_era_decline_writes_nothing() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Declines, true, RETRY);
    let client = connect(handler(&emu, &links), human.clone()).await;

    let result = call(&client, "set_tenant_secret", set_ask("user.no")).await;
    assert!(is_error(&result));
    assert!(text(&result).contains("declined"), "{}", text(&result));
    assert_eq!(stored(&emu, "user.no"), None);
    let url = human.seen()[0]["elicitation"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        links.claim(&link_id(&url)).await,
        Err(Fate::Declined)
    ));
}

/// A `requestState` altered, used twice, or made for another call is
/// refused, and nothing is written.
#[tokio::test]
async fn tampered_replayed_and_rebound_request_state_is_refused() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Ignores, true, RETRY);
    let server = handler(&emu, &links).ask_user(AskSettings {
        retry_wait: Duration::from_millis(10),
        ..AskSettings::default()
    });
    let client = connect(server, human).await;
    let first = params("set_tenant_secret", set_ask("user.bound"));
    let state = |response: CallToolResponse| match response {
        CallToolResponse::InputRequired(r) => r.request_state.unwrap(),
        other => panic!("{other:?}"),
    };
    let refused = |response: CallToolResponse| match response {
        CallToolResponse::Complete(r) if is_error(&r) => text(&r),
        other => panic!("{other:?}"),
    };

    let sealed = state(once(&client, first.clone()).await);
    // Altered: one character changed.
    let mut bytes = sealed.clone().into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let said = refused(once(&client, first.clone().with_request_state(tampered)).await);
    assert!(said.contains("does not belong to this call"), "{said}");

    // Made for another key, then for other arguments.
    for other in [
        set_ask("user.other"),
        json!({"key": "user.bound", "askUser": true, "mode": "create"}),
    ] {
        let rebound = params("set_tenant_secret", other).with_request_state(sealed.clone());
        let said = refused(once(&client, rebound).await);
        assert!(said.contains("does not belong to this call"), "{said}");
    }
    // Made for another tool.
    let rotate = params(
        "rotate_tenant_secret",
        json!({"key": "user.bound", "askUser": true, "targets": [{"serviceId": "eyevinn-a", "secretName": "x"}]}),
    )
    .with_request_state(sealed.clone());
    let said = refused(once(&client, rotate).await);
    assert!(said.contains("does not belong to this call"), "{said}");

    // Used once (the page is unused: a fresh state), then replayed.
    let fresh = state(once(&client, first.clone().with_request_state(sealed.clone())).await);
    assert_ne!(fresh, sealed);
    let said = refused(once(&client, first.clone().with_request_state(sealed)).await);
    assert!(said.contains("already used once"), "{said}");
    // A state on a first call that never had one.
    let said = refused(
        once(
            &client,
            params("set_tenant_secret", set_ask("user.fresh")).with_request_state("forged"),
        )
        .await,
    );
    assert!(said.contains("does not belong to this call"), "{said}");
    assert!(
        emu.tenant_keys().iter().all(|k| !k.starts_with("user.")),
        "{:?}",
        emu.tenant_keys()
    );
}

/// A client without URL elicitation (no elicitation at all, or form mode
/// only), in either era, gets the link to show; the page writes later.
#[tokio::test]
async fn a_client_without_url_elicitation_gets_a_pending_link() {
    for (version, form_only) in [(SESSION, false), (RETRY, false), (SESSION, true)] {
        let emu = emulator().await;
        let links = links(Duration::from_secs(60));
        let mut human = Human::new(&links, Does::Types, false, version.clone());
        human.form_mode = form_only;
        let client = connect(handler(&emu, &links), human.clone()).await;

        let result = call(&client, "set_tenant_secret", set_ask("user.later")).await;
        assert!(!is_error(&result), "{version}: {}", text(&result));
        let out = structured(&result);
        assert_eq!(out["status"], "pending", "{out}");
        assert_eq!(out["source"], "askUser");
        assert!(out.get("outcome").is_none(), "{out}");
        let url = out["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:9/ask/"), "{url}");
        let expires = out["expiresAt"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(expires).is_ok(),
            "{expires}"
        );
        let next = out["nextStep"].as_str().unwrap();
        assert!(
            next.contains(&url) && next.contains("list_tenant_secrets"),
            "{next}"
        );
        assert!(human.seen().is_empty(), "nothing was asked of the client");
        assert_eq!(stored(&emu, "user.later"), None, "nothing written yet");

        type_on_page(&links, &url, CANARY).await;
        assert_eq!(stored(&emu, "user.later").as_deref(), Some(CANARY));
        let listed = call(&client, "list_tenant_secrets", json!({})).await;
        let listing = structured(&listed);
        // A page maps each key to its last update time.
        let secrets = listing["secrets"].as_object().unwrap();
        assert!(secrets.contains_key("user.later"), "{listing}");
        assert_no_leak(
            "the result",
            &serde_json::to_string(&result).unwrap(),
            &[CANARY],
        );
        assert_no_leak(
            "the list",
            &serde_json::to_string(&listed).unwrap(),
            &[CANARY],
        );
    }
}

/// A rotation whose write succeeded and whose one target failed: the page
/// says the key holds the value, then that not every service was updated;
/// never "Not stored".
#[tokio::test]
async fn the_page_of_a_rotation_that_missed_a_target_says_the_key_was_stored() {
    let emu = emulator().await;
    emu.insert_tenant_secret("user.half", "old-value");
    emu.push_fault(osc_secrets_mcp::emulator::Fault {
        path_prefix: Some("/mytenantsecrets/user.half/materialize".to_owned()),
        ..support::fault("POST", 403)
    });
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, false, SESSION);
    let client = connect(handler(&emu, &links), human).await;
    let result = call(
        &client,
        "rotate_tenant_secret",
        json!({"key": "user.half", "askUser": true, "targets": [
            {"serviceId": "eyevinn-api", "secretName": "dbpassword"},
        ]}),
    )
    .await;
    let url = structured(&result)["url"].as_str().unwrap().to_owned();
    // Whether the key exists was asked of OSC once: the check that a
    // rotation replaces an existing key also tells the page.
    let listed = emu.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(listed, 1, "{:?}", emu.requests());
    let claimed = links.claim(&link_id(&url)).await.expect("an open link");
    let settled = links
        .run(claimed, SecretString::from(CANARY.to_owned()))
        .await;
    assert_eq!(
        settled.title, "Stored, not everywhere",
        "{}",
        settled.page_text
    );
    assert!(
        settled.page_text.starts_with(
            "user.half now holds the value you typed, but not every service was updated."
        ),
        "{}",
        settled.page_text
    );
    assert!(
        settled.page_text.contains("eyevinn-api"),
        "{}",
        settled.page_text
    );
    assert!(!settled.page_text.contains(CANARY));
    assert_eq!(stored(&emu, "user.half").as_deref(), Some(CANARY));
}

/// Under --confirm always, a link handed to the agent proves no human: a
/// replacing write by set or rotate is refused and no link is opened; a
/// new key still gets its link.
#[tokio::test]
async fn confirm_always_refuses_a_replacing_link_handed_to_the_agent() {
    let emu = emulator().await;
    emu.insert_tenant_secret("user.held", "old-value");
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, false, SESSION);
    let always = Policy {
        confirm: ConfirmMode::Always,
        ..Policy::default()
    };
    let client = connect(handler(&emu, &links).with_policy(always), human).await;
    for (tool, args) in [
        ("set_tenant_secret", set_ask("user.held")),
        (
            "rotate_tenant_secret",
            json!({"key": "user.held", "askUser": true, "targets": [
                {"serviceId": "eyevinn-api", "secretName": "dbpassword"},
            ]}),
        ),
    ] {
        let result = call(&client, tool, args).await;
        assert!(is_error(&result), "{tool}");
        let said = text(&result);
        assert!(
            said.contains("--confirm always") && said.contains("no link was opened"),
            "{tool}: {said}"
        );
        assert!(result.structured_content.is_none(), "{tool}: no link");
    }
    assert_eq!(stored(&emu, "user.held").as_deref(), Some("old-value"));
    let fresh = call(&client, "set_tenant_secret", set_ask("user.fresh")).await;
    assert!(!is_error(&fresh), "{}", text(&fresh));
    assert_eq!(structured(&fresh)["status"], "pending");
}

/// A page write whose answer from OSC was lost (503 after every retry)
/// says the outcome is not known, never "Not stored".
#[tokio::test]
async fn the_page_of_a_write_whose_answer_was_lost_says_it_is_not_known() {
    let emu = emulator().await;
    emu.push_fault(support::fault("PUT", 503));
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, false, SESSION);
    let client = connect(handler(&emu, &links), human).await;
    let result = call(&client, "set_tenant_secret", set_ask("user.lost")).await;
    let url = structured(&result)["url"].as_str().unwrap().to_owned();
    let claimed = links.claim(&link_id(&url)).await.expect("an open link");
    let settled = links
        .run(claimed, SecretString::from(CANARY.to_owned()))
        .await;
    assert_eq!(settled.title, "Outcome not known", "{}", settled.page_text);
    assert!(
        settled
            .page_text
            .starts_with("Whether user.lost now holds the value you typed is not known"),
        "{}",
        settled.page_text
    );
    assert!(!settled.page_text.contains(CANARY));
}

#[tokio::test]
async fn with_the_fallback_off_such_a_client_is_refused() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, false, SESSION);
    let server = handler(&emu, &links).ask_user(AskSettings {
        fallback: false,
        ..AskSettings::default()
    });
    let client = connect(server, human).await;
    let result = call(&client, "set_tenant_secret", set_ask("user.off")).await;
    assert!(is_error(&result));
    let said = text(&result);
    assert!(
        said.contains("--ask-user-fallback off") && said.contains("generate"),
        "{said}"
    );
    assert_eq!(stored(&emu, "user.off"), None);
}

#[tokio::test]
async fn without_a_page_askuser_is_refused() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, true, SESSION);
    let server = SecretsServer::new(Arc::new(client_for(&emu, OSC_TOKEN, fast_retry())));
    let client = connect(server, human.clone()).await;
    let result = call(&client, "set_tenant_secret", set_ask("user.nopage")).await;
    assert!(is_error(&result));
    assert!(
        text(&result).contains("cannot serve the one-time page"),
        "{}",
        text(&result)
    );
    assert!(human.seen().is_empty());
    assert_eq!(stored(&emu, "user.nopage"), None);
}

/// `system.*` keys, `--keys`, rate limits and the one-source rule refuse
/// before any link opens: the client is asked nothing.
#[tokio::test]
async fn refusals_come_before_any_link() {
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Types, true, SESSION);
    let policy = Policy {
        tools: ToolScope::default(),
        keys: KeyScope::new(&["user.app.*".to_owned(), "system.*".to_owned()]).unwrap(),
        ..Policy::default()
    };
    let client = connect(handler(&emu, &links).with_policy(policy), human.clone()).await;

    let cases = [
        (json!({"key": "system.token", "askUser": true}), "system"),
        (json!({"key": "user.other", "askUser": true}), "--keys"),
        (
            json!({"key": "user.app.a", "askUser": true, "generate": {}}),
            "`askUser` and `generate` were all given",
        ),
        (json!({"key": "user.app.a", "askUser": false}), "askUser"),
    ];
    for (args, says) in cases {
        let result = call(&client, "set_tenant_secret", args.clone()).await;
        assert!(is_error(&result), "{args}");
        assert!(text(&result).contains(says), "{args}: {}", text(&result));
    }
    assert!(human.seen().is_empty(), "{:?}", human.seen());
    // The one write the limit allows, then the limit.
    let server = handler(&emu, &links)
        .with_audit_log(None)
        .with_rate_limits(RateLimits::in_memory(1, 1));
    let client = connect(server, human.clone()).await;
    let first = call(&client, "set_tenant_secret", set_ask("user.app.a")).await;
    assert!(!is_error(&first), "{}", text(&first));
    let asked = human.seen().len();
    let limited = call(&client, "set_tenant_secret", set_ask("user.app.b")).await;
    assert!(is_error(&limited), "{}", text(&limited));
    assert_eq!(human.seen().len(), asked, "no link for a limited call");
    assert!(
        human.seen()[..1].iter().all(|m| m["elicitation"]["message"]
            .as_str()
            .unwrap()
            .contains("user.app.a")),
        "{:?}",
        human.seen()
    );
}

/// The audit record names the source `askUser` and the link's fate.
#[tokio::test]
async fn the_audit_log_records_the_source_and_the_fate() {
    let emu = emulator().await;
    let dir = support::scratch_dir("ask-user-audit");
    let path = dir.join("audit.log");
    let log = Arc::new(AuditLog::open(path.clone(), false).expect("the log is ours"));
    let records = || -> Vec<Value> {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    let links = links(Duration::from_secs(60));
    for (does, url_mode, key) in [
        (Does::Types, false, "user.audit-pending"),
        (Does::Declines, true, "user.audit-declined"),
        (Does::Types, true, "user.audit-done"),
    ] {
        let human = Human::new(&links, does, url_mode, SESSION);
        let server = handler(&emu, &links)
            .with_audit_log(Some(log.clone()))
            .with_rate_limits(RateLimits::none());
        let client = connect(server, human).await;
        let result = call(&client, "set_tenant_secret", set_ask(key)).await;
        // The pending link, used later: the page's write is recorded too.
        if let Some(url) = result
            .structured_content
            .as_ref()
            .and_then(|s| s["url"].as_str())
        {
            type_on_page(&links, url, CANARY).await;
        }
    }
    let got: Vec<(String, String)> = records()
        .iter()
        .map(|r| {
            assert_eq!(r["valueSource"], "askUser", "{r}");
            (
                r["key"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("user.audit-pending", "pending"),
        ("user.audit-pending", "ok"),
        ("user.audit-declined", "declined"),
        ("user.audit-done", "ok"),
    ]
    .iter()
    .map(|(k, o)| ((*k).to_owned(), (*o).to_owned()))
    .collect();
    assert_eq!(got, want);
    let all = std::fs::read_to_string(&path).unwrap();
    assert!(!all.contains(CANARY), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A retry-era client that never comes back: the page's write is recorded
/// all the same, after the round that opened the link.
#[tokio::test]
async fn a_retry_era_page_write_is_audited_when_the_client_does_not_return() {
    let emu = emulator().await;
    let dir = support::scratch_dir("ask-user-audit-retry");
    let path = dir.join("audit.log");
    let log = Arc::new(AuditLog::open(path.clone(), false).expect("the log is ours"));
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Ignores, true, RETRY);
    let server = handler(&emu, &links)
        .with_audit_log(Some(log))
        .with_rate_limits(RateLimits::none());
    let client = connect(server, human).await;
    let first = params("set_tenant_secret", set_ask("user.audit-retry"));
    let CallToolResponse::InputRequired(asked) = once(&client, first).await else {
        panic!("the first round asks")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    let url = wire["inputRequests"]["askUser"]["params"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    type_on_page(&links, &url, CANARY).await;
    let all = std::fs::read_to_string(&path).unwrap();
    let outcomes: Vec<String> = all
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            format!(
                "{} {}",
                r["key"].as_str().unwrap(),
                r["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        ["user.audit-retry pending", "user.audit-retry ok"]
    );
    assert!(!all.contains(CANARY), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under --audit-required the page's own write (a pending link, used after
/// the call returned) is sent only after its write-ahead record: with the
/// log's anchor unwritable by then, the page writes nothing and says why;
/// once it can be written, a new link writes, recorded before and after.
#[tokio::test]
async fn a_page_write_waits_for_its_write_ahead_record_under_audit_required() {
    let emu = emulator().await;
    let dir = support::scratch_dir("ask-user-audit-required");
    let path = dir.join("audit.log");
    let blocker = dir.join("audit.log.anchor.tmp");
    let log = Arc::new(AuditLog::open(path.clone(), true).expect("the log is ours"));
    let links = links(Duration::from_secs(60));
    let server = handler(&emu, &links)
        .with_audit_log(Some(log))
        .with_rate_limits(RateLimits::none());
    let client = connect(server, Human::new(&links, Does::Types, false, SESSION)).await;
    let url = |result: &CallToolResult| {
        structured(result)["url"]
            .as_str()
            .expect("a pending link")
            .to_owned()
    };

    let blocked = call(&client, "set_tenant_secret", set_ask("user.page-blocked")).await;
    std::fs::create_dir(&blocker).unwrap();
    let page = type_on_page(&links, &url(&blocked), CANARY).await;
    assert!(
        page.starts_with("The value was not stored in user.page-blocked.")
            && page.contains("the audit log cannot be written now, so nothing was changed"),
        "{page}"
    );
    assert_eq!(stored(&emu, "user.page-blocked"), None);

    std::fs::remove_dir(&blocker).unwrap();
    let open = call(&client, "set_tenant_secret", set_ask("user.page-open")).await;
    let page = type_on_page(&links, &url(&open), CANARY).await;
    assert!(page.starts_with("Done:"), "{page}");
    assert_eq!(stored(&emu, "user.page-open").as_deref(), Some(CANARY));

    let outcomes: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            format!(
                "{} {}{}",
                r["key"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["rule"]
                    .as_str()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "user.page-blocked attempt",
            "user.page-blocked pending",
            // The page's write-ahead record, whose anchor could not be
            // written, then the refusal.
            "user.page-blocked attempt",
            "user.page-blocked refused audit_required",
            "user.page-open attempt",
            "user.page-open pending",
            "user.page-open attempt",
            "user.page-open ok",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls `check` (bounded by [`WAIT`]) until it gives something.
async fn eventually<T>(mut check: impl FnMut() -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(found) = check() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the condition holds in time")
}

/// The audit records at `path`, once there are `count` of them.
async fn records_once(path: &std::path::Path, count: usize) -> Vec<Value> {
    eventually(|| {
        let records: Vec<Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records.len() >= count).then_some(records)
    })
    .await
}

/// A session-era call the client cancels (`notifications/cancelled`) while
/// the page is unused takes its link back: the link is withdrawn, using it
/// writes nothing, and the audit log records the call as cancelled.
#[tokio::test]
async fn a_cancelled_session_era_call_withdraws_its_link() {
    let emu = emulator().await;
    let dir = support::scratch_dir("ask-user-cancelled-session");
    let path = dir.join("audit.log");
    let log = Arc::new(AuditLog::open(path.clone(), false).expect("the log is ours"));
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Ignores, true, SESSION);
    let server = handler(&emu, &links)
        .with_audit_log(Some(log))
        .with_rate_limits(RateLimits::none());
    let client = connect(server, human.clone()).await;
    let peer = client.peer().clone();
    let waiting = tokio::spawn(async move {
        peer.call_tool_once(params("set_tenant_secret", set_ask("user.cancelled")))
            .await
    });
    // The link is open once the client is asked to show it.
    let url = eventually(|| {
        human
            .seen()
            .first()
            .and_then(|m| m["elicitation"]["url"].as_str().map(str::to_owned))
    })
    .await;
    let id = link_id(&url);
    assert!(links.show(&id).await.is_ok(), "open before the cancel");
    // Dropping the request makes rmcp's client send notifications/cancelled.
    waiting.abort();
    tokio::time::timeout(WAIT, async {
        while !matches!(links.fate(&id).await, Fate::Withdrawn) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the link is withdrawn in time");
    assert!(matches!(links.show(&id).await, Err(Fate::Withdrawn)));
    assert!(matches!(links.claim(&id).await, Err(Fate::Withdrawn)));
    assert_eq!(stored(&emu, "user.cancelled"), None);
    let records = records_once(&path, 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["key"], "user.cancelled");
    assert_eq!(records[0]["outcome"], "cancelled");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same for a retry-era retry cancelled while it waits for the page.
#[tokio::test]
async fn a_cancelled_retry_era_retry_withdraws_its_link() {
    let logs = Logs::capture_as_the_product();
    let emu = emulator().await;
    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Ignores, true, RETRY);
    let server = handler(&emu, &links).ask_user(AskSettings {
        retry_wait: Duration::from_secs(60),
        ..AskSettings::default()
    });
    let client = connect(server, human).await;
    let first = params("set_tenant_secret", set_ask("user.cancelled-retry"));
    let CallToolResponse::InputRequired(asked) = once(&client, first.clone()).await else {
        panic!("the first round asks")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    let url = wire["inputRequests"]["askUser"]["params"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = link_id(&url);
    let accepted: InputResponses =
        serde_json::from_value(json!({"askUser": {"action": "accept"}})).unwrap();
    let retry = first
        .with_input_responses(accepted)
        .with_request_state(asked.request_state.clone().unwrap());
    let peer = client.peer().clone();
    let waiting = tokio::spawn(async move { peer.call_tool_once(retry).await });
    eventually(|| {
        logs.text()
            .contains("askUser retry waits for the page")
            .then_some(())
    })
    .await;
    waiting.abort();
    tokio::time::timeout(WAIT, async {
        while !matches!(links.fate(&id).await, Fate::Withdrawn) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the link is withdrawn in time");
    assert!(matches!(links.claim(&id).await, Err(Fate::Withdrawn)));
    assert_eq!(stored(&emu, "user.cancelled-retry"), None);
}

// ---------------------------------------------------------------------------
// Through the built binary, with the official Python SDK as the client and
// the one-time page served by the binary itself.

mod python {

    use osc_secrets_mcp::emulator::Emulator;
    use secrecy::ExposeSecret;
    use serde_json::{Value, json};

    use super::CANARY;
    use crate::support::http::{self, Server};
    use crate::support::python::{python, run_python};
    use crate::support::{self, BIN, MCP_TOKEN, OSC_TOKEN, stored};

    /// Where the Python client finds the server.
    enum Via<'a> {
        Stdio,
        Http(&'a Server),
    }

    /// Runs tests/python/ask_user.py once; its report and its stderr (which,
    /// over stdio, carries the server's stderr at trace level too).
    async fn drive(
        emu: &Emulator,
        via: Via<'_>,
        mode: &str,
        human: &str,
        tool: &str,
        arguments: Value,
        server_args: &[&str],
    ) -> (Value, String) {
        let mut cmd = python("tests/python/ask_user.py");
        cmd.args(["--mode", mode, "--human", human, "--tool", tool])
            .arg("--arguments")
            .arg(arguments.to_string())
            .env("OSC_MCP_TEST_VALUE", CANARY);
        match via {
            Via::Stdio => {
                let mut args = vec!["--transport", "stdio"];
                args.extend_from_slice(server_args);
                let server = json!({
                    "command": BIN,
                    "args": args,
                    "env": {
                        "OSC_API_URL": emu.base_url(),
                        "OSC_ACCESS_TOKEN": OSC_TOKEN,
                        "OSC_MAX_RETRIES": "0",
                        "OSC_MCP_LOG": "trace",
                        "PATH": std::env::var("PATH").unwrap_or_default(),
                    },
                });
                cmd.arg("--stdio")
                    .env("OSC_MCP_TEST_SERVER", server.to_string());
            }
            Via::Http(server) => {
                cmd.args(["--url", &server.url("/mcp")])
                    .env("OSC_MCP_TEST_TOKEN", MCP_TOKEN);
            }
        }
        let run = run_python(cmd, &format!("{mode}/{human}"), &[CANARY]).await;
        (run.report, run.stderr)
    }

    async fn http_server(emu: &Emulator, extra: &[&str]) -> Server {
        let mut cmd = http::command(emu, extra, Some(MCP_TOKEN));
        cmd.env("OSC_MCP_LOG", "trace");
        Server::start_command(cmd).await
    }

    fn listed(report: &Value) -> Vec<String> {
        // A page maps each key to its last update time.
        report["list"]["structuredContent"]["secrets"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// The human typed the value on the page the URL elicitation named;
    /// the result says completed.
    fn assert_completed(report: &Value, emu: &Emulator, key: &str, run: &str) {
        let result = &report["result"];
        assert_ne!(result["isError"], true, "{run}: {report:#}");
        assert_eq!(
            result["structuredContent"]["status"], "completed",
            "{run}: {report:#}"
        );
        assert_eq!(result["structuredContent"]["source"], "askUser", "{run}");
        let asked = &report["elicitations"][0];
        assert_eq!(asked["mode"], "url", "{run}: {report:#}");
        assert!(asked["message"].as_str().unwrap().contains(key), "{run}");
        let page = &report["pages"][0];
        assert_eq!(page["status"], 200, "{run}: {report:#}");
        assert_eq!(stored(emu, key).as_deref(), Some(CANARY), "{run}");
        assert!(listed(report).contains(&key.to_owned()), "{run}");
    }

    /// Session era (`mode="legacy"`, 2025-11-25) and retry era
    /// (`mode="auto"`, 2026-07-28) over stdio, with the page on stdio's
    /// loopback listener.
    #[tokio::test]
    #[ignore = "needs the official MCP Python SDK: set OSC_MCP_PYTHON (installed by .ci/run)"]
    async fn python_sdk_over_stdio_in_both_eras() {
        let emu = support::seeded_emulator().await;
        for (mode, key, era) in [
            ("legacy", "user.py-stdio-legacy", "2025-11-25"),
            ("auto", "user.py-stdio-auto", "2026-07-28"),
        ] {
            let (report, stderr) = drive(
                &emu,
                Via::Stdio,
                mode,
                "types",
                "set_tenant_secret",
                json!({"key": key, "askUser": true}),
                &[],
            )
            .await;
            assert_eq!(report["protocolVersion"], era, "{report:#}");
            assert_completed(&report, &emu, key, mode);
            if mode == "legacy" {
                let id = report["elicitations"][0]["elicitationId"].as_str().unwrap();
                let complete = report["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["method"] == "notifications/elicitation/complete")
                    .unwrap_or_else(|| panic!("no completion notice: {report:#}"));
                assert_eq!(complete["params"]["elicitationId"], id);
            }
            assert!(
                stderr.contains("askUser link sent"),
                "trace reached stderr: {stderr}"
            );
        }
    }

    /// Both eras over Streamable HTTP with sessions, the page on the same
    /// listener; the retry era also over stateless HTTP, where the session
    /// era has no session to be asked on and gets the pending link.
    #[tokio::test]
    #[ignore = "needs the official MCP Python SDK: set OSC_MCP_PYTHON (installed by .ci/run)"]
    async fn python_sdk_over_http_with_sessions_and_stateless() {
        let emu = support::seeded_emulator().await;
        let sessions = http_server(&emu, &[]).await;
        let stateless = http_server(&emu, &["--stateless"]).await;
        for (server, mode, key) in [
            (&sessions, "legacy", "user.py-http-legacy"),
            (&sessions, "auto", "user.py-http-auto"),
            (&stateless, "auto", "user.py-stateless-auto"),
        ] {
            let (report, _) = drive(
                &emu,
                Via::Http(server),
                mode,
                "types",
                "set_tenant_secret",
                json!({"key": key, "askUser": true}),
                &[],
            )
            .await;
            assert_completed(&report, &emu, key, key);
        }
        let (report, _) = drive(
            &emu,
            Via::Http(&stateless),
            "legacy",
            "types",
            "set_tenant_secret",
            json!({"key": "user.py-stateless-legacy", "askUser": true}),
            &[],
        )
        .await;
        let out = &report["result"]["structuredContent"];
        assert_eq!(out["status"], "pending", "{report:#}");
        assert!(report["elicitations"].as_array().unwrap().is_empty());
        for server in [&sessions, &stateless] {
            assert!(!server.log().contains(CANARY), "{}", server.log());
        }
    }

    /// No elicitation callback: the pending link, posted later by the
    /// "human", writes the key, and list_tenant_secrets shows it; with
    /// `--ask-user-fallback off` the call is refused.
    #[tokio::test]
    #[ignore = "needs the official MCP Python SDK: set OSC_MCP_PYTHON (installed by .ci/run)"]
    async fn python_sdk_without_elicitation_gets_the_pending_link_or_a_refusal() {
        let emu = support::seeded_emulator().await;
        let (report, _) = drive(
            &emu,
            Via::Stdio,
            "legacy",
            "unreachable",
            "set_tenant_secret",
            json!({"key": "user.py-pending", "askUser": true}),
            &[],
        )
        .await;
        let out = &report["result"]["structuredContent"];
        assert_eq!(out["status"], "pending", "{report:#}");
        assert!(
            out["url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{out}"
        );
        assert_eq!(report["pages"][0]["status"], 200, "{report:#}");
        assert_eq!(stored(&emu, "user.py-pending").as_deref(), Some(CANARY));
        assert!(listed(&report).contains(&"user.py-pending".to_owned()));

        let (report, _) = drive(
            &emu,
            Via::Stdio,
            "auto",
            "unreachable",
            "set_tenant_secret",
            json!({"key": "user.py-off", "askUser": true}),
            &["--ask-user-fallback", "off"],
        )
        .await;
        assert_eq!(report["result"]["isError"], true, "{report:#}");
        let said = report["result"]["content"][0]["text"].as_str().unwrap();
        assert!(said.contains("--ask-user-fallback off"), "{said}");
        assert_eq!(stored(&emu, "user.py-off"), None);
    }

    /// Declining in the client writes nothing, in both eras; rotation with
    /// askUser writes and materializes into two targets.
    #[tokio::test]
    #[ignore = "needs the official MCP Python SDK: set OSC_MCP_PYTHON (installed by .ci/run)"]
    async fn python_sdk_decline_and_rotate() {
        let emu = support::seeded_emulator().await;
        for mode in ["legacy", "auto"] {
            let key = format!("user.py-declined-{mode}");
            let (report, _) = drive(
                &emu,
                Via::Stdio,
                mode,
                "declines",
                "set_tenant_secret",
                json!({"key": key, "askUser": true}),
                &[],
            )
            .await;
            assert_eq!(report["result"]["isError"], true, "{report:#}");
            let said = report["result"]["content"][0]["text"].as_str().unwrap();
            assert!(said.contains("declined"), "{said}");
            assert_eq!(stored(&emu, &key), None);
        }
        emu.insert_tenant_secret("user.py-rotated", "old-value");
        let (report, _) = drive(
            &emu,
            Via::Stdio,
            "auto",
            "types",
            "rotate_tenant_secret",
            json!({"key": "user.py-rotated", "askUser": true, "targets": [
                {"serviceId": "eyevinn-py-a", "secretName": "token"},
                {"serviceId": "eyevinn-py-b", "secretName": "token"},
            ]}),
            &[],
        )
        .await;
        let out = &report["result"]["structuredContent"];
        assert_eq!(out["status"], "completed", "{report:#}");
        assert_eq!(out["targets"].as_array().unwrap().len(), 2, "{out}");
        assert_eq!(stored(&emu, "user.py-rotated").as_deref(), Some(CANARY));
        for service in ["eyevinn-py-a", "eyevinn-py-b"] {
            assert_eq!(
                emu.service_secret(service, "token")
                    .map(|v| v.expose_secret().to_owned())
                    .as_deref(),
                Some(CANARY),
                "{service}"
            );
        }
    }
}

/// A session-era call waiting for the page over Streamable HTTP outlives
/// the idle-session timer: the server pings its client meanwhile, so the
/// session is not closed under the call, which ends with its own answer
/// (here: the link expired).
#[tokio::test]
async fn a_session_era_wait_over_http_outlives_the_idle_session_timer() {
    use osc_secrets_mcp::transport::http::{HttpConfig, serve};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = emulator().await;
    let links = links(Duration::from_millis(1500));
    let idle = Duration::from_millis(300);
    let server = handler(&emu, &links).ask_user(AskSettings {
        session_ping: Some(idle / 3),
        ..AskSettings::default()
    });
    // A free loopback port, then the server on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = HttpConfig {
        listen: ([127, 0, 0, 1], port).into(),
        auth_token: None,
        oauth: None,
        allowed_hosts: Vec::new(),
        allowed_origins: Vec::new(),
        stateless: false,
        max_body_bytes: 1 << 20,
        max_sessions: 8,
        session_idle: idle,
        max_concurrent_per_client: 8,
        shutdown_grace: Duration::from_secs(1),
        header_timeout: Duration::from_secs(10),
        connection_idle: Duration::from_secs(60),
        max_connections: 64,
        metrics_listen: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve(server, config, async {
        let _ = stopped.await;
    }));
    let url = format!("http://127.0.0.1:{port}/mcp");
    let human = Human::new(&links, Does::Ignores, true, SESSION);
    // Bounded wait for the listener.
    let deadline = tokio::time::Instant::now() + WAIT;
    let client = loop {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.clone()),
        );
        match human.clone().serve(transport).await {
            Ok(client) => break client,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("the server did not come up: {e}"),
        }
    };
    let result = call(&client, "set_tenant_secret", set_ask("user.slow")).await;
    assert!(is_error(&result));
    assert!(text(&result).contains("expired"), "{}", text(&result));
    assert_eq!(stored(&emu, "user.slow"), None);
    let _ = client.cancel().await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, serving).await;
}

/// Retry era: a link left unused until its expiry ends the rounds with
/// "expired"; an answer that is not an elicitation result withdraws the
/// link. Nothing is written either way.
#[tokio::test]
async fn retry_era_expiry_and_a_malformed_answer_write_nothing() {
    let emu = emulator().await;
    let short = links(Duration::from_millis(300));
    let human = Human::new(&short, Does::Ignores, true, RETRY);
    let client = connect(handler(&emu, &short), human).await;
    let result = call(&client, "set_tenant_secret", set_ask("user.r-late")).await;
    assert!(is_error(&result));
    assert!(text(&result).contains("expired"), "{}", text(&result));
    assert_eq!(stored(&emu, "user.r-late"), None);

    let links = links(Duration::from_secs(60));
    let human = Human::new(&links, Does::Ignores, true, RETRY);
    let client = connect(handler(&emu, &links), human).await;
    let first = params("set_tenant_secret", set_ask("user.r-odd"));
    let CallToolResponse::InputRequired(asked) = once(&client, first.clone()).await else {
        panic!("the first round asks")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    let url = wire["inputRequests"]["askUser"]["params"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let odd: InputResponses = serde_json::from_value(json!({"askUser": 7})).unwrap();
    let retry = first
        .with_input_responses(odd)
        .with_request_state(asked.request_state.unwrap());
    let CallToolResponse::Complete(result) = once(&client, retry).await else {
        panic!("a malformed answer ends the call")
    };
    assert!(is_error(&result));
    assert!(
        text(&result).contains("not an elicitation result"),
        "{}",
        text(&result)
    );
    assert!(matches!(
        links.claim(&link_id(&url)).await,
        Err(Fate::Declined)
    ));
    assert_eq!(stored(&emu, "user.r-odd"), None);
}

/// Three replicas sharing a store and a key file, each with its own links
/// registry: a link opened on the first is served by the third's page,
/// which writes once; the client's retry, landing on the second, waits for
/// that page and completes with its outcome; the same state replayed on the
/// first is refused, and the page cannot be used again anywhere.
#[tokio::test]
async fn a_link_opened_on_one_replica_is_served_and_awaited_on_others() {
    use osc_secrets_mcp::elicit::SealingKeys;
    use osc_secrets_mcp::store::Store;

    let emu = emulator().await;
    let store = Store::memory();
    let key_line = SealingKeys::new_line().unwrap();
    let replica = |links: &Arc<Links>| {
        let server = handler(&emu, links)
            .with_store(store.clone(), SealingKeys::parse(&key_line).unwrap())
            .unwrap();
        // As a transport does when it starts serving.
        server.serve_links();
        server
    };
    let (links_a, links_b, links_c) = (
        links(Duration::from_secs(60)),
        links(Duration::from_secs(60)),
        links(Duration::from_secs(60)),
    );
    let a = connect(
        replica(&links_a),
        Human::new(&links_a, Does::Ignores, true, RETRY),
    )
    .await;
    let b = connect(
        replica(&links_b),
        Human::new(&links_b, Does::Ignores, true, RETRY),
    )
    .await;
    let _c = replica(&links_c);
    let first = params("set_tenant_secret", set_ask("user.elsewhere"));
    let CallToolResponse::InputRequired(asked) = once(&a, first.clone()).await else {
        panic!("the first round asks")
    };
    let wire = serde_json::to_value(&asked).unwrap();
    let url = wire["inputRequests"]["askUser"]["params"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let accepted: InputResponses =
        serde_json::from_value(json!({"askUser": {"action": "accept"}})).unwrap();
    let state = asked.request_state.clone().unwrap();
    let retry = first
        .clone()
        .with_input_responses(accepted)
        .with_request_state(state.clone());
    let waiting = tokio::spawn(async move { once(&b, retry).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the retry waits for the page");
    let page = type_on_page(&links_c, &url, CANARY).await;
    assert!(page.starts_with("Done: user.elsewhere now holds"), "{page}");
    let CallToolResponse::Complete(done) = waiting.await.unwrap() else {
        panic!("the retry completes with the page's outcome")
    };
    assert!(!is_error(&done), "{}", text(&done));
    assert_eq!(structured(&done)["status"], "completed");
    assert_eq!(stored(&emu, "user.elsewhere").as_deref(), Some(CANARY));
    let writes = emu
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("user.elsewhere"))
        .count();
    assert_eq!(writes, 1, "written once");

    let CallToolResponse::Complete(replayed) = once(&a, first.with_request_state(state)).await
    else {
        panic!("a replay is answered at once")
    };
    assert!(is_error(&replayed), "{}", text(&replayed));
    for links in [&links_a, &links_b, &links_c] {
        assert!(matches!(
            links.claim(&link_id(&url)).await,
            Err(Fate::Done(_))
        ));
    }
}
