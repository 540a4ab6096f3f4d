//! `/metrics`: behind the bearer token on the main listener, or on a
//! listener of its own without one (`--metrics-listen`); counts of tool
//! calls, refusals, requests to OSC, sessions and open links, with no key
//! name, value or token in them; and a real Prometheus scraping both.

use serde_json::json;

use crate::support::http::{Server, bearer, call, http, open_session, post_mcp};
use crate::support::{self, MCP_TOKEN, OSC_TOKEN, external, scratch_dir};

const CANARY: &str = "canary-metrics-value-0b8e51";
const KEY: &str = "user.metrics-canary-key";

/// The metrics text at `url` (with `token`): status and body.
async fn scrape(url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = http().get(url);
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// The value of the sample `line` starts with, if there is one.
fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// The port the server said its metrics listener is on.
fn metrics_port(server: &Server) -> u16 {
    let log = server.log();
    let at = log
        .split("metrics at http://")
        .nth(1)
        .expect("the metrics listener is announced");
    let addr = at.split('/').next().unwrap();
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// Without the token `/metrics` is refused like `/mcp`; with it, it
/// counts what happened: each tool call by tool and outcome, a guardrail
/// refusal by its rule, OSC's answers by method and status, the session
/// open, the one-time link pending. Nothing in it names a key or carries
/// the value or a token. The listener of its own serves the same without
/// a token, and nothing but `/metrics`.
#[tokio::test]
async fn metrics_count_what_happened_and_name_nothing_secret() {
    let emu = support::seeded_emulator().await;
    emu.insert_tenant_secret(KEY, CANARY);
    let server = Server::start(
        &emu,
        &["--keys", "user.*", "--metrics-listen", "127.0.0.1:0"],
        Some(MCP_TOKEN),
    )
    .await;
    let (status, _, _) = scrape(&server.url("/metrics"), None).await;
    assert_eq!(status, 401);

    let session = open_session(&server, Some(MCP_TOKEN)).await;
    for (id, tool, arguments) in [
        (2, "list_tenant_secrets", json!({})),
        (3, "list_tenant_secrets", json!({})),
        (
            4,
            "set_tenant_secret",
            json!({"key": "system.locked", "value": "x"}),
        ),
        (
            5,
            "set_tenant_secret",
            json!({"key": "user.metrics-asked", "askUser": true}),
        ),
    ] {
        let answer = post_mcp(
            &server,
            Some(MCP_TOKEN),
            Some(&session),
            &call(id, tool, arguments),
        )
        .send()
        .await
        .unwrap();
        assert!(answer.status().is_success());
    }

    let (status, kind, text) = scrape(&server.url("/metrics"), Some(MCP_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let expect = [
        (
            "osc_secrets_mcp_tool_calls_total{tool=\"list_tenant_secrets\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "osc_secrets_mcp_tool_calls_total{tool=\"set_tenant_secret\",outcome=\"refused\"}",
            1.0,
        ),
        (
            "osc_secrets_mcp_tool_calls_total{tool=\"set_tenant_secret\",outcome=\"pending\"}",
            1.0,
        ),
        ("osc_secrets_mcp_refusals_total{rule=\"guardrail\"}", 1.0),
        ("osc_secrets_mcp_sessions_open", 1.0),
        ("osc_secrets_mcp_links_pending", 1.0),
    ];
    for (line, value) in expect {
        assert_eq!(sample(&text, line), Some(value), "{line}\n{text}");
    }
    let listed = sample(
        &text,
        "osc_secrets_mcp_osc_requests_total{method=\"GET\",status=\"200\"}",
    )
    .unwrap_or_default();
    assert!(listed >= 2.0, "{text}");
    assert!(
        text.contains(
            "osc_secrets_mcp_osc_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\"}"
        ) || text.contains(
            "osc_secrets_mcp_osc_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"}"
        ),
        "{text}"
    );
    support::assert_no_leak(
        "/metrics",
        &text,
        &[
            CANARY,
            OSC_TOKEN,
            MCP_TOKEN,
            KEY,
            "user.metrics-asked",
            "system.locked",
            &session,
        ],
    );

    let own = format!("http://127.0.0.1:{}", metrics_port(&server));
    let (status, _, alone) = scrape(&format!("{own}/metrics"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&alone, "osc_secrets_mcp_refusals_total{rule=\"guardrail\"}"),
        Some(1.0),
        "{alone}"
    );
    let (status, _, _) = scrape(&format!("{own}/mcp"), None).await;
    assert_eq!(status, 404);
    server.terminate().await;
}

/// A real Prometheus (Debian's) scrapes both: the main listener with the
/// bearer token from its `authorization` setting, and the listener of its
/// own without. Both targets are up, and a query returns the tool calls.
#[tokio::test]
#[ignore = "needs Prometheus: OSC_MCP_PROMETHEUS names it; .ci/run installs it"]
async fn a_real_prometheus_scrapes_the_metrics() {
    let prometheus = external("OSC_MCP_PROMETHEUS", "Prometheus");
    let emu = support::seeded_emulator().await;
    let metrics_port = crate::support::haproxy::free_port();
    let own = format!("127.0.0.1:{metrics_port}");
    let server = Server::start(&emu, &["--metrics-listen", &own], Some(MCP_TOKEN)).await;
    let session = open_session(&server, Some(MCP_TOKEN)).await;
    post_mcp(
        &server,
        Some(MCP_TOKEN),
        Some(&session),
        &call(2, "list_tenant_secrets", json!({})),
    )
    .send()
    .await
    .unwrap();

    let dir = scratch_dir("prometheus");
    let token_file = dir.join("token");
    std::fs::write(&token_file, MCP_TOKEN).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: main\n    authorization:\n      type: Bearer\n      credentials_file: {}\n    \
         static_configs:\n      - targets: ['{}']\n\
         \x20 - job_name: own\n    static_configs:\n      - targets: ['{own}']\n",
        token_file.display(),
        server.addr,
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let web = format!("127.0.0.1:{}", crate::support::haproxy::free_port());
    let mut child = tokio::process::Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let query = |q: &str| {
        let encoded: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let url = format!("http://{web}/api/v1/query?query={encoded}");
        async move {
            let answer = http().get(url).send().await.ok()?;
            answer.json::<serde_json::Value>().await.ok()
        }
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let (up, calls) = loop {
        let up = query("up").await;
        let calls =
            query("osc_secrets_mcp_tool_calls_total{tool=\"list_tenant_secrets\",outcome=\"ok\"}")
                .await;
        let ups: Vec<(String, String)> = up
            .as_ref()
            .and_then(|u| u["data"]["result"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                (
                    r["metric"]["job"].as_str().unwrap_or_default().to_owned(),
                    r["value"][1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let both = ["main", "own"]
            .iter()
            .all(|job| ups.iter().any(|(j, v)| j == job && v == "1"));
        let counted = calls
            .as_ref()
            .and_then(|c| c["data"]["result"].as_array().map(|r| r.len()))
            .unwrap_or(0);
        if both && counted == 2 {
            break (ups, calls.unwrap());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus did not scrape both in time: up {ups:?}, calls {calls:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    for result in calls["data"]["result"].as_array().unwrap() {
        assert_eq!(result["value"][1], "1", "{up:?} {calls}");
    }
    let _ = child.start_kill();
    server.terminate().await;
}
