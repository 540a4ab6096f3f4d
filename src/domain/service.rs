//! Service ids and service secret names, as materialize needs them.

use super::error::{InputError, refuse};
use super::text::{describe_char, quoted};

/// Longest service id accepted.
pub const MAX_SERVICE_ID_LEN: usize = 128;
/// Longest service secret name accepted (one OSC client caps names at 48).
pub const MAX_SECRET_NAME_LEN: usize = 48;
/// An OSC service id, such as `eyevinn-my-service`.
pub fn service_id(raw: &str) -> Result<&str, InputError> {
    const F: &str = "serviceId";
    if raw.is_empty() {
        return Err(refuse(
            F,
            "is empty; give the id of the service instance, such as `eyevinn-my-service`",
        ));
    }
    if raw.len() > MAX_SERVICE_ID_LEN {
        return Err(refuse(
            F,
            format!(
                "is {} bytes long; the limit is {MAX_SERVICE_ID_LEN}",
                raw.len()
            ),
        ));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(refuse(
            F,
            format!(
                "{} contains {}; service ids use lowercase letters, digits and `-` (for example `eyevinn-my-service`)",
                quoted(raw),
                describe_char(c)
            ),
        ));
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err(refuse(
            F,
            format!("{} must not start or end with `-`", quoted(raw)),
        ));
    }
    Ok(raw)
}

/// A service secret name, the `NAME` of the reference `{{secrets.NAME}}`.
pub fn secret_name(raw: &str) -> Result<&str, InputError> {
    const F: &str = "secretName";
    if raw.is_empty() {
        return Err(refuse(
            F,
            "is empty; give a short lowercase name such as `apikey`; the service will refer to it as `{{secrets.apikey}}`",
        ));
    }
    if raw.len() > MAX_SECRET_NAME_LEN {
        return Err(refuse(
            F,
            format!(
                "is {} characters long; the limit is {MAX_SECRET_NAME_LEN}",
                raw.len()
            ),
        ));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Err(refuse(
            F,
            format!(
                "{} contains {}; OSC service secret names are lowercase letters and digits only (for example `apikey`)",
                quoted(raw),
                describe_char(c)
            ),
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_shapes() {
        assert!(service_id("eyevinn-my-service").is_ok());
        assert!(service_id("Eyevinn").is_err());
        assert!(service_id("-x").is_err());
        assert!(secret_name("apikey").is_ok());
        assert!(secret_name("api-key").is_err());
        assert!(secret_name(&"a".repeat(49)).is_err());
    }
}
