//! The store in this process's memory: the sandbox and in-process tests.
//! Nothing outlives the process; its generation is drawn at start.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    Claim, LINK_REMEMBERED, Ledger, LinkBook, LinkLimits, LinkRow, LinkState, Opened, Placement,
    Redeemed, Spent, StoreError,
};
use crate::sync::lock;

/// Most nonces remembered at once; past it, redeeming fails closed.
pub(super) const SPENT_CAP: usize = 100_000;

/// A link as kept here, under (tenant, link): its client and row.
type Held = (Option<String>, LinkRow);

pub struct MemoryStore {
    /// (tenant, serviceId, secretName) -> placement.
    ledger: Mutex<HashMap<(String, String, String), Placement>>,
    spent: Mutex<HashMap<String, Instant>>,
    links: Mutex<HashMap<(String, String), Held>>,
    generation: String,
    cap: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_cap(SPENT_CAP)
    }
}

impl MemoryStore {
    /// A store that remembers at most `cap` nonces at once.
    pub fn with_cap(cap: usize) -> MemoryStore {
        MemoryStore {
            ledger: Mutex::default(),
            spent: Mutex::default(),
            links: Mutex::default(),
            generation: format!("m{:016x}", rand::random::<u64>()),
            cap,
        }
    }
}

#[async_trait]
impl Ledger for MemoryStore {
    async fn place(&self, tenant: &str, placement: &Placement) -> Result<(), StoreError> {
        lock(&self.ledger).insert(
            (
                tenant.to_owned(),
                placement.service_id.clone(),
                placement.secret_name.clone(),
            ),
            placement.clone(),
        );
        Ok(())
    }

    async fn placements(&self, tenant: &str, key: &str) -> Result<Vec<Placement>, StoreError> {
        let found: Vec<Placement> = lock(&self.ledger)
            .iter()
            .filter(|((t, _, _), p)| t == tenant && p.key == key)
            .map(|(_, p)| p.clone())
            .collect();
        Ok(found)
    }
}

#[async_trait]
impl Spent for MemoryStore {
    async fn generation(&self) -> Result<String, StoreError> {
        Ok(self.generation.clone())
    }

    async fn redeem(
        &self,
        generation: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Redeemed, StoreError> {
        if generation != self.generation {
            return Ok(Redeemed::OtherGeneration);
        }
        let now = Instant::now();
        let mut used = lock(&self.spent);
        if used.get(nonce).is_some_and(|until| *until > now) {
            return Ok(Redeemed::Again);
        }
        if used.len() >= self.cap {
            used.retain(|_, until| *until > now);
            if used.len() >= self.cap {
                return Err(StoreError::Full);
            }
        }
        used.insert(nonce.to_owned(), now + ttl);
        Ok(Redeemed::First)
    }

    async fn used(&self, nonce: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.spent)
            .get(nonce)
            .is_some_and(|until| *until > Instant::now()))
    }
}

#[async_trait]
impl LinkBook for MemoryStore {
    async fn open_link(
        &self,
        tenant: &str,
        id: &str,
        client: Option<&str>,
        row: &LinkRow,
        limits: LinkLimits,
        now_ms: u64,
    ) -> Result<Opened, StoreError> {
        let mut links = lock(&self.links);
        let remembered = u64::try_from(LINK_REMEMBERED.as_millis()).unwrap_or(u64::MAX);
        links.retain(|_, (_, r)| r.deadline_ms.saturating_add(remembered) > now_ms);
        let open = |(_, r): &&(Option<String>, LinkRow)| {
            r.state == LinkState::Open && r.deadline_ms > now_ms
        };
        let ours = || {
            links
                .iter()
                .filter(|((t, _), _)| t == tenant)
                .map(|(_, v)| v)
        };
        if ours().filter(open).count() >= limits.all {
            return Ok(Opened::TooMany);
        }
        if let Some(client) = client
            && ours()
                .filter(open)
                .filter(|(c, _)| c.as_deref() == Some(client))
                .count()
                >= limits.per_client
        {
            return Ok(Opened::TooManyForClient);
        }
        links.insert(
            (tenant.to_owned(), id.to_owned()),
            (client.map(str::to_owned), row.clone()),
        );
        Ok(Opened::Yes)
    }

    async fn link(&self, tenant: &str, id: &str) -> Result<Option<LinkRow>, StoreError> {
        Ok(lock(&self.links)
            .get(&(tenant.to_owned(), id.to_owned()))
            .map(|(_, row)| row.clone()))
    }

    async fn claim_link(&self, tenant: &str, id: &str, now_ms: u64) -> Result<Claim, StoreError> {
        let mut links = lock(&self.links);
        let Some((_, row)) = links.get_mut(&(tenant.to_owned(), id.to_owned())) else {
            return Ok(Claim::Not(None));
        };
        if row.state == LinkState::Open && row.deadline_ms > now_ms {
            row.state = LinkState::Claimed;
            return Ok(Claim::Taken(row.clone()));
        }
        Ok(Claim::Not(Some(row.clone())))
    }

    async fn open_links(&self, tenant: &str, now_ms: u64) -> Result<u64, StoreError> {
        let links = lock(&self.links);
        let open = links
            .iter()
            .filter(|((t, _), (_, row))| {
                t == tenant && row.state == LinkState::Open && row.deadline_ms > now_ms
            })
            .count();
        Ok(u64::try_from(open).unwrap_or(u64::MAX))
    }

    async fn settle_link(&self, tenant: &str, id: &str, fate: &str) -> Result<(), StoreError> {
        if let Some((_, row)) = lock(&self.links).get_mut(&(tenant.to_owned(), id.to_owned())) {
            row.state = LinkState::Settled(fate.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::Key;

    #[tokio::test]
    async fn a_nonce_redeems_once_and_only_in_its_generation() {
        let store = MemoryStore::with_cap(2);
        let generation = store.generation().await.unwrap();
        let ttl = Duration::from_secs(60);
        assert_eq!(
            store.redeem(&generation, "a", ttl).await,
            Ok(Redeemed::First)
        );
        assert_eq!(
            store.redeem(&generation, "a", ttl).await,
            Ok(Redeemed::Again)
        );
        assert!(store.used("a").await.unwrap());
        assert!(!store.used("b").await.unwrap());
        assert_eq!(
            store.redeem("m-another", "b", ttl).await,
            Ok(Redeemed::OtherGeneration)
        );
        assert_eq!(
            store.redeem(&generation, "b", ttl).await,
            Ok(Redeemed::First)
        );
        assert_eq!(
            store.redeem(&generation, "c", ttl).await,
            Err(StoreError::Full)
        );
        assert_ne!(MemoryStore::default().generation, generation);
    }

    #[tokio::test]
    async fn a_later_placement_into_the_same_service_secret_replaces_the_earlier() {
        let store = MemoryStore::default();
        let db = Key::check("user.db").unwrap();
        let other = Key::check("user.other").unwrap();
        store
            .place("t", &Placement::now(&db, "svc-a", "pw", "c"))
            .await
            .unwrap();
        store
            .place("t", &Placement::now(&db, "svc-b", "pw", "c"))
            .await
            .unwrap();
        store
            .place("u", &Placement::now(&db, "svc-c", "pw", "c"))
            .await
            .unwrap();
        store
            .place("t", &Placement::now(&other, "svc-a", "pw", "c"))
            .await
            .unwrap();
        let found = store.placements("t", "user.db").await.unwrap();
        let services: Vec<&str> = found.iter().map(|p| p.service_id.as_str()).collect();
        assert_eq!(services, ["svc-b"]);
        assert_eq!(store.placements("t", "user.other").await.unwrap().len(), 1);
        assert_eq!(store.placements("u", "user.db").await.unwrap().len(), 1);
    }
}
