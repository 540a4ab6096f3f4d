//! The vocabulary, pure and unit-tested: keys and their owners, service ids
//! and secret names, secret values and their limits, and the one place that
//! makes text from outside safe to show; and the table of tools.
//!
//! Every refusal names the rule that was broken so the model can correct its
//! call. Keys, service ids and secret names are not secret, so they may be
//! echoed (escaped); values never are.

mod error;
pub mod identity;
mod key;
mod mode;
pub mod rule;
mod service;
pub mod text;
pub mod tool;
mod value;
pub mod vars;

pub use error::InputError;
pub use identity::{Access, Grant, Identity, ScopeNames};
pub use key::{Key, KeyFault, MAX_FILTER_LEN, MAX_KEY_LEN, Owner, cursor, filter};
pub use mode::WriteMode;
pub use rule::Rule;
pub use service::{MAX_SECRET_NAME_LEN, MAX_SERVICE_ID_LEN, secret_name, service_id};
pub use text::{fits_one_line, quoted, rfc3339, timestamp};
pub use value::{MAX_VALUE_LEN, SecretArg, value};
