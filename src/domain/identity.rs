//! Who is calling, once an OAuth access token said so: the token's subject,
//! the client it was issued to, and what its scopes allow. The HTTP
//! authentication layer makes one per request (no other layer reads
//! tokens); policy, rate limits, audit records and the ledger read it. Pure
//! data: the token itself is never here.

use std::sync::Arc;

use super::tool::Kind;

/// One of the three things a token's scopes can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// List keys, read the resources and prompts.
    Read,
    /// Set, materialize, rotate.
    Write,
    /// Delete.
    Delete,
}

impl Access {
    /// What a tool of `kind` needs.
    pub fn for_kind(kind: Kind) -> Access {
        match kind {
            Kind::Read => Access::Read,
            Kind::Write => Access::Write,
            Kind::Destroy => Access::Delete,
        }
    }
}

/// The scope names each [`Access`] is granted by: `secrets:read`,
/// `secrets:write`, `secrets:delete` unless the operator renamed them for
/// an authorization server with its own naming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNames {
    pub read: String,
    pub write: String,
    pub delete: String,
}

impl Default for ScopeNames {
    fn default() -> Self {
        ScopeNames {
            read: "secrets:read".to_owned(),
            write: "secrets:write".to_owned(),
            delete: "secrets:delete".to_owned(),
        }
    }
}

impl ScopeNames {
    /// The scope that grants `access`.
    pub fn name(&self, access: Access) -> &str {
        match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
            Access::Delete => &self.delete,
        }
    }

    /// Every name, in the order read, write, delete.
    pub fn all(&self) -> [&str; 3] {
        [&self.read, &self.write, &self.delete]
    }

    /// What a token with `scopes` (its granted scope names) may do; names
    /// this server does not know are ignored. A scope matches its name, or
    /// the last segment of a name written as a URI: Entra ID's tokens carry
    /// `Secrets.Read` for the scope clients request as
    /// `api://<app>/Secrets.Read`.
    pub fn grant<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> Grant {
        let matches = |name: &str, scope: &str| {
            name == scope
                || name
                    .strip_suffix(scope)
                    .is_some_and(|uri| uri.ends_with('/') && uri.contains("://"))
        };
        let mut grant = Grant::default();
        for scope in scopes.into_iter().filter(|s| !s.is_empty()) {
            grant.read |= matches(&self.read, scope);
            grant.write |= matches(&self.write, scope);
            grant.delete |= matches(&self.delete, scope);
        }
        grant
    }
}

/// What a token's scopes allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    pub read: bool,
    pub write: bool,
    pub delete: bool,
}

impl Grant {
    pub fn allows(self, access: Access) -> bool {
        match access {
            Access::Read => self.read,
            Access::Write => self.write,
            Access::Delete => self.delete,
        }
    }
}

/// A caller proven by an access token. Cheap to clone; travels in the
/// request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`: who the person (or service) is at the issuer.
    pub subject: Arc<str>,
    /// The token's `client_id`, else its `azp`: which client it was issued to.
    pub client: Option<Arc<str>>,
    pub grant: Grant,
    /// The scope names, to say which one a refused call needs.
    pub names: Arc<ScopeNames>,
}

impl Identity {
    /// Whether the token allows a tool of `kind`.
    pub fn allows(&self, kind: Kind) -> bool {
        self.grant.allows(Access::for_kind(kind))
    }

    /// The scope a tool of `kind` needs.
    pub fn needed(&self, kind: Kind) -> &str {
        self.names.name(Access::for_kind(kind))
    }

    /// The scopes a client should ask for to call a tool of `kind`: those
    /// the token holds and the one it needs, space-separated. Clients of
    /// the 2025-11-25 authorization spec ask for exactly what a challenge
    /// names, and would drop what they held; clients that add the
    /// challenge's scopes to their own lose nothing by it.
    pub fn step_up(&self, kind: Kind) -> String {
        let needed = Access::for_kind(kind);
        [Access::Read, Access::Write, Access::Delete]
            .into_iter()
            .filter(|a| *a == needed || self.grant.allows(*a))
            .map(|a| self.names.name(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The identity a request carries, if it was authenticated by OAuth:
    /// among the request's own extensions (the legacy SSE transport puts
    /// it there), or in the HTTP request's parts (Streamable HTTP).
    pub fn find<'a>(
        own: Option<&'a Identity>,
        parts: Option<&'a http::request::Parts>,
    ) -> Option<&'a Identity> {
        own.or_else(|| parts.and_then(|parts| parts.extensions.get::<Identity>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_grant_by_name_and_ignore_the_rest() {
        let names = ScopeNames::default();
        let grant = names.grant("openid secrets:write profile".split(' '));
        assert_eq!(
            grant,
            Grant {
                read: false,
                write: true,
                delete: false
            }
        );
        let renamed = ScopeNames {
            read: "api://x/Secrets.Read".to_owned(),
            ..ScopeNames::default()
        };
        assert!(renamed.grant(["api://x/Secrets.Read"]).read);
        assert!(
            renamed.grant(["Secrets.Read"]).read,
            "Entra ID's short form"
        );
        assert!(!renamed.grant(["secrets:read"]).read);
        assert!(!renamed.grant(["Read"]).read);
        assert!(!names.grant(["read"]).read, "not a URI: whole names only");
        let identity = Identity {
            subject: Arc::from("alice"),
            client: None,
            grant,
            names: Arc::new(names),
        };
        assert!(identity.allows(Kind::Write));
        assert!(!identity.allows(Kind::Read));
        assert_eq!(identity.needed(Kind::Destroy), "secrets:delete");
        // Held first, then the one needed, in the names' order.
        assert_eq!(
            identity.step_up(Kind::Destroy),
            "secrets:write secrets:delete"
        );
        assert_eq!(identity.step_up(Kind::Read), "secrets:read secrets:write");
    }
}
