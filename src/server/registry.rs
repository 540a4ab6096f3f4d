//! The one table of tools: each tool's name and its kind. The handler
//! serves exactly these tools (a unit test holds it to that); the generated
//! docs, the manifest and the tests read the table; read-only mode and
//! allow/deny lists will filter by it. Pure data: it imports nothing.

/// What a tool does to the tenant's secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Changes nothing.
    Read,
    /// Writes a value or a copy of one; what was there before is replaced.
    Write,
    /// Removes something that cannot be brought back.
    Destroy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Destroy => "destroy",
        }
    }
}

/// One row of the table.
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
}

/// Every tool, sorted by name (the order `tools/list` shows them in).
pub const TOOLS: &[Entry] = &[
    Entry {
        name: "delete_tenant_secret",
        kind: Kind::Destroy,
    },
    Entry {
        name: "list_tenant_secrets",
        kind: Kind::Read,
    },
    Entry {
        name: "materialize_tenant_secret",
        kind: Kind::Write,
    },
    Entry {
        name: "rotate_tenant_secret",
        kind: Kind::Write,
    },
    Entry {
        name: "set_tenant_secret",
        kind: Kind::Write,
    },
];

/// The kind of the tool called `name`, if there is one.
pub fn kind_of(name: &str) -> Option<Kind> {
    TOOLS.iter().find(|e| e.name == name).map(|e| e.kind)
}
