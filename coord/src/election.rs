//! Leader election for singleton background jobs in a cluster.
//!
//! Candidates queue under `/elections/{name}/` exactly like lock contenders; the first in the
//! queue leads and its value (an address, a node id) is what observers see. A leader that dies
//! is replaced when its lease expires.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use tokio::sync::watch;

use crate::lock::{Queue, Ticket, check_name};
use crate::provider::{Provider, StartAt};
use crate::types::EventKind;
use crate::{LeaseLoss, Result};

/// Where election keys live.
pub const ELECTION_PREFIX: &str = "/elections/";

/// The current leader as observers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// The value the leader campaigned with.
    pub value: Vec<u8>,
    /// The create revision of its key (grows with every new leader).
    pub revision: i64,
}

/// A named election.
pub struct Election {
    queue: Queue,
}

/// Being the leader. Resign with [`Leadership::resign`]; dropping it resigns too. If the lease
/// is lost, [`Leadership::lost`] fires: stop acting as leader.
pub struct Leadership {
    ticket: Ticket,
    coord: Arc<dyn Provider>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("key", &self.ticket.key)
            .finish()
    }
}

impl Election {
    /// The election `name` (`[A-Za-z0-9._-]{1,128}`); a dead leader is replaced after `ttl`.
    pub fn new(coord: Arc<dyn Provider>, name: &str, ttl: Duration) -> Result<Self> {
        check_name("election", name)?;
        crate::keys::ttl_seconds(ttl)?;
        Ok(Election {
            queue: Queue {
                coord,
                prefix: format!("{ELECTION_PREFIX}{name}/"),
                ttl,
            },
        })
    }

    /// Waits until this candidate leads (or the Context ends).
    pub async fn campaign(&self, ctx: &Context, value: Vec<u8>) -> Result<Leadership> {
        let ticket = self.queue.enqueue(ctx, value).await?;
        let ticket = self.queue.wait_turn(ctx, ticket).await?;
        Ok(Leadership {
            ticket,
            coord: Arc::clone(&self.queue.coord),
        })
    }

    /// The current leader, if any.
    pub async fn leader(&self, ctx: &Context) -> Result<Option<Leader>> {
        let listing = self.queue.coord.list(ctx, &self.queue.prefix).await?;
        Ok(listing
            .kvs
            .into_iter()
            .min_by_key(|kv| kv.create_revision)
            .map(|kv| Leader {
                value: kv.value,
                revision: kv.create_revision,
            }))
    }

    /// Follows the leader: the receiver holds the current leader and changes with it. Stops
    /// when the receiver is dropped or the Context is cancelled.
    pub async fn observe(&self, ctx: &Context) -> Result<watch::Receiver<Option<Leader>>> {
        let coord = Arc::clone(&self.queue.coord);
        let listing = coord.list(ctx, &self.queue.prefix).await?;
        // create revision → (key, value), and key → create revision for deletions.
        let mut queue: BTreeMap<i64, (String, Vec<u8>)> = BTreeMap::new();
        let mut by_key: HashMap<String, i64> = HashMap::new();
        for kv in listing.kvs {
            by_key.insert(kv.key.clone(), kv.create_revision);
            queue.insert(kv.create_revision, (kv.key, kv.value));
        }
        let leader_of = |queue: &BTreeMap<i64, (String, Vec<u8>)>| {
            queue.first_key_value().map(|(rev, (_, value))| Leader {
                value: value.clone(),
                revision: *rev,
            })
        };
        let (tx, rx) = watch::channel(leader_of(&queue));
        let mut changes = coord
            .watch(
                ctx,
                &self.queue.prefix,
                true,
                StartAt::Revision(listing.revision + 1),
            )
            .await?;
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    _ = tx.closed() => return,
                    _ = ctx.done() => return,
                    batch = changes.next_batch() => batch,
                };
                let Some(batch) = batch else { return };
                for event in batch {
                    match event.kind {
                        EventKind::Put => {
                            by_key.insert(event.kv.key.clone(), event.kv.create_revision);
                            queue.insert(event.kv.create_revision, (event.kv.key, event.kv.value));
                        }
                        EventKind::Delete => {
                            if let Some(rev) = by_key.remove(&event.kv.key) {
                                queue.remove(&rev);
                            }
                        }
                    }
                }
                let leader = leader_of(&queue);
                tx.send_if_modified(|current| {
                    if *current == leader {
                        false
                    } else {
                        *current = leader;
                        true
                    }
                });
            }
        });
        Ok(rx)
    }
}

impl Leadership {
    /// The create revision of the leader key: a fencing token for the leader's writes.
    pub fn revision(&self) -> i64 {
        self.ticket.token
    }

    /// Whether this candidate still leads (its lease is alive).
    pub fn is_leader(&self) -> bool {
        self.ticket.lease.is_alive()
    }

    /// Resolves when leadership is lost through the lease.
    pub async fn lost(&self) -> LeaseLoss {
        self.ticket.lease.lost().await
    }

    /// Steps down; the next candidate takes over.
    pub async fn resign(self, ctx: &Context) -> Result<()> {
        let _ = self.coord.delete(ctx, &self.ticket.key).await;
        self.ticket.lease.revoke().await
    }
}
