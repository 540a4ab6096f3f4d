//! The emulator against a real HTTP client: it must honour the contract in
//! `docs/osc-api.md` closely enough that the product's client can trust it.

use crate::support::{self, OSC_TOKEN};
use std::time::{Duration, Instant};

use osc_secrets_mcp::emulator::{Emulator, EmulatorOptions, Fault, ListShape, RecordedRequest};
use reqwest::{Client, Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const CANARY: &str = "canary-value-9d41e0";

/// A real HTTP client bound to one emulator; derefs to the reqwest client
/// for requests the helpers below do not make.
struct Api {
    base: String,
    client: Client,
}

impl std::ops::Deref for Api {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Api {
    /// An authorized request, with a JSON body when one is given.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-pat-jwt", format!("Bearer {OSC_TOKEN}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// An authorized write of [`CANARY`] as the value.
    async fn write(&self, method: Method, path: &str) -> Response {
        self.call(method, path, Some(json!({ "value": CANARY })))
            .await
    }
}

async fn start(opts: EmulatorOptions) -> (Emulator, Api) {
    // reqwest is built with `rustls-no-provider`; any provider will do for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emulator = support::emulator_with(opts).await;
    let api = Api {
        base: emulator.base_url(),
        client: Client::new(),
    };
    (emulator, api)
}

/// An emulator that only accepts [`OSC_TOKEN`].
async fn start_with_token(seed: bool) -> (Emulator, Api) {
    start(EmulatorOptions {
        token: Some(SecretString::from(OSC_TOKEN)),
        seed,
        ..EmulatorOptions::default()
    })
    .await
}

async fn json_of(response: Response) -> Value {
    response.json().await.unwrap()
}

fn value(emulator: &Emulator, key: &str) -> Option<String> {
    emulator
        .tenant_value(key)
        .map(|v| v.expose_secret().to_owned())
}

fn assert_fastify(body: &Value, status: u16) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn missing_or_wrong_token_gets_401_without_echo() {
    let (emu, client) = start_with_token(false).await;
    let url = format!("{}/mytenantsecrets", emu.base_url());

    let missing = client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_fastify(&json_of(missing).await, 401);

    for header in [
        "Bearer wrong-token",
        "Bearer ",
        OSC_TOKEN,
        &format!("Basic {OSC_TOKEN}x"),
    ] {
        let response = client
            .get(&url)
            .header("x-pat-jwt", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("wrong-token") && !text.contains(OSC_TOKEN),
            "{text}"
        );
    }

    // `Authorization` is not the contract's header.
    let other_header = client
        .get(&url)
        .bearer_auth(OSC_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(other_header.status(), StatusCode::UNAUTHORIZED);

    let ok = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(ok.status(), StatusCode::OK);

    let authorized: Vec<bool> = emu.requests().iter().map(|r| r.authorized).collect();
    assert_eq!(authorized, [false, false, false, false, false, false, true]);
}

#[tokio::test]
async fn any_bearer_token_is_accepted_when_none_is_configured() {
    let (emu, client) = start(EmulatorOptions::default()).await;
    let url = format!("{}/mytenantsecrets", emu.base_url());
    let ok = client
        .get(&url)
        .header("x-pat-jwt", "bearer anything")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let empty = client
        .get(&url)
        .header("x-pat-jwt", "Bearer   ")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn seeded_list_is_a_sorted_array_without_values() {
    let (emu, client) = start_with_token(true).await;
    let keys = emu.tenant_keys();
    for key in [
        "system.gitea-admin-token",
        "system.sdlc-webhook-secret",
        "user.example-api-key",
    ] {
        assert!(keys.contains(&key.to_owned()), "{keys:?}");
    }

    let response = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let items = json_of(response).await;
    let items = items.as_array().expect("a bare array");
    let listed: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(listed, keys);
    for item in items {
        let key = item["key"].as_str().unwrap();
        let expected_prefix = key.split('.').next().unwrap();
        assert_eq!(item["prefix"], expected_prefix);
        let updated = item["updatedAt"].as_str().unwrap();
        assert_eq!(updated.len(), 20, "{updated}");
        assert!(
            updated.starts_with("20") && updated.ends_with('Z'),
            "{updated}"
        );
        assert_eq!(&updated[10..11], "T");
        assert!(item.get("value").is_none(), "{item}");
        let secret = value(&emu, key).unwrap();
        assert!(!item.to_string().contains(&secret));
    }
}

#[tokio::test]
async fn wrapped_list_shape() {
    let (emu, client) = start(EmulatorOptions {
        list_shape: ListShape::Wrapped,
        ..EmulatorOptions::default()
    })
    .await;
    emu.insert_tenant_secret("user.b", CANARY);
    emu.insert_tenant_secret("user.a", CANARY);
    let body = json_of(client.call(Method::GET, "/mytenantsecrets", None).await).await;
    let keys: Vec<&str> = body["secrets"]
        .as_array()
        .expect("wrapped in `secrets`")
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["user.a", "user.b"]);
    assert!(!body.to_string().contains(CANARY));
}

#[tokio::test]
async fn post_creates_then_conflicts() {
    let (emu, client) = start_with_token(false).await;
    let path = "/mytenantsecrets/user.my-api-key";
    let created = client.write(Method::POST, path).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(json_of(created).await, json!({ "key": "user.my-api-key" }));
    assert_eq!(value(&emu, "user.my-api-key").as_deref(), Some(CANARY));

    let again = client
        .call(Method::POST, path, Some(json!({ "value": "other" })))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body = again.text().await.unwrap();
    assert!(!body.contains(CANARY) && !body.contains("other"), "{body}");
    assert_eq!(value(&emu, "user.my-api-key").as_deref(), Some(CANARY));
}

#[tokio::test]
async fn post_rejects_missing_or_non_string_values() {
    let (emu, client) = start_with_token(false).await;
    let path = "/mytenantsecrets/user.k";
    for body in [
        json!({}),
        json!({ "value": 42 }),
        json!([CANARY]),
        json!({ "val": CANARY }),
    ] {
        let response = client.call(Method::POST, path, Some(body.clone())).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let text = response.text().await.unwrap();
        assert!(!text.contains(CANARY) && !text.contains("42"), "{text}");
    }
    // Fastify does not parse a body it was not told is JSON.
    let undeclared = client
        .post(format!("{}{path}", emu.base_url()))
        .header("x-pat-jwt", format!("Bearer {OSC_TOKEN}"))
        .body(json!({ "value": CANARY }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(undeclared.status(), StatusCode::BAD_REQUEST);
    assert!(emu.tenant_keys().is_empty());
}

#[tokio::test]
async fn put_creates_with_201_then_replaces_with_200() {
    let (emu, client) = start_with_token(false).await;
    let path = "/mytenantsecrets/user.rotate-me";
    let first = client
        .call(Method::PUT, path, Some(json!({ "value": "v1" })))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(json_of(first).await, json!({ "key": "user.rotate-me" }));
    let second = client
        .call(Method::PUT, path, Some(json!({ "value": "v2" })))
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(json_of(second).await, json!({ "key": "user.rotate-me" }));
    assert_eq!(value(&emu, "user.rotate-me").as_deref(), Some("v2"));
}

#[tokio::test]
async fn system_keys_cannot_be_written_or_deleted() {
    let (emu, client) = start_with_token(true).await;
    let before = value(&emu, "system.gitea-admin-token").unwrap();
    let path = "/mytenantsecrets/system.gitea-admin-token";
    for (method, body) in [
        (Method::POST, Some(json!({ "value": CANARY }))),
        (Method::PUT, Some(json!({ "value": CANARY }))),
        (Method::DELETE, None),
    ] {
        let response = client.call(method.clone(), path, body).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method}");
        assert_fastify(&json_of(response).await, 403);
    }
    // A new system key is refused as well.
    let new = client
        .write(Method::PUT, "/mytenantsecrets/system.new")
        .await;
    assert_eq!(new.status(), StatusCode::FORBIDDEN);
    assert_eq!(value(&emu, "system.gitea-admin-token").unwrap(), before);
    assert!(!emu.tenant_keys().contains(&"system.new".to_owned()));
}

#[tokio::test]
async fn delete_then_404() {
    let (emu, client) = start_with_token(false).await;
    emu.insert_tenant_secret("user.gone", CANARY);
    let path = "/mytenantsecrets/user.gone";
    let deleted = client.call(Method::DELETE, path, None).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(json_of(deleted).await, json!({ "key": "user.gone" }));
    assert!(emu.tenant_keys().is_empty());
    let again = client.call(Method::DELETE, path, None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_fastify(&json_of(again).await, 404);
}

#[tokio::test]
async fn invalid_keys_get_400() {
    let (emu, client) = start_with_token(false).await;
    for key in ["user.", "system.", "plain", "users.x", "%20user.x"] {
        let path = format!("/mytenantsecrets/{key}");
        let response = client.write(Method::PUT, &path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{key}");
        let deleted = client.call(Method::DELETE, &path, None).await;
        assert_eq!(deleted.status(), StatusCode::BAD_REQUEST, "{key}");
    }
    assert!(emu.tenant_keys().is_empty());
}

#[tokio::test]
async fn keys_are_percent_decoded_and_logged_raw() {
    let (emu, client) = start_with_token(false).await;
    let path = "/mytenantsecrets/user.gitcred.my%2Fodd%20key";
    let response = client.write(Method::PUT, path).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_of(response).await["key"], "user.gitcred.my/odd key");
    assert_eq!(emu.tenant_keys(), ["user.gitcred.my/odd key"]);
    assert_eq!(emu.requests()[0].path, path);

    let materialize = client
        .call(
            Method::POST,
            "/mytenantsecrets/user.gitcred.my%2Fodd%20key/materialize",
            Some(json!({ "serviceId": "eyevinn-app", "secretName": "gitcred" })),
        )
        .await;
    assert_eq!(materialize.status(), StatusCode::OK);
}

#[tokio::test]
async fn materialize_copies_the_value_and_returns_the_reference() {
    let (emu, client) = start_with_token(true).await;
    emu.insert_tenant_secret("user.my-api-key", CANARY);
    let body = json!({ "serviceId": "eyevinn-my-service", "secretName": "apikey" });
    let response = client
        .call(
            Method::POST,
            "/mytenantsecrets/user.my-api-key/materialize",
            Some(body.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_of(response).await,
        json!({ "reference": "{{secrets.apikey}}" })
    );
    let copy = emu.service_secret("eyevinn-my-service", "apikey").unwrap();
    assert_eq!(copy.expose_secret(), CANARY);

    // A snapshot: rotating the tenant secret leaves the copy until re-materialized.
    emu.insert_tenant_secret("user.my-api-key", "rotated");
    let copy = emu.service_secret("eyevinn-my-service", "apikey").unwrap();
    assert_eq!(copy.expose_secret(), CANARY);
    let again = client
        .call(
            Method::POST,
            "/mytenantsecrets/user.my-api-key/materialize",
            Some(body),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let copy = emu.service_secret("eyevinn-my-service", "apikey").unwrap();
    assert_eq!(copy.expose_secret(), "rotated");

    // Deleting the tenant secret leaves the copy in place.
    let deleted = client
        .call(Method::DELETE, "/mytenantsecrets/user.my-api-key", None)
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(emu.service_secret("eyevinn-my-service", "apikey").is_some());

    // Platform keys may be materialized.
    let system = client
        .call(
            Method::POST,
            "/mytenantsecrets/system.gitea-admin-token/materialize",
            Some(json!({ "serviceId": "eyevinn-my-service", "secretName": "giteatoken" })),
        )
        .await;
    assert_eq!(system.status(), StatusCode::OK);
    assert_eq!(
        emu.service_secret_names("eyevinn-my-service"),
        ["apikey", "giteatoken"]
    );

    let listed = json_of(
        client
            .call(Method::GET, "/mysecrets/eyevinn-my-service", None)
            .await,
    )
    .await;
    assert_eq!(
        listed,
        json!([
            { "serviceId": "eyevinn-my-service", "secretName": "apikey" },
            { "serviceId": "eyevinn-my-service", "secretName": "giteatoken" },
        ])
    );
}

#[tokio::test]
async fn materialize_errors() {
    let (emu, client) = start_with_token(false).await;
    emu.insert_tenant_secret("user.k", CANARY);
    let unknown = client
        .call(
            Method::POST,
            "/mytenantsecrets/user.unknown/materialize",
            Some(json!({ "serviceId": "svc", "secretName": "name" })),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_fastify(&json_of(unknown).await, 404);

    for body in [
        json!({ "serviceId": "svc" }),
        json!({ "secretName": "name" }),
        json!({ "serviceId": "", "secretName": "name" }),
        json!({ "serviceId": "svc", "secretName": "" }),
        json!({ "serviceId": "svc", "secretName": 7 }),
    ] {
        let response = client
            .call(
                Method::POST,
                "/mytenantsecrets/user.k/materialize",
                Some(body.clone()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_fastify(&json_of(response).await, 400);
    }
    assert!(emu.service_secret_names("svc").is_empty());
}

#[tokio::test]
async fn declared_json_with_empty_or_invalid_body_is_400() {
    let (emu, client) = start_with_token(false).await;
    emu.insert_tenant_secret("user.k", CANARY);
    let send = |method: Method, path: &str, body: &'static str| {
        client
            .request(method, format!("{}{path}", emu.base_url()))
            .header("x-pat-jwt", format!("Bearer {OSC_TOKEN}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // DELETE too: Fastify parses every method's body but GET and HEAD.
    for (method, path) in [
        (Method::POST, "/mytenantsecrets/user.new"),
        (Method::PUT, "/mytenantsecrets/user.new"),
        (Method::DELETE, "/mytenantsecrets/user.k"),
    ] {
        let response = send(method.clone(), path, "").await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{method}");
        let body = json_of(response).await;
        assert_eq!(
            body["message"],
            "Body cannot be empty when content-type is set to 'application/json'"
        );
    }
    let invalid = send(Method::PUT, "/mytenantsecrets/user.new", "{\"value\":")
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    assert_fastify(&json_of(invalid).await, 400);

    // A GET with the header and no body is fine.
    let get = send(Method::GET, "/mytenantsecrets", "").await.unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(emu.tenant_keys(), ["user.k"]);
}

#[tokio::test]
async fn reading_a_value_works_and_is_logged() {
    let (emu, client) = start_with_token(false).await;
    emu.insert_tenant_secret("user.k", CANARY);
    let found = client
        .call(Method::GET, "/mytenantsecrets/user.k", None)
        .await;
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(
        json_of(found).await,
        json!({ "key": "user.k", "value": CANARY })
    );
    let missing = client
        .call(Method::GET, "/mytenantsecrets/user.nope", None)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let reads: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/mytenantsecrets/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        reads,
        ["/mytenantsecrets/user.k", "/mytenantsecrets/user.nope"]
    );
}

#[tokio::test]
async fn service_secret_endpoints() {
    let (emu, client) = start_with_token(false).await;
    let created = client
        .call(
            Method::POST,
            "/mysecrets/eyevinn-svc",
            Some(json!({ "secretName": "osctoken", "secretData": CANARY })),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let text = created.text().await.unwrap();
    assert!(!text.contains(CANARY), "{text}");
    let conflict = client
        .call(
            Method::POST,
            "/mysecrets/eyevinn-svc",
            Some(json!({ "secretName": "osctoken", "secretData": "x" })),
        )
        .await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);

    let updated = client
        .call(
            Method::PUT,
            "/mysecrets/eyevinn-svc/osctoken",
            Some(json!({ "secretData": "new" })),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let stored = emu.service_secret("eyevinn-svc", "osctoken").unwrap();
    assert_eq!(stored.expose_secret(), "new");
    let update_missing = client
        .call(
            Method::PUT,
            "/mysecrets/eyevinn-svc/absent",
            Some(json!({ "secretData": "new" })),
        )
        .await;
    assert_eq!(update_missing.status(), StatusCode::NOT_FOUND);

    let listed = json_of(
        client
            .call(Method::GET, "/mysecrets/eyevinn-svc", None)
            .await,
    )
    .await;
    assert_eq!(
        listed,
        json!([{ "serviceId": "eyevinn-svc", "secretName": "osctoken" }])
    );
    let empty = json_of(client.call(Method::GET, "/mysecrets/other", None).await).await;
    assert_eq!(empty, json!([]));

    let deleted = client
        .call(Method::DELETE, "/mysecrets/eyevinn-svc/osctoken", None)
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let again = client
        .call(Method::DELETE, "/mysecrets/eyevinn-svc/osctoken", None)
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert!(emu.service_secret("eyevinn-svc", "osctoken").is_none());
}

#[tokio::test]
async fn unknown_routes_and_methods_get_fastify_404() {
    let (emu, client) = start_with_token(false).await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/mytenantsecrets/"),
        (Method::PATCH, "/mytenantsecrets/user.k"),
        (Method::DELETE, "/mytenantsecrets"),
        (Method::GET, "/mytenantsecrets/user.k/materialize"),
    ] {
        let response = client.call(method.clone(), path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_fastify(&json_of(response).await, 404);
    }
    assert_eq!(emu.requests().len(), 5);
}

#[tokio::test]
async fn fault_with_status_retry_after_and_times() {
    let (emu, client) = start_with_token(false).await;
    emu.push_fault(Fault {
        method: Some("get".into()),
        path_prefix: Some("/mytenantsecrets".into()),
        status: Some(429),
        retry_after: Some("7".into()),
        times: Some(2),
        ..Fault::default()
    });
    // Other methods are not affected.
    let put = client.write(Method::PUT, "/mytenantsecrets/user.k").await;
    assert_eq!(put.status(), StatusCode::CREATED);

    for _ in 0..2 {
        let limited = client.call(Method::GET, "/mytenantsecrets", None).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()["retry-after"], "7");
        assert_fastify(&json_of(limited).await, 429);
    }
    let through = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(through.status(), StatusCode::OK);
    assert!(through.headers().get("retry-after").is_none());
    // Every attempt is in the log, faulted ones included.
    assert_eq!(emu.requests().len(), 4);
}

#[tokio::test]
async fn faults_apply_before_auth_and_in_push_order() {
    let (emu, client) = start_with_token(false).await;
    emu.push_fault(Fault {
        status: Some(503),
        times: Some(1),
        ..Fault::default()
    });
    emu.push_fault(Fault {
        status: Some(502),
        ..Fault::default()
    });
    let url = format!("{}/mytenantsecrets", emu.base_url());
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..2 {
        let next = client.get(&url).send().await.unwrap();
        assert_eq!(next.status(), StatusCode::BAD_GATEWAY);
    }
    emu.clear_faults();
    let unauthorized = client.get(&url).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert!(emu.requests().iter().all(|r| !r.authorized));
}

#[tokio::test]
async fn delay_fault_then_normal_handling() {
    let (emu, client) = start_with_token(false).await;
    emu.push_fault(Fault {
        delay_ms: Some(150),
        times: Some(1),
        ..Fault::default()
    });
    let started = Instant::now();
    let slow = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(slow.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    // A client timeout shorter than the delay sees a timeout.
    emu.push_fault(Fault {
        delay_ms: Some(2_000),
        status: Some(200),
        times: Some(1),
        ..Fault::default()
    });
    let timed_out = client
        .get(format!("{}/mytenantsecrets", emu.base_url()))
        .header("x-pat-jwt", format!("Bearer {OSC_TOKEN}"))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout());
}

#[tokio::test]
async fn raw_fault_bodies_allow_malformed_success() {
    let (emu, client) = start_with_token(false).await;
    emu.push_fault(Fault {
        status: Some(200),
        body: Some("{\"secrets\": [".into()),
        times: Some(1),
        ..Fault::default()
    });
    emu.push_fault(Fault {
        status: Some(502),
        body: Some("<html>Bad Gateway</html>".into()),
        content_type: Some("text/html".into()),
        times: Some(1),
        ..Fault::default()
    });
    let malformed = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(malformed.status(), StatusCode::OK);
    assert!(
        malformed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(malformed.text().await.unwrap(), "{\"secrets\": [");

    let html = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(html.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(html.headers()["content-type"], "text/html");
    assert_eq!(html.text().await.unwrap(), "<html>Bad Gateway</html>");
}

#[tokio::test]
async fn request_log_records_shape_not_content() {
    let (emu, client) = start_with_token(false).await;
    let body = json!({ "value": CANARY });
    client
        .call(Method::PUT, "/mytenantsecrets/user.k", Some(body.clone()))
        .await;
    client.call(Method::GET, "/mytenantsecrets", None).await;
    client
        .get(format!("{}/__emulator/health", emu.base_url()))
        .send()
        .await
        .unwrap();
    client
        .delete(format!("{}/mytenantsecrets/user.k", emu.base_url()))
        .send()
        .await
        .unwrap();

    let log = emu.requests();
    assert_eq!(
        log,
        [
            RecordedRequest {
                method: "PUT".into(),
                path: "/mytenantsecrets/user.k".into(),
                authorized: true,
                content_type: Some("application/json".into()),
                body_len: body.to_string().len(),
            },
            RecordedRequest {
                method: "GET".into(),
                path: "/mytenantsecrets".into(),
                authorized: true,
                content_type: None,
                body_len: 0,
            },
            RecordedRequest {
                method: "DELETE".into(),
                path: "/mytenantsecrets/user.k".into(),
                authorized: false,
                content_type: None,
                body_len: 0,
            },
        ]
    );
    assert!(!format!("{log:?}").contains(CANARY));
    assert!(!format!("{log:?}").contains(OSC_TOKEN));
    emu.clear_requests();
    assert!(emu.requests().is_empty());
}

#[tokio::test]
async fn admin_endpoints_over_http() {
    let (emu, client) = start_with_token(false).await;
    let admin = |path: &str| format!("{}/__emulator/{path}", emu.base_url());

    let health = client.get(admin("health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(json_of(health).await, json!({ "ok": true }));

    let pushed = client
        .post(admin("faults"))
        .json(&json!({ "status": 500, "path_prefix": "/mysecrets", "times": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::OK);
    let faulted = client.call(Method::GET, "/mysecrets/svc", None).await;
    assert_eq!(faulted.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let through = client.call(Method::GET, "/mysecrets/svc", None).await;
    assert_eq!(through.status(), StatusCode::OK);

    for bad in [
        json!({ "status": 42 }),
        json!({ "times": "x" }),
        json!({ "retry_after": "a\nb" }),
    ] {
        let refused = client
            .post(admin("faults"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    client
        .post(admin("faults"))
        .json(&json!({ "status": 503 }))
        .send()
        .await
        .unwrap();
    let cleared = client.delete(admin("faults")).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    let after_clear = client.call(Method::GET, "/mytenantsecrets", None).await;
    assert_eq!(after_clear.status(), StatusCode::OK);

    let log: Vec<RecordedRequest> = client
        .get(admin("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log, emu.requests());
    let paths: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/mysecrets/svc", "/mysecrets/svc", "/mytenantsecrets"]
    );

    let cleared = client.delete(admin("requests")).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    assert!(emu.requests().is_empty());

    // Unknown admin paths are not contract requests either.
    let unknown = client.get(admin("nope")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(emu.requests().is_empty());
}

#[tokio::test]
async fn shutdown_stops_the_server_and_is_idempotent() {
    let (emu, client) = start_with_token(false).await;
    let url = format!("{}/__emulator/health", emu.base_url());
    assert!(client.get(&url).send().await.is_ok());
    let handle = emu.clone();
    emu.shutdown();
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(5), emu.stopped())
        .await
        .expect("server stops");
    // A fresh client: the old one may hold a pooled connection.
    assert!(Client::new().get(&url).send().await.is_err());
    emu.shutdown();
}
