//! The official MCP Python SDK, running a script of tests/python.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use super::{assert_no_leak, clear_settings, external, repo_path};

/// What one run of a script printed: its JSON report on stdout, and stderr.
pub struct PythonRun {
    pub report: Value,
    pub stdout: String,
    pub stderr: String,
}

/// `script` (a path under the repository) run by the SDK's Python, which
/// `OSC_MCP_PYTHON` names: fails, never skips, when it is not set. The
/// child gets none of the developer's `OSC_*`/`MCP_*` settings.
pub fn python(script: &str) -> Command {
    let interpreter = external("OSC_MCP_PYTHON", "the MCP Python SDK");
    let mut cmd = Command::new(interpreter);
    clear_settings(&mut cmd);
    cmd.arg(repo_path(script))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` (from [`python`]) to its end, bounded; it must succeed, and
/// neither of its outputs may hold any of `secrets`. `run` names it in
/// failures.
pub async fn run_python(mut cmd: Command, run: &str, secrets: &[&str]) -> PythonRun {
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the Python client finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{run} failed:\n{stdout}\n{stderr}");
    assert_no_leak(
        &format!("{run}: the Python client's output"),
        &stdout,
        secrets,
    );
    assert_no_leak(
        &format!("{run}: the Python client's stderr"),
        &stderr,
        secrets,
    );
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{run}: no JSON report ({e}):\n{stdout}\n{stderr}"));
    PythonRun {
        report,
        stdout,
        stderr,
    }
}
