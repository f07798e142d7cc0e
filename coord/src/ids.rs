//! Instance ids: the smallest free number in `0..max` for a service, held under a lease —
//! e.g. a Snowflake worker id.
//!
//! Acquiring costs two round trips when uncontended: one listing of `/ids/{service}/` to find
//! the smallest free id, one compare-and-set creating its key (attached to a lease). A lost race
//! repeats both — never a scan of one transaction per candidate id.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use tokio::sync::watch;

use crate::lease::{Lease, LeaseState};
use crate::lock::check_name;
use crate::provider::Provider;
use crate::types::Expect;
use crate::{Error, LeaseLoss, Result};

/// Where ids live.
pub const IDS_PREFIX: &str = "/ids/";
/// How many lost races `acquire` tolerates before giving up.
const MAX_ATTEMPTS: usize = 64;

/// A held instance id. Release it with [`InstanceId::release`] (or drop it). When its lease is
/// lost the id may be given to someone else: [`InstanceId::lost`] fires and the holder must stop
/// using it.
pub struct InstanceId {
    id: u32,
    key: String,
    lease: Lease,
}

impl std::fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceId")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish()
    }
}

/// Acquires the smallest free id in `0..max` for `service`, bound to a lease of `ttl`.
pub async fn acquire_instance_id(
    coord: Arc<dyn Provider>,
    ctx: &Context,
    service: &str,
    max: u32,
    ttl: Duration,
) -> Result<InstanceId> {
    check_name("service", service)?;
    if max == 0 || max > 1 << 20 {
        return Err(Error::InvalidConfig(format!(
            "id space 0..{max} must hold 1..=1048576 ids"
        )));
    }
    let prefix = format!("{IDS_PREFIX}{service}/");
    let lease = coord.grant_lease(ctx, ttl).await?;
    for _ in 0..MAX_ATTEMPTS {
        let listing = coord.list(ctx, &prefix).await?;
        let mut taken: Vec<u32> = listing
            .kvs
            .iter()
            .filter_map(|kv| kv.key.strip_prefix(&prefix)?.parse().ok())
            .collect();
        taken.sort_unstable();
        let Some(id) = smallest_free(&taken, max) else {
            let _ = lease.revoke().await;
            return Err(Error::NoFreeId {
                service: service.to_owned(),
                max,
            });
        };
        // Zero-padded so keys sort numerically.
        let key = format!("{prefix}{id:07}");
        match coord
            .compare_and_set(
                ctx,
                &key,
                Expect::Absent,
                lease.id().to_string().into_bytes(),
                Some(lease.id()),
            )
            .await
        {
            Ok(_) => {
                return Ok(InstanceId { id, key, lease });
            }
            Err(Error::Conflict { .. }) => continue,
            Err(err) => {
                let _ = lease.revoke().await;
                return Err(err);
            }
        }
    }
    let _ = lease.revoke().await;
    Err(Error::Unavailable(format!(
        "lost the race for an id of {service:?} {MAX_ATTEMPTS} times; too many contenders at once"
    )))
}

/// The smallest number in `0..max` missing from the sorted `taken`.
fn smallest_free(taken: &[u32], max: u32) -> Option<u32> {
    let mut candidate = 0u32;
    for &t in taken {
        if t > candidate {
            break;
        }
        if t == candidate {
            candidate += 1;
        }
    }
    (candidate < max).then_some(candidate)
}

impl InstanceId {
    /// The id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The lease holding the id.
    pub fn lease_id(&self) -> crate::LeaseId {
        self.lease.id()
    }

    /// Whether the id is still held.
    pub fn is_held(&self) -> bool {
        self.lease.is_alive()
    }

    /// A receiver that turns `Lost(..)` when the id is lost.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.lease.subscribe()
    }

    /// Resolves when the id is lost.
    pub async fn lost(&self) -> LeaseLoss {
        self.lease.lost().await
    }

    /// Gives the id back now. Only the lease is revoked — its keys go with it — never the key
    /// by name: if this holder had lost the id and someone else holds it now, their key must
    /// stay.
    pub async fn release(self, _ctx: &Context) -> Result<()> {
        self.lease.revoke().await
    }
}

#[cfg(test)]
mod tests {
    use super::smallest_free;

    #[test]
    fn finds_the_first_gap() {
        assert_eq!(smallest_free(&[], 4), Some(0));
        assert_eq!(smallest_free(&[0, 1, 3], 4), Some(2));
        assert_eq!(smallest_free(&[1, 2], 4), Some(0));
        assert_eq!(smallest_free(&[0, 1, 2, 3], 4), None);
        assert_eq!(smallest_free(&[0, 0, 1], 4), Some(2));
    }
}
