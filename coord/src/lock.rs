//! Distributed locks: one holder at a time, fencing tokens, expiry when the holder dies.
//!
//! Recipe (etcd's own): each contender creates `/locks/{name}/{lease}` attached to its lease;
//! the contender whose key has the lowest create revision holds the lock. The others watch the
//! key just ahead of theirs (not the whole prefix, so a release wakes one waiter, not all).
//! The holder's create revision is the **fencing token**: it grows with every new holder, so a
//! resource can refuse writes carrying an older token.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;

use crate::lease::{Lease, LeaseState};
use crate::provider::{Provider, StartAt};
use crate::types::{EventKind, Expect};
use crate::{Error, Result};

/// Where lock keys live.
pub const LOCK_PREFIX: &str = "/locks/";

/// A named lock. Cheap to create; every acquisition makes its own lease.
pub struct Lock {
    queue: Queue,
}

/// The ticket queue behind locks and elections: keys under `prefix`, ordered by create revision.
pub(crate) struct Queue {
    pub(crate) coord: Arc<dyn Provider>,
    pub(crate) prefix: String,
    pub(crate) ttl: Duration,
}

/// A place in a [`Queue`].
pub(crate) struct Ticket {
    pub(crate) key: String,
    pub(crate) token: i64,
    pub(crate) lease: Lease,
}

/// A held lock. Release it with [`LockGuard::unlock`]; dropping it releases it too (the lease
/// is revoked in the background). If the holder's lease is lost, [`LockGuard::lost`] fires and
/// another contender may take the lock: stop using the guarded resource.
pub struct LockGuard {
    coord: Arc<dyn Provider>,
    key: String,
    token: i64,
    lease: Lease,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .field("token", &self.token)
            .finish()
    }
}

pub(crate) fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidKey {
            key: format!("{kind} {name:?}"),
            reason: "names are 1-128 characters of [A-Za-z0-9._-]",
        })
    }
}

impl Lock {
    /// A lock named `name` (`[A-Za-z0-9._-]{1,128}`) whose holder expires `ttl` after it dies.
    pub fn new(coord: Arc<dyn Provider>, name: &str, ttl: Duration) -> Result<Self> {
        check_name("lock", name)?;
        crate::keys::ttl_seconds(ttl)?;
        Ok(Lock {
            queue: Queue {
                coord,
                prefix: format!("{LOCK_PREFIX}{name}/"),
                ttl,
            },
        })
    }

    fn guard(&self, ticket: Ticket) -> LockGuard {
        LockGuard {
            coord: Arc::clone(&self.queue.coord),
            key: ticket.key,
            token: ticket.token,
            lease: ticket.lease,
        }
    }

    /// Waits until the lock is held, the Context's deadline passes or it is cancelled.
    pub async fn acquire(&self, ctx: &Context) -> Result<LockGuard> {
        let ticket = self.queue.enqueue(ctx, Vec::new()).await?;
        self.queue
            .wait_turn(ctx, ticket)
            .await
            .map(|t| self.guard(t))
    }

    /// Takes the lock if it is free right now; `None` if someone holds it.
    pub async fn try_acquire(&self, ctx: &Context) -> Result<Option<LockGuard>> {
        let ticket = self.queue.enqueue(ctx, Vec::new()).await?;
        if self.queue.is_first(ctx, &ticket).await? {
            return Ok(Some(self.guard(ticket)));
        }
        ticket.lease.revoke().await?;
        Ok(None)
    }
}

impl Queue {
    pub(crate) async fn enqueue(&self, ctx: &Context, value: Vec<u8>) -> Result<Ticket> {
        let lease = self.coord.grant_lease(ctx, self.ttl).await?;
        let key = format!("{}{:016x}", self.prefix, lease.id());
        let token = self
            .coord
            .compare_and_set(ctx, &key, Expect::Absent, value, Some(lease.id()))
            .await?;
        Ok(Ticket { key, token, lease })
    }

    pub(crate) async fn is_first(&self, ctx: &Context, ticket: &Ticket) -> Result<bool> {
        let listing = self.coord.list(ctx, &self.prefix).await?;
        let first = listing.kvs.iter().min_by_key(|kv| kv.create_revision);
        Ok(first.is_some_and(|kv| kv.key == ticket.key))
    }

    /// Waits for the ticket's turn; on failure the ticket leaves the queue, so nobody waits
    /// behind a contender that gave up.
    pub(crate) async fn wait_turn(&self, ctx: &Context, ticket: Ticket) -> Result<Ticket> {
        match self
            .wait(ctx, &ticket.key, ticket.token, &ticket.lease)
            .await
        {
            Ok(()) => Ok(ticket),
            Err(err) => {
                let _ = ticket.lease.revoke().await;
                Err(err)
            }
        }
    }

    async fn wait(&self, ctx: &Context, key: &str, token: i64, lease: &Lease) -> Result<()> {
        loop {
            if let LeaseState::Lost(_) = lease.state() {
                return Err(Error::LeaseLost(lease.id()));
            }
            let listing = self.coord.list(ctx, &self.prefix).await?;
            if !listing.kvs.iter().any(|kv| kv.key == key) {
                return Err(Error::LeaseLost(lease.id()));
            }
            let ahead = listing
                .kvs
                .iter()
                .filter(|kv| kv.create_revision < token)
                .max_by_key(|kv| kv.create_revision);
            let Some(ahead) = ahead else { return Ok(()) };
            // Wait for the contender just ahead to go, from the listing's revision on, so a
            // deletion between the listing and the watch is not missed.
            let mut watch = self
                .coord
                .watch(
                    ctx,
                    &ahead.key,
                    false,
                    StartAt::Revision(listing.revision + 1),
                )
                .await?;
            loop {
                let event = ctx.run(watch.next()).await?.ok_or(Error::Closed)?;
                if event.kind == EventKind::Delete {
                    break;
                }
            }
        }
    }
}

impl LockGuard {
    /// The fencing token: the create revision of this holder's key. Larger for every later
    /// holder.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The lock key (namespace excluded).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the lock is still held (the lease is alive).
    pub fn is_held(&self) -> bool {
        self.lease.is_alive()
    }

    /// Resolves when the lease behind the lock is lost.
    pub async fn lost(&self) -> crate::LeaseLoss {
        self.lease.lost().await
    }

    /// Releases the lock.
    pub async fn unlock(self, ctx: &Context) -> Result<()> {
        let _ = self.coord.delete(ctx, &self.key).await;
        self.lease.revoke().await
    }
}
