//! Settings of askUser's one-time page: how long a link lives, the public
//! base URL links start with over HTTP, and the loopback listener on stdio.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::error::ConfigError;

/// Bounds of `--ask-user-ttl-secs`.
pub const ASK_TTL_SECS: std::ops::RangeInclusive<u64> = 30..=3600;

#[derive(Args, Debug)]
#[command(next_help_heading = "askUser page")]
pub struct AskArgs {
    /// Seconds a one-time askUser link stays usable (30 to 3600); an unused link then expires and writes nothing.
    #[arg(
        long,
        env = "OSC_MCP_ASK_USER_TTL_SECS",
        default_value_t = 600,
        value_name = "SECS"
    )]
    pub ask_user_ttl_secs: u64,

    /// With --transport http: the external base URL the human's browser reaches this server at, behind TLS and a proxy (for example https://secrets.example.com/prefix); links start with it. Default: the listener's own address.
    #[arg(long, env = "OSC_MCP_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// With stdio: the loopback address of the one-time page's listener, started when the first link is opened (port 0 picks a free one). Any other address is refused.
    #[arg(long, env = "OSC_MCP_ASK_USER_LISTEN", default_value = "127.0.0.1:0", value_parser = super::listen::parse_listen, value_name = "ADDR")]
    pub ask_user_listen: SocketAddr,
}

impl AskArgs {
    /// How long a link lives, or why the setting cannot be used.
    pub fn ttl(&self) -> Result<Duration, ConfigError> {
        if !ASK_TTL_SECS.contains(&self.ask_user_ttl_secs) {
            return Err(ConfigError::AskTtl {
                min: *ASK_TTL_SECS.start(),
                max: *ASK_TTL_SECS.end(),
            });
        }
        Ok(Duration::from_secs(self.ask_user_ttl_secs))
    }

    /// The stdio page listener's address, if it is a loopback one.
    pub fn loopback_listen(&self) -> Result<SocketAddr, ConfigError> {
        if self.ask_user_listen.ip().is_loopback() {
            Ok(self.ask_user_listen)
        } else {
            Err(ConfigError::AskListenNotLoopback)
        }
    }

    /// The checked public base URL (no trailing slash), if one is set.
    pub fn public_base(&self) -> Result<Option<String>, ConfigError> {
        match self.public_url.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => public_base(raw).map(Some),
        }
    }
}

/// Checks a public base URL: absolute http(s), a host, no credentials, no
/// query or fragment. The message never quotes it (a mistaken paste may be
/// a token).
pub fn public_base(raw: &str) -> Result<String, ConfigError> {
    let bad = |problem: &'static str| ConfigError::PublicUrl { problem };
    let url = reqwest::Url::parse(raw).map_err(|_| bad("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with https:// (or http://)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query (?) or fragment (#)"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ttl: u64, public: Option<&str>, listen: &str) -> AskArgs {
        AskArgs {
            ask_user_ttl_secs: ttl,
            public_url: public.map(str::to_owned),
            ask_user_listen: listen.parse().unwrap(),
        }
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(
            args(30, None, "127.0.0.1:0").ttl().unwrap(),
            Duration::from_secs(30)
        );
        assert!(args(3600, None, "127.0.0.1:0").ttl().is_ok());
        for bad in [0, 29, 3601] {
            let error = args(bad, None, "127.0.0.1:0")
                .ttl()
                .unwrap_err()
                .to_string();
            assert!(error.contains("from 30 to 3600"), "{error}");
        }
    }

    #[test]
    fn stdio_listener_is_loopback_only() {
        assert!(args(600, None, "127.0.0.1:0").loopback_listen().is_ok());
        assert!(args(600, None, "[::1]:9").loopback_listen().is_ok());
        let error = args(600, None, "0.0.0.0:9")
            .loopback_listen()
            .unwrap_err()
            .to_string();
        assert!(error.contains("loopback"), "{error}");
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            public_base("https://secrets.example.com/mcp-prefix/").unwrap(),
            "https://secrets.example.com/mcp-prefix"
        );
        assert_eq!(
            public_base("http://10.0.0.5:8080").unwrap(),
            "http://10.0.0.5:8080"
        );
        for bad in [
            "secrets.example.com",
            "ftp://secrets.example.com",
            "https://user:pw-canary@secrets.example.com",
            "https://secrets.example.com/?token=canary",
            "https://secrets.example.com/#canary",
            "/relative",
        ] {
            let error = public_base(bad).unwrap_err().to_string();
            assert!(error.contains("--public-url"), "{bad}: {error}");
            assert!(!error.contains("canary"), "{bad}: {error}");
        }
        assert_eq!(
            args(600, Some("  "), "127.0.0.1:0").public_base().unwrap(),
            None
        );
    }
}
