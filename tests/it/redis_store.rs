//! The Redis store, against a real `redis-server` ([`support::redis`]):
//! single use and the ledger shared by two stores, and by two handlers in
//! process; Redis restarted empty or from an older snapshot.
//!
//! Every test that needs a running Redis is `#[ignore]`d, and fails when
//! asked for without `OSC_MCP_REDIS_SERVER`.

use std::sync::Arc;
use std::time::Duration;

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
use serde_json::{Value, json};

use crate::support::redis::Redis;
use crate::support::{self, OSC_TOKEN, client_for, emulator, fast_retry};

const CANARY: &str = "canary-redis-value-5e0b17";
const KEY: &str = "user.db";
const DELETE: &str = "DELETE /mytenantsecrets/user.db";

fn url(redis: &Redis) -> RedisUrl {
    RedisUrl::from(redis.url())
}

fn store_on(redis: &Redis) -> Arc<RedisStore> {
    Arc::new(RedisStore::new(&url(redis)).unwrap())
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

/// The ledger in Redis: per tenant, oldest first, and a later placement
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
        found.into_iter().map(|p| (p.service_id, p.at_ms)).collect()
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
