//! A broken input rule, as a type.

use std::fmt;

/// A broken input rule, phrased for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Which argument was wrong.
    pub field: &'static str,
    /// What rule it broke and how to fix it.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}

pub(crate) fn refuse(field: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}
