//! Rate limits on the calls that change secrets, shared by every session of
//! the process: a token bucket for all changes and a lower one for deletes.
//! With OAuth the buckets are each subject's own ([`RateLimits::per_subject`]):
//! one person's burst does not lock out another.
//!
//! [`MemoryRates`] keeps the buckets in this process (governor's token
//! buckets); a state store that shares buckets across processes (Redis)
//! counts them there instead, so replicas share one limit. A shared store
//! that does not answer refuses the change (fail closed).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::domain::Rule;
use crate::domain::tool::Kind;
use crate::store::{Store, StoreError};

/// A bucket of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Every call that changes something: set, materialize, rotate, delete.
    Writes,
    /// Deletes alone.
    Deletes,
}

impl Bucket {
    /// Its name in a shared store.
    fn name(self) -> &'static str {
        match self {
            Bucket::Writes => "writes",
            Bucket::Deletes => "deletes",
        }
    }

    /// What the bucket counts, in the number `n` calls for.
    fn counted(self, n: u32) -> &'static str {
        match (self, n) {
            (Bucket::Writes, 1) => "change",
            (Bucket::Writes, _) => "changes",
            (Bucket::Deletes, 1) => "delete",
            (Bucket::Deletes, _) => "deletes",
        }
    }
}

/// Where buckets are kept. Takes one call from `bucket`, or says how long
/// until one is free. Must be cheap: it runs on every changing call.
pub trait RateStore: Send + Sync {
    /// Takes `n` calls at once, all or none.
    fn take(&self, bucket: Bucket, n: NonZeroU32) -> Result<(), Duration>;
}

/// Buckets in this process's memory. A per-minute rate of None is no limit.
pub struct MemoryRates {
    writes: Option<DefaultDirectRateLimiter>,
    deletes: Option<DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl MemoryRates {
    pub fn new(writes_per_minute: u32, deletes_per_minute: u32) -> MemoryRates {
        let bucket = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::direct(Quota::per_minute(n)));
        MemoryRates {
            writes: bucket(writes_per_minute),
            deletes: bucket(deletes_per_minute),
            clock: DefaultClock::default(),
        }
    }
}

impl RateStore for MemoryRates {
    fn take(&self, bucket: Bucket, n: NonZeroU32) -> Result<(), Duration> {
        let limiter = match bucket {
            Bucket::Writes => &self.writes,
            Bucket::Deletes => &self.deletes,
        };
        match limiter {
            None => Ok(()),
            Some(limiter) => match limiter.check_n(n) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
                // More than the bucket ever holds: RateLimits refuses such a
                // call before it gets here; a full minute is the honest wait.
                Err(_) => Err(Duration::from_secs(60)),
            },
        }
    }
}

/// Buckets per subject in this process's memory. A per-minute rate of None
/// is no limit.
struct SubjectRates {
    writes: Option<DefaultKeyedRateLimiter<String>>,
    deletes: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

/// Subjects kept before the full buckets of idle ones are forgotten.
const MAX_SUBJECTS: usize = 10_000;

impl SubjectRates {
    fn new(writes_per_minute: u32, deletes_per_minute: u32) -> SubjectRates {
        let bucket = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        SubjectRates {
            writes: bucket(writes_per_minute),
            deletes: bucket(deletes_per_minute),
            clock: DefaultClock::default(),
        }
    }

    fn take(&self, bucket: Bucket, subject: &str, n: NonZeroU32) -> Result<(), Duration> {
        let limiter = match bucket {
            Bucket::Writes => &self.writes,
            Bucket::Deletes => &self.deletes,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_SUBJECTS {
            limiter.retain_recent();
        }
        match limiter.check_key_n(&subject.to_owned(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            Err(_) => Err(Duration::from_secs(60)),
        }
    }
}

/// A call refused by a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub bucket: Bucket,
    pub per_minute: u32,
    /// Whole seconds until a call is free again, at least 1.
    pub retry_after_secs: u64,
    /// How many the call would have taken, when more than one.
    pub wanted: u32,
    /// Whether the limit is the caller's own (OAuth: per subject) rather
    /// than shared by every client.
    pub own: bool,
}

impl Limited {
    /// The tool error: which limit, and when to retry.
    pub fn message(&self) -> String {
        let whose = if self.own {
            "for each signed-in person"
        } else {
            "shared by all its clients"
        };
        if self.wanted > self.per_minute {
            return format!(
                "Refused before contacting OSC: this call would make {} changes (the write and one per target), \
                 and this server allows {} {} per minute, {whose}. Nothing was changed. \
                 Rotate into at most {} targets at once, then materialize the key into the rest with \
                 materialize_tenant_secret.",
                self.wanted,
                self.per_minute,
                self.bucket.counted(self.per_minute),
                self.per_minute.saturating_sub(1)
            );
        }
        if self.wanted > 1 {
            return format!(
                "Refused before contacting OSC: this call would make {} changes (the write and one per target), \
                 more than this server's limit of {} {} per minute has left now, {whose}. \
                 Nothing was changed. Retry after {} s.",
                self.wanted,
                self.per_minute,
                self.bucket.counted(self.per_minute),
                self.retry_after_secs
            );
        }
        format!(
            "Refused before contacting OSC: this server allows {} {} per minute, {whose}, \
             and that many were just made. Nothing was changed. Retry after {} s.",
            self.per_minute,
            self.bucket.counted(self.per_minute),
            self.retry_after_secs
        )
    }

    pub fn rule(&self) -> Rule {
        match self.bucket {
            Bucket::Writes => Rule::MaxWritesPerMinute,
            Bucket::Deletes => Rule::MaxDeletesPerMinute,
        }
    }
}

/// Why a change was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAdmitted {
    /// A limit is spent.
    Limited(Limited),
    /// The shared store that counts the limits did not answer.
    Unreachable(StoreError),
}

impl NotAdmitted {
    pub fn message(&self) -> String {
        match self {
            NotAdmitted::Limited(limited) => limited.message(),
            NotAdmitted::Unreachable(e) => format!(
                "Refused before contacting OSC: this server's rate limits are shared by its replicas in a state store, and {e}, \
                 so the change could not be counted and nothing was changed. Retry in a minute; if it goes on, ask the \
                 operator to check the state store."
            ),
        }
    }

    pub fn rule(&self) -> Rule {
        match self {
            NotAdmitted::Limited(limited) => limited.rule(),
            NotAdmitted::Unreachable(_) => Rule::StateStore,
        }
    }
}

/// The limits a server applies, and the store that counts them.
#[derive(Clone)]
pub struct RateLimits {
    store: Arc<dyn RateStore>,
    /// Counts in the shared state store instead, when set.
    shared: Option<Store>,
    /// Each subject's own buckets, when set (OAuth); calls without a
    /// subject still take from the process-wide ones.
    subjects: Option<Arc<SubjectRates>>,
    writes_per_minute: u32,
    deletes_per_minute: u32,
}

impl RateLimits {
    /// No limits at all.
    pub fn none() -> RateLimits {
        RateLimits::in_memory(0, 0)
    }

    /// Per-minute limits counted in this process; 0 is no limit.
    pub fn in_memory(writes_per_minute: u32, deletes_per_minute: u32) -> RateLimits {
        RateLimits {
            store: Arc::new(MemoryRates::new(writes_per_minute, deletes_per_minute)),
            shared: None,
            subjects: None,
            writes_per_minute,
            deletes_per_minute,
        }
    }

    /// Per-minute limits counted in `store` when it shares buckets across
    /// processes, else in this process; 0 is no limit.
    pub fn counted_in(
        store: &Store,
        writes_per_minute: u32,
        deletes_per_minute: u32,
    ) -> RateLimits {
        RateLimits {
            shared: store.shares_buckets().then(|| store.clone()),
            ..RateLimits::in_memory(writes_per_minute, deletes_per_minute)
        }
    }

    /// The same limits, each subject's own: a call that names its subject
    /// takes from that subject's buckets (in the shared store too, under a
    /// name made from a digest of the subject).
    pub fn per_subject(self) -> RateLimits {
        RateLimits {
            subjects: Some(Arc::new(SubjectRates::new(
                self.writes_per_minute,
                self.deletes_per_minute,
            ))),
            ..self
        }
    }

    /// Whether the limits are counted across processes.
    pub fn shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Admits a call of `kind`, or says which limit refused it. A delete
    /// takes from the deletes bucket first, then from the changes bucket.
    pub async fn admit(&self, kind: Kind) -> Result<(), NotAdmitted> {
        self.admit_n(kind, NonZeroU32::MIN, None).await
    }

    /// Admits a call of `kind` that makes `writes` changes (a rotation: the
    /// write and one materialize per target), all or none; one that could
    /// never fit the limit is refused up front, with the numbers.
    /// `subject`, with limits [`RateLimits::per_subject`], picks whose
    /// buckets.
    pub async fn admit_n(
        &self,
        kind: Kind,
        writes: NonZeroU32,
        subject: Option<&str>,
    ) -> Result<(), NotAdmitted> {
        let subject = subject.filter(|_| self.subjects.is_some());
        let buckets: &[Bucket] = match kind {
            Kind::Read => &[],
            Kind::Write => &[Bucket::Writes],
            Kind::Destroy => &[Bucket::Deletes, Bucket::Writes],
        };
        for &bucket in buckets {
            let per_minute = match bucket {
                Bucket::Writes => self.writes_per_minute,
                Bucket::Deletes => self.deletes_per_minute,
            };
            let limited = |retry_after_secs| Limited {
                bucket,
                per_minute,
                retry_after_secs,
                wanted: writes.get(),
                own: subject.is_some(),
            };
            if per_minute != 0 && writes.get() > per_minute {
                return Err(NotAdmitted::Limited(limited(60)));
            }
            let waited = match (&self.shared, NonZeroU32::new(per_minute), subject) {
                (_, None, _) => None,
                (Some(store), Some(rate), None) => store
                    .take(bucket.name(), rate, writes)
                    .await
                    .map_err(NotAdmitted::Unreachable)?,
                (Some(store), Some(rate), Some(subject)) => store
                    .take(&subject_bucket(bucket, subject), rate, writes)
                    .await
                    .map_err(NotAdmitted::Unreachable)?,
                (None, Some(_), None) => self.store.take(bucket, writes).err(),
                (None, Some(_), Some(subject)) => self
                    .subjects
                    .as_ref()
                    .and_then(|s| s.take(bucket, subject, writes).err()),
            };
            if let Some(wait) = waited {
                return Err(NotAdmitted::Limited(limited(
                    wait.as_secs_f64().ceil().max(1.0) as u64,
                )));
            }
        }
        Ok(())
    }
}

/// A subject's bucket in a shared store: named by a digest, so that no
/// subject, whatever it holds, spells a key of its own.
fn subject_bucket(bucket: Bucket, subject: &str) -> String {
    let digest = Sha256::digest(subject.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", bucket.name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn the_third_write_of_two_per_minute_waits() {
        let limits = RateLimits::in_memory(2, 1);
        assert!(limits.admit(Kind::Write).await.is_ok());
        assert!(limits.admit(Kind::Write).await.is_ok());
        let refused = limits.admit(Kind::Write).await.unwrap_err().limited();
        assert_eq!(refused.bucket, Bucket::Writes);
        assert!((1..=60).contains(&refused.retry_after_secs), "{refused:?}");
        // Reads are never limited.
        assert!(limits.admit(Kind::Read).await.is_ok());
    }

    #[tokio::test]
    async fn deletes_have_their_own_lower_bucket() {
        let limits = RateLimits::in_memory(10, 1);
        assert!(limits.admit(Kind::Destroy).await.is_ok());
        assert_eq!(
            limits
                .admit(Kind::Destroy)
                .await
                .unwrap_err()
                .limited()
                .bucket,
            Bucket::Deletes
        );
        assert!(limits.admit(Kind::Write).await.is_ok());
    }

    /// One is one delete, not "1 deletes"; two are changes.
    #[tokio::test]
    async fn the_refusal_counts_in_words_that_agree() {
        let limits = RateLimits::in_memory(2, 1);
        assert!(limits.admit(Kind::Destroy).await.is_ok());
        let one = limits.admit(Kind::Destroy).await.unwrap_err().message();
        assert!(one.contains("allows 1 delete per minute"), "{one}");
        assert!(limits.admit(Kind::Write).await.is_ok());
        let two = limits.admit(Kind::Write).await.unwrap_err().message();
        assert!(two.contains("allows 2 changes per minute"), "{two}");
    }

    /// A rotation into n targets takes n + 1 changes, all or none; one
    /// that can never fit is refused up front, with the numbers.
    #[tokio::test]
    async fn a_rotation_takes_a_change_per_target() {
        let n = |k| NonZeroU32::new(k).unwrap();
        let limits = RateLimits::in_memory(5, 1);
        let never = limits.admit_n(Kind::Write, n(6), None).await.unwrap_err();
        let said = never.message();
        assert!(
            said.contains("would make 6 changes") && said.contains("at most 4 targets"),
            "{said}"
        );
        assert!(limits.admit_n(Kind::Write, n(4), None).await.is_ok());
        let short = limits.admit_n(Kind::Write, n(2), None).await.unwrap_err();
        assert!(
            short.message().contains("would make 2 changes"),
            "{}",
            short.message()
        );
        assert!(limits.admit(Kind::Write).await.is_ok());
        assert!(limits.admit(Kind::Write).await.is_err());
        assert!(
            RateLimits::none()
                .admit_n(Kind::Write, n(65), None)
                .await
                .is_ok()
        );
    }

    /// With OAuth each subject has its own buckets, in memory and in a
    /// shared store; a call without a subject takes from the shared ones.
    #[tokio::test]
    async fn each_subject_has_its_own_limit() {
        let limits = RateLimits::in_memory(1, 1).per_subject();
        let one = NonZeroU32::MIN;
        assert!(
            limits
                .admit_n(Kind::Write, one, Some("alice"))
                .await
                .is_ok()
        );
        let refused = limits
            .admit_n(Kind::Write, one, Some("alice"))
            .await
            .unwrap_err();
        assert!(
            refused.message().contains("for each signed-in person"),
            "{}",
            refused.message()
        );
        assert!(limits.admit_n(Kind::Write, one, Some("bob")).await.is_ok());
        assert!(limits.admit_n(Kind::Write, one, None).await.is_ok());
        // Without per_subject, the subject changes nothing.
        let shared = RateLimits::in_memory(1, 1);
        assert!(
            shared
                .admit_n(Kind::Write, one, Some("alice"))
                .await
                .is_ok()
        );
        assert!(shared.admit_n(Kind::Write, one, Some("bob")).await.is_err());

        let counting = Arc::new(Counting::default());
        let store = Store::memory().with_buckets(counting.clone());
        let limits = RateLimits::counted_in(&store, 1, 1).per_subject();
        assert!(
            limits
                .admit_n(Kind::Write, one, Some("alice"))
                .await
                .is_ok()
        );
        assert!(
            limits
                .admit_n(Kind::Write, one, Some("alice"))
                .await
                .is_err()
        );
        assert!(limits.admit_n(Kind::Write, one, Some("bob")).await.is_ok());
        let names: std::collections::BTreeSet<String> =
            counting.0.lock().unwrap().keys().cloned().collect();
        assert_eq!(names.len(), 2);
        assert!(
            names
                .iter()
                .all(|n| n.contains("writes:") && !n.contains("alice") && !n.contains("bob")),
            "{names:?}"
        );
    }

    #[tokio::test]
    async fn zero_is_no_limit() {
        let limits = RateLimits::none();
        for _ in 0..1000 {
            assert!(limits.admit(Kind::Destroy).await.is_ok());
        }
    }

    impl NotAdmitted {
        fn limited(self) -> Limited {
            match self {
                NotAdmitted::Limited(limited) => limited,
                other => panic!("not a limit: {other:?}"),
            }
        }
    }

    /// Buckets that count calls, per name, for this minute only: enough to
    /// see two servers share one limit through their store.
    #[derive(Default)]
    struct Counting(std::sync::Mutex<std::collections::HashMap<String, u32>>);

    #[async_trait::async_trait]
    impl crate::store::Buckets for Counting {
        async fn take(
            &self,
            name: &str,
            per_minute: NonZeroU32,
            n: NonZeroU32,
        ) -> Result<Option<Duration>, StoreError> {
            let mut taken = self.0.lock().unwrap();
            let used = taken.entry(name.to_owned()).or_default();
            if *used + n.get() > per_minute.get() {
                return Ok(Some(Duration::from_secs(30)));
            }
            *used += n.get();
            Ok(None)
        }
    }

    struct Down;

    #[async_trait::async_trait]
    impl crate::store::Buckets for Down {
        async fn take(
            &self,
            _: &str,
            _: NonZeroU32,
            _: NonZeroU32,
        ) -> Result<Option<Duration>, StoreError> {
            Err(StoreError::Unreachable("connection refused"))
        }
    }

    /// Two servers on a store that shares buckets share one limit; a store
    /// that does not answer refuses the change.
    #[tokio::test]
    async fn a_shared_store_makes_one_limit_for_every_server_on_it() {
        let store = Store::memory().with_buckets(Arc::new(Counting::default()));
        let one = RateLimits::counted_in(&store, 3, 1);
        let two = RateLimits::counted_in(&store, 3, 1);
        assert!(one.shared() && two.shared());
        assert!(one.admit(Kind::Write).await.is_ok());
        assert!(two.admit(Kind::Write).await.is_ok());
        assert!(one.admit(Kind::Write).await.is_ok());
        let refused = two.admit(Kind::Write).await.unwrap_err().limited();
        assert_eq!(
            (refused.bucket, refused.retry_after_secs),
            (Bucket::Writes, 30)
        );
        // A store without shared buckets leaves each server its own.
        let apart = RateLimits::counted_in(&Store::memory(), 1, 1);
        assert!(!apart.shared());

        let down = Store::memory().with_buckets(Arc::new(Down));
        let refused = RateLimits::counted_in(&down, 3, 1)
            .admit(Kind::Write)
            .await
            .unwrap_err();
        assert_eq!(refused.rule(), Rule::StateStore);
        let said = refused.message();
        assert!(
            said.contains("cannot be reached") && said.contains("nothing was changed"),
            "{said}"
        );
        // No limit needs no store.
        assert!(
            RateLimits::counted_in(&down, 0, 0)
                .admit(Kind::Destroy)
                .await
                .is_ok()
        );
    }
}
