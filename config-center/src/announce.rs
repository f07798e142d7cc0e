//! Release announcements between nodes, through keel-coord.
//!
//! Every node keeps the current release of the namespaces its clients read in memory and parks
//! their long polls locally. When a node releases, it writes the new release key to
//! `/keel/config-center/releases/{env}/{app}/{cluster}/{namespace}` in coord; every node
//! (itself included) watches that prefix, loads the announced release from the database into
//! its cache and wakes its parked clients. A deleted namespace's key is deleted, and nodes
//! forget it. Coord's watch resumes after a broken connection and re-syncs after compaction,
//! so an announcement is not lost while coord is up; if announcing itself fails (coord down),
//! other nodes catch up when their cached entry goes stale (see `service::STALE_AFTER`).

use std::sync::{Arc, Weak};

use keel_clog::Context;
use keel_coord::{EventKind, Provider as Coord, StartAt};

use crate::NamespaceId;
use crate::service::ConfigCenter;

/// Where announcements live in coord.
pub(crate) const PREFIX: &str = "/keel/config-center/releases/";

/// The coord key announcing `id`'s current release.
pub(crate) fn key(id: &NamespaceId) -> String {
    format!(
        "{PREFIX}{}/{}/{}/{}",
        id.env, id.app, id.cluster, id.namespace
    )
}

/// The announcement keys under an app (`cluster` empty) or a cluster.
pub(crate) fn scope_prefix(id: &NamespaceId) -> String {
    if id.cluster.is_empty() {
        format!("{PREFIX}{}/{}/", id.env, id.app)
    } else {
        format!("{PREFIX}{}/{}/{}/", id.env, id.app, id.cluster)
    }
}

fn parse(key: &str) -> Option<NamespaceId> {
    let mut parts = key.strip_prefix(PREFIX)?.split('/');
    let id = NamespaceId {
        env: parts.next()?.to_owned(),
        app: parts.next()?.to_owned(),
        cluster: parts.next()?.to_owned(),
        namespace: parts.next()?.to_owned(),
    };
    parts.next().is_none().then_some(id)
}

/// Follows announcements until the center is dropped or coord closes.
pub(crate) async fn follow(
    center: Weak<ConfigCenter>,
    coord: Arc<dyn Coord>,
    mut watcher: keel_coord::Watcher,
) {
    let ctx = Context::new();
    while let Some(batch) = watcher.next_batch().await {
        let Some(center) = center.upgrade() else {
            return;
        };
        for event in batch {
            let Some(id) = parse(&event.kv.key) else {
                continue;
            };
            match event.kind {
                EventKind::Put => {
                    let release_key = String::from_utf8_lossy(&event.kv.value).into_owned();
                    if let Err(e) = center.adopt(&ctx, &id, &release_key).await {
                        tracing::warn!(namespace = %id, release_key, error = %e, "could not load an announced release; clients are served it once it loads");
                    }
                }
                EventKind::Delete => center.forget(&id),
            }
        }
    }
    tracing::info!(
        ns = coord.logger().namespace(),
        "release announcements stopped (coord closed)"
    );
}

/// Starts watching announcements from now.
pub(crate) async fn watch(
    ctx: &Context,
    coord: &Arc<dyn Coord>,
) -> keel_coord::Result<keel_coord::Watcher> {
    coord.watch(ctx, PREFIX, true, StartAt::Now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_scopes_nest() {
        let id = NamespaceId {
            env: "prod".into(),
            app: "shop".into(),
            cluster: "bj".into(),
            namespace: "db".into(),
        };
        assert_eq!(parse(&key(&id)), Some(id.clone()));
        assert!(key(&id).starts_with(&scope_prefix(&id)));
        assert_eq!(
            scope_prefix(&id),
            "/keel/config-center/releases/prod/shop/bj/"
        );
        let app = NamespaceId {
            cluster: String::new(),
            namespace: String::new(),
            ..id
        };
        assert_eq!(
            scope_prefix(&app),
            "/keel/config-center/releases/prod/shop/"
        );
        assert!(parse("/keel/config-center/releases/a/b/c").is_none());
    }
}
