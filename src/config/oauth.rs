//! Settings of the OAuth 2.1 resource server (`--oauth-issuer`): the HTTP
//! transports then accept access tokens an external authorization server
//! issued for this server, in place of the static bearer token.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;

use super::error::ConfigError;
use crate::domain::ScopeNames;

#[derive(Args, Debug)]
#[command(next_help_heading = "OAuth")]
pub struct OAuthArgs {
    /// Turns OAuth on: the authorization server's issuer URL, exactly as it writes it in its metadata (Auth0's ends in a slash). Clients then sign in there and send its JWT access tokens; the static MCP_AUTH_TOKEN must not be set. https://, or http:// to loopback only.
    #[arg(long, env = "MCP_OAUTH_ISSUER", value_name = "URL")]
    pub oauth_issuer: Option<String>,

    /// The resource identifier tokens must be issued for (their `aud`): default --public-url plus /mcp, or this listener's own http://ADDR/mcp on loopback.
    #[arg(long, env = "MCP_OAUTH_RESOURCE", value_name = "URL")]
    pub oauth_resource: Option<String>,

    /// Other `aud` values accepted besides the resource, comma-separated: Entra ID's v2 tokens name the API's application (client) ID instead of its Application ID URI.
    #[arg(
        long,
        env = "MCP_OAUTH_AUDIENCE",
        value_delimiter = ',',
        value_name = "AUDIENCES"
    )]
    pub oauth_audience: Vec<String>,

    /// The scope that allows listing keys and reading the resources and prompts.
    #[arg(
        long,
        env = "MCP_OAUTH_SCOPE_READ",
        default_value = "secrets:read",
        value_name = "SCOPE"
    )]
    pub oauth_scope_read: String,

    /// The scope that allows set_tenant_secret, materialize_tenant_secret and rotate_tenant_secret.
    #[arg(
        long,
        env = "MCP_OAUTH_SCOPE_WRITE",
        default_value = "secrets:write",
        value_name = "SCOPE"
    )]
    pub oauth_scope_write: String,

    /// The scope that allows delete_tenant_secret.
    #[arg(
        long,
        env = "MCP_OAUTH_SCOPE_DELETE",
        default_value = "secrets:delete",
        value_name = "SCOPE"
    )]
    pub oauth_scope_delete: String,

    /// The claim that names the person in a token: `sub`, or `oid` for Entra ID, whose `sub` differs for each client application (claude.ai's, the page's). It goes into audit records, the ledger and the per-person limits, and the page compares it.
    #[arg(
        long,
        env = "MCP_OAUTH_SUBJECT_CLAIM",
        default_value = "sub",
        value_name = "CLAIM"
    )]
    pub oauth_subject_claim: SubjectClaim,

    /// Turns on the one-time page's sign-in, which askUser needs with OAuth: the client ID the page is registered under at the authorization server, with the redirect URI <public URL>/ask/signed-in. Its secret comes from MCP_OAUTH_PAGE_CLIENT_SECRET or --oauth-page-client-secret-file, never the command line; none for a public client (PKCE alone).
    #[arg(long, env = "MCP_OAUTH_PAGE_CLIENT_ID", value_name = "ID")]
    pub oauth_page_client_id: Option<String>,

    /// File holding the page client's secret (instead of MCP_OAUTH_PAGE_CLIENT_SECRET); surrounding whitespace is ignored.
    #[arg(long, env = "MCP_OAUTH_PAGE_CLIENT_SECRET_FILE", value_name = "PATH")]
    pub oauth_page_client_secret_file: Option<PathBuf>,

    /// The scopes the page asks for when it signs a person in, space-separated: default the write scope (--oauth-scope-write).
    #[arg(long, env = "MCP_OAUTH_PAGE_SCOPE", value_name = "SCOPES")]
    pub oauth_page_scope: Option<String>,
}

pub use crate::domain::vars::PAGE_SECRET_VAR;

/// The claim of a token that names the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SubjectClaim {
    /// The token's subject: every authorization server writes it.
    Sub,
    /// Entra ID's object ID of the user, the same for every client
    /// application.
    Oid,
}

impl SubjectClaim {
    pub fn name(self) -> &'static str {
        match self {
            SubjectClaim::Sub => "sub",
            SubjectClaim::Oid => "oid",
        }
    }
}

/// The client the one-time page signs people in as.
#[derive(Debug, Clone)]
pub struct PageClient {
    pub client_id: String,
    /// None: a public client, PKCE alone.
    pub secret: Option<SecretString>,
    /// What it asks for, space-separated.
    pub scope: String,
}

/// What the resource server is given, checked.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// As the operator wrote it: the metadata's `issuer` must equal it.
    pub issuer: String,
    /// None: derived from the listener's address when it binds (loopback only).
    pub resource: Option<String>,
    /// `aud` values accepted besides the resource.
    pub audiences: Vec<String>,
    pub scopes: ScopeNames,
    pub subject_claim: SubjectClaim,
    /// The one-time page's sign-in, when set up.
    pub page: Option<PageClient>,
}

impl OAuthArgs {
    /// The checked settings, or None when OAuth is off. `public_base` is
    /// the checked `--public-url`, which the resource defaults from.
    pub fn settings(
        &self,
        public_base: Option<&str>,
    ) -> Result<Option<OAuthSettings>, ConfigError> {
        let Some(issuer) = self
            .oauth_issuer
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            if self
                .oauth_resource
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty())
            {
                return Err(ConfigError::OAuthResourceAlone);
            }
            if let Some(what) = self.page_flag_set() {
                return Err(ConfigError::OAuthSettingAlone { what });
            }
            if self.oauth_subject_claim != SubjectClaim::Sub {
                return Err(ConfigError::OAuthSettingAlone {
                    what: "--oauth-subject-claim (MCP_OAUTH_SUBJECT_CLAIM)",
                });
            }
            return Ok(None);
        };
        check_url(issuer).map_err(|problem| ConfigError::OAuthIssuer { problem })?;
        let resource = match self
            .oauth_resource
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(resource) => {
                check_url(resource).map_err(|problem| ConfigError::OAuthResource { problem })?;
                Some(resource.to_owned())
            }
            None => public_base.map(|base| format!("{}/mcp", base.trim_end_matches('/'))),
        };
        let scopes = ScopeNames {
            read: scope(&self.oauth_scope_read, "--oauth-scope-read")?,
            write: scope(&self.oauth_scope_write, "--oauth-scope-write")?,
            delete: scope(&self.oauth_scope_delete, "--oauth-scope-delete")?,
        };
        let names = scopes.all();
        if names[0] == names[1] || names[1] == names[2] || names[0] == names[2] {
            return Err(ConfigError::OAuthScopesRepeat);
        }
        let audiences = self
            .oauth_audience
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .map(|a| {
                let fits = a.len() <= 200 && a.chars().all(|c| c.is_ascii_graphic());
                fits.then(|| a.to_owned()).ok_or(ConfigError::OAuthAudience)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let page = self.page_client(&scopes)?;
        Ok(Some(OAuthSettings {
            issuer: issuer.to_owned(),
            resource,
            audiences,
            scopes,
            subject_claim: self.oauth_subject_claim,
            page,
        }))
    }

    /// The first of the page's settings that is set, by name.
    fn page_flag_set(&self) -> Option<&'static str> {
        let set = |v: Option<&str>| v.is_some_and(|v| !v.trim().is_empty());
        if set(self.oauth_page_client_id.as_deref()) {
            Some("--oauth-page-client-id (MCP_OAUTH_PAGE_CLIENT_ID)")
        } else if self.oauth_page_client_secret_file.is_some()
            || set(std::env::var(PAGE_SECRET_VAR).ok().as_deref())
        {
            Some("the page client's secret")
        } else if set(self.oauth_page_scope.as_deref()) {
            Some("--oauth-page-scope (MCP_OAUTH_PAGE_SCOPE)")
        } else {
            None
        }
    }

    /// The page's client, checked; None when no client ID is set (then no
    /// secret or scope may be either).
    fn page_client(&self, scopes: &ScopeNames) -> Result<Option<PageClient>, ConfigError> {
        let Some(client_id) = self
            .oauth_page_client_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return match self.page_flag_set() {
                Some(what) => Err(ConfigError::OAuthSettingAlone { what }),
                None => Ok(None),
            };
        };
        if client_id.len() > 200 || !client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::OAuthPageClientId);
        }
        let secret = page_secret(self.oauth_page_client_secret_file.as_deref())?;
        let scope = match self
            .oauth_page_scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => scopes.write.clone(),
            Some(given) => {
                let fits = given.len() <= 400
                    && given
                        .split(' ')
                        .all(|one| !one.is_empty() && scope(one, "--oauth-page-scope").is_ok());
                if !fits {
                    return Err(ConfigError::OAuthPageScope);
                }
                given.to_owned()
            }
        };
        Ok(Some(PageClient {
            client_id: client_id.to_owned(),
            secret,
            scope,
        }))
    }
}

/// Largest secret file read.
const SECRET_FILE_LIMIT: u64 = 64 * 1024;

/// The page client's secret, from [`PAGE_SECRET_VAR`] or `file`; None when
/// neither is set. Errors never quote it.
fn page_secret(file: Option<&std::path::Path>) -> Result<Option<SecretString>, ConfigError> {
    let from_env = std::env::var(PAGE_SECRET_VAR)
        .ok()
        .filter(|raw| !raw.trim().is_empty());
    let (raw, origin) = match (from_env, file) {
        (Some(_), Some(_)) => return Err(ConfigError::OAuthPageSecretTwice),
        (Some(raw), None) => (raw, PAGE_SECRET_VAR),
        (None, Some(path)) => {
            let mut raw = Vec::new();
            std::fs::File::open(path)
                .and_then(|file| file.take(SECRET_FILE_LIMIT + 1).read_to_end(&mut raw))
                .map_err(|e| ConfigError::OAuthPageSecretFile { kind: e.kind() })?;
            let origin = "the file of --oauth-page-client-secret-file";
            if raw.len() as u64 > SECRET_FILE_LIMIT {
                return Err(ConfigError::OAuthPageSecretUnusable {
                    origin,
                    problem: "is larger than 64 KiB",
                });
            }
            let text =
                String::from_utf8(raw).map_err(|_| ConfigError::OAuthPageSecretUnusable {
                    origin,
                    problem: "is not UTF-8 text",
                })?;
            (text, origin)
        }
        (None, None) => return Ok(None),
    };
    let secret = raw.trim();
    if secret.is_empty() {
        return Err(ConfigError::OAuthPageSecretUnusable {
            origin,
            problem: "is empty",
        });
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::OAuthPageSecretUnusable {
            origin,
            problem: "holds spaces, line breaks, control or non-ASCII characters",
        });
    }
    Ok(Some(SecretString::from(secret.to_owned())))
}

/// A scope name: one token of a space-separated `scope` (RFC 6749 3.3).
fn scope(raw: &str, flag: &'static str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    let fits = !raw.is_empty()
        && raw.len() <= 200
        && raw
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if fits {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::OAuthScope { flag })
    }
}

/// An issuer or resource URL: absolute https, or http to a loopback host,
/// no credentials, no fragment (RFC 8414 2 and RFC 9728 1.2 forbid
/// fragments, and a query for the issuer). The problem never quotes it.
pub fn check_url(raw: &str) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(raw).map_err(|_| "is not an absolute URL")?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err("must be https:// (plain http:// is accepted for loopback only)"),
        _ => return Err("must start with https://"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold a user name or password");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query (?) or fragment (#)");
    }
    Ok(())
}

/// Whether `url` names this machine: localhost, or a loopback address.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(|host| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(issuer: Option<&str>, resource: Option<&str>) -> OAuthArgs {
        OAuthArgs {
            oauth_issuer: issuer.map(str::to_owned),
            oauth_resource: resource.map(str::to_owned),
            oauth_audience: vec![],
            oauth_scope_read: "secrets:read".to_owned(),
            oauth_scope_write: "secrets:write".to_owned(),
            oauth_scope_delete: "secrets:delete".to_owned(),
            oauth_subject_claim: SubjectClaim::Sub,
            oauth_page_client_id: None,
            oauth_page_client_secret_file: None,
            oauth_page_scope: None,
        }
    }

    #[test]
    fn the_issuer_is_kept_exactly_and_the_resource_follows_the_public_url() {
        let settings = args(Some("https://tenant.auth0.com/"), None)
            .settings(Some("https://secrets.example.com/prefix"))
            .unwrap()
            .unwrap();
        assert_eq!(settings.issuer, "https://tenant.auth0.com/");
        assert_eq!(
            settings.resource.as_deref(),
            Some("https://secrets.example.com/prefix/mcp")
        );
        let given = args(
            Some("http://127.0.0.1:9000/realms/a"),
            Some("api://osc-secrets"),
        );
        assert!(given.settings(None).is_err(), "api:// is not https");
        let given = args(
            Some("http://localhost:9000/realms/a"),
            Some("https://mcp.example.com/mcp"),
        );
        let settings = given.settings(None).unwrap().unwrap();
        assert_eq!(
            settings.resource.as_deref(),
            Some("https://mcp.example.com/mcp")
        );
        assert_eq!(
            args(Some("http://[::1]:1/"), None)
                .settings(None)
                .unwrap()
                .unwrap()
                .resource,
            None
        );
        assert!(args(None, None).settings(None).unwrap().is_none());
        let mut oid = args(None, None);
        oid.oauth_subject_claim = SubjectClaim::Oid;
        assert!(oid.settings(None).unwrap_err().to_string().contains(
            "--oauth-subject-claim (MCP_OAUTH_SUBJECT_CLAIM) is set without --oauth-issuer"
        ));
        let mut entra = args(Some("https://login.microsoftonline.com/t/v2.0"), None);
        entra.oauth_audience = vec![
            " 00000000-1111-2222-3333-444444444444 ".to_owned(),
            String::new(),
        ];
        assert_eq!(
            entra.settings(None).unwrap().unwrap().audiences,
            ["00000000-1111-2222-3333-444444444444"]
        );
        entra.oauth_audience = vec!["two words".to_owned()];
        assert!(entra.settings(None).is_err());
    }

    #[test]
    fn unusable_settings_say_what_to_write_without_quoting() {
        for bad in [
            "http://issuer.example.com",
            "issuer.example.com",
            "https://user:canary@issuer.example.com",
            "https://issuer.example.com/?canary",
            "ftp://issuer.example.com",
        ] {
            let error = args(Some(bad), None)
                .settings(None)
                .unwrap_err()
                .to_string();
            assert!(error.contains("--oauth-issuer"), "{bad}: {error}");
            assert!(!error.contains("canary"), "{bad}: {error}");
        }
        let error = args(None, Some("https://mcp.example.com/mcp"))
            .settings(None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--oauth-issuer"), "{error}");
        let mut renamed = args(Some("https://issuer.example.com"), None);
        renamed.oauth_scope_write = "secrets:read".to_owned();
        assert!(
            renamed
                .settings(None)
                .unwrap_err()
                .to_string()
                .contains("three different")
        );
        renamed.oauth_scope_write = "two words".to_owned();
        assert!(
            renamed
                .settings(None)
                .unwrap_err()
                .to_string()
                .contains("--oauth-scope-write")
        );
    }
}
