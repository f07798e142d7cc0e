//! A node's start-up reconciliation: the database is the truth for services, groups and
//! persistent instances; coord holds their mirror for the views. After a standalone restart
//! the in-process coord is empty, and in a cluster a crash between the two writes can leave
//! them apart — either way, this puts coord back in line before the node serves.

use std::collections::HashMap;

use keel_clog::Context;
use keel_coord::Provider;

use super::catalog::group_record;
use super::instances::encode;
use crate::keys::{self, ROOT, RegistryKey, group_key, instance_key, service_key};
use crate::{RegistryStore, Result};

pub(super) async fn mirror_database(
    ctx: &Context,
    store: &RegistryStore,
    coord: &dyn Provider,
) -> Result<()> {
    // What coord holds now: key → value, for everything the database is the truth of.
    let mut mirrored: HashMap<String, Vec<u8>> = HashMap::new();
    for kv in coord.list(ctx, ROOT).await?.kvs {
        let from_database = match keys::parse(&kv.key) {
            Some(RegistryKey::Service(_)) | Some(RegistryKey::Group(..)) => true,
            // Ephemeral instances live on leases and are coord's own.
            Some(RegistryKey::Instance(..)) => kv.lease == 0,
            _ => false,
        };
        if from_database {
            mirrored.insert(kv.key, kv.value);
        }
    }
    let mut wanted: Vec<(String, Vec<u8>)> = Vec::new();
    for service in store.all_services(ctx).await? {
        wanted.push((service_key(&service.id), encode(&service)?));
    }
    for group in store.all_groups(ctx).await? {
        wanted.push((group_key(&group.tenant, &group.name), group_record(&group)?));
    }
    for instance in store.all_instances(ctx).await? {
        wanted.push((
            instance_key(&instance.service_id(), &instance.instance_id),
            encode(&instance)?,
        ));
    }
    let (mut written, mut removed) = (0usize, 0usize);
    for (key, value) in wanted {
        if mirrored.remove(&key).as_deref() != Some(value.as_slice()) {
            coord.put(ctx, &key, value, None).await?;
            written += 1;
        }
    }
    for key in mirrored.into_keys() {
        coord.delete(ctx, &key).await?;
        removed += 1;
    }
    if written + removed > 0 {
        tracing::info!(
            written,
            removed,
            "registry: coord brought in line with the database"
        );
    }
    Ok(())
}
