//! Several `--stateless` replicas behind a real round-robin balancer
//! (HAProxy, no affinity), the set-up docs/deployment.md describes: what
//! one replica starts, another finishes, once. They share a state
//! directory and a key file (one machine); the official Python SDK, in the
//! 2026-07-28 era, is the client.

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::support::haproxy::Balancer;
use crate::support::http::{Server, http, message_in};
use crate::support::python::{python, run_python};
use crate::support::{self, OSC_TOKEN, scratch_dir};

const CANARY: &str = "canary-replicas-value-5c2e";

/// Three replicas on one state directory (or, with `redis`, on one Redis);
/// with `shared_key` they also share a key file, else each draws its own.
async fn replicas(
    emu: &osc_secrets_mcp::emulator::Emulator,
    name: &str,
    shared_key: bool,
) -> (Vec<Server>, Balancer) {
    replicas_on(emu, name, shared_key, None).await
}

async fn replicas_on(
    emu: &osc_secrets_mcp::emulator::Emulator,
    name: &str,
    shared_key: bool,
    redis: Option<&str>,
) -> (Vec<Server>, Balancer) {
    replicas_with(emu, name, shared_key, redis, true).await
}

async fn replicas_with(
    emu: &osc_secrets_mcp::emulator::Emulator,
    name: &str,
    shared_key: bool,
    redis: Option<&str>,
    stateless: bool,
) -> (Vec<Server>, Balancer) {
    replicas_public(emu, name, shared_key, redis, stateless, false).await
}

/// With `public`, every replica names the balancer as its public URL, so
/// that the one-time page's links go through the balancer too.
async fn replicas_public(
    emu: &osc_secrets_mcp::emulator::Emulator,
    name: &str,
    shared_key: bool,
    redis: Option<&str>,
    stateless: bool,
    public: bool,
) -> (Vec<Server>, Balancer) {
    let port = crate::support::haproxy::free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let dir = scratch_dir(&format!("replicas-{name}"));
    let key_file = dir.join("state.key");
    let line = std::process::Command::new(support::BIN)
        .arg("new-state-key")
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&key_file, line).unwrap();
    let state = dir.join("state");
    let mut servers = Vec::new();
    for _ in 0..3 {
        let mut args = if stateless {
            vec!["--stateless"]
        } else {
            vec![]
        };
        if redis.is_none() {
            args.extend(["--state-dir", state.to_str().unwrap()]);
        }
        if shared_key {
            args.extend(["--state-key-file", key_file.to_str().unwrap()]);
        }
        if public {
            args.extend(["--public-url", public_url.as_str()]);
        }
        let mut cmd = crate::support::http::command(emu, &args, None);
        if let Some(url) = redis {
            cmd.env("OSC_MCP_REDIS_URL", url);
        }
        servers.push(Server::start_command(cmd).await);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let balancer = Balancer::start_on(name, port, &addrs).await;
    (servers, balancer)
}

async fn call_through(balancer: &Balancer, id: u64, tool: &str, arguments: Value) -> Value {
    let body = crate::support::http::call(id, tool, arguments);
    let response = http()
        .post(balancer.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    message_in(&response.text().await.unwrap())
}

/// A typed confirmation asked by one replica is answered on the next
/// (round robin sends every request elsewhere), and both the replacing
/// write and the delete go through once. Without a shared key file the
/// same set-up refuses every answer: the test can tell.
#[tokio::test]
#[ignore = "needs HAProxy and the MCP Python SDK: OSC_MCP_HAPROXY and OSC_MCP_PYTHON; .ci/run installs them"]
async fn a_confirmation_started_on_one_replica_finishes_on_another() {
    for shared_key in [true, false] {
        let case = format!("shared key file: {shared_key}");
        let key = "user.replicated";
        let emu = support::seeded_emulator().await;
        emu.insert_tenant_secret(key, CANARY);
        let (servers, balancer) =
            replicas(&emu, &format!("confirm-{shared_key}"), shared_key).await;
        let mut client = python("tests/python/confirm_client.py");
        client
            .args([
                "--url",
                &balancer.url("/mcp"),
                "--mode",
                "auto",
                "--answer",
                "key",
                "--key",
                key,
            ])
            .env("OSC_MCP_TEST_TOKEN", OSC_TOKEN);
        let report = run_python(client, &case, &[CANARY, OSC_TOKEN]).await.report;
        assert!(
            report["protocolVersion"].as_str().unwrap() >= "2026-07-28",
            "{case}: {report}"
        );
        assert_eq!(
            report["forms"].as_array().unwrap().len(),
            2,
            "{case}: {report}"
        );
        let calls = &report["calls"];
        if shared_key {
            for call in ["replace", "delete"] {
                assert_eq!(calls[call]["isError"], false, "{case} {call}: {report}");
            }
            assert!(!emu.tenant_keys().contains(&key.to_owned()), "{case}");
        } else {
            for call in ["replace", "delete"] {
                assert_eq!(calls[call]["isError"], true, "{case} {call}: {report}");
                let said = calls[call]["text"].as_str().unwrap();
                assert!(
                    said.contains("does not belong to this call"),
                    "{case}: {said}"
                );
            }
            assert_eq!(
                emu.tenant_value(key).unwrap().expose_secret(),
                CANARY,
                "{case}: nothing changed"
            );
        }
        for server in &servers {
            support::assert_no_leak("a replica's log", &server.log(), &[CANARY, OSC_TOKEN]);
        }
    }
}

/// What one replica materialized, another rotates into: the ledger is
/// the state directory's, not a process's.
#[tokio::test]
#[ignore = "needs HAProxy: OSC_MCP_HAPROXY names it; .ci/run installs it"]
async fn a_rotation_through_the_balancer_reaches_what_any_replica_materialized() {
    let emu = support::seeded_emulator().await;
    emu.insert_tenant_secret("user.lb", CANARY);
    let (_servers, balancer) = replicas(&emu, "ledger", true).await;
    for (id, service) in [
        (1, "eyevinn-lb-a"),
        (2, "eyevinn-lb-b"),
        (3, "eyevinn-lb-c"),
    ] {
        let done = call_through(
            &balancer,
            id,
            "materialize_tenant_secret",
            json!({"key": "user.lb", "serviceId": service, "secretName": "pw"}),
        )
        .await;
        assert_eq!(done["result"]["isError"], false, "{done}");
    }
    let rotated = call_through(
        &balancer,
        4,
        "rotate_tenant_secret",
        json!({"key": "user.lb"}),
    )
    .await;
    assert_eq!(rotated["result"]["isError"], false, "{rotated}");
    let targets = rotated["result"]["structuredContent"]["targets"]
        .as_array()
        .unwrap();
    assert_eq!(targets.len(), 3, "{rotated}");
    let new_value = emu.tenant_value("user.lb").unwrap();
    assert_ne!(new_value.expose_secret(), CANARY);
    for service in ["eyevinn-lb-a", "eyevinn-lb-b", "eyevinn-lb-c"] {
        assert_eq!(
            emu.service_secret(service, "pw").unwrap().expose_secret(),
            new_value.expose_secret(),
            "{service}"
        );
    }
}

/// The same through HAProxy with the replicas on one Redis instead of one
/// state directory (as replicas on several machines would be): the
/// confirmation completes on another replica, once.
#[tokio::test]
#[ignore = "needs HAProxy, redis-server and the MCP Python SDK: OSC_MCP_HAPROXY, OSC_MCP_REDIS_SERVER, OSC_MCP_PYTHON; .ci/run installs them"]
async fn on_redis_a_confirmation_started_on_one_replica_finishes_on_another() {
    let key = "user.replicated-redis";
    let redis = crate::support::redis::Redis::start("replicas").await;
    let emu = support::seeded_emulator().await;
    emu.insert_tenant_secret(key, CANARY);
    let (servers, balancer) = replicas_on(&emu, "confirm-redis", true, Some(&redis.url())).await;
    let mut client = python("tests/python/confirm_client.py");
    client
        .args([
            "--url",
            &balancer.url("/mcp"),
            "--mode",
            "auto",
            "--answer",
            "key",
            "--key",
            key,
        ])
        .env("OSC_MCP_TEST_TOKEN", OSC_TOKEN);
    let report = run_python(client, "redis", &[CANARY, OSC_TOKEN])
        .await
        .report;
    assert_eq!(report["forms"].as_array().unwrap().len(), 2, "{report}");
    for call in ["replace", "delete"] {
        assert_eq!(report["calls"][call]["isError"], false, "{call}: {report}");
    }
    assert!(!emu.tenant_keys().contains(&key.to_owned()));
    for server in &servers {
        support::assert_no_leak("a replica's log", &server.log(), &[CANARY, OSC_TOKEN]);
    }
}

/// A 2025-11-25 session opened on one replica goes on on the others: each
/// request of the session (the balancer sends each to the next replica)
/// finds it, as rmcp replays its `initialize` from the state store: on one
/// state directory, and on one Redis.
#[tokio::test]
#[ignore = "needs HAProxy, redis-server and the MCP Python SDK: OSC_MCP_HAPROXY, OSC_MCP_REDIS_SERVER, OSC_MCP_PYTHON; .ci/run installs them"]
async fn a_session_opened_on_one_replica_goes_on_on_the_others() {
    let redis = crate::support::redis::Redis::start("sessions").await;
    for on_redis in [false, true] {
        let case = if on_redis {
            "on Redis"
        } else {
            "on a state directory"
        };
        let emu = support::seeded_emulator().await;
        let url = redis.url();
        let store = on_redis.then_some(url.as_str());
        let name = format!("sessions-{on_redis}");
        let (servers, balancer) = replicas_with(&emu, &name, true, store, false).await;
        let mut client = python("tests/python/mcp_client.py");
        client
            .args(["--transport", "streamable", "--url", &balancer.url("/mcp")])
            .args(["--lifecycle", "initialize", "--suffix", "lb"])
            .env("OSC_MCP_TEST_VALUE", CANARY);
        let report = run_python(client, case, &[CANARY, OSC_TOKEN]).await.report;
        assert!(
            report["protocolVersion"].as_str().unwrap() < "2026-07-28",
            "{case}: a session-era client: {report}"
        );
        let calls = &report["calls"];
        for (call, fails) in [
            ("list_initial", false),
            ("set_create", false),
            ("set_create_again", true),
            ("materialize", false),
            ("delete", false),
        ] {
            assert_eq!(calls[call]["isError"], fails, "{case} {call}: {report}");
        }
        for server in &servers {
            support::assert_no_leak("a replica's log", &server.log(), &[CANARY, OSC_TOKEN]);
        }
    }
}

/// Which replica logged `line` since `from` (each replica's log length
/// before the run), by index.
fn logged_by(servers: &[Server], from: &[usize], line: &str) -> Vec<usize> {
    servers
        .iter()
        .zip(from)
        .enumerate()
        .filter(|(_, (server, from))| server.log()[**from..].contains(line))
        .map(|(i, _)| i)
        .collect()
}

/// askUser through the balancer, with the page's links on the balancer's
/// URL: the replica that opens a link is never the one whose page the
/// human's browser reaches (round robin sends the next request on), and
/// the write still happens once, and the call learns it. In the retry era
/// (`mode="auto"`: URL elicitation, then a retry on a third replica), in
/// the session era (`mode="legacy"`: the call waits on its replica while
/// the page is served by another), and as a pending link handed to the
/// agent; on one state directory and on one Redis. A link used once is
/// refused on every replica.
#[tokio::test]
#[ignore = "needs HAProxy, redis-server and the MCP Python SDK: OSC_MCP_HAPROXY, OSC_MCP_REDIS_SERVER, OSC_MCP_PYTHON; .ci/run installs them"]
async fn an_ask_user_link_opened_on_one_replica_is_used_on_another() {
    let redis = crate::support::redis::Redis::start("links").await;
    for on_redis in [false, true] {
        let store = if on_redis {
            "on Redis"
        } else {
            "on a state directory"
        };
        let emu = support::seeded_emulator().await;
        let url = redis.url();
        let name = format!("links-{on_redis}");
        let (servers, balancer) = replicas_public(
            &emu,
            &name,
            true,
            on_redis.then_some(url.as_str()),
            false,
            true,
        )
        .await;
        for (mode, human, key, opened) in [
            (
                "auto",
                "types",
                "user.lb-retry",
                "askUser link sent as an input request",
            ),
            (
                "legacy",
                "types",
                "user.lb-session",
                "askUser link sent as a URL elicitation",
            ),
            (
                "auto",
                "unreachable",
                "user.lb-pending",
                "askUser link handed to the agent",
            ),
        ] {
            let case = format!("{store}, {mode}, {human}");
            let from: Vec<usize> = servers.iter().map(|s| s.log().len()).collect();
            let mut client = python("tests/python/ask_user.py");
            client
                .args([
                    "--url",
                    &balancer.url("/mcp"),
                    "--mode",
                    mode,
                    "--human",
                    human,
                ])
                .arg("--arguments")
                .arg(json!({"key": key, "askUser": true}).to_string())
                .env("OSC_MCP_TEST_VALUE", CANARY);
            let report = run_python(client, &case, &[CANARY, OSC_TOKEN]).await.report;
            let status = if human == "types" {
                "completed"
            } else {
                "pending"
            };
            assert_eq!(
                report["result"]["structuredContent"]["status"], status,
                "{case}: {report:#}"
            );
            let page = &report["pages"][0];
            assert_eq!(page["status"], 200, "{case}: {report:#}");
            assert!(
                page["body"].as_str().unwrap().contains("<title>Done"),
                "{case}: {report:#}"
            );
            assert_eq!(
                emu.tenant_value(key).unwrap().expose_secret(),
                CANARY,
                "{case}"
            );
            let writes = emu
                .requests()
                .iter()
                .filter(|r| r.method != "GET" && r.path.contains(key))
                .count();
            assert_eq!(writes, 1, "{case}: written once");
            let opened_on = logged_by(&servers, &from, opened);
            let used_on = logged_by(&servers, &from, "one-time page used: running its write");
            assert_eq!(opened_on.len(), 1, "{case}: {opened_on:?}");
            assert_eq!(used_on.len(), 1, "{case}: {used_on:?}");
            assert_ne!(opened_on, used_on, "{case}: the page was served elsewhere");

            // The link again, through the balancer (so on another replica
            // again): used once, refused everywhere.
            let link = match human {
                "types" => report["elicitations"][0]["url"].as_str(),
                _ => report["result"]["structuredContent"]["url"].as_str(),
            }
            .unwrap()
            .to_owned();
            for _ in 0..3 {
                let again = http()
                    .post(&link)
                    .header("origin", balancer.url(""))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("value=second-try&multiline=&action=save")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(again.status(), 410, "{case}");
            }
            assert_eq!(emu.tenant_value(key).unwrap().expose_secret(), CANARY);
        }
        for server in &servers {
            support::assert_no_leak("a replica's log", &server.log(), &[CANARY, OSC_TOKEN]);
        }
    }
}
