//! A real authorization server: npm `oidc-provider`, configured by
//! tests/oauth/provider.mjs, on an ephemeral loopback port. Needs
//! OSC_MCP_NODE (a Node.js) and OSC_MCP_OIDC_PROVIDER (the node_modules
//! holding oidc-provider), which .ci/run installs; a test that needs it
//! fails, never skips, when they are not set.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{WAIT, external, repo_path};

pub struct Provider {
    /// Its issuer identifier, `http://127.0.0.1:PORT`.
    pub issuer: String,
    _child: Child,
}

impl Provider {
    /// Starts it and waits for the line naming its issuer. It ends when
    /// dropped (its stdin closes, and it is killed).
    pub async fn start() -> Provider {
        let node = external(
            "OSC_MCP_NODE",
            "the OAuth authorization server (oidc-provider)",
        );
        let modules = external(
            "OSC_MCP_OIDC_PROVIDER",
            "the OAuth authorization server (oidc-provider)",
        );
        let mut child = Command::new(node)
            .arg(repo_path("tests/oauth/provider.mjs"))
            .env("NODE_PATH", modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the authorization server starts")
            .unwrap()
            .expect("the authorization server names its issuer");
        let started: Value = serde_json::from_str(&line).unwrap();
        let issuer = started["issuer"].as_str().unwrap().to_owned();
        // Whatever else it prints is drained, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider {
            issuer,
            _child: child,
        }
    }
}
