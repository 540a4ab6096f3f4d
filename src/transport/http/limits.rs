//! Capacity of the listener: open sessions and requests in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::reclaim::Reclaim;
use crate::sync::lock;

/// Shared cap on open sessions, Streamable HTTP and legacy SSE together.
pub(crate) struct SessionBudget {
    open: AtomicUsize,
    cap: usize,
    /// Sessions refused for want of room, ever; lets the permits layer tell
    /// a refused session apart from any other failure without reading error
    /// text.
    refused: AtomicUsize,
    /// Told when a session closes, to give its memory back.
    pub(super) reclaim: Arc<Reclaim>,
}

/// One open session's place in the budget; freed on drop.
pub(crate) struct SessionSlot(Arc<SessionBudget>);

impl SessionBudget {
    pub(super) fn new(cap: usize) -> Self {
        SessionBudget {
            open: AtomicUsize::new(0),
            cap,
            refused: AtomicUsize::new(0),
            reclaim: Arc::default(),
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(super) fn is_full(&self) -> bool {
        self.open.load(Ordering::SeqCst) >= self.cap
    }

    /// How many sessions were refused so far.
    pub(super) fn refusals(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<SessionSlot> {
        let slot = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.cap).then_some(open + 1)
            })
            .ok()
            .map(|_| SessionSlot(Arc::clone(self)));
        if slot.is_some() {
            crate::metrics::metrics().sessions(1);
        }
        if slot.is_none() {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        slot
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        crate::metrics::metrics().sessions(-1);
        self.0.reclaim.closed();
    }
}

/// Requests in flight, per client and in total (the total is what a
/// graceful shutdown waits for).
pub(crate) struct Inflight {
    per_client: Mutex<HashMap<String, usize>>,
    max_per_client: usize,
    total: watch::Sender<usize>,
}

/// One request in flight; released on drop.
pub(crate) struct Permit {
    inflight: Arc<Inflight>,
    client: String,
}

impl Inflight {
    pub(super) fn new(max_per_client: usize) -> Self {
        Inflight {
            per_client: Mutex::new(HashMap::new()),
            max_per_client,
            total: watch::channel(0).0,
        }
    }

    pub(crate) fn max_per_client(&self) -> usize {
        self.max_per_client
    }

    pub(crate) fn try_acquire(self: &Arc<Self>, client: String) -> Option<Permit> {
        let mut map = lock(&self.per_client);
        let count = map.entry(client.clone()).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        self.total.send_modify(|t| *t += 1);
        Some(Permit {
            inflight: Arc::clone(self),
            client,
        })
    }

    pub(super) async fn drained(&self) {
        let mut total = self.total.subscribe();
        // The sender lives in `self`, so this cannot fail while awaited.
        let _ = total.wait_for(|t| *t == 0).await;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut map = lock(&self.inflight.per_client);
        if let Some(count) = map.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.client);
            }
        }
        drop(map);
        self.inflight
            .total
            .send_modify(|t| *t = t.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let budget = Arc::new(SessionBudget::new(2));
        let a = budget.try_acquire().unwrap();
        let _b = budget.try_acquire().unwrap();
        assert!(budget.try_acquire().is_none());
        drop(a);
        assert!(budget.try_acquire().is_some());

        let inflight = Arc::new(Inflight::new(2));
        let p1 = inflight.try_acquire("a".into()).unwrap();
        let _p2 = inflight.try_acquire("a".into()).unwrap();
        assert!(inflight.try_acquire("a".into()).is_none());
        let _q = inflight.try_acquire("b".into()).unwrap();
        drop(p1);
        let _p3 = inflight.try_acquire("a".into()).unwrap();
        assert_eq!(*inflight.total.borrow(), 3);
    }

    #[tokio::test]
    async fn a_closed_session_is_told_to_reclaim() {
        use std::time::Duration;
        let budget = Arc::new(SessionBudget::new(2));
        let slot = budget.try_acquire().unwrap();
        let told =
            || tokio::time::timeout(Duration::from_millis(50), budget.reclaim.closed.notified());
        assert!(told().await.is_err(), "nothing closed yet");
        drop(slot);
        assert!(told().await.is_ok(), "a closed session is reclaimed");
    }
}
