//! How a write treats a key that already exists.

/// How a write treats an existing key: `upsert` replaces it, `create` refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    Upsert,
    Create,
}

impl WriteMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Upsert => "upsert",
            WriteMode::Create => "create",
        }
    }
}
