//! `--listen`: an IP address and port, or a host name and port resolved once
//! at start.

use std::net::{Ipv4Addr, SocketAddr};

const EXAMPLES: &str = "for example 127.0.0.1:8765, localhost:8765, [::1]:8765 or 0.0.0.0:8765";

/// Why a `--listen` value cannot be used. The sentence never quotes the
/// value, so [`super::usage_error`] may show it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ListenError(String);

/// Parses `HOST:PORT`. `localhost` always means 127.0.0.1, whatever the
/// resolver says, so it can never bind beyond loopback; another name is
/// resolved and its first address bound. The message says what to write.
pub fn parse_listen(raw: &str) -> Result<SocketAddr, ListenError> {
    let raw = raw.trim();
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = raw.rsplit_once(':') else {
        return Err(ListenError(format!("give a host and a port, {EXAMPLES}")));
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(ListenError(format!(
            "the port is not a number from 0 to 65535; {EXAMPLES}"
        )));
    };
    if host.is_empty() || host.contains(':') {
        return Err(ListenError(format!(
            "not an address and port (an IPv6 address goes in brackets); {EXAMPLES}"
        )));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    match crate::dns::Dns::new().lookup_now(host, port) {
        Ok(addrs) => addrs
            .into_iter()
            .next()
            .ok_or_else(|| ListenError(format!("the host name has no address; {EXAMPLES}"))),
        Err(_) => Err(ListenError(format!(
            "the host name cannot be resolved; write an IP address and port instead, {EXAMPLES}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert_eq!(
            parse_listen("127.0.0.1:8765"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8765)))
        );
        assert_eq!(
            parse_listen("[::1]:9"),
            Ok(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 9)))
        );
        assert_eq!(
            parse_listen("LocalHost:9002"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9002)))
        );
        for bad in [
            "localhost",
            "localhost:http",
            ":80",
            "::1:80",
            "localhost:70000",
        ] {
            let error = parse_listen(bad).unwrap_err().to_string();
            assert!(error.contains("for example"), "{bad}: {error}");
        }
    }
}
