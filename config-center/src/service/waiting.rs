//! The wait both long polls share — native release keys and text clients' MD5s: check every
//! watched namespace, and if none changed for the client, sleep until one of them announces
//! something new, the deadline passes, the request is cancelled or the server stops.

use std::future::Future;
use std::time::Duration;

use futures_util::future::select_all;
use keel_clog::Context;
use tokio::sync::watch;

use super::ConfigCenter;
use crate::Result;

impl ConfigCenter {
    /// Calls `check(i)` for every receiver `i` (after taking note of its current value) and
    /// returns what the checks found, as soon as any found something; otherwise waits for one
    /// of `receivers` to change and checks again. Empty at `timeout`, when `ctx` is done and at
    /// shutdown. Subscribe before calling, so nothing announced meanwhile is missed.
    pub(super) async fn wait_until_any<T, F, Fut>(
        &self,
        ctx: &Context,
        receivers: &mut [watch::Receiver<Option<String>>],
        timeout: Duration,
        check: F,
    ) -> Result<Vec<T>>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut found = Vec::new();
            for (i, receiver) in receivers.iter_mut().enumerate() {
                let _ = receiver.borrow_and_update();
                if let Some(changed) = check(i).await? {
                    found.push(changed);
                }
            }
            if !found.is_empty() || receivers.is_empty() {
                return Ok(found);
            }
            let any_change = select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
            tokio::select! {
                _ = any_change => {}
                () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
                _ = ctx.done() => return Ok(Vec::new()),
                _ = self.shutdown.done() => return Ok(Vec::new()),
            }
        }
    }
}
