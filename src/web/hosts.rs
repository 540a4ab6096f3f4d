//! Host and Origin rules (DNS-rebinding and cross-site protection), shared by
//! every HTTP listener of the server.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Uri, header};

use super::refusal::Refusal;

/// Host names that are always accepted: a DNS-rebinding attack always
/// arrives under the attacker's own name, never under these.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Allowed `Host` values: loopback names always, the listen address when it
/// is a specific one, and the configured names.
pub struct HostRules {
    /// `*` was configured: any Host passes.
    pub any: bool,
    /// (host lowercase without brackets, optional port)
    allowed: Vec<(String, Option<u16>)>,
}

impl HostRules {
    pub fn parse(configured: &[String], listen: SocketAddr) -> Result<Self, String> {
        let mut allowed: Vec<(String, Option<u16>)> = LOOPBACK_HOSTS
            .iter()
            .map(|h| ((*h).to_owned(), None))
            .collect();
        if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
            allowed.push((listen.ip().to_string(), None));
        }
        let mut any = false;
        for entry in configured
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                any = true;
                continue;
            }
            let authority = entry
                .parse::<axum::http::uri::Authority>()
                .ok()
                .filter(|a| !a.as_str().contains('@'))
                .ok_or_else(|| {
                    format!("MCP_ALLOWED_HOSTS: `{entry}` is not a host name or host:port (for example mcp.example.com or mcp.example.com:443)")
                })?;
            allowed.push((normalize_host(authority.host()), authority.port_u16()));
        }
        Ok(HostRules { any, allowed })
    }

    pub fn for_rmcp(&self) -> Vec<String> {
        self.allowed
            .iter()
            .map(|(host, port)| match (host.contains(':'), port) {
                (true, Some(port)) => format!("[{host}]:{port}"),
                (false, Some(port)) => format!("{host}:{port}"),
                (_, None) => host.clone(),
            })
            .collect()
    }

    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        if self.any {
            return Ok(());
        }
        let forbidden = || Refusal::HostNotAllowed;
        let mut values = headers.get_all(header::HOST).iter();
        let authority = match (values.next(), values.next()) {
            (Some(value), None) => value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<axum::http::uri::Authority>().ok())
                .ok_or_else(forbidden)?,
            (None, _) => uri.authority().cloned().ok_or_else(forbidden)?,
            (Some(_), Some(_)) => return Err(forbidden()),
        };
        if authority.as_str().contains('@') {
            return Err(forbidden());
        }
        let host = normalize_host(authority.host());
        let port = authority.port_u16();
        let ok = self
            .allowed
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port));
        if ok { Ok(()) } else { Err(forbidden()) }
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Any,
    Exact(u16),
}

/// Allowed `Origin` values: loopback origins on any port, and the
/// configured ones. A request without an Origin (every non-browser client)
/// passes; a present but unlisted one gets 403.
pub struct OriginRules {
    /// (scheme, host lowercase without brackets, port rule)
    allowed: Vec<(String, String, PortRule)>,
}

impl OriginRules {
    pub fn parse(configured: &[String]) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for scheme in ["http", "https"] {
            for host in LOOPBACK_HOSTS {
                allowed.push((scheme.to_owned(), host.to_owned(), PortRule::Any));
            }
        }
        for entry in configured
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let bad = || {
                format!(
                    "MCP_ALLOWED_ORIGINS: `{entry}` is not an origin; write scheme://host[:port], for example \
                     https://app.example.com or http://localhost:* for any port"
                )
            };
            let (base, any_port) = match entry.strip_suffix(":*") {
                Some(base) => (base, true),
                None => (entry, false),
            };
            let (scheme, host, port) = parse_origin(base).ok_or_else(bad)?;
            let rule = match (any_port, port) {
                (true, None) => PortRule::Any,
                (true, Some(_)) => return Err(bad()),
                (false, Some(port)) => PortRule::Exact(port),
                (false, None) => PortRule::Exact(default_port(&scheme).ok_or_else(bad)?),
            };
            allowed.push((scheme, host, rule));
        }
        Ok(OriginRules { allowed })
    }

    /// The same list in rmcp's syntax, every port explicit.
    pub fn for_rmcp(&self) -> Vec<String> {
        self.allowed
            .iter()
            .map(|(scheme, host, rule)| {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                match rule {
                    PortRule::Any => format!("{scheme}://{host}:*"),
                    PortRule::Exact(port) => format!("{scheme}://{host}:{port}"),
                }
            })
            .collect()
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        let parsed = if values.next().is_some() {
            None
        } else {
            value.to_str().ok().and_then(parse_origin)
        };
        let ok = parsed.is_some_and(|(scheme, host, port)| {
            let port = port.or_else(|| default_port(&scheme));
            self.allowed.iter().any(|(s, h, rule)| {
                *s == scheme
                    && *h == host
                    && match rule {
                        PortRule::Any => true,
                        PortRule::Exact(p) => Some(*p) == port,
                    }
            })
        });
        if ok {
            Ok(())
        } else {
            Err(Refusal::OriginNotAllowed)
        }
    }
}

/// `scheme://host[:port]` with nothing after it; None for `null` and anything else.
fn parse_origin(value: &str) -> Option<(String, String, Option<u16>)> {
    let uri = value.trim().parse::<Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return None;
    }
    Some((
        scheme,
        normalize_host(authority.host()),
        authority.port_u16(),
    ))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::test_headers as headers;

    #[test]
    fn hosts() {
        let rules = HostRules::parse(
            &[
                "mcp.example.com".to_owned(),
                "other.example:8443".to_owned(),
            ],
            "10.1.2.3:8765".parse().unwrap(),
        )
        .unwrap();
        let uri: Uri = "/mcp".parse().unwrap();
        for ok in [
            "localhost:8765",
            "127.0.0.1",
            "[::1]:1",
            "mcp.example.com",
            "MCP.example.com:443",
            "other.example:8443",
            "10.1.2.3:8765",
        ] {
            assert!(rules.check(&uri, &headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "other.example:8444",
            "other.example",
            "localhost.evil.example",
            "user@localhost",
            "",
        ] {
            assert!(
                rules.check(&uri, &headers(&[("host", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(
            rules
                .check(&uri, &headers(&[("host", "localhost"), ("host", "evil")]))
                .is_err()
        );
        assert!(
            HostRules::parse(&["not a host".to_owned()], "127.0.0.1:1".parse().unwrap()).is_err()
        );
    }

    #[test]
    fn origins() {
        let rules = OriginRules::parse(&[
            "https://app.example.com".to_owned(),
            "http://dev.example:*".to_owned(),
        ])
        .unwrap();
        assert!(rules.check(&HeaderMap::new()).is_ok());
        for ok in [
            "http://localhost:6274",
            "https://127.0.0.1",
            "http://[::1]:3000",
            "https://app.example.com",
            "https://app.example.com:443",
            "http://dev.example:1234",
        ] {
            assert!(rules.check(&headers(&[("origin", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "null",
            "https://evil.example",
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://app.example.com.evil",
            "garbage",
            "https://app.example.com/path",
        ] {
            assert!(rules.check(&headers(&[("origin", bad)])).is_err(), "{bad}");
        }
        assert!(OriginRules::parse(&["app.example.com".to_owned()]).is_err());
        assert!(OriginRules::parse(&["https://a.example:443:*".to_owned()]).is_err());
        assert!(
            rules
                .for_rmcp()
                .contains(&"https://app.example.com:443".to_owned())
        );
        assert!(rules.for_rmcp().contains(&"http://[::1]:*".to_owned()));
    }
}
