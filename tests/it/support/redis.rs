//! A real Redis: Debian's `redis-server`, named by `OSC_MCP_REDIS_SERVER`,
//! started on a free loopback port in a directory of its own, with no
//! persistence (so a restart comes back empty). It can be stopped, started
//! again on the same port, paused (SIGSTOP) and resumed.
//!
//! The tests that need it are `#[ignore]`d; run with `--include-ignored`
//! (`.ci/run` installs `redis-server` and sets the variable) they fail,
//! never skip, when it is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tokio::process::{Child, Command};

use super::{WAIT, external, scratch_dir};

pub struct Redis {
    binary: String,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
    /// Serving TLS only, with a certificate signed by [`Redis::ca`].
    tls: bool,
    child: Option<Child>,
}

impl Redis {
    /// A fresh Redis, answering `PING` before this returns.
    pub async fn start(name: &str) -> Redis {
        Redis::start_with(name, None).await
    }

    /// A fresh Redis that requires `password` (`requirepass`).
    pub async fn start_with(name: &str, password: Option<&str>) -> Redis {
        let binary = external("OSC_MCP_REDIS_SERVER", "the Redis tests");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut redis = Redis {
            binary,
            port,
            dir: scratch_dir(&format!("redis-{name}")),
            password: password.map(str::to_owned),
            tls: false,
            child: None,
        };
        redis.run().await;
        redis
    }

    /// A fresh Redis that serves TLS only, with a certificate for
    /// 127.0.0.1 and localhost signed by a CA of its own ([`Redis::ca`]),
    /// made with the `openssl` command.
    pub async fn start_tls(name: &str) -> Redis {
        let mut redis = Redis {
            binary: external("OSC_MCP_REDIS_SERVER", "the Redis tests"),
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
            dir: scratch_dir(&format!("redis-{name}")),
            password: None,
            tls: true,
            child: None,
        };
        let dir = redis.dir.clone();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs (.ci/run installs it)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=osc-mcp test CA",
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
            "/CN=localhost",
            "-keyout",
            "redis.key",
            "-out",
            "redis.csr",
        ]);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "redis.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "redis.pem",
        ]);
        redis.run().await;
        redis
    }

    /// The CA that signed a TLS Redis's certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// `redis://127.0.0.1:PORT/0` (`rediss://` with TLS), with the
    /// password if there is one.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts `redis-server` on this port (again), empty, and waits until
    /// it answers.
    async fn run(&mut self) {
        // Nothing is saved by itself, but a snapshot left over would load.
        for leftover in ["dump.rdb", "appendonlydir"] {
            let path = self.dir.join(leftover);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir_all(&path);
        }
        self.run_keeping_data().await;
    }

    /// Starts `redis-server` on this port, loading a snapshot if one was
    /// saved (`SAVE`), and waits until it answers.
    async fn run_keeping_data(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let mut cmd = Command::new(&self.binary);
        if self.tls {
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args([
                    "--tls-cert-file",
                    "redis.pem",
                    "--tls-key-file",
                    "redis.key",
                ])
                .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]);
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.current_dir(&self.dir)
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", "redis.log"]);
        if let Some(password) = &self.password {
            cmd.args(["--requirepass", password]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", self.binary)),
        );
        let deadline = Instant::now() + WAIT;
        loop {
            if self.ping().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server never answered on port {}; its log:\n{}",
                self.port,
                std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether Redis answers: `PING`, or for TLS (whose CA the test's own
    /// client does not hold) that its port takes connections.
    async fn ping(&self) -> bool {
        if self.tls {
            return tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok();
        }
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let attempt = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), attempt).await,
            Ok(Ok(pong)) if pong == "PONG"
        )
    }

    /// Stops Redis (SIGKILL, as a crash or a lost node would) and waits
    /// for it to be gone: its port refuses connections.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("Redis is running");
        child.start_kill().unwrap();
        tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("redis-server exits")
            .unwrap();
    }

    /// Starts Redis again on the same port, empty.
    pub async fn start_again(&mut self) {
        self.run().await;
    }

    /// Stops Redis and starts it again on the same port, empty.
    pub async fn restart_empty(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops Redis and starts it again on the same port from the snapshot
    /// last saved with `SAVE`: what was written since is lost, as after a
    /// crash of a Redis that snapshots (Debian's default configuration).
    pub async fn restart_from_snapshot(&mut self) {
        self.stop().await;
        self.start_from_snapshot().await;
    }

    /// Starts a stopped Redis again on the same port from the snapshot last
    /// saved with `SAVE`.
    pub async fn start_from_snapshot(&mut self) {
        self.run_keeping_data().await;
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Freezes Redis (SIGSTOP): it accepts connections and answers nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused Redis go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// A connection of the test's own.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("the test connects to Redis")
    }

    /// Every key in Redis, with everything it holds, as text: strings,
    /// hash fields and values, list, set and sorted-set members.
    pub async fn dump(&self) -> Vec<(String, String)> {
        let mut conn = self.connection().await;
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        let mut dump = Vec::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let held = match kind.as_str() {
                "string" => conn.get::<_, String>(&key).await.unwrap(),
                "hash" => conn
                    .hgetall::<_, Vec<(String, String)>>(&key)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(f, v)| format!("{f}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "list" => conn
                    .lrange::<_, Vec<String>>(&key, 0, -1)
                    .await
                    .unwrap()
                    .join("\n"),
                "set" => conn
                    .smembers::<_, Vec<String>>(&key)
                    .await
                    .unwrap()
                    .join("\n"),
                "zset" => conn
                    .zrange::<_, Vec<String>>(&key, 0, -1)
                    .await
                    .unwrap()
                    .join("\n"),
                "none" => continue,
                other => panic!("key {key} holds a {other}, which the dump cannot read"),
            };
            dump.push((key, held));
        }
        dump
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // A paused Redis would not die of SIGKILL until continued.
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }
            let _ = child.start_kill();
        }
    }
}
