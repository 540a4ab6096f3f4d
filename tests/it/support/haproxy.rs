//! A real load balancer in front of replicas: Debian's HAProxy, started on
//! a loopback port from a configuration written here, round-robin and with
//! no affinity, as the set-up has it. `OSC_MCP_HAPROXY` names the
//! binary (`.ci/run` installs it); a test that needs it fails, never skips,
//! when it is not set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{external, scratch_dir};

pub struct Balancer {
    child: Child,
    pub addr: SocketAddr,
    _dir: PathBuf,
}

impl Balancer {
    /// HAProxy on 127.0.0.1:`port` (chosen with [`free_port`] before the
    /// replicas started, so that they can name the balancer's URL),
    /// sending each request to the next of `backends` in turn (`balance
    /// roundrobin`, no stickiness, a fresh server-side connection per
    /// request so that no keep-alive pins a client to one replica).
    pub async fn start_on(name: &str, port: u16, backends: &[SocketAddr]) -> Balancer {
        let binary = external("OSC_MCP_HAPROXY", "HAProxy");
        let dir = scratch_dir(&format!("haproxy-{name}"));
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("    server r{i} {addr}\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 256\n\
             defaults\n    mode http\n    option http-server-close\n    timeout connect 2s\n    \
             timeout client 60s\n    timeout server 60s\n\
             frontend mcp\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
             backend replicas\n    balance roundrobin\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(binary)
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "haproxy did not listen on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Balancer {
            child,
            addr,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A loopback port free now (bound, then released for HAProxy to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
