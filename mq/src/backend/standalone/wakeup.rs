//! Waking consumers that wait for records, without a cost per record when none waits.
//!
//! Every produce would otherwise lock and notify (a `watch` channel locks eight notifiers);
//! here a produce reads one counter, and only a consumer that found nothing to fetch is
//! counted. No wakeup is lost: a waiter is counted before it looks at the partitions (under
//! their locks), and a producer reads the counter after releasing the partition it appended
//! to — so either the waiter sees the record, or the producer sees the waiter.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::Result;

#[derive(Default)]
pub(super) struct Wakeup {
    waiting: AtomicUsize,
    notify: Notify,
}

/// Uncounts a waiter however its wait ends (including a cancelled future).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Wakeup {
    /// Calls `check` until it finds something, sleeping until the next [`Wakeup::wake`] after
    /// each empty answer.
    pub(super) async fn until<T>(&self, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        loop {
            // Created before counting: `notify_waiters` wakes every `Notified` that existed
            // when it was called, polled or not.
            let notified = self.notify.notified();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _counted = Waiting(&self.waiting);
            if let Some(found) = check()? {
                return Ok(found);
            }
            notified.await;
        }
    }

    /// Wakes the waiters, if any. Call after the change is visible (its lock released).
    pub(super) fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }
}
