//! The built binary served with `--transport http`, spawned as a child
//! process against an in-test OSC emulator and spoken to over loopback: raw
//! HTTP for the security checks and limits, real MCP clients (rmcp's, the
//! official Python SDK's, the official conformance suite) for the protocol.
//!
//! The Python SDK and the conformance suite are external: their tests are
//! `#[ignore]`d, so plain `cargo test` reports them as ignored. Run with
//! `--include-ignored` (`OSC_MCP_INCLUDE_IGNORED=1 scripts/test`, as `.ci/run`
//! does), they need `OSC_MCP_PYTHON` (an interpreter with `mcp` installed) and
//! `OSC_MCP_CONFORMANCE` (the conformance CLI), and fail without them.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::http::*;
use crate::support::python::{python, run_python};
use crate::support::{
    CANARY, MCP_TOKEN, OSC_TOKEN, PROTOCOL, SECRETS, WAIT, assert_no_leak, external, repo_path,
    scratch_dir, seeded_emulator,
};
use osc_secrets_mcp::emulator::Fault;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::process::Command;

// ---------------------------------------------------------------------------
// Security and limits, over raw HTTP

/// A server with a token, a body limit and an allowed host: what the
/// refusal tests below are refused by.
async fn guarded_server() -> (osc_secrets_mcp::emulator::Emulator, Server) {
    let emu = seeded_emulator().await;
    let server = Server::start(
        &emu,
        &[
            "--max-body-bytes",
            "4096",
            "--allowed-hosts",
            "mcp.example.com",
        ],
        Some(MCP_TOKEN),
    )
    .await;
    (emu, server)
}

/// What a refused client saw, and the server's log, hold no secret.
fn assert_refusals_leak_nothing(server: &Server, seen: &str) {
    assert_no_leak("the responses", seen, &SECRETS);
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

#[tokio::test]
async fn health_needs_no_token_and_says_nothing_else() {
    let (_emu, server) = guarded_server().await;
    let client = http();
    let response = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );

    assert_refusals_leak_nothing(&server, "");
}

/// No token, a wrong one, and the OSC token (never passed through): 401
/// with a challenge, on every endpoint; the refusal is logged.
#[tokio::test]
async fn missing_wrong_or_osc_tokens_get_401_with_a_challenge() {
    let (_emu, server) = guarded_server().await;
    let client = http();
    let mut seen = String::new();
    for (token, invalid) in [
        (None, false),
        (Some("wrong-token-0123456789"), true),
        (Some(OSC_TOKEN), true),
    ] {
        let response = post_mcp(&server, token, None, &initialize_request())
            .send()
            .await
            .unwrap();
        let (status, headers, body, text) = error_of(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert_eq!(challenge.contains("invalid_token"), invalid, "{challenge}");
        assert_eq!(body["error"], "unauthorized");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer")
        );
        seen.push_str(&text);
    }
    for request in [
        client.get(server.url("/sse")),
        client
            .post(server.url("/messages?sessionId=abc"))
            .body("{}"),
        client.delete(server.url("/mcp")),
        client.get(server.url("/anything")),
    ] {
        let (status, headers, _, text) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        assert!(headers.contains_key("www-authenticate"));
    }

    assert_refusals_leak_nothing(&server, &seen);
    // Written by the logging thread, so waited for (bounded).
    server.wait_for_log("request refused").await;
}

/// A foreign Host or Origin: 403 on every endpoint, health included; a
/// configured host and a loopback origin are accepted.
#[tokio::test]
async fn a_foreign_host_or_origin_gets_403_everywhere() {
    let (_emu, server) = guarded_server().await;
    let client = http();
    for path in ["/healthz", "/mcp", "/sse", "/messages?sessionId=x"] {
        let response = client
            .get(server.url(path))
            .header("host", "evil.example")
            .header("authorization", bearer(MCP_TOKEN))
            .send()
            .await
            .unwrap();
        let (status, _, body, text) = error_of(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {text}");
        assert_eq!(body["error"], "host_not_allowed");
        let response = client
            .get(server.url(path))
            .header("origin", "https://evil.example")
            .header("authorization", bearer(MCP_TOKEN))
            .send()
            .await
            .unwrap();
        let (status, _, body, text) = error_of(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {text}");
        assert_eq!(body["error"], "origin_not_allowed");
    }
    let response = client
        .get(server.url("/healthz"))
        .header("host", format!("mcp.example.com:{}", server.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a configured host is accepted"
    );
    let response = post_mcp(&server, Some(MCP_TOKEN), None, &initialize_request())
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a loopback origin is accepted"
    );
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id")
    );
    assert_refusals_leak_nothing(&server, "");
}

/// A browser's preflight carries no token; it is answered for allowed
/// origins only.
#[tokio::test]
async fn a_preflight_is_answered_for_allowed_origins_only() {
    let (_emu, server) = guarded_server().await;
    let client = http();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/mcp"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let response = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let response = preflight("https://evil.example").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );

    assert_refusals_leak_nothing(&server, "");
}

/// A token in the query string is refused, even next to a valid header.
#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let (_emu, server) = guarded_server().await;
    let client = http();
    let mut seen = String::new();
    for query in [
        format!("access_token={MCP_TOKEN}"),
        "token=x".to_owned(),
        "api_key=x".to_owned(),
    ] {
        let response = post_mcp_at(
            &server,
            &format!("/mcp?{query}"),
            Some(MCP_TOKEN),
            None,
            &initialize_request(),
        )
        .send()
        .await
        .unwrap();
        let (status, _, body, text) = error_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(body["error"], "credentials_in_query");
        seen.push_str(&text);
    }
    let response = client
        .get(server.url(&format!("/sse?access_token={MCP_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    assert_refusals_leak_nothing(&server, &seen);
}

/// Oversized bodies: 413, with or without Content-Length, on both transports.
#[tokio::test]
async fn oversized_bodies_get_413_on_both_transports() {
    let (_emu, server) = guarded_server().await;
    let client = http();
    let big = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping", "params": { "pad": "x".repeat(8192) } }).to_string();
    let response = post_mcp(&server, Some(MCP_TOKEN), None, &json!({}))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let chunked = reqwest::Body::wrap_stream(futures::stream::iter(
        big.clone()
            .into_bytes()
            .chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    ));
    let response = post_mcp(&server, Some(MCP_TOKEN), None, &json!({}))
        .body(chunked)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "a chunked body is limited too"
    );
    let response = client
        .post(server.url("/messages?sessionId=abc"))
        .header("authorization", bearer(MCP_TOKEN))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, _, body, _) = error_of(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "body_too_large");

    assert_refusals_leak_nothing(&server, "");
}

/// A body that is not JSON-RPC gets a fixed sentence, not a parser message
/// quoting it.
#[tokio::test]
async fn a_body_that_is_not_json_rpc_is_refused_without_quoting_it() {
    let (_emu, server) = guarded_server().await;
    let mut seen = String::new();
    let response = post_mcp(&server, Some(MCP_TOKEN), None, &json!({}))
        .body(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"{CANARY}"}}"#
        ))
        .send()
        .await
        .unwrap();
    let (status, _, _, text) = error_of(response).await;
    assert!(status.is_client_error(), "{status}");
    seen.push_str(&text);

    assert_refusals_leak_nothing(&server, &seen);
}

#[tokio::test]
async fn refuses_to_start_when_exposed_or_misconfigured() {
    let emu = seeded_emulator().await;

    let (status, stderr) = run_to_exit(command(&emu, &["--listen", "0.0.0.0:0"], None)).await;
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
    assert!(stderr.contains("MCP_AUTH_TOKEN"), "{stderr}");

    let (status, stderr) = run_to_exit(command(&emu, &[], Some(OSC_TOKEN))).await;
    assert!(!status.success());
    assert!(
        stderr.contains("must differ from the OSC personal access token"),
        "{stderr}"
    );
    assert_no_leak("stderr", &stderr, &SECRETS);

    let (status, stderr) = run_to_exit(command(&emu, &[], Some("short"))).await;
    assert!(!status.success());
    assert!(stderr.contains("shorter than 16"), "{stderr}");

    let (status, stderr) = run_to_exit(command(&emu, &["--allowed-hosts", "*"], None)).await;
    assert!(!status.success());
    assert!(stderr.contains("DNS-rebinding"), "{stderr}");

    let (status, stderr) = run_to_exit(command(
        &emu,
        &["--allowed-origins", "evil.example"],
        Some(MCP_TOKEN),
    ))
    .await;
    assert!(!status.success());
    assert!(stderr.contains("MCP_ALLOWED_ORIGINS"), "{stderr}");
}

#[tokio::test]
async fn token_file_and_public_address_with_token() {
    let emu = seeded_emulator().await;
    let dir = scratch_dir("http-token-file");
    let file = dir.join("token");
    std::fs::write(&file, format!("{MCP_TOKEN}\n")).unwrap();
    // 0.0.0.0 is allowed with a token; the test still talks to loopback only.
    let args = [
        "--auth-token-file",
        file.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ];
    let server = Server::start(&emu, &args, None).await;
    let port = server.addr.port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    assert!(
        server
            .log()
            .contains("answers only requests addressed to localhost")
    );
    let response = http().post(&url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http()
        .post(&url)
        .header("authorization", bearer(MCP_TOKEN))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(initialize_request().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_no_leak("the server log", &server.log(), &SECRETS);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn loopback_without_token_warns_and_serves() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &[], None).await;
    assert!(
        server.log().contains("WITHOUT authentication"),
        "{}",
        server.log()
    );
    let session = open_session(&server, None).await;
    let response = post_mcp(
        &server,
        None,
        Some(&session),
        &call(2, "list_tenant_secrets", json!({})),
    )
    .send()
    .await
    .unwrap();
    let result = message_in(&response.text().await.unwrap());
    assert_eq!(result["result"]["isError"], false, "{result}");
}

#[tokio::test]
async fn every_handshake_revision_is_served() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &[], Some(MCP_TOKEN)).await;
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let body = rpc(
            1,
            "initialize",
            json!({
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": { "name": "http-tests", "version": "1" }
            }),
        );
        let response = http()
            .post(server.url("/mcp"))
            .header("authorization", bearer(MCP_TOKEN))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version}");
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let init = message_in(&response.text().await.unwrap());
        assert_eq!(init["result"]["protocolVersion"], version);
        let response = http()
            .post(server.url("/mcp"))
            .header("authorization", bearer(MCP_TOKEN))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", version)
            .body(rpc(2, "tools/list", json!({})).to_string())
            .send()
            .await
            .unwrap();
        let tools = message_in(&response.text().await.unwrap());
        assert_eq!(
            tools["result"]["tools"].as_array().map(Vec::len),
            Some(5),
            "{version}: {tools}"
        );
    }
    // 2026-07-28 has no handshake: the Python SDK test drives it with server/discover.
}

/// A server of two sessions at most, one request in flight per client.
async fn capped_server(emu: &osc_secrets_mcp::emulator::Emulator) -> Server {
    Server::start(
        emu,
        &["--max-sessions", "2", "--max-concurrent-per-client", "1"],
        Some(MCP_TOKEN),
    )
    .await
}

/// Full: a third session, on either transport, gets 503 with a reason;
/// existing sessions still work, and closing one frees its place.
#[tokio::test]
async fn a_full_server_refuses_a_session_until_one_closes() {
    let emu = seeded_emulator().await;
    let server = capped_server(&emu).await;
    let token = Some(MCP_TOKEN);
    let first = open_session(&server, token).await;
    let second = open_session(&server, token).await;

    let response = post_mcp(&server, token, None, &initialize_request())
        .send()
        .await
        .unwrap();
    let (status, headers, body, text) = error_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert_eq!(body["error"], "too_many_sessions");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("MCP_MAX_SESSIONS")
    );
    assert!(headers.contains_key("retry-after"));
    let response = http()
        .get(server.url("/sse"))
        .header("authorization", bearer(MCP_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let response = post_mcp(
        &server,
        token,
        Some(&second),
        &rpc(5, "tools/list", json!({})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        message_in(&response.text().await.unwrap())["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let response = http()
        .delete(server.url("/mcp"))
        .header("authorization", bearer(MCP_TOKEN))
        .header("mcp-session-id", &first)
        .header("mcp-protocol-version", PROTOCOL)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    open_session(&server, token).await;

    assert_no_leak("the server log", &server.log(), &SECRETS);
}

/// Calls on `session` (ids from `first_id`) until one is served, bounded:
/// the client's permit came back.
async fn permit_comes_back(server: &Server, session: &str, first_id: u64) {
    let token = Some(MCP_TOKEN);
    let deadline = Instant::now() + WAIT;
    let mut id = first_id;
    loop {
        let response = post_mcp(
            server,
            token,
            Some(session),
            &call(id, "list_tenant_secrets", json!({})),
        )
        .send()
        .await
        .unwrap();
        if response.status() == StatusCode::OK {
            let result = message_in(&response.text().await.unwrap());
            assert_eq!(result["result"]["isError"], false, "{result}");
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            Instant::now() < deadline,
            "the permit of the dropped call never came back"
        );
        id += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request in flight per client: a held call has the only permit,
/// another client is not affected, and a dropped call gives it back.
#[tokio::test]
async fn a_client_has_one_request_in_flight_and_a_dropped_one_frees_it() {
    let emu = seeded_emulator().await;
    let server = capped_server(&emu).await;
    let token = Some(MCP_TOKEN);
    let mine = open_session(&server, token).await;
    let other = open_session(&server, token).await;

    // The emulator holds it far longer than the test runs, and the check
    // waits for the emulator to have it, not for any delay to pass.
    emu.clear_requests();
    emu.push_fault(Fault {
        method: Some("GET".to_owned()),
        delay_ms: Some(10 * 60 * 1000),
        times: Some(1),
        ..Fault::default()
    });
    let held = tokio::spawn(
        post_mcp(
            &server,
            token,
            Some(&mine),
            &call(7, "list_tenant_secrets", json!({})),
        )
        .send(),
    );
    emulator_saw(&emu, 1).await;
    let response = post_mcp(
        &server,
        token,
        Some(&mine),
        &call(8, "list_tenant_secrets", json!({})),
    )
    .send()
    .await
    .unwrap();
    let (status, headers, body, _) = error_of(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "too_many_requests");
    assert_eq!(headers["retry-after"], "1");
    // Another client is not affected.
    let response = post_mcp(
        &server,
        token,
        Some(&other),
        &call(9, "list_tenant_secrets", json!({})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        message_in(&response.text().await.unwrap())["result"]["isError"],
        false
    );
    // The client gives up on the held call: its response is dropped with
    // its connection, and the permit comes back (waited for, bounded).
    held.abort();
    let _ = held.await;
    permit_comes_back(&server, &mine, 10).await;
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

#[tokio::test]
async fn stateless_mode_serves_calls_without_a_session() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &["--stateless"], Some(MCP_TOKEN)).await;
    assert!(server.log().contains("stateless"));
    let response = post_mcp(
        &server,
        Some(MCP_TOKEN),
        None,
        &call(
            1,
            "set_tenant_secret",
            json!({ "key": "user.stateless", "value": CANARY }),
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key("mcp-session-id"));
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = response.text().await.unwrap();
    assert_no_leak("the response", &text, &SECRETS);
    let result = message_in(&text);
    assert_eq!(result["result"]["isError"], false, "{result}");
    assert_eq!(
        result["result"]["structuredContent"]["key"],
        "user.stateless"
    );
    assert_eq!(
        emu.tenant_value("user.stateless").unwrap().expose_secret(),
        CANARY
    );

    // Every request stands alone: a second one, from "another replica's" point of view.
    let response = post_mcp(
        &server,
        Some(MCP_TOKEN),
        None,
        &call(2, "list_tenant_secrets", json!({ "prefix": "user" })),
    )
    .send()
    .await
    .unwrap();
    let result = message_in(&response.text().await.unwrap());
    assert!(
        result["result"]["structuredContent"]["secrets"]
            .to_string()
            .contains("user.stateless")
    );
    // No standalone stream without sessions.
    let response = http()
        .get(server.url("/mcp"))
        .header("authorization", bearer(MCP_TOKEN))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

/// A server whose legacy SSE sessions expire after 5 idle seconds.
async fn sse_server(emu: &osc_secrets_mcp::emulator::Emulator) -> Server {
    Server::start(emu, &["--session-idle-secs", "5"], Some(MCP_TOKEN)).await
}

/// A legacy SSE session opened and initialized: its stream, what was read
/// past the last event, and its endpoint.
async fn initialized_legacy_sse(server: &Server) -> (reqwest::Response, String, String) {
    let (mut stream, mut buffer, endpoint) = open_legacy_sse(server, Some(MCP_TOKEN)).await;
    let post = |endpoint: &str, body: Value| {
        post_legacy(server, Some(MCP_TOKEN), endpoint, body.to_string()).send()
    };
    let response = post(&endpoint, initialize_request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let events = read_events(&mut stream, &mut buffer, 1).await;
    assert_eq!(events[0].0, "message");
    let init: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
    let response = post(
        &endpoint,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    (stream, buffer, endpoint)
}

/// GET /sse streams events and announces the session's endpoint; a POST
/// for an unknown session or for none is refused.
#[tokio::test]
async fn a_legacy_sse_stream_announces_its_endpoint() {
    let emu = seeded_emulator().await;
    let server = sse_server(&emu).await;
    let client = http();
    let post = |endpoint: &str, body: Value| {
        post_legacy(&server, Some(MCP_TOKEN), endpoint, body.to_string()).send()
    };
    let mut stream = client
        .get(server.url("/sse"))
        .header("authorization", bearer(MCP_TOKEN))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();
    let events = read_events(&mut stream, &mut buffer, 1).await;
    assert_eq!(events[0].0, "endpoint");
    let endpoint = events[0].1.clone();
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");

    let response = post(
        "/messages?sessionId=00000000000000000000000000000000",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = post("/messages", json!({})).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    assert_no_leak("the server log", &server.log(), &SECRETS);
}

/// Over a legacy SSE session a call is answered on the stream and writes;
/// a body that is not JSON-RPC is refused without quoting it.
#[tokio::test]
async fn a_legacy_sse_session_answers_calls_on_its_stream() {
    let emu = seeded_emulator().await;
    let server = sse_server(&emu).await;
    let (mut stream, mut buffer, endpoint) = initialized_legacy_sse(&server).await;
    let post = |endpoint: &str, body: Value| {
        post_legacy(&server, Some(MCP_TOKEN), endpoint, body.to_string()).send()
    };
    let response = post(
        &endpoint,
        call(
            2,
            "set_tenant_secret",
            json!({ "key": "user.over-sse", "value": CANARY }),
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let events = read_events(&mut stream, &mut buffer, 1).await;
    let result: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(result["id"], 2);
    assert_eq!(result["result"]["isError"], false, "{result}");
    assert_eq!(
        emu.tenant_value("user.over-sse").unwrap().expose_secret(),
        CANARY
    );
    let response = post(&endpoint, json!({ "not": "json-rpc", "value": CANARY }))
        .await
        .unwrap();
    let (status, _, _, text) = error_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_no_leak("the response", &text, &SECRETS);

    assert_no_leak("the server log", &server.log(), &SECRETS);
}

/// The client goes away: the session is cleaned up.
#[tokio::test]
async fn a_legacy_sse_session_ends_when_its_client_goes_away() {
    let emu = seeded_emulator().await;
    let server = sse_server(&emu).await;
    let (stream, _, endpoint) = initialized_legacy_sse(&server).await;
    let post = |endpoint: &str, body: Value| {
        post_legacy(&server, Some(MCP_TOKEN), endpoint, body.to_string()).send()
    };
    drop(stream);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = post(
            &endpoint,
            json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        )
        .await
        .unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed session was never removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An idle session expires and its stream ends.
#[tokio::test]
async fn an_idle_legacy_sse_session_expires_and_its_stream_ends() {
    let emu = seeded_emulator().await;
    let server = sse_server(&emu).await;
    let client = http();
    let mut idle = client
        .get(server.url("/sse"))
        .header("authorization", bearer(MCP_TOKEN))
        .send()
        .await
        .unwrap();
    let opened = Instant::now();
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, idle.chunk())
        .await
        .expect("the idle stream ends")
        .unwrap()
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        opened.elapsed() >= Duration::from_secs(4),
        "closed before the idle limit"
    );
    assert!(rest.contains("event: endpoint"));
    server.wait_for_log("idle").await;
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

/// rmcp's handshake error quotes the offending message in full; a call and a
/// stray response sent before `initialize` must not put a value in the log.
#[tokio::test]
async fn a_legacy_sse_call_before_initialize_leaks_nothing() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &[], Some(MCP_TOKEN)).await;
    let client = http();
    let mut stream = client
        .get(server.url("/sse"))
        .header("authorization", bearer(MCP_TOKEN))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut buffer = String::new();
    let endpoint = read_events(&mut stream, &mut buffer, 1).await[0].1.clone();
    let early = call(
        1,
        "set_tenant_secret",
        json!({ "key": "user.early", "value": CANARY }),
    );
    let response = client
        .post(server.url(&endpoint))
        .header("authorization", bearer(MCP_TOKEN))
        .header("content-type", "application/json")
        .body(early.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // A stray response carrying the value: not a request, so the handshake
    // fails on it and rmcp's error would quote it.
    let stray = json!({ "jsonrpc": "2.0", "id": 7, "result": { "value": CANARY } });
    let response = client
        .post(server.url(&endpoint))
        .header("authorization", bearer(MCP_TOKEN))
        .header("content-type", "application/json")
        .body(stray.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("ended before initialization") {
        assert!(
            Instant::now() < deadline,
            "no handshake failure was logged: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        server.log().contains("was not `initialize`"),
        "{}",
        server.log()
    );
    assert_no_leak("the server log", &server.log(), &SECRETS);
    assert!(emu.requests().is_empty());
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &[], Some(MCP_TOKEN)).await;
    let session = open_session(&server, Some(MCP_TOKEN)).await;
    emu.clear_requests();
    // Well inside the 10 s grace period, long enough for SIGTERM to land
    // first; the log order below checks that it did.
    emu.push_fault(Fault {
        method: Some("GET".to_owned()),
        delay_ms: Some(3000),
        times: Some(1),
        ..Fault::default()
    });
    let in_flight = tokio::spawn(
        post_mcp(
            &server,
            Some(MCP_TOKEN),
            Some(&session),
            &call(2, "list_tenant_secrets", json!({})),
        )
        .send(),
    );
    emulator_saw(&emu, 1).await;
    let addr = server.addr;
    let (status, log) = server.terminate().await;
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let result = message_in(&response.text().await.unwrap());
    assert_eq!(
        result["result"]["isError"], false,
        "the in-flight call finished: {result}"
    );
    assert!(status.success(), "exit status {status}; log:\n{log}");
    // The call was still waiting for OSC when the drain began, whatever the
    // machine's speed: OSC's answer is logged after the shutdown line.
    let shutdown_at = log.find("shutting down").unwrap_or_else(|| panic!("{log}"));
    let answered_at = log.rfind("osc answer").unwrap_or_else(|| panic!("{log}"));
    assert!(
        shutdown_at < answered_at,
        "the call finished before shutdown began, so draining was not tested:\n{log}"
    );
    assert!(
        http()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "the listener is closed"
    );
    assert_no_leak("the server log", &log, &SECRETS);
}

/// User plus system CPU time of a process, from /proc; "?" where there is none.
fn cpu_seconds(pid: &str) -> String {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return "?".to_owned();
    };
    // Fields after the command name, which is in parentheses: utime and stime are 14th and 15th overall.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: Option<Vec<f64>> = [11, 12]
        .iter()
        .map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
        .collect();
    ticks.map_or_else(
        || "?".to_owned(),
        |t| format!("{:.2}", t.iter().sum::<f64>() / 100.0),
    )
}

// ---------------------------------------------------------------------------
// Real clients

#[tokio::test]
#[ignore = "needs the MCP Python SDK: OSC_MCP_PYTHON names a Python with `mcp`; .ci/run installs it"]
async fn python_sdk_over_streamable_http_and_sse() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &[], Some(MCP_TOKEN)).await;
    let stateless = Server::start(&emu, &["--stateless"], Some(MCP_TOKEN)).await;
    let runs = [
        (&server, "streamable", "/mcp", "initialize", "shi"),
        (&server, "streamable", "/mcp", "discover", "shd"),
        (&server, "sse", "/sse", "initialize", "sse"),
        (&stateless, "streamable", "/mcp", "initialize", "sli"),
    ];
    for (server, transport, path, lifecycle, suffix) in runs {
        let mut client = python("tests/python/mcp_client.py");
        client
            .args(["--transport", transport, "--url", &server.url(path)])
            .args(["--lifecycle", lifecycle, "--suffix", suffix])
            .env("OSC_MCP_TEST_TOKEN", MCP_TOKEN)
            .env("OSC_MCP_TEST_VALUE", CANARY);
        let run = format!(
            "{transport}/{lifecycle}{}",
            if std::ptr::eq(server, &stateless) {
                " (stateless)"
            } else {
                ""
            }
        );
        let output = run_python(client, &run, &SECRETS).await;
        println!("python {run}:\n{}", output.stdout);
        let report = output.report;
        assert_python_saw_the_tools(&run, &report);
        assert_python_calls(&run, &report, suffix);
        let version = report["protocolVersion"].as_str().unwrap();
        if lifecycle == "discover" {
            assert!(version >= "2026-07-28", "{run}: {version}");
        }
        // What the emulator holds afterwards: the copy made at materialize
        // time survives the deletion of the tenant secret.
        assert!(
            !emu.tenant_keys().contains(&format!("user.python-{suffix}")),
            "{run}"
        );
        let copy = emu
            .service_secret(&format!("python-{suffix}"), &format!("py{suffix}"))
            .unwrap();
        assert_eq!(copy.expose_secret(), CANARY, "{run}");
    }
    assert_no_leak("the server log", &server.log(), &SECRETS);
    assert_no_leak("the stateless server log", &stateless.log(), &SECRETS);
}

/// The Python SDK listed the five tools, each with an output schema and
/// the hints: (read only, destructive, idempotent, open world).
fn assert_python_saw_the_tools(run: &str, report: &Value) {
    let mut tools: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    tools.sort_unstable();
    let mut expected = vec![
        "delete_tenant_secret",
        "list_tenant_secrets",
        "materialize_tenant_secret",
        "rotate_tenant_secret",
        "set_tenant_secret",
    ];
    expected.sort_unstable();
    assert_eq!(tools, expected, "{run}");
    for tool in report["tools"].as_array().unwrap() {
        assert_eq!(tool["hasOutputSchema"], true, "{run}: {tool}");
        let read_only = tool["name"] == "list_tenant_secrets";
        // A rotation makes a new value each time: not idempotent.
        let idempotent = tool["name"] != "rotate_tenant_secret";
        // A hint the server leaves out is MCP's default for it.
        let hints = &tool["annotations"];
        let hint = |name: &str, default: bool| {
            hints
                .get(name)
                .filter(|h| !h.is_null())
                .map_or(Some(default), Value::as_bool)
        };
        assert_eq!(
            [
                hint("readOnlyHint", false),
                hint("destructiveHint", true),
                hint("idempotentHint", false),
                hint("openWorldHint", true),
            ],
            [
                Some(read_only),
                Some(!read_only),
                Some(idempotent),
                Some(true)
            ],
            "{run}: {tool}"
        );
    }
}

/// Each call the Python client made came back as expected.
fn assert_python_calls(run: &str, report: &Value, suffix: &str) {
    let calls = &report["calls"];
    for (name, is_error) in [
        ("list_initial", false),
        ("set_create", false),
        ("set_create_again", true),
        ("set_system", true),
        ("list_user", false),
        ("materialize", false),
        ("materialize_missing", true),
        ("delete", false),
        ("delete_again", true),
    ] {
        assert_eq!(
            calls[name]["isError"], is_error,
            "{run} {name}: {}",
            calls[name]
        );
    }
    let key = format!("user.python-{suffix}");
    assert_eq!(
        calls["set_create"]["structuredContent"]["outcome"], "created",
        "{run}"
    );
    assert!(
        calls["set_create_again"]["text"]
            .as_str()
            .unwrap()
            .contains("upsert"),
        "{run}"
    );
    assert!(
        calls["list_user"]["structuredContent"]["secrets"]
            .to_string()
            .contains(&key),
        "{run}"
    );
    assert_eq!(
        calls["materialize"]["structuredContent"]["reference"],
        format!("{{{{secrets.py{suffix}}}}}"),
        "{run}"
    );
}

#[tokio::test]
#[ignore = "needs the MCP conformance suite: OSC_MCP_CONFORMANCE names its CLI; .ci/run installs it"]
async fn conformance_suite_passes() {
    let conformance = external("OSC_MCP_CONFORMANCE", "the MCP conformance suite");
    let emu = seeded_emulator().await;
    // The suite cannot send a bearer token, so the server runs without one
    // on loopback (the dns-rebinding scenario needs a localhost URL anyway).
    let server = Server::start(&emu, &[], None).await;
    let results = scratch_dir("conformance-results");
    let mut cmd = if Path::new(&conformance).is_file() {
        Command::new(&conformance)
    } else {
        let mut parts = conformance.split_whitespace();
        let mut cmd = Command::new(parts.next().unwrap());
        cmd.args(parts);
        cmd
    };
    cmd.args(["server", "--url", &server.url("/mcp"), "--suite", "all"])
        .arg("--expected-failures")
        .arg(repo_path("tests/conformance/expected-failures.yml"))
        .arg("--output-dir")
        .arg(&results)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("the conformance suite finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = stdout.split("=== SUMMARY ===").nth(1).unwrap_or(&stdout);
    println!("conformance summary:{summary}\n{stderr}");
    assert!(
        output.status.success(),
        "the conformance suite reported an unexpected failure or a stale entry in \
         tests/conformance/expected-failures.yml:\n{stdout}\n{stderr}"
    );
    assert!(summary.contains("passed"), "{stdout}");
}

/// One client of the load test: connects to `url` and makes `calls` tool
/// calls in turn (list, set, materialize); how many succeeded and failed.
async fn load_client(url: String, client: usize, calls: usize) -> (usize, usize) {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(MCP_TOKEN),
    );
    let peer = ().serve(transport).await.expect("the client connects");
    let key = format!("user.load-{client}");
    let (mut ok, mut failed) = (0usize, 0usize);
    for i in 0..calls {
        let (tool, arguments) = match i % 3 {
            0 => ("list_tenant_secrets", json!({ "contains": "load" })),
            1 => (
                "set_tenant_secret",
                json!({ "key": key, "value": format!("{CANARY}-{i}") }),
            ),
            _ => (
                "materialize_tenant_secret",
                json!({ "key": key, "serviceId": format!("load-{client}"), "secretName": "loadkey" }),
            ),
        };
        let params =
            CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone());
        match peer.call_tool(params).await {
            Ok(result) if result.is_error != Some(true) => ok += 1,
            _ => failed += 1,
        }
    }
    let _ = peer.cancel().await;
    (ok, failed)
}

/// Many concurrent rmcp clients making thousands of tool calls over
/// Streamable HTTP against the emulator, on loopback. Prints throughput and
/// the server's peak memory ("?" where it cannot be measured); asserts zero
/// failures, never timings or sizes. Scale it with OSC_MCP_LOAD_CLIENTS and
/// OSC_MCP_LOAD_CALLS (calls per client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_many_clients_thousands_of_calls() {
    let setting = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let clients = setting("OSC_MCP_LOAD_CLIENTS", 32);
    let calls_per_client = setting("OSC_MCP_LOAD_CALLS", 64);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let emu = seeded_emulator().await;
    // Thousands of changes a minute, on purpose: the rate limits are off here.
    let server = Server::start(
        &emu,
        &["--log-level", "warn", "--max-writes-per-minute", "0"],
        Some(MCP_TOKEN),
    )
    .await;
    let url = server.url("/mcp");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        tasks.push(tokio::spawn(load_client(
            url.clone(),
            client,
            calls_per_client,
        )));
    }
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await.unwrap();
        ok += o;
        failed += f;
    }
    let elapsed = started.elapsed();
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
            .unwrap_or_else(|| "?".to_owned())
    };
    let total = ok + failed;
    println!(
        "load: {clients} clients x {calls_per_client} calls = {total} tool calls in {:.2} s = {:.0} calls/s; \
         failures: {failed}; server peak RSS (VmHWM) {} kB, RSS now {} kB; CPU seconds: server {}, \
         test process (clients and emulator) {}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        field("VmHWM:"),
        field("VmRSS:"),
        cpu_seconds(&server.pid().to_string()),
        cpu_seconds("self"),
    );
    assert_eq!(failed, 0, "every call succeeds");
    assert_eq!(ok, clients * calls_per_client);
    // The figures above are reported, not asserted: no absolute bound on
    // memory or time means anything across machines. "?" says a figure
    // could not be measured here (no /proc), rather than passing a check.
    assert_no_leak("the server log", &server.log(), &SECRETS);
}
