//! The release artifacts, each tried the way its user gets it: the static
//! binary in an empty root, the image `FROM scratch` (its root filesystem
//! mounted with buildah and its entrypoint run there with `unshare`), the
//! MCP Bundle, the registry entry, and the Kubernetes manifest, validated
//! and run end to end from the image.
//!
//! `scripts/build-static`, `scripts/build-image` and `scripts/build-mcpb`
//! make them (`.ci/run` runs the three first). The tests that need an
//! artifact or an external program are `#[ignore]`d and name the variable
//! that points at it; run with `--include-ignored` they fail, never skip,
//! when it is missing. They run as root (mount and PID namespaces).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use tokio::process::Command;

use crate::support::docs;
use crate::support::haproxy::{Balancer, free_port};
use crate::support::http::Server;
use crate::support::python::{python, run_python};
use crate::support::redis::Redis;
use crate::support::stdio::StdioServer;
use crate::support::{self, MCP_TOKEN, OSC_TOKEN, external, repo_path, scratch_dir};

/// The image's user, as packaging/Containerfile and the Kubernetes manifest
/// name it.
const UID: u32 = 65532;
/// Where the image keeps the binary: its entrypoint.
const ENTRYPOINT: &str = "/usr/local/bin/osc-secrets-mcp";
const TOOLS: [&str; 5] = [
    "delete_tenant_secret",
    "list_tenant_secrets",
    "materialize_tenant_secret",
    "rotate_tenant_secret",
    "set_tenant_secret",
];
const K8S_MANIFEST: &str = "deploy/kubernetes/osc-secrets-mcp.yaml";

fn static_binary() -> PathBuf {
    PathBuf::from(external(
        "OSC_MCP_STATIC_BIN",
        "the static binary's tests (scripts/build-static builds it)",
    ))
}

fn image() -> String {
    external(
        "OSC_MCP_IMAGE",
        "the image's tests (scripts/build-image builds it with buildah)",
    )
}

/// A command run to its end, bounded; it must succeed. Returns stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run ({e})"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image's root filesystem: a buildah working container, mounted;
/// unmounted and removed when dropped. Writes to it (a mount point, an
/// /etc/hosts as a cluster would give) stay in the container's own layer.
struct ImageRoot {
    container: String,
    dir: PathBuf,
}

impl ImageRoot {
    fn mount(image: &str) -> ImageRoot {
        let container = run("buildah", &["from", "--pull-never", image])
            .trim()
            .to_owned();
        let dir = PathBuf::from(run("buildah", &["mount", &container]).trim());
        ImageRoot { container, dir }
    }

    /// A directory inside the root (made if missing), for a bind mount.
    fn mount_point(&self, inside: &str) -> PathBuf {
        let path = self.dir.join(inside.trim_start_matches('/'));
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

impl Drop for ImageRoot {
    fn drop(&mut self) {
        let _ = std::process::Command::new("buildah")
            .args(["umount", &self.container])
            .output();
        let _ = std::process::Command::new("buildah")
            .args(["rm", &self.container])
            .output();
    }
}

/// Which network the isolated process gets.
enum Net {
    /// The host's (loopback ports shared with the test).
    Host,
    /// A namespace of its own with only loopback, brought up.
    New,
}

/// `program` run with `root` as its whole filesystem, as the image's user,
/// in PID and mount namespaces of its own: the root is bind-mounted
/// read-only (as `readOnlyRootFilesystem` does), each of `binds` (a host
/// directory, a path inside) mounted read-only over it. The process dies
/// with the command.
fn isolated(root: &Path, binds: &[(&Path, &str)], net: Net, program: &str) -> Command {
    let mut script = String::from("set -e\nroot=\"$1\"; shift\n");
    if matches!(net, Net::New) {
        script.push_str("ip link set lo up\n");
    }
    script.push_str("mount --bind \"$root\" \"$root\"\n");
    for (i, _) in binds.iter().enumerate() {
        let (src, dst) = (format!("$B{i}"), format!("$D{i}"));
        script.push_str(&format!(
            "mount --bind \"{src}\" \"$root{dst}\"\nmount -o remount,bind,ro \"$root{dst}\"\n"
        ));
    }
    script.push_str("mount -o remount,bind,ro \"$root\"\n");
    script.push_str(&format!(
        "exec unshare --root=\"$root\" --setuid={UID} --setgid={UID} -- \"$@\"\n"
    ));
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--pid", "--fork", "--kill-child"]);
    if matches!(net, Net::New) {
        cmd.arg("--net");
    }
    cmd.args(["--", "sh", "-c", &script, "sh"])
        .arg(root)
        .arg(program);
    // Nothing of the developer's shell reaches the server.
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/home/mcp");
    for (i, (src, dst)) in binds.iter().enumerate() {
        cmd.env(format!("B{i}"), src).env(format!("D{i}"), dst);
    }
    cmd.kill_on_drop(true);
    cmd
}

/// An HTTP server started by [`isolated`]. The `unshare` in front of it
/// waits for it and ignores SIGTERM, and the server's own user change
/// clears any parent-death signal, so it is stopped (and, if the test ends
/// first, killed) by its own process id: the one child of that `unshare`.
struct Contained {
    server: Option<Server>,
    pid: u32,
}

impl Contained {
    async fn start(cmd: Command) -> Contained {
        let server = Server::start_command(cmd).await;
        let outer = server.pid();
        let children =
            std::fs::read_to_string(format!("/proc/{outer}/task/{outer}/children")).unwrap();
        let pid = children
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("unshare {outer} has not one child: {children:?}"));
        Contained {
            server: Some(server),
            pid,
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// SIGTERM, as a platform stops a container; returns the server's stderr.
    async fn stop(mut self) -> String {
        support::sigterm(self.pid);
        let (_, log) = self.server.take().unwrap().terminate().await;
        log
    }
}

impl Drop for Contained {
    fn drop(&mut self) {
        if self.server.is_some() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// Initializes over stdio, lists the tools, and returns their names.
async fn tool_names(server: &mut StdioServer) -> Vec<String> {
    let init = server.initialize().await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "osc-secrets-mcp",
        "{init}"
    );
    let list = server.request("tools/list", json!({})).await;
    let mut names: Vec<String> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

// ------------------------------------------------------------ static binary

/// `ldd` finds no library to load, and the binary serves stdio in a root
/// that holds nothing but itself, with no network at all.
#[tokio::test]
#[ignore = "needs the static binary: OSC_MCP_STATIC_BIN (scripts/build-static; .ci/run builds it)"]
async fn the_static_binary_runs_in_an_empty_root() {
    let binary = static_binary();
    let ldd = std::process::Command::new("ldd")
        .arg(&binary)
        .output()
        .expect("ldd runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        said.contains("statically linked") || said.contains("not a dynamic executable"),
        "{said}"
    );

    let root = scratch_dir("release-empty-root");
    std::fs::copy(&binary, root.join("osc-secrets-mcp")).unwrap();
    let listing: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
    assert_eq!(listing.len(), 1, "the root holds the binary alone");

    let mut cmd = isolated(&root, &[], Net::New, "/osc-secrets-mcp");
    cmd.arg("--sandbox");
    let mut server = StdioServer::spawn_command(cmd);
    assert_eq!(tool_names(&mut server).await, TOOLS);
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
}

/// In the same empty root (no /etc/hosts, no resolv.conf), `localhost`
/// still resolves, and `check` tells a good token from a bad one against
/// the emulator.
#[tokio::test]
#[ignore = "needs the static binary: OSC_MCP_STATIC_BIN (scripts/build-static; .ci/run builds it)"]
async fn the_static_binary_checks_a_token_with_no_resolver_files() {
    let binary = static_binary();
    let emu = support::seeded_emulator().await;
    let port = emu.base_url().rsplit(':').next().unwrap().to_owned();
    let api = format!("http://localhost:{port}");
    let root = scratch_dir("release-empty-root-check");
    std::fs::copy(&binary, root.join("osc-secrets-mcp")).unwrap();

    let check = |token: &'static str| {
        let mut cmd = isolated(&root, &[], Net::Host, "/osc-secrets-mcp");
        cmd.arg("check")
            .env("OSC_API_URL", &api)
            .env("OSC_ACCESS_TOKEN", token)
            .env("OSC_MAX_RETRIES", "0")
            .stdin(Stdio::null());
        async move {
            let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
                .await
                .expect("check ends")
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, said, stderr) = check(OSC_TOKEN).await;
    assert_eq!(code, Some(0), "{said}{stderr}");
    assert!(said.contains(&format!("OSC API: {api}")), "{said}");
    assert!(said.contains("The token works"), "{said}");

    let (code, said, stderr) = check("not-the-token-osc-accepts-0123").await;
    assert_eq!(code, Some(1), "{said}{stderr}");
    assert!(
        said.contains("Not working:") && said.contains("401"),
        "{said}"
    );
}

// ------------------------------------------------------------ image

/// The image: its labels, user and entrypoint, and a root filesystem of
/// exactly the binary, the user's files and the CA certificates.
#[test]
#[ignore = "needs buildah and the image: OSC_MCP_IMAGE (scripts/build-image; .ci/run builds it)"]
fn the_image_holds_the_binary_a_user_and_certificates() {
    let image = image();
    let inspect: Value =
        serde_json::from_str(&run("buildah", &["inspect", "--type", "image", &image])).unwrap();
    let config = &inspect["OCIv1"]["config"];
    let labels = &config["Labels"];
    assert_eq!(
        labels["io.modelcontextprotocol.server.name"],
        docs::REGISTRY_NAME
    );
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "MIT");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        env!("CARGO_PKG_REPOSITORY")
    );
    assert_eq!(config["User"], format!("{UID}:{UID}"));
    assert_eq!(config["Entrypoint"], json!([ENTRYPOINT]));
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("HOME=/home/mcp")),
        "{config}"
    );

    let root = ImageRoot::mount(&image);
    let mut files = Vec::new();
    walk(&root.dir, &root.dir, &mut files);
    files.sort();
    assert_eq!(
        files,
        [
            "etc/group",
            "etc/nsswitch.conf",
            "etc/passwd",
            "etc/ssl/certs/ca-certificates.crt",
            "home/mcp/",
            "usr/local/bin/osc-secrets-mcp",
        ]
    );
    let passwd = std::fs::read_to_string(root.dir.join("etc/passwd")).unwrap();
    assert_eq!(
        passwd,
        format!("mcp:x:{UID}:{UID}:osc-secrets-mcp:/home/mcp:/sbin/nologin\n")
    );
    assert_eq!(
        std::fs::read(root.dir.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap(),
        "the build host's CA certificates"
    );
    use std::os::unix::fs::MetadataExt;
    let home = std::fs::metadata(root.dir.join("home/mcp")).unwrap();
    assert_eq!(
        (home.uid(), home.gid(), home.mode() & 0o777),
        (UID, UID, 0o700)
    );
    if let Ok(binary) = std::env::var("OSC_MCP_STATIC_BIN") {
        assert_eq!(
            std::fs::read(root.dir.join("usr/local/bin/osc-secrets-mcp")).unwrap(),
            std::fs::read(binary).unwrap(),
            "the image carries the static binary"
        );
    }
}

/// Every file under `dir`, relative to `root`; empty directories end in `/`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut empty = true;
    for entry in std::fs::read_dir(dir).unwrap() {
        empty = false;
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
    if empty && dir != root {
        out.push(format!("{}/", dir.strip_prefix(root).unwrap().display()));
    }
}

/// The entrypoint, in the image's root alone, as its user, with no
/// network but loopback: `--sandbox` answers `initialize` and `tools/list`
/// over stdio.
#[tokio::test]
#[ignore = "needs buildah and the image: OSC_MCP_IMAGE (scripts/build-image; .ci/run builds it)"]
async fn the_image_serves_stdio_from_its_root() {
    let root = ImageRoot::mount(&image());
    let mut cmd = isolated(&root.dir, &[], Net::New, ENTRYPOINT);
    cmd.arg("--sandbox");
    let mut server = StdioServer::spawn_command(cmd);
    assert_eq!(tool_names(&mut server).await, TOOLS);
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
}

/// The entrypoint over HTTP in a network namespace of its own (loopback
/// brought up), its bearer token read from a file bind-mounted into the
/// root: the official Python SDK, run in the same namespace, works through
/// it, and a request without the token gets 401.
#[tokio::test]
#[ignore = "needs buildah, the image and the MCP Python SDK: OSC_MCP_IMAGE and OSC_MCP_PYTHON; .ci/run provides them"]
async fn the_image_serves_http_with_a_token_from_a_mounted_file() {
    let root = ImageRoot::mount(&image());
    let secrets = scratch_dir("release-image-http-secrets");
    std::fs::write(secrets.join("mcp-token"), format!("{MCP_TOKEN}\n")).unwrap();
    root.mount_point("/run/secrets");
    let mut cmd = isolated(
        &root.dir,
        &[(&secrets, "/run/secrets")],
        Net::New,
        ENTRYPOINT,
    );
    cmd.args([
        "--sandbox",
        "--transport",
        "http",
        "--listen",
        "127.0.0.1:8765",
    ])
    .env("MCP_AUTH_TOKEN_FILE", "/run/secrets/mcp-token")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let server = Contained::start(cmd).await;
    let netns = format!("--net=/proc/{}/ns/net", server.pid);

    let status = run(
        "nsenter",
        &[
            &netns,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "http://127.0.0.1:8765/mcp",
        ],
    );
    assert_eq!(status, "401");

    // The SDK's interpreter, run in the server's network namespace.
    let interpreter = external("OSC_MCP_PYTHON", "the MCP Python SDK");
    let script = repo_path("tests/python/mcp_client.py");
    let mut client = Command::new("nsenter");
    client
        .arg(&netns)
        .arg(&interpreter)
        .arg(&script)
        .args([
            "--transport",
            "streamable",
            "--url",
            "http://127.0.0.1:8765/mcp",
        ])
        .env("OSC_MCP_TEST_TOKEN", MCP_TOKEN)
        .env("OSC_MCP_TEST_VALUE", support::CANARY)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let report = run_python(client, "the image over HTTP", &support::SECRETS)
        .await
        .report;
    let mut names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS, "{report}");
    for call in ["list_initial", "set_create", "list_user", "delete"] {
        assert_eq!(report["calls"][call]["isError"], false, "{call}: {report}");
    }
    let log = server.stop().await;
    assert!(log.contains("shutting down"), "{log}");
    support::assert_no_leak("the image's log", &log, &support::SECRETS);
}

// ------------------------------------------------------------ bundle

/// The bundle `scripts/build-mcpb` packed: the official CLI validates its
/// manifest, it holds the static binary, and the binary started the way
/// the manifest tells Claude Desktop to (the settings substituted into its
/// environment) serves the tools the settings allow.
#[tokio::test]
#[ignore = "needs the mcpb CLI and the bundle: OSC_MCP_MCPB and OSC_MCP_STATIC_BIN (scripts/build-mcpb; .ci/run provides them)"]
async fn the_bundle_validates_and_runs_as_its_manifest_says() {
    let mcpb = external(
        "OSC_MCP_MCPB",
        "the MCP Bundle CLI (npm @anthropic-ai/mcpb)",
    );
    let bundle = repo_path("target/dist").join(docs::mcpb_file_name());
    assert!(bundle.is_file(), "{} is missing", bundle.display());
    let validated = run(
        &mcpb,
        &["validate", repo_path(docs::MCPB_MANIFEST).to_str().unwrap()],
    );
    assert!(validated.contains("passes"), "{validated}");

    let dir = scratch_dir("release-mcpb");
    run(
        &mcpb,
        &["unpack", bundle.to_str().unwrap(), dir.to_str().unwrap()],
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_path(docs::MCPB_MANIFEST)).unwrap())
            .unwrap();
    assert_eq!(manifest, committed);
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        manifest["user_config"]["osc_access_token"]["sensitive"],
        true
    );
    assert_eq!(manifest["compatibility"]["platforms"], json!(["linux"]));
    let entry = dir.join(manifest["server"]["entry_point"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        std::fs::read(static_binary()).unwrap()
    );

    // As Claude Desktop starts it: ${__dirname} is the unpacked bundle,
    // ${user_config.*} the settings; here read-only is on.
    let settings =
        json!({"osc_access_token": OSC_TOKEN, "osc_environment": "prod", "read_only": true});
    let substitute = |text: &str| {
        let mut text = text.replace("${__dirname}", dir.to_str().unwrap());
        for (key, value) in settings.as_object().unwrap() {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            text = text.replace(&format!("${{user_config.{key}}}"), &value);
        }
        text
    };
    let config = &manifest["server"]["mcp_config"];
    let mut cmd = Command::new(substitute(config["command"].as_str().unwrap()));
    support::clear_settings(&mut cmd);
    for (name, value) in config["env"].as_object().unwrap() {
        cmd.env(name, substitute(value.as_str().unwrap()));
    }
    let emu = support::seeded_emulator().await;
    cmd.env("OSC_API_URL", emu.base_url());
    let mut server = StdioServer::spawn_command(cmd);
    assert_eq!(tool_names(&mut server).await, ["list_tenant_secrets"]);
    let listed = server.call_tool("list_tenant_secrets", json!({})).await;
    assert_eq!(listed["result"]["isError"], false, "{listed}");
    let (ok, transcript, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    support::assert_no_leak("the bundle's server", &transcript, &[OSC_TOKEN]);

    // The registry entry written beside it names it by its digest.
    let entry: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("target/dist/server.json")).unwrap(),
    )
    .unwrap();
    let package = entry["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["registryType"] == "mcpb")
        .expect("an mcpb package");
    let digest = sha2::Sha256::digest(std::fs::read(&bundle).unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(package["fileSha256"], hex);
    assert_eq!(
        package["identifier"],
        format!(
            "{}/releases/download/v{}/{}",
            env!("CARGO_PKG_REPOSITORY"),
            env!("CARGO_PKG_VERSION"),
            docs::mcpb_file_name()
        )
    );
}

// ------------------------------------------------------------ registry entry

/// server.json names what the scripts build, under the name the image's
/// label carries, and marks the tokens secret.
#[test]
fn server_json_names_the_artifacts_the_scripts_build() {
    let entry: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_path(docs::SERVER_JSON)).unwrap())
            .unwrap();
    assert_eq!(entry["$schema"], docs::SERVER_SCHEMA);
    assert_eq!(entry["name"], docs::REGISTRY_NAME);
    assert_eq!(entry["version"], env!("CARGO_PKG_VERSION"));
    assert!(entry["description"].as_str().unwrap().len() <= 100);
    let containerfile = std::fs::read_to_string(repo_path("packaging/Containerfile")).unwrap();
    assert!(
        containerfile.contains(&format!(
            "io.modelcontextprotocol.server.name=\"{}\"",
            docs::REGISTRY_NAME
        )),
        "the image's label and server.json's name differ"
    );
    let oci = &entry["packages"][0];
    assert_eq!(oci["registryType"], "oci");
    assert_eq!(oci["identifier"], docs::image_reference());
    assert_eq!(oci["transport"]["type"], "stdio");
    let token = oci["environmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "OSC_ACCESS_TOKEN")
        .expect("the OSC token");
    assert_eq!(
        (&token["isSecret"], &token["isRequired"]),
        (&json!(true), &json!(true))
    );
    let remote = &entry["remotes"][0];
    assert_eq!(remote["type"], "streamable-http");
    assert_eq!(remote["headers"][0]["name"], "Authorization");
    assert_eq!(remote["headers"][0]["isSecret"], true);

    // The bundle's manifest hands the token over under the same name.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_path(docs::MCPB_MANIFEST)).unwrap())
            .unwrap();
    assert_eq!(
        manifest["server"]["mcp_config"]["env"]["OSC_ACCESS_TOKEN"],
        "${user_config.osc_access_token}"
    );
    assert_eq!(manifest["name"], env!("CARGO_PKG_NAME"));
}

/// `[package.metadata.binstall]` points at the archive `scripts/build-static`
/// writes, under the release's URL.
#[test]
fn binstall_points_at_the_archive_the_script_writes() {
    let cargo = std::fs::read_to_string(repo_path("Cargo.toml")).unwrap();
    let binstall = cargo
        .split("[package.metadata.binstall]")
        .nth(1)
        .expect("a binstall section");
    let field = |name: &str| {
        binstall
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no {name} in the binstall section"))
            .to_owned()
    };
    let (name, version, target) = (
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        "x86_64-unknown-linux-gnu",
    );
    let url = field("pkg-url")
        .replace("{ repo }", env!("CARGO_PKG_REPOSITORY"))
        .replace("{ name }", name)
        .replace("{ version }", version)
        .replace("{ target }", target);
    let archive = format!("{name}-{version}-{target}.tar.gz");
    assert_eq!(
        url,
        format!(
            "{}/releases/download/v{version}/{archive}",
            env!("CARGO_PKG_REPOSITORY")
        )
    );
    assert_eq!(field("pkg-fmt"), "tgz");
    let script = std::fs::read_to_string(repo_path("scripts/build-static")).unwrap();
    assert!(
        script.contains("ARCHIVE=\"$DIST/$NAME-$VERSION-$TARGET.tar.gz\""),
        "scripts/build-static no longer writes {archive}"
    );
}

/// The published crate holds what `cargo install` builds from, and nothing
/// more: the sources, the lock file, README and LICENSE. (`.ci/run` builds
/// the package itself with `cargo package --locked`.)
#[test]
fn the_crate_packages_only_what_it_builds_from() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["package", "--list", "--locked", "--allow-dirty"])
        .current_dir(repo_path(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let files: Vec<&str> = listed.lines().collect();
    let others: Vec<&&str> = files
        .iter()
        .filter(|f| !(f.starts_with("src/") && f.ends_with(".rs")))
        .collect();
    let mut others: Vec<&str> = others
        .into_iter()
        .copied()
        .filter(|f| *f != ".cargo_vcs_info.json")
        .collect();
    others.sort_unstable();
    assert_eq!(
        others,
        [
            "Cargo.lock",
            "Cargo.toml",
            "Cargo.toml.orig",
            "LICENSE",
            "README.md"
        ]
    );
    assert!(files.contains(&"src/main.rs") && files.contains(&"src/lib.rs"));
}

// ------------------------------------------------------------ Kubernetes

/// The manifest as JSON documents, read with the PyYAML that
/// kubernetes-validate brings (the Python beside it).
fn manifest_documents() -> Vec<Value> {
    let validate = external(
        "OSC_MCP_KUBERNETES_VALIDATE",
        "kubernetes-validate and the PyYAML it brings",
    );
    let interpreter = Path::new(&validate).with_file_name("python");
    let interpreter = interpreter.to_str().unwrap();
    let out = run(
        interpreter,
        &[
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            repo_path(K8S_MANIFEST).to_str().unwrap(),
        ],
    );
    serde_json::from_str(&out).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {K8S_MANIFEST}"))
}

/// The server's container in the manifest's Deployment.
fn server_container(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", "osc-secrets-mcp")["spec"]["template"]["spec"]["containers"][0]
}

/// The manifest validates offline against Kubernetes' own schemas
/// (`kubernetes-validate --strict`), and a broken copy does not; it keeps
/// the promises docs/deployment.md makes of it.
#[test]
#[ignore = "needs kubernetes-validate: OSC_MCP_KUBERNETES_VALIDATE; .ci/run installs it"]
fn the_kubernetes_manifest_validates_and_keeps_its_promises() {
    let validate = external(
        "OSC_MCP_KUBERNETES_VALIDATE",
        "kubernetes-validate (PyPI), which ships Kubernetes' schemas",
    );
    let said = run(
        &validate,
        &["--strict", repo_path(K8S_MANIFEST).to_str().unwrap()],
    );
    for resource in [
        "deployment/osc-secrets-mcp ",
        "service/osc-secrets-mcp ",
        "deployment/osc-secrets-mcp-redis ",
        "service/osc-secrets-mcp-redis ",
        "networkpolicy/osc-secrets-mcp-redis ",
    ] {
        assert!(
            said.contains(&format!("passed for resource {resource}")),
            "{said}"
        );
    }
    let broken = scratch_dir("release-k8s-broken").join("broken.yaml");
    let text = std::fs::read_to_string(repo_path(K8S_MANIFEST)).unwrap();
    std::fs::write(&broken, text.replacen("replicas: 3", "replicas: three", 1)).unwrap();
    let refused = std::process::Command::new(&validate)
        .args(["--strict", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a broken manifest passed");

    let docs = manifest_documents();
    let deployment = find(&docs, "Deployment", "osc-secrets-mcp");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], UID);
    let container = server_container(&docs);
    assert_eq!(container["image"], docs::image_reference());
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    let probe = &container["readinessProbe"]["httpGet"];
    assert_eq!(probe["path"], "/healthz");
    assert_eq!(
        probe["httpHeaders"],
        json!([{"name": "Host", "value": "localhost"}])
    );

    // Every variable is one the server reads; the token and key files are
    // in the mounted Secret.
    let known: Vec<String> = docs::environment().into_iter().map(|v| v.name).collect();
    let env = env_of(container);
    for name in env.keys() {
        assert!(
            known.contains(name),
            "{name} is not a variable of the server"
        );
    }
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    for file in [
        "OSC_ACCESS_TOKEN_FILE",
        "MCP_AUTH_TOKEN_FILE",
        "OSC_MCP_STATE_KEY_FILE",
    ] {
        assert!(env[file].starts_with(&format!("{mount}/")), "{file}");
    }
    assert!(env["OSC_MCP_REDIS_URL"].starts_with("redis://osc-secrets-mcp-redis:"));
    find(&docs, "Service", "osc-secrets-mcp");
    find(&docs, "Service", "osc-secrets-mcp-redis");
}

fn env_of(container: &Value) -> std::collections::BTreeMap<String, String> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The manifest's topology, run here from the image's root filesystem:
/// three replicas with the manifest's environment (read-only root, the
/// Secret's files mounted where it mounts them, Redis by its Service name),
/// ready on `/healthz` as its probe asks, a real Redis, HAProxy round robin
/// as the Service, and the official Python SDK through it: a confirmation
/// asked by one replica completes on another, once.
#[tokio::test]
#[ignore = "needs buildah, the image, redis-server, HAProxy, kubernetes-validate's PyYAML and the MCP Python SDK: OSC_MCP_IMAGE, OSC_MCP_REDIS_SERVER, OSC_MCP_HAPROXY, OSC_MCP_KUBERNETES_VALIDATE, OSC_MCP_PYTHON; .ci/run provides them"]
async fn the_kubernetes_topology_runs_from_the_image() {
    let docs_ = manifest_documents();
    let container = server_container(&docs_);
    let mut env = env_of(container);
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .unwrap()
        .to_owned();

    let redis = Redis::start("release-k8s").await;
    let emu = support::seeded_emulator().await;
    let key = "user.k8s-replicated";
    emu.insert_tenant_secret(key, "k8s-canary-value-91d2");

    // The Secret, as `kubectl create secret generic` would hold it.
    let secrets = scratch_dir("release-k8s-secrets");
    std::fs::write(secrets.join("osc-token"), OSC_TOKEN).unwrap();
    std::fs::write(secrets.join("mcp-token"), MCP_TOKEN).unwrap();
    let state_key = run(support::BIN, &["new-state-key"]);
    std::fs::write(secrets.join("state-key"), state_key).unwrap();

    let root = ImageRoot::mount(&image());
    root.mount_point(&mount);
    // What the cluster's DNS would answer for the Redis Service's name.
    std::fs::write(
        root.dir.join("etc/hosts"),
        "127.0.0.1 localhost\n127.0.0.1 osc-secrets-mcp-redis\n",
    )
    .unwrap();
    let redis_url = env["OSC_MCP_REDIS_URL"].replace(":6379/", &format!(":{}/", redis.port()));
    env.insert("OSC_MCP_REDIS_URL".into(), redis_url);
    let port = emu.base_url().rsplit(':').next().unwrap().to_owned();
    env.insert("OSC_API_URL".into(), format!("http://localhost:{port}"));
    env.insert("OSC_MAX_RETRIES".into(), "0".into());
    // The Service's address, here the balancer's, as the public URL.
    let service_port = free_port();
    env.insert(
        "OSC_MCP_PUBLIC_URL".into(),
        format!("http://127.0.0.1:{service_port}"),
    );

    let mut replicas = Vec::new();
    for _ in 0..3 {
        let mut cmd = isolated(&root.dir, &[(&secrets, &mount)], Net::Host, ENTRYPOINT);
        for (name, value) in &env {
            cmd.env(name, value);
        }
        // The container's port, on a loopback port of its own here.
        cmd.env("MCP_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        replicas.push(Contained::start(cmd).await);
    }
    // Ready as the readiness probe asks: GET /healthz with Host: localhost.
    for replica in &replicas {
        let health = support::http::http()
            .get(replica.server().url("/healthz"))
            .header("host", "localhost")
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "{}", replica.server().log());
    }
    let addrs: Vec<_> = replicas.iter().map(|r| r.server().addr).collect();
    let service = Balancer::start_on("release-k8s", service_port, &addrs).await;

    let mut client = python("tests/python/confirm_client.py");
    client
        .args([
            "--url",
            &service.url("/mcp"),
            "--mode",
            "auto",
            "--answer",
            "key",
            "--key",
            key,
        ])
        .env("OSC_MCP_TEST_BEARER", MCP_TOKEN);
    let report = run_python(
        client,
        "through the Service",
        &[OSC_TOKEN, "k8s-canary-value-91d2"],
    )
    .await
    .report;
    for call in ["replace", "delete"] {
        assert_eq!(report["calls"][call]["isError"], false, "{call}: {report}");
    }
    assert!(!emu.tenant_keys().contains(&key.to_owned()));
    for replica in replicas {
        let log = replica.stop().await;
        assert!(log.contains("shutting down"), "{log}");
        assert!(log.contains("ledger and single use kept in Redis"), "{log}");
        support::assert_no_leak("a replica's log", &log, &[OSC_TOKEN, MCP_TOKEN]);
    }
}

/// server.json is valid against the MCP Registry's published schema (the
/// version its `$schema` names, from the registry's own files as the PyPI
/// package `skillsaw` ships them); copies broken the ways publishers break
/// theirs are not, so the check can tell.
#[tokio::test]
#[ignore = "needs the registry's schema: OSC_MCP_PYTHON with skillsaw; .ci/run installs it"]
async fn server_json_is_valid_against_the_registry_schema() {
    let ours = repo_path("server.json");
    let entry: Value = serde_json::from_str(&std::fs::read_to_string(&ours).unwrap()).unwrap();
    let dir = scratch_dir("server-json");
    let mut broken = Vec::new();
    for (name, change) in [
        ("no-namespace", json!({"name": "osc-secrets-mcp"})),
        ("long-description", json!({"description": "x".repeat(300)})),
        ("no-description", json!({"description": null})),
    ] {
        let mut copy = entry.clone();
        for (field, value) in change.as_object().unwrap() {
            if value.is_null() {
                copy.as_object_mut().unwrap().remove(field);
            } else {
                copy[field] = value.clone();
            }
        }
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, copy.to_string()).unwrap();
        broken.push(path);
    }
    let mut cmd = python("tests/python/validate_server_json.py");
    cmd.arg(&ours).args(&broken);
    let report = run_python(cmd, "validate server.json", &[]).await.report;
    let checked = &report[ours.to_str().unwrap()];
    assert_eq!(
        checked["schema"], entry["$schema"],
        "checked against the schema it names: {report:#}"
    );
    assert_eq!(checked["errors"], json!([]), "{report:#}");
    for path in &broken {
        let errors = report[path.to_str().unwrap()]["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{}: {report:#}", path.display());
    }
}
