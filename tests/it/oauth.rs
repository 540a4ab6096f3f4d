//! The OAuth resource server (`--oauth-issuer`), against a hand-made
//! authorization server on loopback (`support::issuer`) that signs
//! whatever a test asks for: the metadata and challenges, every hostile
//! token, key rotation and a misbehaving key set, scopes and step-up,
//! identities in the audit log and per-subject rate limits. The main path
//! through a real authorization server and the official SDK's OAuth client
//! is in `oauth_provider`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::http::{
    Server, call, command, error_of, http, initialize_request, message_in, open_legacy_sse,
    open_session, post_legacy, post_mcp, rpc, run_to_exit,
};
use crate::support::issuer::{Issuer, Jwks, SigningKey, header, now, signing_input};
use crate::support::{OSC_TOKEN, assert_no_leak, emulator, scratch_dir, stored};

const ALL: &str = "secrets:read secrets:write secrets:delete";

async fn serve(
    issuer: &Issuer,
    emu: &osc_secrets_mcp::emulator::Emulator,
    extra: &[&str],
) -> Server {
    let mut args = vec!["--oauth-issuer", issuer.url.as_str()];
    args.extend_from_slice(extra);
    Server::start(emu, &args, None).await
}

/// The challenge a client without a token gets.
fn challenge(server: &Server) -> String {
    format!(
        r#"Bearer resource_metadata="{}""#,
        server.url("/.well-known/oauth-protected-resource/mcp")
    )
}

#[tokio::test]
async fn metadata_challenges_and_a_good_token() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    assert!(
        server.log().contains(&format!(
            "OAuth access tokens from {} for {resource}",
            issuer.url
        )),
        "{}",
        server.log()
    );

    let expected = json!({
        "resource": resource,
        "authorization_servers": [issuer.url],
        "scopes_supported": ["secrets:read", "secrets:write", "secrets:delete"],
        "bearer_methods_supported": ["header"],
        "resource_name": "OSC Secrets",
    });
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap(), expected, "{path}");
    }
    // The authorization server's documents are not here: the answer says where.
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/register",
        "/.well-known/oauth-protected-resource/other",
    ] {
        let (status, _, body, _) =
            error_of(http().get(server.url(path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "not_found", "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(&issuer.url),
            "{path}: {body}"
        );
    }

    let (status, headers, body, _) = error_of(
        post_mcp(&server, None, None, &initialize_request())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], challenge(&server).as_str());
    assert_eq!(body["error"], "unauthorized");

    let (status, headers, _, text) = error_of(
        post_mcp(&server, Some("not.a.token"), None, &initialize_request())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let sent = headers["www-authenticate"].to_str().unwrap();
    assert!(
        sent.starts_with(&format!("{}, error=\"invalid_token\"", challenge(&server))),
        "{sent}"
    );
    assert!(!text.contains("not.a.token"), "{text}");

    let token = issuer.token(&resource, "alice", ALL);
    let session = open_session(&server, Some(&token)).await;
    let listed = post_mcp(
        &server,
        Some(&token),
        Some(&session),
        &rpc(2, "tools/list", json!({})),
    )
    .send()
    .await
    .unwrap();
    let names = tool_names(&message_in(&listed.text().await.unwrap()));
    assert_eq!(
        names,
        [
            "delete_tenant_secret",
            "list_tenant_secrets",
            "materialize_tenant_secret",
            "rotate_tenant_secret",
            "set_tenant_secret"
        ]
    );
    // /metrics takes an access token too, of any scope.
    let response = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let reader = issuer.token(&resource, "prometheus", "");
    let response = http()
        .get(server.url("/metrics"))
        .header("authorization", format!("Bearer {reader}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The OSC token is never an access token here.
    let (status, _, _, _) = error_of(
        post_mcp(&server, Some(OSC_TOKEN), None, &initialize_request())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, log) = server.terminate().await;
    assert_no_leak(
        "the server's log",
        &log,
        &[&token, OSC_TOKEN, "not.a.token"],
    );
    assert!(
        log.contains("subject=alice") || log.contains("alice"),
        "{log}"
    );
}

fn tool_names(message: &Value) -> Vec<String> {
    let mut names: Vec<String> = message["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {message}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Every token an attacker (or a confused client) could send is refused
/// with 401 invalid_token; none is quoted, logged or fetched from.
#[tokio::test]
async fn hostile_tokens_are_refused() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let elsewhere = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    let key = &issuer.key;
    let good = issuer.claims(&resource, "mallory", ALL);
    let with = |change: Value| {
        let mut claims = good.clone();
        for (name, value) in change.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    };
    let stranger = SigningKey::new("key-1");
    let mut cases: Vec<(&str, String)> = vec![
        (
            "expired",
            key.sign(&header("key-1"), &with(json!({ "exp": now() - 120 }))),
        ),
        (
            "not yet valid",
            key.sign(&header("key-1"), &with(json!({ "nbf": now() + 600 }))),
        ),
        (
            "wrong issuer",
            key.sign(
                &header("key-1"),
                &with(json!({ "iss": elsewhere.url.clone() })),
            ),
        ),
        (
            "issuer with a trailing slash",
            key.sign(
                &header("key-1"),
                &with(json!({ "iss": format!("{}/", issuer.url) })),
            ),
        ),
        (
            "wrong audience",
            key.sign(
                &header("key-1"),
                &with(json!({ "aud": "https://elsewhere.example/mcp" })),
            ),
        ),
        (
            "another resource of the same issuer",
            key.sign(
                &header("key-1"),
                &with(json!({ "aud": [server.url("/other"), "account"] })),
            ),
        ),
        (
            "no audience",
            key.sign(&header("key-1"), &with(json!({ "aud": null }))),
        ),
        (
            "no subject",
            key.sign(&header("key-1"), &with(json!({ "sub": null }))),
        ),
        (
            "no expiry",
            key.sign(&header("key-1"), &with(json!({ "exp": null }))),
        ),
        (
            "an ID token's typ",
            key.sign(
                &json!({ "alg": "ES256", "typ": "id_token+jwt", "kid": "key-1" }),
                &good,
            ),
        ),
        (
            "no typ",
            key.sign(&json!({ "alg": "ES256", "kid": "key-1" }), &good),
        ),
        (
            "signed by a stranger under the issuer's kid",
            stranger.sign(&header("key-1"), &good),
        ),
        (
            "a kid not in the key set",
            stranger.sign(&header("key-unknown"), &good),
        ),
        (
            "jku pointing elsewhere",
            stranger.sign(
                &json!({ "alg": "ES256", "typ": "at+jwt", "kid": "attacker",
                         "jku": format!("{}/jwks", elsewhere.url) }),
                &good,
            ),
        ),
        (
            "x5u pointing elsewhere",
            stranger.sign(
                &json!({ "alg": "ES256", "typ": "at+jwt", "kid": "attacker",
                         "x5u": format!("{}/cert.pem", elsewhere.url) }),
                &good,
            ),
        ),
        (
            "an embedded jwk",
            stranger.sign(
                &json!({ "alg": "ES256", "typ": "at+jwt", "jwk": stranger.jwk() }),
                &good,
            ),
        ),
        (
            "alg none",
            format!(
                "{}.",
                signing_input(&json!({ "alg": "none", "typ": "at+jwt" }), &good)
            ),
        ),
        ("a huge token", format!("{}.{}", "a".repeat(20_000), "b.c")),
    ];
    // HS256 with the issuer's public key as the secret.
    let hs_input = signing_input(
        &json!({ "alg": "HS256", "typ": "at+jwt", "kid": "key-1" }),
        &good,
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key.public_bytes()),
        hs_input.as_bytes(),
    );
    cases.push((
        "HS256 signed with the public key",
        format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref())),
    ));
    let hs_jwk = signing_input(
        &json!({ "alg": "HS256", "typ": "at+jwt", "kid": "key-1" }),
        &good,
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.jwk().to_string().as_bytes()),
        hs_jwk.as_bytes(),
    );
    cases.push((
        "HS256 signed with the public JWK",
        format!("{hs_jwk}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref())),
    ));
    // A good token, one byte of its claims changed.
    let genuine = key.sign(&header("key-1"), &good);
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let tampered_claims = with(json!({ "sub": "admin" }));
    parts[1] = URL_SAFE_NO_PAD.encode(tampered_claims.to_string());
    cases.push(("claims changed after signing", parts.join(".")));

    for (what, token) in &cases {
        let (status, headers, body, text) = error_of(
            post_mcp(&server, Some(token), None, &initialize_request())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {text}");
        let sent = headers["www-authenticate"].to_str().unwrap();
        assert!(sent.contains(r#"error="invalid_token""#), "{what}: {sent}");
        assert_eq!(body["error"], "unauthorized", "{what}");
        assert_no_leak(what, &text, &[token]);
    }
    // The genuine token passes, so the refusals above were for their reasons.
    let response = post_mcp(&server, Some(&genuine), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A token in the query string is refused before authentication.
    let response = http()
        .post(format!("{}?access_token={genuine}", server.url("/mcp")))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_request().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_no_leak(
        "the query refusal",
        &response.text().await.unwrap(),
        &[&genuine],
    );
    // Nothing was fetched from where a header pointed.
    assert_eq!(elsewhere.other_hits() + elsewhere.jwks_hits(), 0);
    let (_, log) = server.terminate().await;
    let tokens: Vec<&str> = cases.iter().map(|(_, t)| t.as_str()).collect();
    assert_no_leak("the server's log", &log, &tokens);
    assert_no_leak("the server's log", &log, &[&genuine]);
    for reason in [
        "expired",
        "not yet valid",
        "wrong issuer",
        "not issued for this resource",
        "algorithm not accepted",
        "unknown signing key",
        "bad signature",
        "too long",
    ] {
        assert!(log.contains(reason), "no {reason:?} in:\n{log}");
    }
}

/// A rotated key set is fetched again for a token with a new kid; another
/// unknown kid within the minute is refused without another fetch.
#[tokio::test]
async fn a_rotated_key_set_is_fetched_again_at_most_once_a_minute() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    assert_eq!(issuer.jwks_hits(), 1);
    let next = Arc::new(SigningKey::new("key-2"));
    issuer.publish(vec![Arc::clone(&next)]);
    let token = next.sign(&header("key-2"), &issuer.claims(&resource, "alice", ALL));
    let response = post_mcp(&server, Some(&token), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(issuer.jwks_hits(), 2);
    // Within the minute: no fetch for another unknown kid.
    let third = Arc::new(SigningKey::new("key-3"));
    issuer.publish(vec![Arc::clone(&next), Arc::clone(&third)]);
    let token = third.sign(&header("key-3"), &issuer.claims(&resource, "alice", ALL));
    let response = post_mcp(&server, Some(&token), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.jwks_hits(), 2);
}

/// A key set that stops answering costs one bounded wait and a 401; tokens
/// signed with the keys already held still pass.
#[tokio::test]
async fn a_slow_key_set_is_given_up_on() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    issuer.set_jwks(Jwks::Slow);
    let stranger = SigningKey::new("key-new");
    let token = stranger.sign(&header("key-new"), &issuer.claims(&resource, "alice", ALL));
    let response = post_mcp(&server, Some(&token), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let log = server.wait_for_log("signing keys unavailable").await;
    assert!(log.contains("did not answer within 5 s"), "{log}");
    let good = issuer.token(&resource, "alice", ALL);
    let response = post_mcp(&server, Some(&good), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// What stops the server at start, and what it says.
#[tokio::test]
async fn unusable_oauth_settings_stop_the_server_at_start() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;

    // The static token beside OAuth.
    let (status, stderr) = run_to_exit(command(
        &emu,
        &["--oauth-issuer", &issuer.url],
        Some("mcp-client-token-http-tests-4b1d0c9a7e"),
    ))
    .await;
    assert!(!status.success());
    assert!(
        stderr.contains("--oauth-issuer (MCP_OAUTH_ISSUER) and the static bearer token"),
        "{stderr}"
    );
    assert!(!stderr.contains("mcp-client-token-http-tests"), "{stderr}");

    // An issuer that names itself otherwise: both strings are quoted.
    let named = format!("{}/", issuer.url);
    issuer.name_as(&named);
    let (status, stderr) = run_to_exit(command(&emu, &["--oauth-issuer", &issuer.url], None)).await;
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("names the issuer {named:?}"))
            && stderr.contains(&format!("is {:?}", issuer.url)),
        "{stderr}"
    );
    issuer.name_as(&issuer.url);

    for (mode, says) in [
        (Jwks::Huge, "sent more than 524288 bytes"),
        (
            Jwks::Redirect,
            "answered a redirect (302), which is not followed",
        ),
    ] {
        issuer.set_jwks(mode);
        let (status, stderr) =
            run_to_exit(command(&emu, &["--oauth-issuer", &issuer.url], None)).await;
        assert!(!status.success(), "{mode:?}");
        assert!(stderr.contains(says), "{mode:?}: {stderr}");
    }
    issuer.set_jwks(Jwks::Normal);

    // Plain http to another machine, and an issuer with no metadata.
    let (status, stderr) = run_to_exit(command(
        &emu,
        &["--oauth-issuer", "http://issuer.example.com"],
        None,
    ))
    .await;
    assert!(!status.success());
    assert!(stderr.contains("must be https://"), "{stderr}");
    let nowhere = format!("{}/realms/none", issuer.url);
    let (status, stderr) = run_to_exit(command(&emu, &["--oauth-issuer", &nowhere], None)).await;
    assert!(!status.success());
    assert!(
        stderr.contains("no authorization server metadata was found"),
        "{stderr}"
    );

    // A listener beyond loopback must be told its public resource.
    let (status, stderr) = run_to_exit(command(
        &emu,
        &["--oauth-issuer", &issuer.url, "--listen", "0.0.0.0:0"],
        None,
    ))
    .await;
    assert!(!status.success());
    assert!(stderr.contains("--oauth-resource"), "{stderr}");
}

/// A read-only token lists but cannot write (403 insufficient_scope naming
/// secrets:write, before any OSC request); a token with secrets:write can.
/// Audit records carry the subject and client; each subject has its own
/// write limit.
#[tokio::test]
async fn scopes_step_up_identity_and_per_subject_limits() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let dir = scratch_dir("oauth-audit");
    let audit = dir.join("audit.jsonl");
    let server = serve(
        &issuer,
        &emu,
        &[
            "--audit-log",
            audit.to_str().unwrap(),
            "--max-writes-per-minute",
            "1",
        ],
    )
    .await;
    let resource = server.url("/mcp");

    let reader = issuer.token(&resource, "alice", "openid secrets:read");
    let session = open_session(&server, Some(&reader)).await;
    let listed = post_mcp(
        &server,
        Some(&reader),
        Some(&session),
        &rpc(2, "tools/list", json!({})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        tool_names(&message_in(&listed.text().await.unwrap())),
        ["list_tenant_secrets"]
    );
    let before = emu.requests().len();
    let set = call(
        3,
        "set_tenant_secret",
        json!({ "key": "user.alice", "generate": {} }),
    );
    let (status, headers, body, _) = error_of(
        post_mcp(&server, Some(&reader), Some(&session), &set)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let sent = headers["www-authenticate"].to_str().unwrap();
    assert!(
        sent.starts_with(
            r#"Bearer error="insufficient_scope", scope="secrets:read secrets:write", resource_metadata=""#
        ),
        "{sent}"
    );
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(emu.requests().len(), before, "nothing reached OSC");
    let read = post_mcp(
        &server,
        Some(&reader),
        Some(&session),
        &call(4, "list_tenant_secrets", json!({})),
    )
    .send()
    .await
    .unwrap();
    let read = message_in(&read.text().await.unwrap());
    assert_eq!(read["result"]["isError"], false, "{read}");

    // Step-up: the same person with secrets:write, on the same session.
    let writer = issuer.token(&resource, "alice", "secrets:read secrets:write");
    let written = post_mcp(&server, Some(&writer), Some(&session), &set)
        .send()
        .await
        .unwrap();
    let written = message_in(&written.text().await.unwrap());
    assert_eq!(written["result"]["isError"], false, "{written}");
    assert!(stored(&emu, "user.alice").is_some());

    // Alice's limit is spent; Bob's is his own.
    let again = post_mcp(
        &server,
        Some(&writer),
        Some(&session),
        &call(
            5,
            "set_tenant_secret",
            json!({ "key": "user.alice2", "generate": {} }),
        ),
    )
    .send()
    .await
    .unwrap();
    let again = message_in(&again.text().await.unwrap());
    assert_eq!(again["result"]["isError"], true, "{again}");
    assert!(
        again.to_string().contains("for each signed-in person"),
        "{again}"
    );
    let bob = issuer.token(&resource, "bob", "secrets:write");
    let bob_session = open_session(&server, Some(&bob)).await;
    let his = post_mcp(
        &server,
        Some(&bob),
        Some(&bob_session),
        &call(
            2,
            "set_tenant_secret",
            json!({ "key": "user.bob", "generate": {} }),
        ),
    )
    .send()
    .await
    .unwrap();
    let his = message_in(&his.text().await.unwrap());
    assert_eq!(his["result"]["isError"], false, "{his}");

    let (_, log) = server.terminate().await;
    assert_no_leak("the server's log", &log, &[&reader, &writer, &bob]);
    // What a call logs names its subject.
    assert!(
        log.lines()
            .any(|l| l.contains("call{subject=bob}") && l.contains("tenant secret written")),
        "{log}"
    );
    let records = crate::support::audit_records(&audit);
    let summary: Vec<(String, String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or_default().to_owned(),
                r["subject"].as_str().unwrap_or_default().to_owned(),
                r["clientId"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let row = |k: &str, s: &str, o: &str| {
        (
            k.to_owned(),
            s.to_owned(),
            "test-client".to_owned(),
            o.to_owned(),
        )
    };
    assert_eq!(
        summary,
        [
            row("user.alice", "alice", "ok"),
            row("user.alice2", "alice", "refused"),
            row("user.bob", "bob", "ok"),
        ]
    );
}

/// The legacy SSE endpoints follow the same rules: a token to connect, the
/// scopes on each message, and a session only for the subject that opened it.
#[tokio::test]
async fn legacy_sse_follows_the_same_rules() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    let response = http().get(server.url("/sse")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        challenge(&server).as_str()
    );

    let reader = issuer.token(&resource, "alice", "secrets:read");
    let (_stream, _, endpoint) = open_legacy_sse(&server, Some(&reader)).await;
    let set = call(
        2,
        "set_tenant_secret",
        json!({ "key": "user.sse", "generate": {} }),
    )
    .to_string();
    let (status, headers, _, _) = error_of(
        post_legacy(&server, Some(&reader), &endpoint, set.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="secrets:read secrets:write""#)
    );
    // Another subject's valid token does not reach Alice's session.
    let mallory = issuer.token(&resource, "mallory", ALL);
    let (status, _, body, _) = error_of(
        post_legacy(&server, Some(&mallory), &endpoint, set)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "session_not_found");
    let init = initialize_request().to_string();
    let response = post_legacy(&server, Some(&reader), &endpoint, init)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(stored(&emu, "user.sse"), None);
}

/// Entra ID's shape: a v2 token's `aud` is the application ID (accepted
/// with --oauth-audience), and its `scp` holds the short names of scopes
/// the operator wrote as URIs.
#[tokio::test]
async fn entra_shaped_tokens_with_an_extra_audience_and_short_scopes() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let app = "00000000-1111-2222-3333-444444444444";
    let read = format!("api://{app}/Secrets.Read");
    let write = format!("api://{app}/Secrets.Write");
    let delete = format!("api://{app}/Secrets.Delete");
    let server = serve(
        &issuer,
        &emu,
        &[
            "--oauth-audience",
            app,
            "--oauth-scope-read",
            &read,
            "--oauth-scope-write",
            &write,
            "--oauth-scope-delete",
            &delete,
        ],
    )
    .await;
    let metadata: Value = http()
        .get(server.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["scopes_supported"], json!([read, write, delete]));
    assert_eq!(metadata["resource"], server.url("/mcp"));
    let mut claims = issuer.claims(app, "entra-oid", "");
    let object = claims.as_object_mut().unwrap();
    object.remove("scope");
    object.insert("scp".to_owned(), json!("Secrets.Read"));
    object.insert("azp".to_owned(), json!("client-app"));
    object.remove("client_id");
    let token = issuer.key.sign(
        &json!({ "alg": "ES256", "typ": "JWT", "kid": "key-1" }),
        &claims,
    );
    let session = open_session(&server, Some(&token)).await;
    let listed = post_mcp(
        &server,
        Some(&token),
        Some(&session),
        &rpc(2, "tools/list", json!({})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        tool_names(&message_in(&listed.text().await.unwrap())),
        ["list_tenant_secrets"]
    );
    // Another application's token is not one for this server.
    claims["aud"] = json!("99999999-1111-2222-3333-444444444444");
    let other = issuer.key.sign(&header("key-1"), &claims);
    let response = post_mcp(&server, Some(&other), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The ledger says who materialized a key: the token's subject, not the
/// client's name; reading it needs secrets:read.
#[tokio::test]
async fn the_ledger_names_the_subject() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    let carol = issuer.token(&resource, "carol", "secrets:read secrets:write");
    let session = open_session(&server, Some(&carol)).await;
    for (id, tool, arguments) in [
        (
            2,
            "set_tenant_secret",
            json!({ "key": "user.carol", "generate": {} }),
        ),
        (
            3,
            "materialize_tenant_secret",
            json!({ "key": "user.carol", "serviceId": "eyevinn-app-a", "secretName": "pw" }),
        ),
    ] {
        let answer = post_mcp(
            &server,
            Some(&carol),
            Some(&session),
            &call(id, tool, arguments),
        )
        .send()
        .await
        .unwrap();
        let answer = message_in(&answer.text().await.unwrap());
        assert_eq!(answer["result"]["isError"], false, "{tool}: {answer}");
    }
    let read = rpc(
        4,
        "resources/read",
        json!({ "uri": "osc://tenant-secrets/user.carol/materializations" }),
    );
    let answer = post_mcp(&server, Some(&carol), Some(&session), &read)
        .send()
        .await
        .unwrap();
    let answer = message_in(&answer.text().await.unwrap());
    let ledger: Value =
        serde_json::from_str(answer["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(ledger["materializations"][0]["by"], "carol", "{ledger}");
    assert_eq!(ledger["materializations"][0]["serviceId"], "eyevinn-app-a");
    // Without secrets:read the ledger is not shown.
    let writer = issuer.token(&resource, "carol", "secrets:write");
    let (status, headers, _, _) = error_of(
        post_mcp(&server, Some(&writer), Some(&session), &read)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="secrets:read secrets:write""#),
        "the challenge names what the token holds and what it needs"
    );
}

/// A Streamable HTTP session answers only the subject that opened it:
/// another subject's valid token naming the session gets `404` on `POST`,
/// `GET` (the session's stream) and `DELETE`, and the session goes on for
/// its owner; nothing reaches OSC for the other subject.
#[tokio::test]
async fn a_session_answers_only_the_subject_that_opened_it() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    let resource = server.url("/mcp");
    let alice = issuer.token(&resource, "alice", ALL);
    let mallory = issuer.token(&resource, "mallory", ALL);
    let session = open_session(&server, Some(&alice)).await;

    let set = call(
        2,
        "set_tenant_secret",
        json!({ "key": "user.owned", "generate": {}, "mode": "create" }),
    );
    let (status, _, body, _) = error_of(
        post_mcp(&server, Some(&mallory), Some(&session), &set)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "session_not_found");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = http()
            .request(method.clone(), server.url("/mcp"))
            .header("authorization", format!("Bearer {mallory}"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
    }
    assert_eq!(stored(&emu, "user.owned"), None);

    let response = post_mcp(&server, Some(&alice), Some(&session), &set)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer = message_in(&response.text().await.unwrap());
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(stored(&emu, "user.owned").is_some());
    assert!(
        server
            .log()
            .contains("a request named a session another subject opened"),
        "{}",
        server.log()
    );
}

/// With OAuth and no page client, askUser is refused before any link is
/// opened or OSC is asked, saying what the operator must set up; the
/// start-up said so too. Page settings without OAuth, or a page client
/// secret given twice or unusable, stop the server at start, unquoted.
#[tokio::test]
async fn ask_user_needs_the_pages_sign_in_with_oauth() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let server = serve(&issuer, &emu, &[]).await;
    assert!(
        server.log().contains(&format!(
            "the one-time askUser page cannot sign anyone in, so askUser is refused: register the page at the \
             authorization server as a client with the redirect URI {}",
            server.url("/ask/signed-in")
        )),
        "{}",
        server.log()
    );
    let resource = server.url("/mcp");
    let dana = issuer.token(&resource, "dana", ALL);
    let session = open_session(&server, Some(&dana)).await;
    let before = emu.requests().len();
    let answer = post_mcp(
        &server,
        Some(&dana),
        Some(&session),
        &call(
            2,
            "set_tenant_secret",
            json!({ "key": "user.dana", "askUser": true }),
        ),
    )
    .send()
    .await
    .unwrap();
    let answer = message_in(&answer.text().await.unwrap());
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let said = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        said.contains("must sign the person in")
            && said.contains("--oauth-page-client-id")
            && said.contains("nothing was written to `user.dana`"),
        "{said}"
    );
    assert!(!said.contains("/ask/"), "no link was handed out: {said}");
    assert_eq!(emu.requests().len(), before, "OSC was not asked");
    assert_eq!(stored(&emu, "user.dana"), None);

    // The page's settings without OAuth.
    let (status, stderr) = run_to_exit(command(
        &emu,
        &["--oauth-page-client-id", "osc-secrets-page"],
        Some("mcp-client-token-http-tests-4b1d0c9a7e"),
    ))
    .await;
    assert!(!status.success());
    assert!(
        stderr.contains(
            "--oauth-page-client-id (MCP_OAUTH_PAGE_CLIENT_ID) is set without --oauth-issuer"
        ),
        "{stderr}"
    );
    // The secret twice, and a secret file that holds more than a secret:
    // neither is quoted.
    let dir = scratch_dir("oauth-page-secret");
    let file = dir.join("secret");
    std::fs::write(&file, "page-secret-canary 2nd-line\n").unwrap();
    let with_file = [
        "--oauth-issuer",
        issuer.url.as_str(),
        "--oauth-page-client-id",
        "osc-secrets-page",
        "--oauth-page-client-secret-file",
        file.to_str().unwrap(),
    ];
    let (status, stderr) = run_to_exit(command(&emu, &with_file, None)).await;
    assert!(!status.success());
    assert!(
        stderr.contains("holds spaces, line breaks, control or non-ASCII characters"),
        "{stderr}"
    );
    assert!(!stderr.contains("canary"), "{stderr}");
    let mut twice = command(&emu, &with_file, None);
    twice.env("MCP_OAUTH_PAGE_CLIENT_SECRET", "page-secret-canary-env");
    let (status, stderr) = run_to_exit(twice).await;
    assert!(!status.success());
    assert!(stderr.contains("is set twice"), "{stderr}");
    assert!(!stderr.contains("canary"), "{stderr}");
}

/// Entra ID names a person in every client application by `oid` (its
/// `sub` differs for each): with `--oauth-subject-claim oid` that is who
/// the audit log names, and a token without it names no one.
#[tokio::test]
async fn the_subject_may_be_entras_object_id() {
    let emu = emulator().await;
    let issuer = Issuer::start().await;
    let dir = scratch_dir("oauth-oid");
    let audit = dir.join("audit.jsonl");
    let server = serve(
        &issuer,
        &emu,
        &[
            "--oauth-subject-claim",
            "oid",
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    )
    .await;
    let resource = server.url("/mcp");
    let person = "7f3c1e2a-0b4d-4e5f-8a9b-0c1d2e3f4a5b";
    let mut from_one_app = issuer.claims(&resource, "pairwise-sub-for-app-one", ALL);
    from_one_app["oid"] = json!(person);
    let token = issuer.key.sign(&header("key-1"), &from_one_app);
    let session = open_session(&server, Some(&token)).await;
    let answer = post_mcp(
        &server,
        Some(&token),
        Some(&session),
        &call(
            2,
            "set_tenant_secret",
            json!({ "key": "user.oid", "generate": {} }),
        ),
    )
    .send()
    .await
    .unwrap();
    let answer = message_in(&answer.text().await.unwrap());
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let records = crate::support::audit_records(&audit);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["subject"], person, "{records:#?}");

    // Without `oid` the token names no person: refused like any bad token.
    let no_oid = issuer.token(&resource, "pairwise-sub-for-app-two", ALL);
    let response = post_mcp(&server, Some(&no_oid), None, &initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let log = server.wait_for_log("reason=\"no subject\"").await;
    assert!(log.contains("OAuth: access token refused"), "{log}");
}
