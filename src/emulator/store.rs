//! The emulator's state: tenant secrets, service secrets, the request log
//! and the queued faults.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method, StatusCode};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::answers::*;
use super::faults::Fault;

/// Keeps a long sandbox session from growing the log without bound.
const REQUEST_LOG_CAP: usize = 10_000;

/// Shape of the `GET /mytenantsecrets` answer. The real shape is a guess, so the
/// product must cope with both and tests run it against both.
#[derive(Clone, Copy)]
pub enum ListShape {
    /// A bare JSON array of items.
    Array,
    /// `{"secrets": [...]}`.
    Wrapped,
}

/// How to start an [`super::Emulator`]. No `Debug`: it holds the token.
pub struct EmulatorOptions {
    /// Token accepted in `x-pat-jwt: Bearer <token>`; None accepts any non-empty bearer token.
    pub token: Option<SecretString>,
    /// Seed platform keys (`system.gitea-admin-token`, `system.sdlc-webhook-secret`)
    /// with random values and a couple of sample `user.*` keys, so a sandbox
    /// session has something realistic to list and materialize.
    pub seed: bool,
    /// Shape of the GET /mytenantsecrets answer.
    pub list_shape: ListShape,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            token: None,
            seed: false,
            list_shape: ListShape::Array,
        }
    }
}

/// One contract request as the emulator saw it. Holds no header or body
/// content, so tests can assert on it (and print it) without leaking anything.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw path as received, percent-encoding kept, query excluded.
    pub path: String,
    /// Whether the `x-pat-jwt` header would pass auth (computed even when a fault answers).
    pub authorized: bool,
    pub content_type: Option<String>,
    pub body_len: usize,
}

use crate::sync::lock;

/// A stored tenant secret. No `Debug`: it holds a value.
pub(super) struct TenantSecret {
    pub(super) value: SecretString,
    pub(super) updated_at: SystemTime,
}

impl TenantSecret {
    pub(super) fn new(value: SecretString) -> Self {
        Self {
            value,
            updated_at: SystemTime::now(),
        }
    }
}

/// The emulator's whole state, shared by the handle and the handlers.
pub(super) struct Shared {
    pub(super) token: Option<SecretString>,
    pub(super) list_shape: ListShape,
    pub(super) tenant: Mutex<BTreeMap<String, TenantSecret>>,
    /// service id → secret name → value.
    pub(super) services: Mutex<BTreeMap<String, BTreeMap<String, SecretString>>>,
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    pub(super) faults: Mutex<Vec<Fault>>,
    /// Contract requests being handled now, and the most there have been at
    /// once since the request log was last cleared.
    pub(super) active: std::sync::atomic::AtomicUsize,
    pub(super) peak: std::sync::atomic::AtomicUsize,
}

impl Shared {
    pub(super) fn new(opts: EmulatorOptions) -> Self {
        let mut tenant = BTreeMap::new();
        if opts.seed {
            for key in [
                "system.gitea-admin-token",
                "system.sdlc-webhook-secret",
                "user.example-api-key",
                "user.gitcred.example-github-token",
            ] {
                tenant.insert(key.to_owned(), TenantSecret::new(random_value()));
            }
        }
        Self {
            token: opts.token,
            list_shape: opts.list_shape,
            tenant: Mutex::new(tenant),
            services: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            active: std::sync::atomic::AtomicUsize::new(0),
            peak: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(super) fn record(&self, request: RecordedRequest) {
        let mut log = lock(&self.requests);
        if log.len() >= REQUEST_LOG_CAP {
            log.remove(0);
        }
        log.push(request);
    }

    /// First matching fault with uses left, consuming one use.
    pub(super) fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let index = faults.iter().position(|f| f.matches(method, path))?;
        let fault = faults[index].clone();
        if let Some(times) = faults[index].times.as_mut() {
            *times -= 1;
            if *times == 0 {
                faults.remove(index);
            }
        }
        Some(fault)
    }

    /// Checks `x-pat-jwt: Bearer <token>`. The error is a fixed message that
    /// never echoes what was sent.
    pub(super) fn authorize(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let header = headers.get("x-pat-jwt").ok_or("Missing x-pat-jwt header")?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or("x-pat-jwt must be 'Bearer <token>'")?;
        let accepted = match &self.token {
            // Constant time for equal lengths; the length itself is not secret enough to hide.
            Some(expected) => {
                bool::from(expected.expose_secret().as_bytes().ct_eq(token.as_bytes()))
            }
            None => true,
        };
        if accepted {
            Ok(())
        } else {
            Err("Invalid token")
        }
    }

    pub(super) fn list_tenant(&self) -> Answer {
        let items: Vec<Value> = lock(&self.tenant)
            .iter()
            .map(|(key, secret)| {
                let prefix = key.split_once('.').map_or(key.as_str(), |(p, _)| p);
                json!({ "key": key, "prefix": prefix, "updatedAt": rfc3339(secret.updated_at) })
            })
            .collect();
        Ok(match self.list_shape {
            ListShape::Array => reply(StatusCode::OK, Value::Array(items)),
            ListShape::Wrapped => reply(StatusCode::OK, json!({ "secrets": items })),
        })
    }

    /// In the contract, so emulated; the product must never call it, and tests
    /// prove that from the request log.
    pub(super) fn read_tenant(&self, key: &str) -> Answer {
        check_key(key)?;
        let tenant = lock(&self.tenant);
        let secret = tenant.get(key).ok_or_else(tenant_not_found)?;
        Ok(reply(
            StatusCode::OK,
            json!({ "key": key, "value": secret.value.expose_secret() }),
        ))
    }

    pub(super) fn create_tenant(&self, key: &str, body: &Body) -> Answer {
        writable_key(key)?;
        let value = secret_from(&mut body.object()?, "value")?;
        let mut tenant = lock(&self.tenant);
        if tenant.contains_key(key) {
            return Err(Rejection::new(
                StatusCode::CONFLICT,
                "Tenant secret already exists; use PUT to replace it",
            ));
        }
        tenant.insert(key.to_owned(), TenantSecret::new(value));
        Ok(reply(StatusCode::CREATED, json!({ "key": key })))
    }

    pub(super) fn upsert_tenant(&self, key: &str, body: &Body) -> Answer {
        writable_key(key)?;
        let value = secret_from(&mut body.object()?, "value")?;
        let replaced = lock(&self.tenant)
            .insert(key.to_owned(), TenantSecret::new(value))
            .is_some();
        let status = if replaced {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok(reply(status, json!({ "key": key })))
    }

    /// Leaves materialized copies alone, as the contract says OSC does.
    pub(super) fn delete_tenant(&self, key: &str) -> Answer {
        writable_key(key)?;
        lock(&self.tenant)
            .remove(key)
            .ok_or_else(tenant_not_found)?;
        Ok(reply(StatusCode::OK, json!({ "key": key })))
    }

    /// Copies a snapshot of the value into the service store, replacing any
    /// existing copy. `system.*` keys are allowed: that is how the platform's
    /// own tokens reach services. Body errors come before the 404 because
    /// Fastify validates the body before the handler runs.
    pub(super) fn materialize(&self, key: &str, body: &Body) -> Answer {
        check_key(key)?;
        let mut object = body.object()?;
        let service_id = name_field(&mut object, "serviceId")?;
        let secret_name = name_field(&mut object, "secretName")?;
        let value = lock(&self.tenant)
            .get(key)
            .map(|secret| secret.value.clone())
            .ok_or_else(tenant_not_found)?;
        lock(&self.services)
            .entry(service_id)
            .or_default()
            .insert(secret_name.clone(), value);
        Ok(reply(
            StatusCode::OK,
            json!({ "reference": format!("{{{{secrets.{secret_name}}}}}") }),
        ))
    }

    pub(super) fn list_service(&self, service_id: &str) -> Answer {
        let items: Vec<Value> = lock(&self.services)
            .get(service_id)
            .into_iter()
            .flat_map(|secrets| secrets.keys())
            .map(|name| json!({ "serviceId": service_id, "secretName": name }))
            .collect();
        Ok(reply(StatusCode::OK, Value::Array(items)))
    }

    pub(super) fn create_service_secret(&self, service_id: &str, body: &Body) -> Answer {
        let mut object = body.object()?;
        let name = name_field(&mut object, "secretName")?;
        let data = secret_from(&mut object, "secretData")?;
        let mut services = lock(&self.services);
        let secrets = services.entry(service_id.to_owned()).or_default();
        if secrets.contains_key(&name) {
            return Err(Rejection::new(
                StatusCode::CONFLICT,
                "Service secret already exists",
            ));
        }
        let answer = json!({ "serviceId": service_id, "secretName": name });
        secrets.insert(name, data);
        Ok(reply(StatusCode::CREATED, answer))
    }

    /// An update, not an upsert: the contract separates create (POST) from
    /// update (PUT), and the stricter reading keeps the product honest.
    pub(super) fn update_service_secret(
        &self,
        service_id: &str,
        name: &str,
        body: &Body,
    ) -> Answer {
        let data = secret_from(&mut body.object()?, "secretData")?;
        let mut services = lock(&self.services);
        let slot = services
            .get_mut(service_id)
            .and_then(|secrets| secrets.get_mut(name))
            .ok_or_else(service_secret_not_found)?;
        *slot = data;
        Ok(reply(
            StatusCode::OK,
            json!({ "serviceId": service_id, "secretName": name }),
        ))
    }

    pub(super) fn delete_service_secret(&self, service_id: &str, name: &str) -> Answer {
        lock(&self.services)
            .get_mut(service_id)
            .and_then(|secrets| secrets.remove(name))
            .ok_or_else(service_secret_not_found)?;
        Ok(reply(
            StatusCode::OK,
            json!({ "serviceId": service_id, "secretName": name }),
        ))
    }
}

pub(super) fn random_value() -> SecretString {
    let value: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    value.into()
}
/// RFC 3339 UTC with whole seconds (`2026-11-26T02:29:49Z`), the format the
/// list guesses for `updatedAt`. Hand-rolled to avoid a date crate for one field.
pub(super) fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
pub(super) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_660_189), "2026-11-26T02:29:49Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn faults_decrement_and_expire() {
        let shared = Shared::new(EmulatorOptions::default());
        lock(&shared.faults).push(Fault {
            method: Some("post".into()),
            path_prefix: Some("/mytenantsecrets".into()),
            status: Some(503),
            times: Some(2),
            ..Fault::default()
        });
        assert!(
            shared
                .take_fault(&Method::GET, "/mytenantsecrets")
                .is_none()
        );
        assert!(shared.take_fault(&Method::POST, "/mysecrets/a").is_none());
        assert!(
            shared
                .take_fault(&Method::POST, "/mytenantsecrets/user.a")
                .is_some()
        );
        assert!(
            shared
                .take_fault(&Method::POST, "/mytenantsecrets")
                .is_some()
        );
        assert!(
            shared
                .take_fault(&Method::POST, "/mytenantsecrets")
                .is_none()
        );
        assert!(lock(&shared.faults).is_empty());
    }
}
