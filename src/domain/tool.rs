//! The one table of tools: each tool's name, its kind and whether it asks
//! the human to confirm. The handler serves exactly these tools (a unit test
//! holds it to that); the tool policy (`--read-only`, `--tools`), the rate
//! limits, confirmation and the audit log decide by it. Pure data: it
//! imports nothing.

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

/// Whether a call asks the human to confirm it first, in the confirmation
/// step of the tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirms {
    /// Never: it changes nothing, or nothing that cannot be written again.
    Never,
    /// Always: what it removes cannot be brought back.
    Always,
    /// When it would replace the value of a key that exists (mode `upsert`).
    WhenReplacing,
}

/// One row of the table.
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
    pub confirms: Confirms,
    /// The tools whose work this one does too: it is served only where
    /// each of them is (rotate writes and materializes).
    pub made_of: &'static [&'static str],
}

/// Every tool, sorted by name (the order `tools/list` shows them in).
pub const TOOLS: &[Entry] = &[
    Entry {
        name: "delete_tenant_secret",
        kind: Kind::Destroy,
        confirms: Confirms::Always,
        made_of: &[],
    },
    Entry {
        name: "list_tenant_secrets",
        kind: Kind::Read,
        confirms: Confirms::Never,
        made_of: &[],
    },
    Entry {
        name: "materialize_tenant_secret",
        kind: Kind::Write,
        confirms: Confirms::Never,
        made_of: &[],
    },
    Entry {
        name: "rotate_tenant_secret",
        kind: Kind::Write,
        confirms: Confirms::WhenReplacing,
        made_of: &["set_tenant_secret", "materialize_tenant_secret"],
    },
    Entry {
        name: "set_tenant_secret",
        kind: Kind::Write,
        confirms: Confirms::WhenReplacing,
        made_of: &[],
    },
];

/// The row of the tool called `name`, if there is one.
pub fn entry(name: &str) -> Option<&'static Entry> {
    TOOLS.iter().find(|e| e.name == name)
}

/// The kind of the tool called `name`, if there is one.
pub fn kind_of(name: &str) -> Option<Kind> {
    entry(name).map(|e| e.kind)
}
