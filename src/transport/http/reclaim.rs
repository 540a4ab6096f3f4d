//! Giving the memory of closed sessions back to the operating system.
//!
//! Each HTTP session is an rmcp service with its own tasks and channels,
//! about 97 KiB of heap (heaptrack; 55 KiB of it resident). When sessions
//! close, all of it is freed: after 256 sessions opened and closed, the heap
//! in use was back to its start. The process was not: glibc's allocator
//! returns only the free memory at the top of a heap, so the freed sessions,
//! interleaved with memory still in use, stayed resident (+14 MiB, and a
//! second wave of sessions grew it further). `malloc_trim(0)` returns every
//! free page of every arena; the same run ends about 1.2 MiB over its start.
//!
//! It runs here, off every request's path: a quiet second after sessions
//! close, on a blocking thread, at most once per second however many close.
//! There is no crate for one libc call; other allocators need nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long after a session closes the memory is given back: long enough
/// for its tasks to end and drop what they hold, and for closes that come
/// together to be given back once.
pub(super) const QUIET: Duration = Duration::from_secs(1);

/// Told whenever a session closes.
#[derive(Default)]
pub(crate) struct Reclaim {
    pub(super) closed: Notify,
    /// Some session closed since the last pass.
    pending: AtomicBool,
}

impl Reclaim {
    /// A session closed. Never blocks; every close before a pass is given
    /// back by that one pass.
    pub(crate) fn closed(&self) {
        self.pending.store(true, Ordering::SeqCst);
        self.closed.notify_one();
    }

    /// Gives memory back with `trim` a `quiet` while after sessions close,
    /// until `stop` is cancelled.
    pub(super) async fn run(self: Arc<Self>, quiet: Duration, trim: fn(), stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.closed.notified() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(quiet) => {}
            }
            // A wake-up can be left over from closes the last pass covered.
            if !self.pending.swap(false, Ordering::SeqCst) {
                continue;
            }
            // A trim walks every arena under its lock: not on a worker thread.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

/// Returns the allocator's free pages to the operating system.
pub(super) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes no pointers and only releases memory
        // glibc holds as free; it is thread-safe (each arena is locked).
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    static TRIMS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        TRIMS.fetch_add(1, Ordering::SeqCst);
    }

    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_given_back_once_a_quiet_while_after_sessions_close() {
        let reclaim = Arc::new(Reclaim::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(Arc::clone(&reclaim).run(QUIET, count, stop.clone()));
        settle().await;
        tokio::time::advance(Duration::from_secs(5)).await;
        settle().await;
        assert_eq!(
            TRIMS.load(Ordering::SeqCst),
            0,
            "nothing closed, nothing to give back"
        );

        for _ in 0..256 {
            reclaim.closed();
        }
        settle().await;
        tokio::time::advance(QUIET / 2).await;
        settle().await;
        assert_eq!(
            TRIMS.load(Ordering::SeqCst),
            0,
            "not before the quiet while"
        );
        tokio::time::advance(QUIET).await;
        settle().await;
        // The pass runs on a blocking thread, in real time.
        for _ in 0..500 {
            if TRIMS.load(Ordering::SeqCst) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        settle().await;
        assert_eq!(TRIMS.load(Ordering::SeqCst), 1, "256 closes, one pass");
        // A second pass, if one were started, would run in real time too.
        for _ in 0..4 {
            tokio::time::advance(QUIET * 2).await;
            settle().await;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            TRIMS.load(Ordering::SeqCst),
            1,
            "no second pass for the same closes"
        );

        reclaim.closed();
        settle().await;
        tokio::time::advance(QUIET * 2).await;
        settle().await;
        for _ in 0..500 {
            if TRIMS.load(Ordering::SeqCst) > 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            TRIMS.load(Ordering::SeqCst),
            2,
            "a later close gets its own pass"
        );

        stop.cancel();
        assert!(task.await.is_ok());
    }

    #[test]
    fn trimming_is_safe_to_call_at_any_time() {
        let held: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
        trim();
        assert!(
            held.iter()
                .enumerate()
                .all(|(i, v)| v.iter().all(|b| *b == i as u8))
        );
    }
}
