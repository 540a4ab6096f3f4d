//! Value sources the model never sees (`generate`, `fromEnv`) next to the
//! one it does (`value`), and rotation into many services at once. Expected
//! values are written here; stored values are read from the emulator.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;

use crate::support::{
    OSC_TOKEN, StdioServer, WAIT, binary, call, client_for, emulator, fast_retry, is_error, stored,
    structured, text,
};
use osc_secrets_mcp::emulator::{Emulator, Fault};
use osc_secrets_mcp::server::SecretsServer;
use osc_secrets_mcp::values::{EnvAllowlist, EnvPattern, PatternError};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const CANARY: &str = "canary-env-value-5f1d9c2e";

/// A client whose server may read `allowed` from the variables in `vars`
/// (a stand-in for the process environment).
async fn connect_env(
    emu: &Emulator,
    allowed: &[&str],
    vars: &[(&str, &str)],
) -> RunningService<RoleClient, ()> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let patterns = allowed
        .iter()
        .map(|p| EnvPattern::parse(p).unwrap())
        .collect();
    let allowlist =
        EnvAllowlist::new(patterns).with_lookup(move |name| vars.get(name).map(OsString::from));
    let server =
        SecretsServer::new(Arc::new(client_for(emu, OSC_TOKEN, fast_retry()))).allow_env(allowlist);
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.expect("client initializes")
}

/// Everything a result carries, as one text, for leak checks.
fn all_of(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_string(result).unwrap()
}

#[tokio::test]
async fn generate_with_defaults_stores_32_alphanumeric_characters_unseen() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let result = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.db-password", "generate": {}}),
    )
    .await;
    assert!(!is_error(&result), "{}", text(&result));
    let out = structured(&result);
    assert_eq!(out["source"], "generate");
    assert_eq!(
        out["generated"],
        json!({"length": 32, "alphabet": "alphanumeric"})
    );
    let value = stored(&emu, "user.db-password").expect("the key is stored");
    assert_eq!(value.len(), 32);
    assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");
    assert!(!all_of(&result).contains(&value));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn every_alphabet_and_both_length_bounds() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let cases = [
        (
            "alphanumeric",
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        ),
        ("hex", "0123456789abcdef"),
        (
            "base64url",
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
        ),
        (
            "symbols",
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~",
        ),
    ];
    for (alphabet, allowed) in cases {
        for length in [16, 256] {
            let key = format!("user.gen-{alphabet}-{length}");
            let result = call(
                &client,
                "set_tenant_secret",
                json!({"key": key, "generate": {"length": length, "alphabet": alphabet}}),
            )
            .await;
            assert!(!is_error(&result), "{}", text(&result));
            assert_eq!(
                structured(&result)["generated"],
                json!({"length": length, "alphabet": alphabet})
            );
            let value = stored(&emu, &key).expect("the key is stored");
            assert_eq!(value.len(), length, "{alphabet}");
            assert!(
                value.chars().all(|c| allowed.contains(c)),
                "{alphabet}: {value}"
            );
            assert!(!all_of(&result).contains(&value));
            if alphabet == "symbols" {
                assert!(value.chars().any(|c| c.is_ascii_lowercase()), "{value}");
                assert!(value.chars().any(|c| c.is_ascii_uppercase()), "{value}");
                assert!(value.chars().any(|c| c.is_ascii_digit()), "{value}");
                assert!(value.chars().any(|c| "-._~".contains(c)), "{value}");
                assert!(
                    value.starts_with(|c: char| c.is_ascii_alphanumeric()),
                    "{value}"
                );
            }
        }
    }
    // Two generated values are never the same.
    assert_ne!(
        stored(&emu, "user.gen-hex-256").expect("the key is stored"),
        stored(&emu, "user.gen-base64url-256").expect("the key is stored")[..0].to_owned()
            + &stored(&emu, "user.gen-symbols-256").expect("the key is stored")
    );
    emu.clear_requests();
    for length in [15, 257, 0, -3] {
        let result = call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.short", "generate": {"length": length}}),
        )
        .await;
        assert!(is_error(&result));
        let said = text(&result);
        assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
        assert!(
            said.contains("`generate.length`") && said.contains("16 to 256"),
            "{said}"
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_given_value_is_still_stored_as_given() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let result = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.third-party", "value": "issued-by-them-123"}),
    )
    .await;
    assert!(!is_error(&result), "{}", text(&result));
    assert_eq!(structured(&result)["source"], "value");
    assert_eq!(
        stored(&emu, "user.third-party").expect("the key is stored"),
        "issued-by-them-123"
    );
    assert!(!all_of(&result).contains("issued-by-them-123"));
    let _ = client.cancel().await;
}

/// `false` (or an empty `fromEnv`) beside the source meant says "not this
/// source": the call is not refused, and the source given is used.
#[tokio::test]
async fn false_beside_the_source_meant_is_not_a_second_source() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    for (key, args) in [
        ("user.gf", json!({"generate": false, "value": "given-1"})),
        ("user.af", json!({"askUser": false, "value": "given-2"})),
        (
            "user.ef",
            json!({"fromEnv": "", "generate": false, "value": "given-3"}),
        ),
    ] {
        let mut args = args;
        args["key"] = json!(key);
        let result = call(&client, "set_tenant_secret", args.clone()).await;
        assert!(!is_error(&result), "{args}: {}", text(&result));
        assert_eq!(structured(&result)["source"], "value", "{args}");
        assert!(stored(&emu, key).is_some(), "{args}");
    }
    let _ = client.cancel().await;
}

#[tokio::test]
async fn no_source_or_several_are_refused_before_any_request() {
    let emu = emulator().await;
    let client = connect_env(&emu, &["APP_SECRET_*"], &[("APP_SECRET_A", CANARY)]).await;
    let none = call(&client, "set_tenant_secret", json!({"key": "user.a"})).await;
    assert!(is_error(&none));
    assert!(
        text(&none).starts_with("Refused before contacting OSC: no value source was given: give exactly one of `askUser`, `generate`, `value` or `fromEnv`."),
        "{}",
        text(&none)
    );
    let nulls = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.a", "value": null, "generate": null}),
    )
    .await;
    assert_eq!(text(&nulls), text(&none));
    let two = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.a", "value": "given-zz", "generate": {}}),
    )
    .await;
    assert!(is_error(&two));
    assert!(
        text(&two).starts_with("Refused before contacting OSC: `value` and `generate` were all given: give exactly one of"),
        "{}",
        text(&two)
    );
    assert!(!text(&two).contains("given-zz"));
    let three = call(
        &client,
        "rotate_tenant_secret",
        json!({"key": "user.a", "value": "given-zz", "generate": {}, "fromEnv": "APP_SECRET_A",
               "targets": [{"serviceId": "svc", "secretName": "a"}]}),
    )
    .await;
    assert!(
        text(&three).contains("`value` and `generate` and `fromEnv` were all given"),
        "{}",
        text(&three)
    );
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    assert!(emu.tenant_keys().is_empty());
    let _ = client.cancel().await;
}

#[tokio::test]
async fn nested_arguments_are_checked_by_path() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let cases = [
        (
            "set_tenant_secret",
            json!({"key": "user.a", "generate": {"length": "long"}}),
            "`generate.length` must be an integer, got a string; for example `\"length\": 1`.",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a", "generate": {"alphabet": "emoji"}}),
            "`generate.alphabet` must be one of `alphanumeric` or `hex` or `base64url` or `symbols`, got `emoji`; for example `\"alphabet\": \"alphanumeric\"`.",
        ),
        (
            "set_tenant_secret",
            json!({"key": "user.a", "generate": {"size": 20}}),
            "`size` is not a field of `generate`; its fields are `alphabet` and `length`.",
        ),
        (
            "rotate_tenant_secret",
            json!({"key": "user.a", "targets": [{"serviceId": "svc", "secretName": "a"}, {"serviceId": 5, "secretName": "b"}]}),
            "`targets[1].serviceId` must be a string, got a number",
        ),
        (
            "rotate_tenant_secret",
            json!({"key": "user.a", "targets": [{"serviceId": "svc"}]}),
            "`targets[0].secretName` is missing",
        ),
        (
            "rotate_tenant_secret",
            json!({"key": "user.a", "targets": ["svc"]}),
            "`targets[0]` must be a JSON object, got a string",
        ),
    ];
    for (tool, args, wanted) in cases {
        let result = call(&client, tool, args).await;
        assert!(is_error(&result));
        let said = text(&result);
        assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
        assert!(said.contains(wanted), "wanted {wanted}\n got {said}");
    }
    assert!(emu.requests().is_empty());
    let _ = client.cancel().await;
}

#[tokio::test]
async fn from_env_reads_an_allowed_variable_without_showing_it() {
    let emu = emulator().await;
    let client = connect_env(&emu, &["APP_SECRET_*"], &[("APP_SECRET_DB", CANARY)]).await;
    let result = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.db", "fromEnv": "APP_SECRET_DB"}),
    )
    .await;
    assert!(!is_error(&result), "{}", text(&result));
    let out = structured(&result);
    assert_eq!(out["source"], "fromEnv");
    assert_eq!(out["fromEnv"], "APP_SECRET_DB");
    assert_eq!(stored(&emu, "user.db").expect("the key is stored"), CANARY);
    assert!(!all_of(&result).contains(CANARY));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn from_env_refuses_in_the_same_words_whether_or_not_the_variable_exists() {
    let emu = emulator().await;
    let client = connect_env(
        &emu,
        &["APP_SECRET_*"],
        &[("HOME_SECRET", CANARY), ("OSC_ACCESS_TOKEN", CANARY)],
    )
    .await;
    let mut answers = Vec::new();
    // The last two match the allowed prefix, but are not plain names: they
    // would put a line break or a terminal escape into the answer.
    for name in [
        "HOME_SECRET",
        "NOT_SET_ANYWHERE",
        "OSC_ACCESS_TOKEN",
        "MCP_AUTH_TOKEN",
        "APP_SECRET_\nInjected: line",
        "APP_SECRET_\u{1b}[31m",
    ] {
        let result = call(
            &client,
            "set_tenant_secret",
            json!({"key": "user.x", "fromEnv": name}),
        )
        .await;
        assert!(is_error(&result));
        assert!(!all_of(&result).contains(CANARY));
        answers.push(text(&result).into_bytes());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "refusals differ");
    let said = String::from_utf8(answers[0].clone()).unwrap();
    assert!(
        said.starts_with("Refused before contacting OSC: the variable named in `fromEnv` is not one the operator allowed"),
        "{said}"
    );
    // Allowed but unset is a different answer: the operator chose to reveal that name.
    let unset = call(
        &client,
        "set_tenant_secret",
        json!({"key": "user.x", "fromEnv": "APP_SECRET_MISSING"}),
    )
    .await;
    assert!(
        text(&unset).contains("`APP_SECRET_MISSING` is allowed but not set"),
        "{}",
        text(&unset)
    );
    assert!(emu.requests().is_empty());
    let _ = client.cancel().await;
}

#[test]
fn allow_env_refuses_the_servers_own_credentials_and_bad_shapes() {
    for pattern in [
        "OSC_ACCESS_TOKEN",
        "OSC_PAT_JWT",
        "MCP_AUTH_TOKEN",
        "OSC_*",
        "MCP_AUTH*",
        "O*",
    ] {
        assert_eq!(
            EnvPattern::parse(pattern),
            Err(PatternError::Protected),
            "{pattern}"
        );
    }
    for pattern in ["*", "", "A-B", "9LIVES", "A*B"] {
        assert_eq!(
            EnvPattern::parse(pattern),
            Err(PatternError::Shape),
            "{pattern}"
        );
    }
}

/// The start-up refusal names the rule and never repeats what was typed.
#[tokio::test]
async fn the_binary_refuses_to_allow_a_credential_variable() {
    let output = tokio::time::timeout(
        WAIT,
        binary()
            .args(["--sandbox"])
            .env("OSC_MCP_ALLOW_ENV", "DB_PASSWORD,OSC_PAT_JWT")
            .output(),
    )
    .await
    .expect("the server exits")
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("can never be read through fromEnv"),
        "{stderr}"
    );
    assert!(!stderr.contains("DB_PASSWORD"), "{stderr}");
}

const OLD: &str = "old-value-7d0c";

async fn seed_old_copies(
    emu: &Emulator,
    client: &RunningService<RoleClient, ()>,
    services: &[String],
) {
    emu.insert_tenant_secret("user.db", OLD);
    for service in services {
        let result = call(
            client,
            "materialize_tenant_secret",
            json!({"key": "user.db", "serviceId": service, "secretName": "dbpassword"}),
        )
        .await;
        assert!(!is_error(&result), "{}", text(&result));
    }
}

fn targets(services: &[String]) -> Value {
    Value::Array(
        services
            .iter()
            .map(|s| json!({"serviceId": s, "secretName": "dbpassword"}))
            .collect(),
    )
}

fn held(emu: &Emulator, service: &str) -> String {
    emu.service_secret(service, "dbpassword")
        .expect("a service secret")
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn rotation_updates_every_target() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let services: Vec<String> = (1..=3).map(|i| format!("svc-{i}")).collect();
    seed_old_copies(&emu, &client, &services).await;
    let result = call(
        &client,
        "rotate_tenant_secret",
        json!({"key": "user.db", "targets": targets(&services)}),
    )
    .await;
    assert!(!is_error(&result), "{}", text(&result));
    let new = stored(&emu, "user.db").expect("the key is stored");
    assert_ne!(new, OLD);
    assert_eq!(new.len(), 32);
    for service in &services {
        assert_eq!(held(&emu, service), new, "{service}");
    }
    let out = structured(&result);
    assert_eq!(out["source"], "generate");
    assert_eq!(
        out["targets"],
        json!([
            {"serviceId": "svc-1", "secretName": "dbpassword", "reference": "{{secrets.dbpassword}}"},
            {"serviceId": "svc-2", "secretName": "dbpassword", "reference": "{{secrets.dbpassword}}"},
            {"serviceId": "svc-3", "secretName": "dbpassword", "reference": "{{secrets.dbpassword}}"},
        ])
    );
    assert!(out["nextStep"].as_str().unwrap().contains("restart"));
    assert!(!all_of(&result).contains(&new) && !all_of(&result).contains(OLD));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_failed_target_is_named_with_what_it_still_holds() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let services: Vec<String> = (1..=4).map(|i| format!("svc-{i}")).collect();
    seed_old_copies(&emu, &client, &services).await;
    // One materialize, whichever comes first, is refused: OSC did not copy.
    emu.push_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/mytenantsecrets/user.db/materialize".into()),
        status: Some(400),
        times: Some(1),
        ..Fault::default()
    });
    let result = call(
        &client,
        "rotate_tenant_secret",
        json!({"key": "user.db", "targets": targets(&services)}),
    )
    .await;
    assert!(
        is_error(&result),
        "a partial rotation is not reported as done"
    );
    let said = text(&result);
    let new = stored(&emu, "user.db").expect("the key is stored");
    let (fresh, stale): (Vec<&String>, Vec<&String>) =
        services.iter().partition(|s| held(&emu, s) == new);
    assert_eq!((fresh.len(), stale.len()), (3, 1));
    assert_eq!(held(&emu, stale[0]), OLD);
    assert!(said.contains("Hold the new value (3)"), "{said}");
    let old_part = said
        .split_once("Still hold the old value (1): ")
        .unwrap_or_else(|| panic!("{said}"))
        .1;
    assert!(
        old_part.starts_with(&format!("`{}` secret `dbpassword`", stale[0])),
        "{said}"
    );
    for service in fresh {
        let at = said
            .find(&format!("`{service}` secret `dbpassword` (reference"))
            .unwrap();
        assert!(at < said.find("Still hold").unwrap(), "{said}");
    }
    assert!(
        said.contains("call materialize_tenant_secret with key `user.db`"),
        "{said}"
    );
    assert!(
        said.contains("do not call rotate_tenant_secret again"),
        "{said}"
    );
    assert!(!said.contains(&new) && !said.contains(OLD));
    let _ = client.cancel().await;
}

/// If the write fails, no target is touched; the answer says whether the
/// key may hold a new value (a 5xx: the write may have happened) or surely
/// kept the old one (a 4xx refusal).
#[tokio::test]
async fn a_failed_write_materializes_nothing() {
    for (status, wanted) in [
        (
            503,
            "`user.db` may or may not hold a new value now, and no service was touched. To finish, call rotate_tenant_secret again",
        ),
        (
            400,
            "Nothing was rotated: `user.db` keeps its old value, and no service was touched.",
        ),
    ] {
        let emu = emulator().await;
        let client = connect_env(&emu, &[], &[]).await;
        let services: Vec<String> = (1..=2).map(|i| format!("svc-{i}")).collect();
        seed_old_copies(&emu, &client, &services).await;
        emu.clear_requests();
        emu.push_fault(Fault {
            method: Some("PUT".into()),
            path_prefix: Some("/mytenantsecrets/user.db".into()),
            status: Some(status),
            ..Fault::default()
        });
        let result = call(
            &client,
            "rotate_tenant_secret",
            json!({"key": "user.db", "targets": targets(&services)}),
        )
        .await;
        assert!(is_error(&result));
        assert!(text(&result).contains(wanted), "{}", text(&result));
        assert!(
            emu.requests()
                .iter()
                .all(|r| !r.path.ends_with("/materialize")),
            "{:?}",
            emu.requests()
        );
        assert_eq!(stored(&emu, "user.db").expect("the key is stored"), OLD);
        for service in &services {
            assert_eq!(held(&emu, service), OLD);
        }
        let _ = client.cancel().await;
    }
}

#[tokio::test]
async fn system_keys_and_bad_targets_are_refused_before_any_request() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    let cases = [
        (
            json!({"key": "system.gitea-admin-token", "targets": [{"serviceId": "svc", "secretName": "a"}]}),
            "`system.gitea-admin-token` is a platform key",
        ),
        (
            json!({"key": "user.a", "targets": []}),
            "`targets` is empty",
        ),
        (
            json!({"key": "user.a", "targets": [{"serviceId": "Svc", "secretName": "a"}]}),
            "`targets[0].serviceId`",
        ),
        (
            json!({"key": "user.a", "targets": [{"serviceId": "svc", "secretName": "a"}, {"serviceId": "svc", "secretName": "a"}]}),
            "`targets[1]` repeats `targets[0]`",
        ),
        (
            json!({"key": "user.a", "targets": targets(&(0..65).map(|i| format!("s{i}")).collect::<Vec<_>>())}),
            "`targets` has 65 entries; the limit is 64",
        ),
    ];
    for (args, wanted) in cases {
        let result = call(&client, "rotate_tenant_secret", args).await;
        assert!(is_error(&result));
        let said = text(&result);
        assert!(said.starts_with("Refused before contacting OSC:"), "{said}");
        assert!(said.contains(wanted), "wanted {wanted}\n got {said}");
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    let _ = client.cancel().await;
}

/// 16 targets, each materialize held 200 ms by the emulator: the requests
/// overlap (the emulator saw several at once), and never more than 8.
#[tokio::test]
async fn targets_are_materialized_concurrently_with_a_bounded_fan_out() {
    let emu = emulator().await;
    let client = connect_env(&emu, &[], &[]).await;
    emu.insert_tenant_secret("user.db", OLD);
    let services: Vec<String> = (1..=16).map(|i| format!("svc-{i}")).collect();
    emu.push_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/mytenantsecrets/user.db/materialize".into()),
        delay_ms: Some(200),
        ..Fault::default()
    });
    emu.clear_requests();
    let result = call(
        &client,
        "rotate_tenant_secret",
        json!({"key": "user.db", "targets": targets(&services)}),
    )
    .await;
    assert!(!is_error(&result), "{}", text(&result));
    let materializes = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/materialize"))
        .count();
    assert_eq!(materializes, 16);
    let peak = emu.peak_concurrency();
    assert!(peak >= 2, "materializes ran one at a time (peak {peak})");
    assert!(peak <= 8, "more than 8 materializes at once (peak {peak})");
    let new = stored(&emu, "user.db").expect("the key is stored");
    for service in &services {
        assert_eq!(held(&emu, service), new);
    }
    let _ = client.cancel().await;
}

/// The built binary over stdio, in sandbox mode: a value read from the
/// environment, a generated one and a rotation leave no canary in any byte
/// on stdout or stderr.
#[tokio::test]
async fn no_byte_the_binary_emits_holds_an_env_value() {
    let mut server = StdioServer::spawn(
        &["--sandbox", "--log-level", "trace"],
        &[
            ("OSC_MCP_ALLOW_ENV", "APP_SECRET_*"),
            ("APP_SECRET_DB", CANARY),
        ],
    );
    server.initialize().await;
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.db", "fromEnv": "APP_SECRET_DB"}),
        )
        .await;
    assert_eq!(set["result"]["isError"], json!(false), "{set}");
    assert_eq!(
        set["result"]["structuredContent"]["fromEnv"],
        "APP_SECRET_DB"
    );
    let rotate = server
        .call_tool(
            "rotate_tenant_secret",
            json!({"key": "user.db", "fromEnv": "APP_SECRET_DB",
                   "targets": [{"serviceId": "svc-a", "secretName": "db"}, {"serviceId": "svc-b", "secretName": "db"}]}),
        )
        .await;
    assert_eq!(rotate["result"]["isError"], json!(false), "{rotate}");
    let generated = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.gen", "generate": {"alphabet": "symbols"}}),
        )
        .await;
    assert_eq!(generated["result"]["isError"], json!(false), "{generated}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(CANARY), "stdout holds the value");
    assert!(!stderr.contains(CANARY), "stderr holds the value");
}
