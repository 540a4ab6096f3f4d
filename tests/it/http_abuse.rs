//! The HTTP transport under abuse: clients that disconnect early or reuse
//! ids to slip past the per-client cap, connections that send nothing or
//! one byte at a time, a descriptor limit filled by idle sockets, shutdown
//! cutting calls off, and OAuth-discovery probes. Loopback only; every
//! count is small and every wait bounded.

use std::time::Duration;

use crate::support::http::*;
use crate::support::{MCP_TOKEN, SECRETS, WAIT, assert_no_leak, seeded_emulator, sigterm};
use osc_secrets_mcp::emulator::{Emulator, Fault};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Holds every emulator GET (a list call) for `ms`, `times` times.
fn hold_lists(emu: &Emulator, ms: u64, times: u32) {
    emu.push_fault(Fault {
        method: Some("GET".to_owned()),
        delay_ms: Some(ms),
        times: Some(times),
        ..Fault::default()
    });
}

/// An open legacy SSE session: the event stream, its buffer and the endpoint.
struct Legacy {
    stream: reqwest::Response,
    buffer: String,
    endpoint: String,
}

impl Legacy {
    async fn open(server: &Server) -> Legacy {
        let mut stream = http()
            .get(server.url("/sse"))
            .header("authorization", bearer(MCP_TOKEN))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        let mut buffer = String::new();
        let events = read_events(&mut stream, &mut buffer, 1).await;
        assert_eq!(events[0].0, "endpoint");
        let endpoint = events[0].1.clone();
        let mut legacy = Legacy {
            stream,
            buffer,
            endpoint,
        };
        let response = legacy.post(server, &initialize_request()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let init = legacy.next_message().await;
        assert_eq!(init["id"], 1);
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        assert_eq!(
            legacy.post(server, &initialized).await.status(),
            StatusCode::ACCEPTED
        );
        legacy
    }

    async fn post(&self, server: &Server, body: &Value) -> reqwest::Response {
        http()
            .post(server.url(&self.endpoint))
            .header("authorization", bearer(MCP_TOKEN))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn next_message(&mut self) -> Value {
        let events = read_events(&mut self.stream, &mut self.buffer, 1).await;
        serde_json::from_str(&events[0].1).unwrap()
    }
}

// ---------------------------------------------------------------------------
// 1. The per-client cap holds whatever the client does

#[tokio::test]
async fn disconnecting_after_the_headers_does_not_free_a_permit() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &["--max-concurrent-per-client", "2"], Some(MCP_TOKEN)).await;
    let session = open_session(&server, Some(MCP_TOKEN)).await;
    emu.clear_requests();
    hold_lists(&emu, 10_000, 2);
    // Two calls: each client reads the response headers, then hangs up.
    for id in [2, 3] {
        let response = post_mcp(
            &server,
            Some(MCP_TOKEN),
            Some(&session),
            &call(id, "list_tenant_secrets", json!({})),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        drop(response);
    }
    // Both calls are running upstream, so the cap of 2 is reached: every
    // further call is refused, however soon or late it comes.
    emulator_saw(&emu, 2).await;
    for id in 4..24 {
        let response = post_mcp(
            &server,
            Some(MCP_TOKEN),
            Some(&session),
            &call(id, "list_tenant_secrets", json!({})),
        )
        .send()
        .await
        .unwrap();
        let (status, _, body, text) = error_of(response).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "call {id}: {text}");
        assert_eq!(body["error"], "too_many_requests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(emu.requests().len(), 2, "no third call reached OSC");
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

#[tokio::test]
async fn a_duplicate_sse_request_id_is_refused_and_frees_no_slot() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &["--max-concurrent-per-client", "2"], Some(MCP_TOKEN)).await;
    let mut legacy = Legacy::open(&server).await;
    emu.clear_requests();
    hold_lists(&emu, 1500, 2);
    let first = legacy
        .post(&server, &call(7, "list_tenant_secrets", json!({})))
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    emulator_saw(&emu, 1).await;
    // The same id again while the first is running: refused, clearly.
    for _ in 0..3 {
        let again = legacy
            .post(&server, &call(7, "list_tenant_secrets", json!({})))
            .await;
        let (status, _, body, text) = error_of(again).await;
        assert_eq!(status, StatusCode::CONFLICT, "{text}");
        assert_eq!(body["error"], "duplicate_request_id");
        assert!(
            body["message"].as_str().unwrap().contains("its own id"),
            "{text}"
        );
    }
    // The refused duplicates freed nothing: one more call fits, the next does not.
    let second = legacy
        .post(&server, &call(8, "list_tenant_secrets", json!({})))
        .await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let third = legacy
        .post(&server, &call(9, "list_tenant_secrets", json!({})))
        .await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    // Each accepted call is answered once, and then its id may be used again.
    let mut answered = vec![
        legacy.next_message().await["id"].as_u64().unwrap(),
        legacy.next_message().await["id"].as_u64().unwrap(),
    ];
    answered.sort_unstable();
    assert_eq!(answered, [7, 8]);
    let reused = legacy
        .post(&server, &call(7, "list_tenant_secrets", json!({})))
        .await;
    assert_eq!(reused.status(), StatusCode::ACCEPTED);
    assert_eq!(legacy.next_message().await["id"], 7);
    assert_eq!(emu.requests().len(), 3);
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

// ---------------------------------------------------------------------------
// 2. Connections that never finish a request

/// Sends `request` one byte at a time, pausing between bytes, until the
/// server closes the connection; returns how many bytes got out and what
/// the server sent.
async fn trickle(stream: &mut TcpStream, request: &[u8]) -> (usize, Vec<u8>) {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    for (sent, byte) in request.iter().enumerate() {
        if stream.write_all(&[*byte]).await.is_err() {
            return (sent, received);
        }
        match tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (sent + 1, received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let rest = read_until_closed(stream, WAIT).await;
    received.extend_from_slice(&rest);
    (request.len(), received)
}

#[tokio::test]
async fn slowloris_and_silent_connections_are_closed_by_the_header_timeout() {
    let emu = seeded_emulator().await;
    let mut cmd = command(&emu, &[], Some(MCP_TOKEN));
    cmd.env("MCP_HEADER_TIMEOUT_SECS", "1");
    let server = Server::start_command(cmd).await;

    // One header byte every 150 ms: the head (about 9 s of bytes) never completes.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\n\r\n",
        server.addr,
        "a".repeat(20)
    );
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let (sent, received) = trickle(&mut slow, request.as_bytes()).await;
    assert!(
        sent < request.len(),
        "the whole head went out byte by byte; the server answered:\n{}",
        String::from_utf8_lossy(&received)
    );
    assert!(
        !String::from_utf8_lossy(&received).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&received)
    );

    // A connection that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let received = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert!(received.is_empty() || !String::from_utf8_lossy(&received).contains("200 OK"));

    // A body that trickles in gets a clear 408, not an open connection.
    let mut slow_body = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {MCP_TOKEN}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n{{",
        server.addr
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut slow_body, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_too_slow"), "{answer}");

    // Meanwhile well-behaved clients were served all along.
    let response = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let emu = seeded_emulator().await;
    let mut cmd = command(&emu, &[], Some(MCP_TOKEN));
    cmd.env("MCP_CONNECTION_IDLE_SECS", "1");
    let server = Server::start_command(cmd).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    // The answer arrives, then the connection, kept alive, idles and is closed.
    let received = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(received.contains(r#"{"status":"ok"}"#), "{received}");
}

#[tokio::test]
async fn idle_sockets_filling_the_descriptor_limit_lock_out_nobody() {
    let emu = seeded_emulator().await;
    // 64 descriptors for the whole process; the cap is set to 8 (and would
    // be lowered below 64 anyway). Slow-header timeouts are far off, so only
    // eviction can make room.
    let mut cmd = command_with_open_files(&emu, &[], Some(MCP_TOKEN), 64);
    cmd.env("MCP_MAX_CONNECTIONS", "8")
        .env("MCP_HEADER_TIMEOUT_SECS", "300")
        .env("MCP_CONNECTION_IDLE_SECS", "300");
    let server = Server::start_command(cmd).await;

    // 80 connections that never send a complete request: some silent, some
    // partway through a head. More than the process has descriptors for.
    let mut idle = Vec::new();
    for n in 0..80 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        if n % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHo")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    // A health check and an authenticated client still get through.
    let probe = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = probe
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("/healthz answers while idle connections fill the cap");
    assert_eq!(response.status(), StatusCode::OK);
    let session = open_session(&server, Some(MCP_TOKEN)).await;
    let response = post_mcp(
        &server,
        Some(MCP_TOKEN),
        Some(&session),
        &call(2, "list_tenant_secrets", json!({})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let result = message_in(&response.text().await.unwrap());
    assert_eq!(result["result"]["isError"], false, "{result}");
    // The oldest idle connections made room: the server closed them.
    let received = read_until_closed(&mut idle[0], Duration::from_secs(10)).await;
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

// ---------------------------------------------------------------------------
// 3. Shutdown

/// Sends SIGTERM without waiting for the exit.
#[tokio::test]
async fn shutdown_drains_with_503_health_and_answers_cut_off_calls() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &["--shutdown-grace-secs", "3"], Some(MCP_TOKEN)).await;
    let session = open_session(&server, Some(MCP_TOKEN)).await;
    let mut legacy = Legacy::open(&server).await;
    emu.clear_requests();
    // Both calls outlast the grace period by far.
    hold_lists(&emu, 60_000, 2);
    let streamable = tokio::spawn(
        post_mcp(
            &server,
            Some(MCP_TOKEN),
            Some(&session),
            &call(2, "list_tenant_secrets", json!({})),
        )
        .send(),
    );
    let accepted = legacy
        .post(&server, &call(3, "list_tenant_secrets", json!({})))
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    emulator_saw(&emu, 2).await;

    sigterm(server.pid());
    // While draining, the health check says so (load balancers stop routing).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never answered 503"
        );
        match http().get(server.url("/healthz")).send().await {
            Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(
                    response.json::<Value>().await.unwrap(),
                    json!({ "status": "shutting down" })
                );
                break;
            }
            Ok(response) => assert_eq!(response.status(), StatusCode::OK),
            Err(error) => panic!("/healthz is unreachable while draining: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // At the end of the grace period each call gets a JSON-RPC error that
    // says why, on the transport it came by.
    let response = streamable.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let message = message_in(&response.text().await.unwrap());
    assert_eq!(message["id"], 2, "{message}");
    assert_eq!(message["error"]["code"], -32000, "{message}");
    let text = message["error"]["message"].as_str().unwrap();
    assert!(text.contains("shutting down"), "{text}");
    assert!(text.contains("may or may not have taken effect"), "{text}");
    let message = legacy.next_message().await;
    assert_eq!(message["id"], 3, "{message}");
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{message}"
    );

    let mut server = server;
    let status = tokio::time::timeout(WAIT, server.child.wait())
        .await
        .expect("the server exits after the grace period")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

#[tokio::test]
async fn stateless_shutdown_refuses_new_calls_and_answers_the_cut_off_one() {
    let emu = seeded_emulator().await;
    let server = Server::start(
        &emu,
        &["--stateless", "--shutdown-grace-secs", "2"],
        Some(MCP_TOKEN),
    )
    .await;
    emu.clear_requests();
    hold_lists(&emu, 60_000, 1);
    let held = tokio::spawn(
        post_mcp(
            &server,
            Some(MCP_TOKEN),
            None,
            &call(5, "list_tenant_secrets", json!({})),
        )
        .send(),
    );
    emulator_saw(&emu, 1).await;
    sigterm(server.pid());
    // New calls while draining get a clear 503, not a refused connection.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "new calls were never refused"
        );
        let response = post_mcp(
            &server,
            Some(MCP_TOKEN),
            None,
            &rpc(6, "tools/list", json!({})),
        )
        .send()
        .await
        .expect("the server accepts connections while draining");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            let (_, _, body, _) = error_of(response).await;
            assert_eq!(body["error"], "shutting_down");
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The JSON answer of the held call is a JSON-RPC error, not a 500.
    let response = held.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["id"], 5, "{message}");
    assert_eq!(message["error"]["code"], -32000, "{message}");
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{message}"
    );
    let mut server = server;
    let status = tokio::time::timeout(WAIT, server.child.wait())
        .await
        .expect("the server exits after the grace period")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert_no_leak("the server log", &server.log(), &SECRETS);
}

// ---------------------------------------------------------------------------
// 4. OAuth discovery

#[tokio::test]
async fn oauth_discovery_probes_get_a_fixed_answer_without_a_token() {
    let emu = seeded_emulator().await;
    let server = Server::start(&emu, &[], Some(MCP_TOKEN)).await;
    let client = http();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp",
        "/.well-known/openid-configuration",
        "/mcp/.well-known/openid-configuration",
        "/authorize",
    ] {
        let (status, _, body, text) =
            error_of(client.get(server.url(path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        assert_eq!(body["error"], "oauth_not_supported", "{path}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("static bearer token"), "{message}");
        assert!(message.contains("Authorization: Bearer"), "{message}");
    }
    for path in ["/register", "/token"] {
        let response = client
            .post(server.url(path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let (status, _, body, _) = error_of(response).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "oauth_not_supported", "{path}");
    }
    // Still behind the Host check.
    let response = client
        .get(server.url("/.well-known/oauth-protected-resource"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Every 401 carries the same challenge, with no pointer to OAuth metadata,
    // and says that no OAuth is offered.
    for path in ["/mcp", "/sse"] {
        let request = if path == "/mcp" {
            post_mcp(&server, None, None, &initialize_request())
        } else {
            client.get(server.url(path))
        };
        let (status, headers, body, _) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer realm="osc-secrets-mcp""#
        );
        assert!(
            body["message"].as_str().unwrap().contains("no OAuth"),
            "{body}"
        );
    }
    let response = post_mcp(
        &server,
        Some("wrong-token-0123456789"),
        None,
        &initialize_request(),
    )
    .send()
    .await
    .unwrap();
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer realm="osc-secrets-mcp", error="invalid_token""#),
        "{challenge}"
    );
    assert!(!challenge.contains("resource_metadata"), "{challenge}");
}
