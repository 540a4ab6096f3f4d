//! The Redis store (`--redis-url`), against a real `redis-server`
//! ([`support::redis`]): single use and the ledger shared by replicas, in
//! process and as processes; Redis stopped, restarted empty and frozen;
//! the start-up refusals; and the canary scan of everything Redis holds.
//!
//! Every test that needs a running Redis is `#[ignore]`d, and fails when
//! asked for without `OSC_MCP_REDIS_SERVER`; the start-up refusals, which
//! need none, run always.

use std::sync::Arc;
use std::time::{Duration, Instant};

use osc_secrets_mcp::elicit::SealingKeys;
use osc_secrets_mcp::emulator::Emulator;
use osc_secrets_mcp::policy::{ConfirmMode, Policy};
use osc_secrets_mcp::server::SecretsServer;
use osc_secrets_mcp::store::redis::{RedisStore, RedisUrl};
use osc_secrets_mcp::store::{Placement, Redeemed, Store, StoreError};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    Implementation, InputResponses, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::support::redis::Redis;
use crate::support::stdio::{result_is_error, result_text};
use crate::support::{self, MCP_TOKEN, OSC_TOKEN, StdioServer, client_for, emulator, fast_retry};

const CANARY: &str = "canary-redis-value-5e0b17";
const KEY: &str = "user.db";
const DELETE: &str = "DELETE /mytenantsecrets/user.db";

fn url(redis: &Redis) -> RedisUrl {
    RedisUrl::from(redis.url())
}

fn store_on(redis: &Redis) -> Arc<RedisStore> {
    Arc::new(RedisStore::new(&url(redis)).unwrap())
}

/// A key file, as an operator would make one, shared by the replicas.
fn key_file(name: &str) -> (std::path::PathBuf, String) {
    let dir = support::scratch_dir(&format!("redis-keys-{name}"));
    let line = SealingKeys::new_line().unwrap();
    let path = dir.join("state.key");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    (path, line)
}

// ---------------------------------------------------------------------------
// The store itself, on a real Redis

/// Two stores on one Redis, as two replicas: one generation; one nonce
/// redeemed by 16 racing calls across both is `First` exactly once; a
/// spent nonce is kept as long as its state lives; a foreign generation
/// is refused. Redis restarted empty: a new generation, and the old one's
/// states are refused, never `First` again.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn single_use_is_atomic_across_stores_and_a_reset_refuses_old_states() {
    let mut redis = Redis::start("single-use").await;
    let one = Store::redis(store_on(&redis));
    let two = Store::redis(store_on(&redis));
    let generation = one.generation().await.unwrap();
    assert_eq!(two.generation().await.unwrap(), generation);
    assert!(generation.starts_with('r'), "{generation}");

    let ttl = Duration::from_secs(60);
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { one.clone() } else { two.clone() };
            let generation = generation.clone();
            tokio::spawn(async move { store.redeem(&generation, "n-race", ttl).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap().unwrap());
    }
    let first = outcomes.iter().filter(|o| **o == Redeemed::First).count();
    let again = outcomes.iter().filter(|o| **o == Redeemed::Again).count();
    assert_eq!((first, again), (1, 15), "{outcomes:?}");
    assert!(two.used("n-race").await.unwrap());
    assert!(!two.used("n-other").await.unwrap());

    let mut conn = redis.connection().await;
    let left: i64 = redis::cmd("PTTL")
        .arg("osc-secrets-mcp:spent:n-race")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left > 50_000 && left <= 60_000, "{left}");
    assert_eq!(
        one.redeem("e0123456789abcdef", "n-2", ttl).await,
        Ok(Redeemed::OtherGeneration)
    );

    redis.restart_empty().await;
    // The first call after the restart finds the connection gone; the
    // store reconnects and answers without a restart of its own.
    assert_eq!(
        one.redeem(&generation, "n-race", ttl).await,
        Ok(Redeemed::OtherGeneration)
    );
    let fresh = two.generation().await.unwrap();
    assert_ne!(fresh, generation);
    assert_eq!(
        two.redeem(&generation, "n-3", ttl).await,
        Ok(Redeemed::OtherGeneration)
    );
    assert!(!one.used("n-race").await.unwrap());
    assert_eq!(one.redeem(&fresh, "n-3", ttl).await, Ok(Redeemed::First));
}

/// A Redis that comes back from an older snapshot has kept the
/// generation key but forgotten the nonces spent since: the generation
/// names Redis's run as well, so the states it forgot are refused, never
/// redeemed a second time. The ledger in the snapshot is still there.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn a_redis_restored_from_an_older_snapshot_refuses_states_spent_since() {
    let mut redis = Redis::start("snapshot").await;
    let store = Store::redis(store_on(&redis));
    let generation = store.generation().await.unwrap();
    let key = osc_secrets_mcp::domain::Key::check("user.db").unwrap();
    store
        .place(&Placement::now(&key, "svc-a", "pw", "client"))
        .await
        .unwrap();
    let mut conn = redis.connection().await;
    let saved: String = redis::cmd("SAVE").query_async(&mut conn).await.unwrap();
    assert_eq!(saved, "OK");
    let ttl = Duration::from_secs(60);
    assert_eq!(
        store.redeem(&generation, "n-after-save", ttl).await,
        Ok(Redeemed::First)
    );

    redis.restart_from_snapshot().await;
    let mut conn = redis.connection().await;
    let name: String = redis::cmd("GET")
        .arg("osc-secrets-mcp:generation")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(generation.starts_with(&format!("{name}.")), "{generation}");
    assert_eq!(
        store.redeem(&generation, "n-after-save", ttl).await,
        Ok(Redeemed::OtherGeneration)
    );
    assert_ne!(store.generation().await.unwrap(), generation);
    let kept = store.placements(&key).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].service_id, "svc-a");
}

/// The ledger in Redis: per tenant (the `Store` handle orders entries
/// oldest first: a unit test holds it to that), and a later placement
/// into the same service secret takes it from whatever key held it, also
/// when two replicas race for it.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn the_ledger_replaces_by_service_secret_oldest_first_per_tenant() {
    let redis = Redis::start("ledger").await;
    let one = store_on(&redis);
    let two = store_on(&redis);
    use osc_secrets_mcp::store::Ledger;
    let at = |key: &str, service: &str, secret: &str, ms: u64| {
        Placement::stored(
            key.to_owned(),
            service.to_owned(),
            secret.to_owned(),
            ms,
            "client".to_owned(),
        )
    };
    one.place("t", &at("user.db", "svc-b", "pw", 2_000))
        .await
        .unwrap();
    two.place("t", &at("user.db", "svc-a", "pw", 1_000))
        .await
        .unwrap();
    one.place("t", &at("user.db", "svc-c", "pw", 3_000))
        .await
        .unwrap();
    one.place("u", &at("user.db", "svc-z", "pw", 500))
        .await
        .unwrap();
    // Another key into svc-c's secret takes it from user.db.
    two.place("t", &at("user.other", "svc-c", "pw", 4_000))
        .await
        .unwrap();
    let services = |found: Vec<Placement>| -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> =
            found.into_iter().map(|p| (p.service_id, p.at_ms)).collect();
        found.sort_by_key(|(_, at)| *at);
        found
    };
    assert_eq!(
        services(two.placements("t", "user.db").await.unwrap()),
        [("svc-a".to_owned(), 1_000), ("svc-b".to_owned(), 2_000)]
    );
    assert_eq!(
        services(one.placements("t", "user.other").await.unwrap()),
        [("svc-c".to_owned(), 4_000)]
    );
    assert_eq!(
        services(one.placements("u", "user.db").await.unwrap()),
        [("svc-z".to_owned(), 500)]
    );
    assert!(one.placements("t", "user.none").await.unwrap().is_empty());
    let back = &one.placements("t", "user.db").await.unwrap()[0];
    assert_eq!(back.by, "client");
    assert_eq!(back.secret_name, "pw");

    // Racing placements of two keys into one service secret: exactly one
    // key holds it afterwards, never both, never neither.
    for round in 0..20u64 {
        let (a, b) = (one.clone(), two.clone());
        let target = format!("svc-race-{round}");
        let (ta, tb) = (target.clone(), target.clone());
        let x = tokio::spawn(async move { a.place("t", &at("user.x", &ta, "pw", round)).await });
        let y = tokio::spawn(async move { b.place("t", &at("user.y", &tb, "pw", round)).await });
        x.await.unwrap().unwrap();
        y.await.unwrap().unwrap();
        let holds = |found: Vec<Placement>| found.iter().any(|p| p.service_id == target);
        let in_x = holds(one.placements("t", "user.x").await.unwrap());
        let in_y = holds(one.placements("t", "user.y").await.unwrap());
        assert!(in_x != in_y, "round {round}: x {in_x}, y {in_y}");
    }
}

/// Rate limits counted in Redis: one bucket for every store on it, per
/// tenant; all or none; the wait is what the bucket needs to refill, on
/// Redis's clock.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn rate_limit_buckets_are_one_budget_for_every_store() {
    let redis = Redis::start("buckets").await;
    let one = Store::redis(store_on(&redis)).for_tenant("https://osc", "token-a");
    let two = Store::redis(store_on(&redis)).for_tenant("https://osc", "token-a");
    let other = Store::redis(store_on(&redis)).for_tenant("https://osc", "token-b");
    assert!(one.shares_buckets());
    let n = |k| std::num::NonZeroU32::new(k).unwrap();
    assert_eq!(one.take("writes", n(2), n(1)).await, Ok(None));
    assert_eq!(two.take("writes", n(2), n(1)).await, Ok(None));
    let wait = one
        .take("writes", n(2), n(1))
        .await
        .unwrap()
        .expect("spent");
    assert!(
        wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
        "one of two a minute frees in 30 s: {wait:?}"
    );
    // Another tenant, another bucket; another bucket name, too.
    assert_eq!(other.take("writes", n(2), n(1)).await, Ok(None));
    assert_eq!(two.take("deletes", n(2), n(1)).await, Ok(None));

    // All or none: 4 of 5 taken, 2 more do not fit and take nothing.
    assert_eq!(one.take("big", n(5), n(4)).await, Ok(None));
    assert!(two.take("big", n(5), n(2)).await.unwrap().is_some());
    assert_eq!(two.take("big", n(5), n(1)).await, Ok(None));
    assert!(one.take("big", n(5), n(1)).await.unwrap().is_some());

    let mut conn = redis.connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("osc-secrets-mcp:bucket:*:writes")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "one bucket per tenant: {keys:?}");
    for key in keys {
        assert!(!key.contains("token-"), "{key}");
        let left: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            left > 25_000 && left <= 60_001,
            "{key} expires when full again: {left}"
        );
    }
}

/// A value other than the server's under its keys is `Corrupt`, and
/// no call hangs or passes on it.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn foreign_data_under_the_servers_keys_is_refused_as_unreadable() {
    let redis = Redis::start("foreign").await;
    let store = Store::redis(store_on(&redis));
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("HSET")
        .arg("osc-secrets-mcp:ledger::keys")
        .arg("user.db")
        .arg("not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    let key = osc_secrets_mcp::domain::Key::check("user.db").unwrap();
    assert!(matches!(
        store.placements(&key).await,
        Err(StoreError::Corrupt(_))
    ));
    let _: () = redis::cmd("SET")
        .arg("osc-secrets-mcp:generation")
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("osc-secrets-mcp:ledger::owner")
        .arg(r#"["svc","pw"]"#)
        .arg("user.db")
        .query_async(&mut conn)
        .await
        .unwrap();
    let placed = store
        .place(&Placement::now(&key, "svc", "pw", "client"))
        .await;
    assert!(matches!(placed, Err(StoreError::Corrupt(_))), "{placed:?}");
}

// ---------------------------------------------------------------------------
// Replicas in process: two handlers, two stores, one Redis

/// A client that can be asked by form, in the 2026-07-28 era; the tests
/// drive each round themselves.
#[derive(Clone)]
struct Asked;

impl ClientHandler for Asked {
    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities =
            serde_json::from_value(json!({"elicitation": {"form": {}}})).unwrap();
        ClientConfig::new(capabilities, Implementation::new("redis-test", "1.0.0"))
    }
}

fn modern() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

async fn in_process(server: SecretsServer) -> RunningService<RoleClient, Asked> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    Asked
        .serve_with_lifecycle(client_io, modern())
        .await
        .expect("client discovers")
}

fn request(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned()).with_arguments(args.as_object().unwrap().clone())
}

fn typed(key: &str) -> InputResponses {
    serde_json::from_value(json!({"confirm": {"action": "accept", "content": {"key": key}}}))
        .unwrap()
}

/// The first round of a confirmed call: the sealed state.
async fn asked(client: &RunningService<RoleClient, Asked>, call: &CallToolRequestParams) -> String {
    match client.peer().call_tool_once(call.clone()).await.unwrap() {
        CallToolResponse::InputRequired(asked) => asked.request_state.expect("a sealed state"),
        CallToolResponse::Complete(result) => {
            panic!("no question but a result: {}", support::text(&result))
        }
        _ => panic!("no question"),
    }
}

/// The final result of one round.
async fn final_result(
    client: &RunningService<RoleClient, Asked>,
    call: CallToolRequestParams,
) -> CallToolResult {
    match client.peer().call_tool_once(call).await.unwrap() {
        CallToolResponse::Complete(result) => result,
        _ => panic!("not a final result"),
    }
}

fn answered(call: &CallToolRequestParams, state: &str) -> CallToolRequestParams {
    call.clone()
        .with_request_state(state.to_owned())
        .with_input_responses(typed(KEY))
}

fn deletes(emu: &Emulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| format!("{} {}", r.method, r.path) == DELETE)
        .count()
}

/// The in-process twin of confirm.rs's replica test, on Redis: a
/// confirmation asked by one replica completes on another, once; the
/// first replica refuses the replay; a replica with its own key opens
/// nothing of theirs.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn a_confirmation_asked_on_one_replica_completes_on_another_once() {
    let redis = Redis::start("replicas-in-process").await;
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    let key_line = SealingKeys::new_line().unwrap();
    let replica = |keys: &str| {
        SecretsServer::new(Arc::new(client_for(&emu, OSC_TOKEN, fast_retry())))
            .with_policy(Policy {
                confirm: ConfirmMode::Auto,
                ..Policy::default()
            })
            .with_store(
                Store::redis(store_on(&redis)),
                SealingKeys::parse(keys).unwrap(),
            )
            .unwrap()
    };
    let one = in_process(replica(&key_line)).await;
    let two = in_process(replica(&key_line)).await;
    let stranger = in_process(replica(&SealingKeys::new_line().unwrap())).await;

    let call = request("delete_tenant_secret", json!({"key": KEY}));
    let state = asked(&one, &call).await;
    let refused = final_result(&stranger, answered(&call, &state)).await;
    assert!(support::is_error(&refused));
    assert!(
        support::text(&refused).contains("does not belong to this call"),
        "{}",
        support::text(&refused)
    );
    assert_eq!(deletes(&emu), 0);

    let done = final_result(&two, answered(&call, &state)).await;
    assert!(!support::is_error(&done), "{}", support::text(&done));
    assert_eq!(deletes(&emu), 1);

    emu.insert_tenant_secret(KEY, CANARY);
    let replayed = final_result(&one, answered(&call, &state)).await;
    assert!(support::is_error(&replayed));
    assert!(
        support::text(&replayed).contains("already used once"),
        "{}",
        support::text(&replayed)
    );
    assert_eq!(deletes(&emu), 1, "deleted once only");
    assert!(emu.tenant_keys().contains(&KEY.to_owned()));
}

// ---------------------------------------------------------------------------
// Replicas as processes

/// The binary over HTTP on Redis with the key file; `env` on top.
async fn http_replica(
    emu: &Emulator,
    redis_url: &str,
    key_file: &std::path::Path,
    env: &[(&str, &str)],
) -> support::http::Server {
    let mut cmd = support::http::command(emu, &[], None);
    cmd.env("OSC_MCP_REDIS_URL", redis_url)
        .env("OSC_MCP_STATE_KEY_FILE", key_file)
        .env("OSC_MCP_LOG", "trace");
    for (name, value) in env {
        cmd.env(name, value);
    }
    support::http::Server::start_command(cmd).await
}

/// A 2026-07-28 client of a server process over Streamable HTTP.
async fn http_client(server: &support::http::Server) -> RunningService<RoleClient, Asked> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")),
    );
    tokio::time::timeout(
        support::WAIT,
        Asked.serve_with_lifecycle(transport, modern()),
    )
    .await
    .expect("the client discovers in time")
    .expect("the client discovers")
}

/// The Redis user docs/security.md suggests (a test checks it is there):
/// its keys, and the commands this server sends (scripts run their own
/// under the same user).
const ACL: &str = "on ~osc-secrets-mcp:* resetchannels -@all +ping +hget +hmget +exists +evalsha +script|load +set +get +hset +hdel +del +info +time +zadd +zcard +zcount +zrem +zremrangebyscore +pexpireat +pexpiretime";

/// Two `--stateless` server processes on one Redis with one key file, as
/// replicas behind a balancer without affinity, each reached by its own
/// client: what one materializes, the other rotates into without being told
/// the targets; a confirmation one of them asks is answered on the other,
/// once, and the replay on the first is refused; a one-time link one opens
/// is typed on the other's page. They log in as a Redis user
/// with only the permissions docs/security.md lists. Redis then holds no
/// value (given or typed), no token, no sealing key and no link id, and the
/// servers' logs hold no value, token or password.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn two_processes_share_the_ledger_and_single_use_through_redis() {
    const ADMIN: &str = "redis-admin-password-11aa";
    const PASSWORD: &str = "redis-password-2c91f0-never-shown";
    const GIVEN: &str = "given-canary-value-0d4e7a-never-stored";
    const TYPED: &str = "typed-canary-value-7b21c9-never-stored";
    let redis = Redis::start_with("processes", Some(ADMIN)).await;
    let mut admin = redis.connection().await;
    let mut acl = redis::cmd("ACL");
    acl.arg("SETUSER").arg("osc-mcp");
    for rule in ACL.split(' ') {
        acl.arg(rule);
    }
    acl.arg(format!(">{PASSWORD}"));
    let _: () = acl.query_async(&mut admin).await.unwrap();
    let url = format!("redis://osc-mcp:{PASSWORD}@127.0.0.1:{}/0", redis.port());
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    let (keys, key_line) = key_file("processes");
    let stateless = [("MCP_STATELESS", "true")];
    let one = http_replica(&emu, &url, &keys, &stateless).await;
    let two = http_replica(&emu, &url, &keys, &stateless).await;
    let a = http_client(&one).await;
    let b = http_client(&two).await;

    // A value given through the model, which must go nowhere but OSC.
    let set = final_result(
        &b,
        request(
            "set_tenant_secret",
            json!({"key": "user.given", "value": GIVEN, "mode": "create"}),
        ),
    )
    .await;
    assert!(!support::is_error(&set), "{}", support::text(&set));
    assert_eq!(support::stored(&emu, "user.given").as_deref(), Some(GIVEN));
    for (client, service) in [(&a, "eyevinn-app-a"), (&b, "eyevinn-app-b")] {
        let done = final_result(
            client,
            request(
                "materialize_tenant_secret",
                json!({"key": KEY, "serviceId": service, "secretName": "dbpw"}),
            ),
        )
        .await;
        assert!(!support::is_error(&done), "{}", support::text(&done));
    }
    // The rotation replaces an existing key: asked on one replica,
    // answered on the other.
    let rotate = request("rotate_tenant_secret", json!({"key": KEY}));
    let state = asked(&a, &rotate).await;
    let rotated = final_result(&b, answered(&rotate, &state)).await;
    assert!(!support::is_error(&rotated), "{}", support::text(&rotated));
    let out = support::structured(&rotated);
    let services: Vec<&str> = out["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["serviceId"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["eyevinn-app-a", "eyevinn-app-b"], "{out}");
    let rotated_value = support::stored(&emu, KEY).unwrap();
    assert_ne!(rotated_value, CANARY);
    for service in ["eyevinn-app-a", "eyevinn-app-b"] {
        let copy = emu.service_secret(service, "dbpw").unwrap();
        assert_eq!(copy.expose_secret(), rotated_value, "{service}");
    }

    let call = request("delete_tenant_secret", json!({"key": KEY}));
    let state = asked(&b, &call).await;
    let done = final_result(&a, answered(&call, &state)).await;
    assert!(!support::is_error(&done), "{}", support::text(&done));
    assert_eq!(deletes(&emu), 1);
    assert!(
        support::structured(&done)["note"]
            .as_str()
            .unwrap()
            .contains("`eyevinn-app-a` secret `dbpw`"),
        "{}",
        support::text(&done)
    );
    emu.insert_tenant_secret(KEY, CANARY);
    let replayed = final_result(&b, answered(&call, &state)).await;
    assert!(
        support::text(&replayed).contains("already used once"),
        "{}",
        support::text(&replayed)
    );
    assert_eq!(deletes(&emu), 1, "deleted once only");

    // askUser: a link opened on one process, typed on the other's page,
    // with this Redis user's permissions.
    let opened = final_result(
        &a,
        request(
            "set_tenant_secret",
            json!({"key": "user.typed", "askUser": true}),
        ),
    )
    .await;
    let url = support::structured(&opened)["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = url.rsplit_once("/ask/").unwrap().1.to_owned();
    // The other process counts the link too: the count is the store's.
    let metrics = support::http::http()
        .get(two.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("osc_secrets_mcp_links_pending 1\n"),
        "{metrics}"
    );
    let (status, body) = submit_page(&two.url(&format!("/ask/{id}")), TYPED).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(support::stored(&emu, "user.typed").as_deref(), Some(TYPED));
    let _ = a.cancel().await;
    let _ = b.cancel().await;

    let held = redis.dump().await;
    assert!(
        held.iter()
            .any(|(k, _)| k.starts_with("osc-secrets-mcp:link:")),
        "{held:?}"
    );
    assert!(
        held.iter()
            .any(|(k, _)| k.starts_with("osc-secrets-mcp:ledger:")),
        "{held:?}"
    );
    assert!(
        held.iter().all(|(k, _)| k.starts_with("osc-secrets-mcp:")),
        "{held:?}"
    );
    let everything: String = held.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect();
    let never = [
        CANARY,
        GIVEN,
        TYPED,
        id.as_str(),
        rotated_value.as_str(),
        OSC_TOKEN,
        MCP_TOKEN,
        key_line.as_str(),
        PASSWORD,
        ADMIN,
    ];
    support::assert_no_leak("Redis", &everything, &never);
    for server in [one, two] {
        let (_, log) = server.terminate().await;
        support::assert_no_leak("a replica's log", &log, &never);
        assert!(
            log.contains("state: ledger and single use kept in Redis"),
            "{log}"
        );
    }
}

/// Redis stopped: on a replica with the default rate limits (counted in
/// Redis) every change is refused, a confirmation too; on one with no
/// limits and `--confirm never`, a rotation from the ledger is refused.
/// Each says the state store cannot be reached and nothing was changed,
/// nothing reaches OSC but existence checks, and listing keeps working.
/// Redis started again on the same port (empty, as it has no persistence
/// here): the same processes confirm, delete, record and rotate, without
/// a restart.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn redis_stopped_fails_closed_and_the_server_recovers_without_a_restart() {
    let mut redis = Redis::start("stopped").await;
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    let (keys, _) = key_file("stopped");
    let asks = http_replica(&emu, &redis.url(), &keys, &[]).await;
    let never = http_replica(
        &emu,
        &redis.url(),
        &keys,
        &[
            ("OSC_MCP_CONFIRM", "never"),
            ("OSC_MCP_MAX_WRITES_PER_MINUTE", "0"),
            ("OSC_MCP_MAX_DELETES_PER_MINUTE", "0"),
        ],
    )
    .await;
    let asking = http_client(&asks).await;
    let unasked = http_client(&never).await;
    let materialize = request(
        "materialize_tenant_secret",
        json!({"key": KEY, "serviceId": "eyevinn-app", "secretName": "dbpw"}),
    );
    let placed = final_result(&unasked, materialize.clone()).await;
    assert!(!support::is_error(&placed), "{}", support::text(&placed));

    redis.stop().await;
    emu.clear_requests();
    let delete = request("delete_tenant_secret", json!({"key": KEY}));
    let refused = final_result(&asking, delete.clone()).await;
    let said = support::text(&refused);
    assert!(support::is_error(&refused), "{said}");
    assert!(
        said.contains("state store cannot be reached") && said.contains("nothing was changed"),
        "{said}"
    );
    let refused = final_result(&asking, materialize.clone()).await;
    let said = support::text(&refused);
    assert!(support::is_error(&refused), "{said}");
    assert!(
        said.contains("rate limits are shared")
            && said.contains("state store cannot be reached")
            && said.contains("nothing was changed"),
        "{said}"
    );
    let rotate = request("rotate_tenant_secret", json!({"key": KEY}));
    let refused = final_result(&unasked, rotate.clone()).await;
    let said = support::text(&refused);
    assert!(support::is_error(&refused), "{said}");
    assert!(
        said.contains("state store cannot be reached") && said.contains("nothing was rotated"),
        "{said}"
    );
    assert_eq!(support::stored(&emu, KEY).as_deref(), Some(CANARY));
    assert!(
        emu.requests()
            .iter()
            .all(|r| r.method == "GET" && r.path == "/mytenantsecrets"),
        "only existence checks reached OSC: {:?}",
        emu.requests()
    );
    for client in [&asking, &unasked] {
        let listed = final_result(client, request("list_tenant_secrets", json!({}))).await;
        assert!(!support::is_error(&listed), "{}", support::text(&listed));
        assert!(support::text(&listed).contains(KEY));
    }

    redis.start_again().await;
    let placed = final_result(&unasked, materialize).await;
    assert!(!support::is_error(&placed), "{}", support::text(&placed));
    let rotated = final_result(&unasked, rotate).await;
    assert!(!support::is_error(&rotated), "{}", support::text(&rotated));
    assert_ne!(support::stored(&emu, KEY).as_deref(), Some(CANARY));
    let state = asked(&asking, &delete).await;
    let done = final_result(&asking, answered(&delete, &state)).await;
    assert!(!support::is_error(&done), "{}", support::text(&done));
    assert_eq!(deletes(&emu), 1);
    let _ = asking.cancel().await;
    let _ = unasked.cancel().await;
    for server in [asks, never] {
        let (_, log) = server.terminate().await;
        assert!(!log.contains(&redis.url()), "{log}");
    }
}

/// The rate limits are one budget for every replica on the Redis: with
/// two writes a minute, a write on each replica goes through and a third,
/// on either, is refused with the seconds to wait; OSC sees two writes.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn replicas_on_one_redis_share_the_rate_limits() {
    let redis = Redis::start("limits").await;
    let emu = emulator().await;
    let (keys, _) = key_file("limits");
    let limits = [
        ("OSC_MCP_MAX_WRITES_PER_MINUTE", "2"),
        ("MCP_STATELESS", "true"),
    ];
    let one = http_replica(&emu, &redis.url(), &keys, &limits).await;
    let two = http_replica(&emu, &redis.url(), &keys, &limits).await;
    let a = http_client(&one).await;
    let b = http_client(&two).await;
    let set = |key: &str| {
        request(
            "set_tenant_secret",
            json!({"key": key, "generate": {}, "mode": "create"}),
        )
    };
    for (client, key) in [(&a, "user.first"), (&b, "user.second")] {
        let done = final_result(client, set(key)).await;
        assert!(!support::is_error(&done), "{}", support::text(&done));
    }
    for (client, key) in [(&a, "user.third"), (&b, "user.fourth")] {
        let limited = final_result(client, set(key)).await;
        let said = support::text(&limited);
        assert!(support::is_error(&limited), "{said}");
        assert!(
            said.contains("allows 2 changes per minute") && said.contains("Retry after"),
            "{said}"
        );
    }
    assert_eq!(emu.tenant_keys().len(), 2, "{:?}", emu.tenant_keys());
    let _ = a.cancel().await;
    let _ = b.cancel().await;
}

/// Redis restarted empty while a confirmation is open: its state is
/// refused as made before the store was reset, and nothing is deleted; a
/// new question then goes through.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn a_state_sealed_before_redis_restarted_empty_is_refused() {
    let mut redis = Redis::start("reset").await;
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    let (keys, _) = key_file("reset");
    let server = http_replica(&emu, &redis.url(), &keys, &[]).await;
    let client = http_client(&server).await;
    let call = request("delete_tenant_secret", json!({"key": KEY}));
    let state = asked(&client, &call).await;

    redis.restart_empty().await;
    let refused = final_result(&client, answered(&call, &state)).await;
    let said = support::text(&refused);
    assert!(support::is_error(&refused), "{said}");
    assert!(
        said.contains("made before this server's state store was reset")
            && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(deletes(&emu), 0);

    let state = asked(&client, &call).await;
    let done = final_result(&client, answered(&call, &state)).await;
    assert!(!support::is_error(&done), "{}", support::text(&done));
    assert_eq!(deletes(&emu), 1);
    let _ = client.cancel().await;
}

/// A frozen Redis (SIGSTOP: connections open, nothing answered) past the
/// response timeout: the confirmation is refused in bounded time, nothing
/// changed; resumed, the same process goes on.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn a_frozen_redis_fails_closed_in_bounded_time() {
    let redis = Redis::start("frozen").await;
    let emu = emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    let (keys, _) = key_file("frozen");
    let server = http_replica(&emu, &redis.url(), &keys, &[]).await;
    let client = http_client(&server).await;
    let call = request("delete_tenant_secret", json!({"key": KEY}));
    // A first question, so the connection is open before Redis freezes.
    let _ = asked(&client, &call).await;

    redis.pause();
    let started = Instant::now();
    let refused = final_result(&client, call.clone()).await;
    let took = started.elapsed();
    redis.resume();
    let said = support::text(&refused);
    assert!(support::is_error(&refused), "{said}");
    assert!(
        said.contains("state store cannot be reached") && said.contains("nothing was changed"),
        "{said}"
    );
    // The response timeout (2 s), well before the store's deadline (5 s).
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_millis(4_500),
        "{took:?}"
    );
    println!("frozen Redis: the confirmation was refused after {took:?}");
    assert_eq!(deletes(&emu), 0);

    let state = asked(&client, &call).await;
    let done = final_result(&client, answered(&call, &state)).await;
    assert!(!support::is_error(&done), "{}", support::text(&done));
    assert_eq!(deletes(&emu), 1);
    let _ = client.cancel().await;
}

/// Two stdio processes (as two clients of one machine start them) on one
/// Redis: what one materializes, the other rotates into.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn two_stdio_processes_share_the_ledger() {
    let redis = Redis::start("stdio").await;
    let emu = emulator().await;
    emu.insert_tenant_secret("user.shared", CANARY);
    let (keys, _) = key_file("stdio");
    let spawn = || {
        StdioServer::spawn(
            &[],
            &[
                ("OSC_API_URL", &emu.base_url()),
                ("OSC_ACCESS_TOKEN", OSC_TOKEN),
                ("OSC_MCP_REDIS_URL", &redis.url()),
                ("OSC_MCP_STATE_KEY_FILE", keys.to_str().unwrap()),
                ("OSC_MAX_RETRIES", "0"),
            ],
        )
    };
    let mut one = spawn();
    let mut two = spawn();
    one.initialize().await;
    two.initialize().await;
    let placed = one
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": "user.shared", "serviceId": "eyevinn-one", "secretName": "secret"}),
        )
        .await;
    assert!(!result_is_error(&placed), "{placed}");
    let rotated = two
        .call_tool("rotate_tenant_secret", json!({"key": "user.shared"}))
        .await;
    assert!(!result_is_error(&rotated), "{}", result_text(&rotated));
    assert_eq!(
        rotated["result"]["structuredContent"]["targets"][0]["serviceId"],
        "eyevinn-one"
    );
    let (ok_one, _, err_one) = one.finish().await;
    let (ok_two, _, err_two) = two.finish().await;
    assert!(ok_one && ok_two, "{err_one}\n{err_two}");
}

/// rediss://: a Redis that serves TLS only, with a certificate from a
/// private CA. Trusting that CA (`SSL_CERT_FILE`, in the child's
/// environment only), the server starts and keeps its ledger there; with
/// only the system's roots it refuses to start: the certificate is
/// checked, and there is no way around it.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn rediss_checks_the_certificate_of_redis() {
    let redis = Redis::start_tls("tls").await;
    assert!(redis.url().starts_with("rediss://"));
    let emu = emulator().await;
    emu.insert_tenant_secret("user.tls", CANARY);
    let (keys, _) = key_file("tls");
    let ca = redis.ca();
    let env = |trust: bool| {
        let mut env = vec![
            ("OSC_API_URL", emu.base_url()),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN.to_owned()),
            ("OSC_MCP_REDIS_URL", redis.url()),
            ("OSC_MCP_STATE_KEY_FILE", keys.to_str().unwrap().to_owned()),
        ];
        if trust {
            env.push(("SSL_CERT_FILE", ca.to_str().unwrap().to_owned()));
        }
        env
    };
    let trusted = env(true);
    let trusted: Vec<(&str, &str)> = trusted.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = StdioServer::spawn(&[], &trusted);
    server.initialize().await;
    for call in [
        json!({"name": "materialize_tenant_secret", "arguments":
            {"key": "user.tls", "serviceId": "eyevinn-tls", "secretName": "secret"}}),
        json!({"name": "rotate_tenant_secret", "arguments": {"key": "user.tls"}}),
    ] {
        let answer = server.request("tools/call", call).await;
        assert!(!result_is_error(&answer), "{}", result_text(&answer));
    }
    let copy = emu.service_secret("eyevinn-tls", "secret").unwrap();
    assert_ne!(
        copy.expose_secret(),
        CANARY,
        "rotated through the ledger in Redis"
    );
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");

    let untrusted = env(false);
    let untrusted: Vec<(&str, &str)> = untrusted.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = StdioServer::spawn(&[], &untrusted);
    let started = Instant::now();
    let (ok, _, stderr) = server.finish().await;
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("cannot use the Redis named by --redis-url")
            && stderr.contains("a certificate the system trusts"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------------------
// Start-up

/// What stops the server at start, and says why without the URL: a
/// password on the command line, no key file, another scheme, two stores,
/// the sandbox, and a Redis that does not answer.
#[tokio::test]
async fn start_up_refusals_name_the_fix_and_never_the_url() {
    const PASSWORD: &str = "pw-on-the-command-line-77e1";
    let emu = emulator().await;
    let (keys, _) = key_file("refusals");
    let keys = keys.to_str().unwrap();
    let state_dir = support::scratch_dir("redis-refusals-state");
    // Port 9 (discard) has no Redis on a test machine.
    let with_password = format!("redis://:{PASSWORD}@127.0.0.1:9/0");
    /// What the operator set (arguments, environment), and what the
    /// refusal must say.
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 6] = [
        (
            "a password on the command line",
            vec!["--redis-url", &with_password, "--state-key-file", keys],
            vec![],
            "set the URL in the environment variable OSC_MCP_REDIS_URL",
        ),
        (
            "no key file",
            vec![],
            vec![("OSC_MCP_REDIS_URL", &with_password)],
            "needs --state-key-file (OSC_MCP_STATE_KEY_FILE)",
        ),
        (
            "another scheme",
            vec!["--state-key-file", keys],
            vec![(
                "OSC_MCP_REDIS_URL",
                "https://:pw-on-the-command-line-77e1@host",
            )],
            "must start with redis:// (plain TCP) or rediss:// (TLS)",
        ),
        (
            "two stores",
            vec!["--state-key-file", keys],
            vec![
                ("OSC_MCP_REDIS_URL", &with_password),
                ("OSC_MCP_STATE_DIR", state_dir.to_str().unwrap()),
            ],
            "name two state stores",
        ),
        (
            "the sandbox",
            vec!["--sandbox"],
            vec![("OSC_MCP_REDIS_URL", &with_password)],
            "does not go with --redis-url (OSC_MCP_REDIS_URL)",
        ),
        (
            "no Redis there",
            vec!["--state-key-file", keys],
            vec![("OSC_MCP_REDIS_URL", &with_password)],
            "cannot use the Redis named by --redis-url (OSC_MCP_REDIS_URL): the connection was refused",
        ),
    ];
    for (case, args, env, expected) in cases {
        let mut cmd = support::binary();
        cmd.args(&args)
            .env("OSC_MCP_LOG", "trace")
            .stdin(std::process::Stdio::null());
        if !args.contains(&"--sandbox") {
            cmd.env("OSC_API_URL", emu.base_url())
                .env("OSC_ACCESS_TOKEN", OSC_TOKEN);
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        let out = tokio::time::timeout(support::WAIT, cmd.output())
            .await
            .expect("the server exits")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{case}: {stderr}");
        assert!(out.stdout.is_empty(), "{case}");
    }

    // --help names the variable, never its value.
    let out = support::binary()
        .arg("--help")
        .env("OSC_MCP_REDIS_URL", &with_password)
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[env: OSC_MCP_REDIS_URL]"), "{help}");
    assert!(!help.contains(PASSWORD), "{help}");

    // Set but blank, as a compose file leaves it: off, the state directory
    // serves as usual.
    let mut server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &emu.base_url()),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
            ("OSC_MCP_REDIS_URL", " "),
        ],
    );
    let answer = server.initialize().await;
    assert!(answer.get("result").is_some(), "{answer}");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
}

/// The Redis user docs/security.md gives is the one the replicas run as in
/// `two_processes_share_the_ledger_and_single_use_through_redis`.
#[test]
fn the_redis_user_in_the_security_doc_is_the_one_tested() {
    let doc = std::fs::read_to_string(support::repo_path("docs/security.md")).unwrap();
    let line = format!("ACL SETUSER osc-mcp {ACL} >PASSWORD");
    assert!(doc.contains(&line), "docs/security.md lacks {line}");
}

/// Submits the one-time page at `url` as the browser would; its status
/// and body.
async fn submit_page(url: &str, value: &str) -> (u16, String) {
    let origin = url.split("/ask/").next().unwrap().to_owned();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("value", value)
        .append_pair("multiline", "")
        .append_pair("action", "save")
        .finish();
    let response = support::http::http()
        .post(url)
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn show_page(url: &str) -> u16 {
    support::http::http()
        .get(url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// askUser's links on Redis through faults, with two server processes:
/// the replica that opened a link and asked a confirmation is killed, and
/// the other serves the link's page and writes once, and completes the
/// confirmation; Redis stopped with a link open: the page says to try
/// again (503) and writes nothing, and once Redis is back (from its
/// snapshot) the same link works; Redis back empty: the link is unknown
/// (404) and nothing is written. No value in either replica's log.
#[tokio::test]
#[ignore = "needs redis-server: OSC_MCP_REDIS_SERVER names it; .ci/run installs it"]
async fn links_on_redis_outlive_their_replica_and_fail_closed_with_redis() {
    let mut redis = Redis::start("links").await;
    let emu = emulator().await;
    let (keys, _) = key_file("links");
    let a = http_replica(&emu, &redis.url(), &keys, &[]).await;
    let b = http_replica(&emu, &redis.url(), &keys, &[]).await;
    // A client without URL elicitation gets the link to show the human;
    // the human's browser then reaches whichever replica it is sent to.
    let open = |client: &RunningService<RoleClient, Asked>, key: &'static str| {
        let call = request("set_tenant_secret", json!({"key": key, "askUser": true}));
        let peer = client.peer().clone();
        async move {
            let CallToolResponse::Complete(result) = peer.call_tool_once(call).await.unwrap()
            else {
                panic!("a pending link, at once")
            };
            let url = result.structured_content.as_ref().unwrap()["url"]
                .as_str()
                .unwrap()
                .to_owned();
            url.rsplit_once("/ask/").unwrap().1.to_owned()
        }
    };

    let on_a = http_client(&a).await;
    let id = open(&on_a, "user.l-killed").await;
    // A confirmation asked by the same replica, answered after it died.
    emu.insert_tenant_secret(KEY, CANARY);
    let delete = request("delete_tenant_secret", json!({"key": KEY}));
    let state = asked(&on_a, &delete).await;
    let _ = on_a.cancel().await;
    let (_, log_a) = a.terminate().await;
    let on_b = http_client(&b).await;
    let done = final_result(&on_b, answered(&delete, &state)).await;
    assert!(!support::is_error(&done), "{}", support::text(&done));
    assert_eq!(deletes(&emu), 1);
    let page = b.url(&format!("/ask/{id}"));
    assert_eq!(show_page(&page).await, 200);
    let (status, body) = submit_page(&page, CANARY).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<title>Done"), "{body}");
    assert_eq!(
        support::stored(&emu, "user.l-killed").as_deref(),
        Some(CANARY)
    );
    assert_eq!(submit_page(&page, "again").await.0, 410);
    assert_eq!(
        support::stored(&emu, "user.l-killed").as_deref(),
        Some(CANARY)
    );

    let id = open(&on_b, "user.l-stopped").await;
    let page = b.url(&format!("/ask/{id}"));
    let mut conn = redis.connection().await;
    let saved: String = redis::cmd("SAVE").query_async(&mut conn).await.unwrap();
    assert_eq!(saved, "OK");
    redis.stop().await;
    assert_eq!(show_page(&page).await, 503);
    let (status, body) = submit_page(&page, CANARY).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Nothing was written"), "{body}");
    assert_eq!(support::stored(&emu, "user.l-stopped"), None);
    redis.start_from_snapshot().await;
    // Until the server's connection to Redis is back, the page may still
    // answer 503, writing nothing; then the same link works.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = submit_page(&page, CANARY).await;
        if status != 503 || Instant::now() > deadline {
            break (status, body);
        }
        assert_eq!(support::stored(&emu, "user.l-stopped"), None);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        support::stored(&emu, "user.l-stopped").as_deref(),
        Some(CANARY)
    );

    let id = open(&on_b, "user.l-emptied").await;
    let page = b.url(&format!("/ask/{id}"));
    redis.restart_empty().await;
    assert_eq!(show_page(&page).await, 404);
    let (status, body) = submit_page(&page, CANARY).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(support::stored(&emu, "user.l-emptied"), None);

    let _ = on_b.cancel().await;
    let (_, log_b) = b.terminate().await;
    for log in [log_a, log_b] {
        support::assert_no_leak("a replica's log", &log, &[CANARY, OSC_TOKEN]);
    }
}
