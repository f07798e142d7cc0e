//! Leases with background keep-alive, whose loss is reported to the holder — never silently
//! replaced by a new lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::types::LeaseId;
use crate::{Error, Result};

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseLoss {
    /// The store says the lease no longer exists (it expired).
    Expired,
    /// No keep-alive succeeded for a whole TTL: the store must consider the lease expired.
    ConnectionLost,
    /// The holder revoked it (or closed the provider).
    Revoked,
}

/// The state of a lease as its holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Kept alive.
    Alive,
    /// Gone, and why. Keys attached to it are (or will shortly be) deleted by the store.
    Lost(LeaseLoss),
}

/// A lease kept alive in the background every TTL/3.
///
/// Dropping the `Lease` stops the keep-alive and revokes it (best effort); keys attached to it
/// then disappear. Hold it as long as the keys it guards must live.
pub struct Lease {
    id: LeaseId,
    ttl: Duration,
    state: watch::Receiver<LeaseState>,
    stop: CancellationToken,
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &format_args!("{:x}", self.id))
            .field("ttl", &self.ttl)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Lease {
    pub(crate) async fn grant(
        backend: Arc<dyn Backend>,
        ttl_secs: i64,
        parent: &CancellationToken,
    ) -> Result<Self> {
        let id = backend.lease_grant(ttl_secs).await?;
        let ttl = Duration::from_secs(ttl_secs as u64);
        let (tx, rx) = watch::channel(LeaseState::Alive);
        let stop = parent.child_token();
        tokio::spawn(keep_alive(Arc::clone(&backend), id, ttl, tx, stop.clone()));
        Ok(Lease {
            id,
            ttl,
            state: rx,
            stop,
            backend,
        })
    }

    /// The lease id (attach keys with `put(.., Some(lease.id()))`).
    pub fn id(&self) -> LeaseId {
        self.id
    }

    /// The TTL granted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The current state.
    pub fn state(&self) -> LeaseState {
        *self.state.borrow()
    }

    /// Whether the lease is still kept alive.
    pub fn is_alive(&self) -> bool {
        self.state() == LeaseState::Alive
    }

    /// A receiver that changes to `Lost(..)` when the lease is lost; hand it to whatever must
    /// stop using the guarded resource.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Resolves when the lease is lost, with the reason.
    pub async fn lost(&self) -> LeaseLoss {
        let mut rx = self.state.clone();
        loop {
            if let LeaseState::Lost(reason) = *rx.borrow_and_update() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return LeaseLoss::Revoked;
            }
        }
    }

    /// Stops the keep-alive and revokes the lease; its keys are deleted. Idempotent.
    pub async fn revoke(&self) -> Result<()> {
        if !self.stop.is_cancelled() {
            self.stop.cancel();
            match self.backend.lease_revoke(self.id).await {
                Ok(()) | Err(Error::LeaseNotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        // The keep-alive task publishes `Lost(Revoked)` as it stops; return only once it has,
        // so `state()` right after `revoke()` is never `Alive`. (The task always publishes a
        // loss before it ends, so this cannot wait for ever.)
        let mut state = self.state.clone();
        let _ = state.wait_for(|s| *s != LeaseState::Alive).await;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.stop.is_cancelled() {
            return;
        }
        self.stop.cancel();
        // Best effort: without a runtime (or if revoking fails) the lease expires after its TTL.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let backend = Arc::clone(&self.backend);
            let id = self.id;
            handle.spawn(async move {
                let _ = backend.lease_revoke(id).await;
            });
        }
    }
}

/// Keeps the lease alive every TTL/3 and reports its loss.
///
/// Loss by lost connection is reported **before** the store can expire the lease: the store's
/// deadline is at least (send time of the last successful keep-alive) + TTL, and the holder is
/// told at that instant minus a safety margin (TTL/10, at least 100 ms). So a holder that stops
/// using the guarded resource when told (uid stops issuing ids) never overlaps with a successor.
async fn keep_alive(
    backend: Arc<dyn Backend>,
    id: LeaseId,
    ttl: Duration,
    state: watch::Sender<LeaseState>,
    stop: CancellationToken,
) {
    let interval = (ttl / 3).max(Duration::from_millis(300));
    let margin = (ttl / 10).max(Duration::from_millis(100));
    // The grant itself was sent just before this task started.
    let mut safe_until = Instant::now() + ttl - margin;
    let mut wait = interval;
    let lost = |reason| {
        let _ = state.send(LeaseState::Lost(reason));
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return lost(LeaseLoss::Revoked),
            _ = tokio::time::sleep_until(safe_until) => {
                tracing::warn!(lease = format_args!("{id:x}"), ?ttl, "no keep-alive confirmed within the TTL; lease lost");
                return lost(LeaseLoss::ConnectionLost);
            }
            _ = tokio::time::sleep(wait) => {}
        }
        let sent = Instant::now();
        let attempt = tokio::select! {
            _ = stop.cancelled() => return lost(LeaseLoss::Revoked),
            _ = tokio::time::sleep_until(safe_until) => {
                tracing::warn!(lease = format_args!("{id:x}"), ?ttl, "no keep-alive confirmed within the TTL; lease lost");
                return lost(LeaseLoss::ConnectionLost);
            }
            attempt = tokio::time::timeout(interval, backend.lease_keep_alive(id)) => attempt,
        };
        match attempt {
            Ok(Ok(Some(_))) => {
                safe_until = sent + ttl - margin;
                wait = interval;
            }
            Ok(Ok(None)) => {
                tracing::warn!(lease = format_args!("{id:x}"), "lease expired");
                return lost(LeaseLoss::Expired);
            }
            Ok(Err(Error::Closed)) => return lost(LeaseLoss::Revoked),
            // Retry soon: a keep-alive must land before the TTL runs out.
            Ok(Err(_)) | Err(_) => wait = Duration::from_millis(200),
        }
    }
}
