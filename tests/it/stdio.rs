//! The built binary, spawned as a child process and spoken to over stdio.

use crate::support::{OSC_TOKEN, StdioServer, emulator};
use secrecy::ExposeSecret;
use serde_json::json;

#[tokio::test]
async fn serves_every_tool_over_stdio() {
    let emu = emulator().await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(
        &[],
        &[("OSC_API_URL", &url), ("OSC_ACCESS_TOKEN", OSC_TOKEN)],
    );
    let init = server.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    assert!(
        init["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("{{secrets.")
    );
    // Start-up and initialize send nothing upstream.
    assert!(emu.requests().is_empty());

    let tools = server.request("tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "delete_tenant_secret",
            "list_tenant_secrets",
            "materialize_tenant_secret",
            "rotate_tenant_secret",
            "set_tenant_secret",
        ]
    );

    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.db-password", "value": "pw-1"}),
        )
        .await;
    assert_eq!(set["result"]["isError"], false);
    assert_eq!(set["result"]["structuredContent"]["outcome"], "created");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert!(
        list["result"]["structuredContent"]["secrets"]["user.db-password"].is_string(),
        "{list}"
    );
    let mat = server
        .call_tool(
            "materialize_tenant_secret",
            json!({"key": "user.db-password", "serviceId": "eyevinn-db", "secretName": "dbpassword"}),
        )
        .await;
    assert_eq!(
        mat["result"]["structuredContent"]["reference"],
        "{{secrets.dbpassword}}"
    );
    let del = server
        .call_tool("delete_tenant_secret", json!({"key": "user.db-password"}))
        .await;
    assert_eq!(del["result"]["structuredContent"]["deleted"], true);
    let refused = server
        .call_tool("delete_tenant_secret", json!({"key": "system.x"}))
        .await;
    assert_eq!(refused["result"]["isError"], true);

    let (ok, _, _) = server.finish().await;
    assert!(ok, "exits 0 when the client closes stdin");
    assert_eq!(
        emu.service_secret("eyevinn-db", "dbpassword")
            .unwrap()
            .expose_secret(),
        "pw-1"
    );
    assert_eq!(emu.requests().len(), 4);
}

/// A line typed by hand that the server cannot take gets a JSON-RPC error
/// with id null, as JSON-RPC 2.0 says, instead of silence: -32700 for a
/// line that is not JSON, -32600 for JSON that is not a message and for a
/// line over the size cap. None of them quotes the line, which may hold a
/// secret pasted by mistake; the session goes on.
#[tokio::test]
async fn a_malformed_line_gets_a_json_rpc_error_with_id_null() {
    const PASTED: &str = "sk-live-pasted-into-the-terminal-9c2e";
    let mut server = StdioServer::spawn(&["--sandbox"], &[]);
    server.send_raw(format!("{PASTED}\n").as_bytes()).await;
    let parse = server.next_message().await;
    assert_eq!(parse["jsonrpc"], "2.0", "{parse}");
    assert_eq!(parse["id"], serde_json::Value::Null, "{parse}");
    assert!(
        parse.as_object().unwrap().contains_key("id"),
        "id is there, as null: {parse}"
    );
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert!(
        parse["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Parse error: the line is not JSON."),
        "{parse}"
    );

    server
        .send_raw(format!("{{\"password\": \"{PASTED}\"}}\n").as_bytes())
        .await;
    let invalid = server.next_message().await;
    assert_eq!(invalid["id"], serde_json::Value::Null, "{invalid}");
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");

    // A request whose id can be read gets it back.
    server
        .send_raw(b"{\"id\": 41, \"method\": \"ping\"}\n")
        .await;
    let no_version = server.next_message().await;
    assert_eq!(no_version["id"], 41, "{no_version}");
    assert_eq!(no_version["error"]["code"], -32600, "{no_version}");

    // Over the cap: refused, and not kept.
    let mut long = vec![b'x'; osc_secrets_mcp::transport::stdio::MAX_LINE_BYTES + 10];
    long.push(b'\n');
    server.send_raw(&long).await;
    let too_long = server.next_message().await;
    assert_eq!(too_long["id"], serde_json::Value::Null, "{too_long}");
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    assert!(
        too_long["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 1048576 bytes"),
        "{too_long}"
    );

    // The session goes on as usual.
    let init = server.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(list["result"]["isError"], false, "{list}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(PASTED), "{stdout}");
    assert!(!stderr.contains(PASTED), "{stderr}");
}

/// stdio caps calls in flight as HTTP caps a client (16): with 16 calls
/// held upstream, the next request is not started and gets a JSON-RPC
/// error saying to wait for an earlier call; a ping still answers, and
/// once the held calls return, calls are served again.
#[tokio::test]
async fn calls_beyond_the_cap_are_refused_until_earlier_ones_return() {
    use osc_secrets_mcp::emulator::Fault;
    use osc_secrets_mcp::transport::stdio::MAX_CALLS_IN_FLIGHT;
    assert_eq!(MAX_CALLS_IN_FLIGHT, 16);
    let emu = emulator().await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(
        &[],
        &[("OSC_API_URL", &url), ("OSC_ACCESS_TOKEN", OSC_TOKEN)],
    );
    server.initialize().await;
    emu.push_fault(Fault {
        method: Some("GET".into()),
        delay_ms: Some(3_000),
        times: Some(16),
        ..Fault::default()
    });
    for id in 100..116 {
        server
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "list_tenant_secrets", "arguments": {}}}))
            .await;
    }
    // Wait (bounded) until all 16 are held upstream.
    let held = tokio::time::timeout(crate::support::WAIT, async {
        while emu.requests().len() < 16 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        held.is_ok(),
        "only {} calls reached OSC",
        emu.requests().len()
    );

    let refused = server
        .request(
            "tools/call",
            json!({"name": "list_tenant_secrets", "arguments": {}}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -32000, "{refused}");
    let said = refused["error"]["message"].as_str().unwrap();
    assert!(
        said.starts_with(
            "Too many calls in flight: this server runs at most 16 requests at once over stdio"
        ),
        "{said}"
    );
    assert!(
        said.contains("Wait for an earlier call to return"),
        "{said}"
    );
    assert_eq!(emu.requests().len(), 16, "the refused call sent nothing");
    let ping = server.request("ping", json!({})).await;
    assert!(ping["result"].is_object(), "{ping}");

    // The held calls all return (some may have been read already, while
    // waiting for the answers above), and then calls are served again.
    let held_answer = |message: &serde_json::Value| {
        let held = message["id"]
            .as_u64()
            .is_some_and(|id| (100..116).contains(&id));
        if held {
            assert_eq!(message["result"]["isError"], false, "{message}");
        }
        held
    };
    let mut answered = server
        .transcript
        .lines()
        .filter(|line| held_answer(&serde_json::from_str(line).unwrap()))
        .count();
    while answered < 16 {
        if held_answer(&server.next_message().await) {
            answered += 1;
        }
    }
    let list = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(list["result"]["isError"], false, "{list}");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
}

/// A token problem over stdio is told through the client, not only on
/// stderr (which clients show as "failed to connect"): the server starts,
/// `initialize` says what is wrong first, and every call answers with the
/// problem and the fix, sending nothing to OSC. Without a token at all, and
/// with a token file that cannot be read (the path holding the token itself,
/// pasted by mistake: never quoted).
#[tokio::test]
async fn a_token_problem_is_told_through_the_client() {
    const PASTED: &str = "osc-pat-pasted-where-the-path-goes-51d2";
    let emu = crate::support::emulator().await;
    let api = emu.base_url();
    for (env, named) in [
        (vec![("OSC_API_URL", api.as_str())], "OSC_PAT_JWT"),
        (
            vec![
                ("OSC_API_URL", api.as_str()),
                ("OSC_ACCESS_TOKEN_FILE", PASTED),
            ],
            "OSC_ACCESS_TOKEN_FILE",
        ),
    ] {
        let mut server = StdioServer::spawn(&[], &env);
        let init = server.initialize().await;
        let instructions = init["result"]["instructions"].as_str().unwrap();
        assert!(
            instructions.starts_with("THIS SERVER IS NOT CONFIGURED:")
                && instructions.contains(named),
            "{instructions}"
        );
        let tools = server.request("tools/list", json!({})).await;
        assert_eq!(tools["result"]["tools"].as_array().unwrap().len(), 5);
        let list = server.call_tool("list_tenant_secrets", json!({})).await;
        assert_eq!(list["result"]["isError"], true, "{list}");
        let said = list["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            said.starts_with("Not done: this server is not configured:") && said.contains(named),
            "{said}"
        );
        assert!(said.contains("osc-secrets-mcp check"), "{said}");
        let read = server
            .request("resources/read", json!({"uri": "osc://tenant-secrets"}))
            .await;
        assert!(
            read["error"]["message"].as_str().unwrap().contains(named),
            "{read}"
        );
        let (ok, stdout, stderr) = server.finish().await;
        assert!(ok, "{stderr}");
        assert!(
            stderr.contains(named) && stderr.contains("serving anyway"),
            "{stderr}"
        );
        for text in [&stdout, &stderr] {
            assert!(!text.contains(PASTED), "{text}");
        }
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn a_bad_api_url_stops_start_up() {
    let server = StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", "deploy.svc.prod.osaas.io"),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
        ],
    );
    let (ok, _, stderr) = server.finish().await;
    assert!(!ok);
    assert!(stderr.contains("OSC_API_URL"), "{stderr}");
    assert!(!stderr.contains(OSC_TOKEN));
}

#[tokio::test]
async fn the_sandbox_needs_no_account() {
    let mut server = StdioServer::spawn(&["--sandbox"], &[]);
    server.initialize().await;
    let list = server
        .call_tool("list_tenant_secrets", json!({"prefix": "system"}))
        .await;
    assert_eq!(list["result"]["isError"], false);
    // The sandbox's seeded platform keys, exactly.
    assert_eq!(list["result"]["structuredContent"]["count"], 2, "{list}");
    let keys: Vec<&String> = list["result"]["structuredContent"]["secrets"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        keys,
        ["system.gitea-admin-token", "system.sdlc-webhook-secret"]
    );
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.try-me", "value": "sandbox-value", "mode": "create"}),
        )
        .await;
    assert_eq!(set["result"]["structuredContent"]["outcome"], "created");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok);
    assert!(stderr.contains("SANDBOX"), "{stderr}");
}

/// Whether a setting's name says it carries the OSC token: `OSC_ACCESS_TOKEN`,
/// `OSC_PAT_JWT`, or any token other than a token *file*.
fn names_the_token(name: &str) -> bool {
    let name = name.to_ascii_uppercase().replace('-', "_");
    name.contains("JWT") || (name.contains("TOKEN") && !name.ends_with("TOKEN_FILE"))
}

#[test]
fn the_word_check_knows_a_token_from_a_token_file() {
    for carries in [
        "OSC_ACCESS_TOKEN",
        "OSC_PAT_JWT",
        "token",
        "access-token",
        "auth_token",
        "MCP_AUTH_TOKEN",
        "pat-jwt",
    ] {
        assert!(names_the_token(carries), "{carries}");
    }
    for not in [
        "auth-token-file",
        "MCP_AUTH_TOKEN_FILE",
        "api-url",
        "sandbox",
    ] {
        assert!(!names_the_token(not), "{not}");
    }
}

/// No flag, positional or environment twin of any (sub)command of the real
/// clap definition can carry the token: it comes from the environment only,
/// read by name outside clap.
#[test]
fn no_argument_of_the_command_line_carries_the_token() {
    use clap::CommandFactory;
    let mut pending = vec![osc_secrets_mcp::config::Cli::command()];
    let mut seen = 0;
    while let Some(command) = pending.pop() {
        for arg in command.get_arguments() {
            seen += 1;
            let mut names = vec![arg.get_id().to_string()];
            names.extend(arg.get_long().map(str::to_owned));
            names.extend(arg.get_short().map(String::from));
            names.extend(
                arg.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(str::to_owned),
            );
            names.extend(arg.get_env().map(|e| e.to_string_lossy().into_owned()));
            names.extend(
                arg.get_value_names()
                    .into_iter()
                    .flatten()
                    .map(|v| v.to_string()),
            );
            for name in names {
                assert!(
                    !names_the_token(&name),
                    "`{}` has an argument `{name}` that could carry the OSC token",
                    command.get_name()
                );
            }
        }
        pending.extend(command.get_subcommands().cloned());
    }
    // The walk really saw the command line (a dozen and more settings).
    assert!(seen > 15, "only {seen} arguments found");
}

/// A token given as a would-be flag is refused as an unknown argument (a
/// usage error, exit 2) and not echoed, even when everything else needed to
/// start is in place.
#[tokio::test]
async fn a_token_on_argv_is_refused_as_an_unknown_argument() {
    let env = [
        ("OSC_API_URL", "http://127.0.0.1:9"),
        ("OSC_ACCESS_TOKEN", OSC_TOKEN),
    ];
    // The same settings without the flag start and serve.
    let mut server = StdioServer::spawn(&[], &env);
    let init = server.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "osc-secrets-mcp");
    let (ok, _, _) = server.finish().await;
    assert!(ok);

    let value = "argv-token-3c1f9e-eyJhbGciOiJub25lIn0";
    for args in [
        vec!["--token", value],
        vec![&*format!("--token={value}")],
        vec!["--osc-access-token", value],
        vec!["--access-token", value],
        vec!["--pat-jwt", value],
    ] {
        let server = StdioServer::spawn(&args, &env);
        let (status, stdout, stderr) = server.finish_with_status().await;
        assert_eq!(status.code(), Some(2), "{args:?}: a usage error; {stderr}");
        // Refused in fixed words that repeat nothing typed, not even the
        // flag's name (`--token=VALUE` is one word).
        assert!(
            stderr.contains("unexpected argument on the command line"),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(
            !stderr.contains(value),
            "{args:?} echoed the token: {stderr}"
        );
    }
}

/// `--log-format json`: every stderr line is one JSON object with a
/// timestamp, a level and a message, the operator's own lines included,
/// and none holds a value or the token.
#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    const VALUE: &str = "json-log-canary-value-77ab";
    let emu = emulator().await;
    let url = emu.base_url();
    let mut server = StdioServer::spawn(
        &[
            "--log-format",
            "json",
            "--exclude-tools",
            "delete_tenant_secret",
        ],
        &[
            ("OSC_API_URL", &url),
            ("OSC_ACCESS_TOKEN", OSC_TOKEN),
            ("OSC_MCP_LOG", "debug"),
        ],
    );
    server.initialize().await;
    let set = server
        .call_tool(
            "set_tenant_secret",
            json!({"key": "user.json-log", "value": VALUE}),
        )
        .await;
    assert_eq!(set["result"]["isError"], false, "{set}");
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    let mut messages = Vec::new();
    for line in &lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            object["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(object["level"].is_string(), "{line}");
        messages.push(
            object["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{line}"))
                .to_owned(),
        );
        assert!(!line.contains(VALUE) && !line.contains(OSC_TOKEN), "{line}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("serving MCP on stdio")),
        "{messages:?}"
    );
    // The operator's own lines (the guardrail summary) are objects too.
    assert!(
        messages.iter().any(|m| m.starts_with("guardrail:")),
        "{messages:?}"
    );
}
