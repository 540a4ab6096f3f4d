//! Host names, resolved by this program rather than by the C library.
//!
//! The OSC client and `--listen` resolve names here, with
//! hickory-resolver: `localhost` is loopback without asking anyone
//! (RFC 6761), then `/etc/hosts`, then the name servers of
//! `/etc/resolv.conf`. glibc's `getaddrinfo` loads NSS modules at run time,
//! which a statically linked build cannot count on and an image `FROM
//! scratch` does not have; resolving here, every build resolves the same way
//! and the static binary needs no library at all.
//!
//! Without a readable `/etc/resolv.conf` only `localhost` and `/etc/hosts`
//! resolve, and a lookup of another name says so; no public name server is
//! tried instead.
//!
//! The Redis client still resolves through glibc: redis's
//! `ConnectionManager` takes no resolver. glibc's `files` and `dns` sources
//! are built into it and work in a static binary too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hickory_resolver::config::{LookupIpStrategy, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Hosts, TokioResolver};

/// A resolver, made on its first lookup (inside the runtime that will run
/// its connections). Cheap to clone; clones share one cache.
#[derive(Clone)]
pub struct Dns {
    files: Arc<(PathBuf, PathBuf)>,
    resolver: Arc<OnceLock<Built>>,
}

struct Built {
    /// None only if no resolver could be made at all.
    resolver: Option<TokioResolver>,
    /// Why names beyond `localhost` and the hosts file cannot be resolved.
    no_servers: Option<String>,
}

impl Default for Dns {
    fn default() -> Dns {
        Dns::from_files("/etc/resolv.conf", "/etc/hosts")
    }
}

impl Dns {
    /// The system's resolver configuration.
    pub fn new() -> Dns {
        Dns::default()
    }

    /// Name servers from `resolv_conf`, names from `hosts` first.
    pub fn from_files(resolv_conf: impl Into<PathBuf>, hosts: impl Into<PathBuf>) -> Dns {
        Dns {
            files: Arc::new((resolv_conf.into(), hosts.into())),
            resolver: Arc::new(OnceLock::new()),
        }
    }

    /// Every address of `host` (a name or an IP address), with `port`.
    /// The error is a sentence that names the host, never a URL.
    pub async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let built = self
            .resolver
            .get_or_init(|| build(&self.files.0, &self.files.1));
        let why = built
            .no_servers
            .as_deref()
            .unwrap_or("no resolver could be made");
        let Some(resolver) = &built.resolver else {
            return Err(format!("the host name {host} cannot be resolved: {why}"));
        };
        match resolver.lookup_ip(host).await {
            Ok(found) => {
                let addrs: Vec<SocketAddr> =
                    found.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                if addrs.is_empty() {
                    Err(format!("the host name {host} has no address"))
                } else {
                    Ok(addrs)
                }
            }
            Err(_) if built.no_servers.is_some() => Err(format!(
                "the host name {host} cannot be resolved: it is not in the hosts file, and {why}"
            )),
            Err(e) => Err(format!("the host name {host} cannot be resolved ({e})")),
        }
    }

    /// [`Dns::lookup`] outside any runtime (at start, while the flags are
    /// read), on a thread of its own so it may be called from anywhere.
    pub fn lookup_now(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let (dns, host) = (self.clone(), host.to_owned());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("no resolver could be started ({e})"))?;
            // A resolver belongs to the runtime that made it: this one's
            // ends with the thread.
            runtime.block_on(Dns::from_files(&dns.files.0, &dns.files.1).lookup(&host, port))
        })
        .join()
        .unwrap_or_else(|_| Err("the resolver failed".to_owned()))
    }
}

/// The name servers of `resolv_conf` (none if it cannot be read: then only
/// `localhost` and the hosts file resolve), and the names of `hosts`.
fn build(resolv_conf: &Path, hosts: &Path) -> Built {
    let provider = TokioRuntimeProvider::default();
    let read = std::fs::read(resolv_conf)
        .map_err(|e| format!("{} cannot be read ({e})", resolv_conf.display()))
        .and_then(|bytes| {
            hickory_resolver::system_conf::parse_resolv_conf(bytes)
                .map_err(|e| format!("{} cannot be used ({e})", resolv_conf.display()))
        });
    let (config, options, mut no_servers) = match read {
        Ok((config, options)) => (config, options, None),
        Err(why) => (
            ResolverConfig::from_name_servers(Vec::new()),
            Default::default(),
            Some(why),
        ),
    };
    let mut builder =
        TokioResolver::builder_with_config(config, provider.clone()).with_options(options);
    // Both families, so a client may connect to whichever answers first.
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    let resolver = builder.build().or_else(|e| {
        no_servers = Some(format!("{} cannot be used ({e})", resolv_conf.display()));
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(Vec::new()), provider)
            .build()
    });
    let resolver = resolver.ok().map(|mut resolver| {
        let mut names = Hosts::default();
        if let Ok(file) = std::fs::File::open(hosts) {
            // A line it cannot read is skipped; the rest still count.
            let _ = names.read_hosts_conf(file);
        }
        resolver.set_hosts(Arc::new(names));
        resolver
    });
    Built {
        resolver,
        no_servers,
    }
}

/// For the OSC client (reqwest).
impl reqwest::dns::Resolve for Dns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.clone();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let addrs = dns.lookup(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osc-mcp-dns-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[tokio::test]
    async fn localhost_and_the_hosts_file_need_no_name_server() {
        let dir = scratch("hosts");
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "# the store\n10.1.2.3 redis.internal redis\n").expect("hosts");
        let dns = Dns::from_files(dir.join("no-resolv.conf"), &hosts);

        let mut local = dns.lookup("localhost", 6379).await.expect("localhost");
        local.sort();
        assert_eq!(
            local,
            [
                SocketAddr::from((Ipv4Addr::LOCALHOST, 6379)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 6379)),
            ]
        );
        assert_eq!(
            dns.lookup("redis", 6380).await,
            Ok(vec![SocketAddr::from(([10, 1, 2, 3], 6380))])
        );
        assert_eq!(
            dns.lookup("192.0.2.7", 443).await,
            Ok(vec![SocketAddr::from(([192, 0, 2, 7], 443))])
        );

        let error = dns
            .lookup("api.example.com", 443)
            .await
            .expect_err("no name server");
        assert!(
            error.starts_with(
                "the host name api.example.com cannot be resolved: it is not in the hosts file, and "
            ) && error.contains("no-resolv.conf cannot be read"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_lookup_at_start_runs_outside_the_runtime() {
        let dir = scratch("now");
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "10.9.9.9 mcp.internal\n").expect("hosts");
        let dns = Dns::from_files(dir.join("no-resolv.conf"), &hosts);
        assert_eq!(
            dns.lookup_now("mcp.internal", 8765),
            Ok(vec![SocketAddr::from(([10, 9, 9, 9], 8765))])
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
