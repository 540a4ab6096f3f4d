//! The nginx example of docs/deployment.md, as written there, in front of
//! the server with TLS: Debian's nginx, a certificate for the example's
//! host name made with `openssl`, and a session-era askUser call that waits
//! longer than nginx's default read timeout (60 s) for the one-time page,
//! whose link goes through the same proxy, and writes once it is used.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::haproxy::free_port;
use crate::support::http::{Server, command, message_in};
use crate::support::{self, MCP_TOKEN, external, repo_path, scratch_dir};

const HOST: &str = "mcp.example.com";
const CANARY: &str = "canary-typed-behind-nginx-3f1c";

/// The nginx block of docs/deployment.md.
fn documented_block() -> String {
    let docs = std::fs::read_to_string(repo_path("docs/deployment.md")).unwrap();
    let start = docs
        .find("```nginx\n")
        .expect("docs/deployment.md shows an nginx block");
    let rest = &docs[start + "```nginx\n".len()..];
    rest[..rest.find("```").unwrap()].to_owned()
}

/// Reads `response`'s body until `done` says it holds what is wanted.
async fn read_until(
    response: &mut reqwest::Response,
    seen: &mut String,
    within: Duration,
    done: impl Fn(&str) -> bool,
) {
    tokio::time::timeout(within, async {
        while !done(seen) {
            match response.chunk().await.unwrap() {
                Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                None => panic!("the stream ended early: {seen}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not in time: {seen}"));
}

/// Each `data:` line of an SSE body, as JSON.
fn events(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

#[tokio::test]
#[ignore = "needs nginx and openssl: OSC_MCP_NGINX names nginx; .ci/run installs both; waits 65 s"]
async fn the_documented_nginx_proxy_carries_a_long_ask_user_wait() {
    let nginx = external("OSC_MCP_NGINX", "nginx");
    let dir = scratch_dir("nginx");
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    let openssl = |args: &[&str]| {
        let made = std::process::Command::new("openssl")
            .current_dir(&dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(made.status.success(), "openssl {args:?}: {made:?}");
    };
    std::fs::write(
        dir.join("leaf.ext"),
        format!("subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &format!("/CN={HOST}"),
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);

    let emu = support::seeded_emulator().await;
    let mut cmd = command(&emu, &[], Some(MCP_TOKEN));
    cmd.env("MCP_ALLOWED_HOSTS", HOST)
        .env("OSC_MCP_PUBLIC_URL", format!("https://{HOST}"));
    let server = Server::start_command(cmd).await;

    let port = free_port();
    let block = documented_block()
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("/etc/ssl/mcp.example.com.pem", cert.to_str().unwrap())
        .replace("/etc/ssl/mcp.example.com.key", key.to_str().unwrap())
        .replace("http://127.0.0.1:8765", &format!("http://{}", server.addr));
    let prefix = dir.display();
    let config = format!(
        "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n  \
         fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
         {block}}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), config).unwrap();
    let mut proxy = tokio::process::Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    let at: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(at).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nginx did not listen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()])
        .resolve(HOST, at)
        .build()
        .unwrap();
    let base = format!("https://{HOST}:{port}");
    let post = |session: Option<&str>, body: Value| {
        let mut request = client
            .post(format!("{base}/mcp"))
            .header("authorization", format!("Bearer {MCP_TOKEN}"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let init = post(
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {"url": {}}},
            "clientInfo": {"name": "behind-nginx", "version": "1"}}}),
    )
    .await
    .unwrap();
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        message_in(&init.text().await.unwrap())["result"]["serverInfo"]["name"],
        "osc-secrets-mcp"
    );
    let initialized = post(
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .unwrap();
    assert_eq!(initialized.status(), 202);

    let mut call = post(
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "set_tenant_secret", "arguments": {"key": "user.tls", "askUser": true}}}),
    )
    .await
    .unwrap();
    assert_eq!(call.status(), 200);
    let mut seen = String::new();
    read_until(&mut call, &mut seen, Duration::from_secs(30), |s| {
        s.contains("elicitation/create")
    })
    .await;
    let asked = events(&seen)
        .into_iter()
        .find(|e| e["method"] == "elicitation/create")
        .unwrap();
    let link = asked["params"]["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("https://{HOST}/ask/")), "{link}");

    // Longer than nginx's default read timeout (60 s): the call's stream
    // stays open through the proxy (the server also sends a keep-alive
    // comment on it every 15 s, so the stream works without the block's
    // long timeouts too; they are for waits with nothing sent at all).
    tokio::time::sleep(Duration::from_secs(65)).await;
    let page = link.replace(&format!("https://{HOST}/"), &format!("{base}/"));
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("value", CANARY)
        .append_pair("multiline", "")
        .append_pair("action", "save")
        .finish();
    let submitted = client
        .post(&page)
        .header("origin", format!("https://{HOST}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 200);
    assert!(submitted.text().await.unwrap().contains("<title>Done"));
    read_until(&mut call, &mut seen, Duration::from_secs(30), |s| {
        events(s).iter().any(|e| e["id"] == 2)
    })
    .await;
    let result = events(&seen).into_iter().find(|e| e["id"] == 2).unwrap();
    assert_eq!(
        result["result"]["structuredContent"]["status"], "completed",
        "{result}"
    );
    assert_eq!(support::stored(&emu, "user.tls").as_deref(), Some(CANARY));
    let _ = proxy.start_kill();
    server.terminate().await;
}
