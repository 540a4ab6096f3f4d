//! The OSC client against the emulator: every status code, every retry path.

use std::time::{Duration, Instant};

use crate::support::{OSC_TOKEN, client_for, emulator, emulator_with, fast_retry, fault};
use osc_secrets_mcp::domain::{Key, Owner};
use osc_secrets_mcp::emulator::{EmulatorOptions, Fault, ListShape};
use osc_secrets_mcp::osc::{OscClient, OscConfig, OscError, RetryPolicy, WriteOutcome};
use secrecy::{ExposeSecret, SecretString};

/// How long the emulator holds a request on a timeout path: never reached.
const HOLD_MS: u64 = 10 * 60 * 1000;

fn key(k: &str) -> Key {
    Key::parse(k).unwrap()
}

fn value(v: &str) -> SecretString {
    SecretString::from(v.to_owned())
}

#[tokio::test]
async fn writes_lists_materializes_and_deletes() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());

    let k = key("user.api-key");
    assert_eq!(
        osc.create(&k, &value("v1")).await,
        Ok(WriteOutcome::Created)
    );
    assert_eq!(
        osc.upsert(&k, &value("v2")).await,
        Ok(WriteOutcome::Written)
    );
    assert_eq!(
        osc.upsert(&key("user.other"), &value("x")).await,
        Ok(WriteOutcome::Created)
    );
    assert_eq!(
        emu.tenant_value("user.api-key").unwrap().expose_secret(),
        "v2"
    );

    let listed = osc.list().await.unwrap();
    let keys: Vec<_> = listed.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["user.api-key", "user.other"]);
    // The owner comes from the key itself, never from OSC's `prefix` field.
    assert_eq!(listed.entries[0].key.owner(), Owner::User);
    assert!(listed.entries[0].updated_at.is_some());

    let done = osc.materialize(&k, "eyevinn-demo", "apikey").await.unwrap();
    assert_eq!(done.reference, "{{secrets.apikey}}");
    assert!(done.from_osc);
    assert_eq!(
        emu.service_secret("eyevinn-demo", "apikey")
            .unwrap()
            .expose_secret(),
        "v2"
    );

    osc.delete(&k).await.unwrap();
    assert!(emu.tenant_value("user.api-key").is_none());
    // Deleting leaves the materialized copy in place.
    assert!(emu.service_secret("eyevinn-demo", "apikey").is_some());

    // The value-reading endpoint is never called.
    assert!(
        emu.requests()
            .iter()
            .all(|r| !(r.method == "GET" && r.path.starts_with("/mytenantsecrets/")))
    );
    // Bodies are sent with a JSON content type; body-less requests without one.
    for r in emu.requests() {
        assert_eq!(
            r.content_type.is_some(),
            r.body_len > 0,
            "{} {}",
            r.method,
            r.path
        );
        assert!(r.authorized);
    }
}

#[tokio::test]
async fn a_wrapped_list_is_read_too() {
    let emu = emulator_with(EmulatorOptions {
        token: Some(SecretString::from(OSC_TOKEN)),
        seed: true,
        list_shape: ListShape::Wrapped,
    })
    .await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    let keys: Vec<_> = osc
        .list()
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.key.to_string())
        .collect();
    assert!(keys.iter().any(|k| k.starts_with("system.")), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("user.")), "{keys:?}");
}

#[tokio::test]
async fn status_codes_map_to_errors() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());

    let wrong = client_for(&emu, "not-the-token", fast_retry());
    assert!(matches!(wrong.list().await, Err(OscError::Unauthorized)));

    // system.* writes are refused by OSC too (the tools refuse them earlier).
    assert!(matches!(
        osc.upsert(&key("system.x"), &value("v")).await,
        Err(OscError::Forbidden)
    ));
    assert!(matches!(
        osc.delete(&key("user.absent")).await,
        Err(OscError::NotFound)
    ));
    assert!(matches!(
        osc.materialize(&key("user.absent"), "svc", "name").await,
        Err(OscError::NotFound)
    ));
    osc.create(&key("user.dup"), &value("v")).await.unwrap();
    assert!(matches!(
        osc.create(&key("user.dup"), &value("v")).await,
        Err(OscError::Conflict)
    ));

    emu.push_fault(Fault {
        body: Some(
            r#"{"statusCode":400,"error":"Bad Request","message":"body/value must be string"}"#
                .into(),
        ),
        content_type: Some("application/json".into()),
        times: Some(1),
        ..fault("PUT", 400)
    });
    // OSC's own words are dropped: only the status is kept.
    match osc.upsert(&key("user.x"), &value("v")).await {
        Err(e @ OscError::BadRequest { status: 400 }) => {
            assert!(!format!("{e} {e:?}").contains("body/value"), "{e:?}")
        }
        other => panic!("unexpected {other:?}"),
    }

    emu.push_fault(Fault {
        times: Some(1),
        ..fault("GET", 418)
    });
    assert!(matches!(
        osc.list().await,
        Err(OscError::Unexpected { status: 418, .. })
    ));
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    for status in [429, 502, 503, 504] {
        emu.clear_requests();
        emu.push_fault(Fault {
            times: Some(2),
            ..fault("GET", status)
        });
        assert!(osc.list().await.is_ok(), "status {status} then success");
        assert_eq!(emu.requests().len(), 3, "two failures and one success");
    }

    // Retries run out: the error says how many attempts were made.
    emu.push_fault(Fault {
        times: Some(10),
        ..fault("GET", 503)
    });
    assert!(matches!(
        osc.list().await,
        Err(OscError::Unavailable {
            status: 503,
            attempts: 3,
            ..
        })
    ));
    emu.clear_faults();

    // A 500 is not transient: no retry.
    emu.clear_requests();
    emu.push_fault(Fault {
        times: Some(1),
        ..fault("GET", 500)
    });
    assert!(matches!(
        osc.list().await,
        Err(OscError::Unavailable { attempts: 1, .. })
    ));
    assert_eq!(emu.requests().len(), 1);
}

#[tokio::test]
async fn create_is_never_retried() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    emu.push_fault(Fault {
        times: Some(1),
        ..fault("POST", 503)
    });
    assert!(matches!(
        osc.create(&key("user.once"), &value("v")).await,
        Err(OscError::Unavailable { attempts: 1, .. })
    ));
    assert_eq!(emu.requests().len(), 1);
    assert!(emu.tenant_value("user.once").is_none());
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_cap() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    emu.push_fault(Fault {
        retry_after: Some("1".into()),
        times: Some(1),
        ..fault("GET", 429)
    });
    let started = Instant::now();
    assert!(osc.list().await.is_ok());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );

    // Beyond the cap: no wait, the model is told when to retry.
    emu.push_fault(Fault {
        retry_after: Some("120".into()),
        times: Some(1),
        ..fault("GET", 429)
    });
    emu.clear_requests();
    match osc.list().await {
        Err(OscError::RateLimited {
            retry_after: Some(wait),
            attempts: 1,
        }) => assert_eq!(wait, Duration::from_secs(120)),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(emu.requests().len(), 1);
}

/// The emulator holds the slow answers for ten minutes, far beyond the
/// client's 2 s timeout, so each held attempt times out however slow the
/// machine; a normal answer on loopback has all of those 2 s.
#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let emu = emulator().await;
    let osc = OscClient::new(OscConfig {
        base_url: emu.base_url(),
        token: SecretString::from(OSC_TOKEN),
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(1),
        },
    })
    .unwrap();
    let held = |times| Fault {
        method: Some("GET".into()),
        delay_ms: Some(HOLD_MS),
        times,
        ..Fault::default()
    };
    emu.push_fault(held(None));
    assert!(matches!(
        osc.list().await,
        Err(OscError::Timeout { attempts: 2 })
    ));
    assert_eq!(emu.requests().len(), 2, "the first attempt and one retry");
    emu.clear_faults();
    // One held answer, then a normal one: the retry succeeds.
    emu.push_fault(held(Some(1)));
    assert!(osc.list().await.is_ok());
    assert_eq!(emu.requests().len(), 4);
}

#[tokio::test]
async fn an_unreachable_osc_is_reported() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let osc = OscClient::new(OscConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        token: SecretString::from(OSC_TOKEN),
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        retry: fast_retry(),
    })
    .unwrap();
    assert_eq!(osc.list().await, Err(OscError::Unreachable { attempts: 3 }));
}

#[tokio::test]
async fn malformed_answers_are_errors_not_crashes() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    for body in ["<html>gateway</html>", "{\"nothing\":1}", "42", ""] {
        emu.push_fault(Fault {
            body: Some(body.into()),
            times: Some(1),
            ..fault("GET", 200)
        });
        assert!(
            matches!(osc.list().await, Err(OscError::Decode { .. })),
            "{body:?}"
        );
    }
    // A materialize answer without a reference falls back to the documented form.
    osc.upsert(&key("user.k"), &value("v")).await.unwrap();
    emu.push_fault(Fault {
        body: Some(String::new()),
        times: Some(1),
        ..fault("POST", 200)
    });
    let done = osc
        .materialize(&key("user.k"), "svc", "apikey")
        .await
        .unwrap();
    assert_eq!(done.reference, "{{secrets.apikey}}");
    assert!(!done.from_osc);
}

#[tokio::test]
async fn upstream_error_text_is_scrubbed() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    emu.push_fault(Fault {
        body: Some(format!(
            r#"{{"message":"rejected canary-value-123 with token {OSC_TOKEN}"}}"#
        )),
        content_type: Some("application/json".into()),
        times: Some(1),
        ..fault("PUT", 400)
    });
    let err = osc
        .upsert(&key("user.k"), &value("canary-value-123"))
        .await
        .unwrap_err();
    let shown = format!("{err:?} {err}");
    assert!(!shown.contains("canary-value-123"), "{shown}");
    assert!(!shown.contains(OSC_TOKEN), "{shown}");
}

#[test]
fn bad_base_urls_are_refused_at_construction() {
    for url in ["", "deploy.svc.prod.osaas.io", "ftp://x", "http://"] {
        let made = OscClient::new(OscConfig {
            base_url: url.to_owned(),
            token: SecretString::from(OSC_TOKEN),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        });
        assert!(matches!(made, Err(OscError::Setup { .. })), "{url:?}");
    }
}

#[tokio::test]
async fn keys_are_percent_encoded_in_paths() {
    let emu = emulator().await;
    let osc = client_for(&emu, OSC_TOKEN, fast_retry());
    osc.upsert(&key("user.gitcred.my_token-1"), &value("v"))
        .await
        .unwrap();
    let last = emu.requests().pop().unwrap();
    assert_eq!(last.path, "/mytenantsecrets/user.gitcred.my_token-1");
    assert_eq!(emu.tenant_keys(), ["user.gitcred.my_token-1"]);
}
