//! The keel-coord contract: every backend must pass every case here.
//!
//! Instantiate with [`crate::coord_contract!`] and a fixture function returning
//! `Option<CoordFixture>` (`None` = skip, see [`crate::backend`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_coord::{
    ConfigWatch, Election, Error, EventKind, Expect, LeaseLoss, Lock, Provider, ProviderExt,
    ServiceInstance, ServiceRegistry, StartAt, WatchEvent, Watcher, acquire_instance_id,
};
use serde::Deserialize;

/// Two providers on one store (as two processes on one etcd), inside a private namespace.
pub struct CoordFixture {
    /// The first provider.
    pub a: Arc<dyn Provider>,
    /// A second provider sharing `a`'s store.
    pub b: Arc<dyn Provider>,
}

impl CoordFixture {
    /// Closes both providers.
    pub async fn close(self) {
        self.a.close().await.expect("close a");
        self.b.close().await.expect("close b");
    }
}

const WAIT: Duration = Duration::from_secs(15);

/// The next watch event, failing the test after 15 s.
pub async fn next_event(watch: &mut Watcher) -> WatchEvent {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("no watch event within 15s")
        .expect("watch ended")
}

/// Asserts that no event arrives within `window`.
pub async fn no_event(watch: &mut Watcher, window: Duration) {
    if let Ok(Some(event)) = tokio::time::timeout(window, watch.next()).await {
        panic!("unexpected event {event:?}");
    }
}

/// get / put / list / delete with revisions and versions.
pub async fn kv_round_trip(f: &CoordFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert_eq!(c.get(&ctx, "/kv/missing").await.unwrap(), None);
    let r1 = c.put(&ctx, "/kv/a", b"1".to_vec(), None).await.unwrap();
    let r2 = c.put(&ctx, "/kv/a", b"2".to_vec(), None).await.unwrap();
    assert!(r2 > r1, "revisions increase");
    let kv = c.get(&ctx, "/kv/a").await.unwrap().unwrap();
    assert_eq!((kv.key.as_str(), kv.value.as_slice()), ("/kv/a", &b"2"[..]));
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2, 2)
    );
    c.put(&ctx, "/kv/b", b"x".to_vec(), None).await.unwrap();
    c.put(&ctx, "/kvz", b"outside".to_vec(), None)
        .await
        .unwrap();
    let listing = f.b.list(&ctx, "/kv/").await.unwrap();
    let keys: Vec<_> = listing.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        ["/kv/a", "/kv/b"],
        "sorted, prefix only, visible to the other provider"
    );
    assert!(listing.revision >= r2);
    let deleted = c.delete(&ctx, "/kv/a").await.unwrap();
    assert!(deleted.is_some_and(|r| r > r2));
    assert_eq!(c.delete(&ctx, "/kv/a").await.unwrap(), None);
    assert_eq!(c.get(&ctx, "/kv/a").await.unwrap(), None);
    // Recreated keys start a new life.
    let r3 = c.put(&ctx, "/kv/a", b"3".to_vec(), None).await.unwrap();
    let kv = c.get(&ctx, "/kv/a").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.version), (r3, 1));
    // Typed JSON.
    #[derive(serde::Serialize, Deserialize, Debug, PartialEq)]
    struct Rule {
        rate: f64,
    }
    c.put_json(&ctx, "/kv/rule", &Rule { rate: 0.5 }, None)
        .await
        .unwrap();
    assert_eq!(
        c.get_json::<Rule>(&ctx, "/kv/rule").await.unwrap(),
        Some(Rule { rate: 0.5 })
    );
    let err = c.get_json::<Rule>(&ctx, "/kv/b").await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
}

/// Compare-and-set and compare-and-delete, with conflicts as a distinct error.
pub async fn compare_and_set(f: &CoordFixture) {
    let ctx = Context::new();
    let c = &f.a;
    let r1 = c
        .compare_and_set(&ctx, "/cas/k", Expect::Absent, b"1".to_vec(), None)
        .await
        .unwrap();
    let err =
        f.b.compare_and_set(&ctx, "/cas/k", Expect::Absent, b"x".to_vec(), None)
            .await
            .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { expected: 0, actual, .. } if actual == r1),
        "{err}"
    );
    let r2 = c
        .compare_and_set(&ctx, "/cas/k", Expect::ModRevision(r1), b"2".to_vec(), None)
        .await
        .unwrap();
    let err = c
        .compare_and_set(&ctx, "/cas/k", Expect::ModRevision(r1), b"3".to_vec(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { actual, .. } if actual == r2),
        "{err}"
    );
    let err = c.compare_and_delete(&ctx, "/cas/k", r1).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    c.compare_and_delete(&ctx, "/cas/k", r2).await.unwrap();
    assert_eq!(c.get(&ctx, "/cas/k").await.unwrap(), None);
    let err = c.compare_and_delete(&ctx, "/cas/k", r2).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { actual: 0, .. }));
}

/// Bad input is refused with a clear error before reaching the backend.
pub async fn bad_input(f: &CoordFixture) {
    let ctx = Context::new();
    let c = &f.a;
    for key in [
        "",
        "/with space",
        "/tab\there",
        "/ünïcode",
        &"/x".repeat(600),
    ] {
        let err = c.put(&ctx, key, b"v".to_vec(), None).await.unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{key:?}: {err}");
        assert!(c.get(&ctx, key).await.is_err());
    }
    let err = c
        .put(&ctx, "/big", vec![0; 2 * 1024 * 1024], None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("max_value_bytes"));
    for ttl in [
        Duration::ZERO,
        Duration::from_millis(500),
        Duration::from_secs(100_000),
    ] {
        let err = c.grant_lease(&ctx, ttl).await.unwrap_err();
        assert!(matches!(err, Error::InvalidTtl(_)), "{ttl:?}: {err}");
    }
    assert!(
        c.watch(&ctx, "/w", true, StartAt::Revision(0))
            .await
            .is_err()
    );
    let err = c.compare_and_delete(&ctx, "/absent", 0).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(Lock::new(Arc::clone(c), "bad name", Duration::from_secs(5)).is_err());
    let err = c
        .put(&ctx, "/leased", b"v".to_vec(), Some(0x7fff_0000_dead))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound(_)), "{err}");
    // An expired deadline fails fast.
    let expired = ctx.with_timeout(Duration::ZERO);
    let err = c.get(&expired, "/kv").await.unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
}

/// Prefix watches deliver puts and deletes in revision order, and only under the prefix.
pub async fn watch_prefix(f: &CoordFixture) {
    let ctx = Context::new();
    let mut watch = f.a.watch(&ctx, "/w/", true, StartAt::Now).await.unwrap();
    let r1 = f.b.put(&ctx, "/w/1", b"a".to_vec(), None).await.unwrap();
    f.b.put(&ctx, "/other", b"x".to_vec(), None).await.unwrap();
    let r2 = f.b.put(&ctx, "/w/2", b"b".to_vec(), None).await.unwrap();
    let r3 = f.b.delete(&ctx, "/w/1").await.unwrap().unwrap();
    let e1 = next_event(&mut watch).await;
    assert_eq!(
        (e1.kind, e1.kv.key.as_str(), e1.revision()),
        (EventKind::Put, "/w/1", r1)
    );
    assert_eq!(e1.kv.value, b"a");
    let e2 = next_event(&mut watch).await;
    assert_eq!(
        (e2.kind, e2.kv.key.as_str(), e2.revision()),
        (EventKind::Put, "/w/2", r2)
    );
    let e3 = next_event(&mut watch).await;
    assert_eq!(
        (e3.kind, e3.kv.key.as_str(), e3.revision()),
        (EventKind::Delete, "/w/1", r3)
    );
    no_event(&mut watch, Duration::from_millis(200)).await;
}

/// A watch from an older revision replays history; a single-key watch sees only its key.
pub async fn watch_from_revision_and_single_key(f: &CoordFixture) {
    let ctx = Context::new();
    let r1 = f.a.put(&ctx, "/h/a", b"1".to_vec(), None).await.unwrap();
    f.a.put(&ctx, "/h/b", b"2".to_vec(), None).await.unwrap();
    f.a.put(&ctx, "/h/a", b"3".to_vec(), None).await.unwrap();
    let mut history =
        f.b.watch(&ctx, "/h/", true, StartAt::Revision(r1))
            .await
            .unwrap();
    let values: Vec<Vec<u8>> = [
        next_event(&mut history).await,
        next_event(&mut history).await,
        next_event(&mut history).await,
    ]
    .into_iter()
    .map(|e| e.kv.value)
    .collect();
    assert_eq!(values, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    let mut single = f.b.watch(&ctx, "/h/a", false, StartAt::Now).await.unwrap();
    f.a.put(&ctx, "/h/ab", b"not me".to_vec(), None)
        .await
        .unwrap();
    f.a.put(&ctx, "/h/a", b"4".to_vec(), None).await.unwrap();
    let e = next_event(&mut single).await;
    assert_eq!(
        (e.kv.key.as_str(), e.kv.value.as_slice()),
        ("/h/a", &b"4"[..])
    );
    no_event(&mut single, Duration::from_millis(200)).await;
}

/// A watch outlives compaction of history it has already seen, and a watch asked to start in
/// compacted history is refused with `Compacted`.
pub async fn compaction_is_handled(f: &CoordFixture) {
    let ctx = Context::new();
    let r1 = f.a.put(&ctx, "/c/a", b"1".to_vec(), None).await.unwrap();
    let mut live = f.a.watch(&ctx, "/c/", true, StartAt::Now).await.unwrap();
    let r2 = f.a.put(&ctx, "/c/b", b"2".to_vec(), None).await.unwrap();
    f.a.compact(&ctx, r2).await.unwrap();
    let e = next_event(&mut live).await;
    assert_eq!(e.kv.key, "/c/b");
    f.a.put(&ctx, "/c/c", b"3".to_vec(), None).await.unwrap();
    assert_eq!(next_event(&mut live).await.kv.key, "/c/c");
    let err =
        f.b.watch(&ctx, "/c/", true, StartAt::Revision(r1))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Compacted { .. }), "{err}");
}

/// Keys attached to a lease go with it: on revoke, and on expiry when its holder stops.
pub async fn leases_expire_and_revoke(f: &CoordFixture) {
    let ctx = Context::new();
    let mut watch = f.a.watch(&ctx, "/l/", true, StartAt::Now).await.unwrap();
    let lease = f.a.grant_lease(&ctx, Duration::from_secs(2)).await.unwrap();
    assert!(lease.is_alive());
    f.a.put(&ctx, "/l/revoked", b"x".to_vec(), Some(lease.id()))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.kind, EventKind::Put);
    lease.revoke().await.unwrap();
    lease.revoke().await.unwrap(); // idempotent
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.key.as_str()),
        (EventKind::Delete, "/l/revoked")
    );
    assert_eq!(
        lease.state(),
        keel_coord::LeaseState::Lost(LeaseLoss::Revoked)
    );

    // Kept alive past its TTL while the holder lives...
    let kept = f.b.grant_lease(&ctx, Duration::from_secs(2)).await.unwrap();
    f.b.put(&ctx, "/l/kept", b"x".to_vec(), Some(kept.id()))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.kind, EventKind::Put);
    no_event(&mut watch, Duration::from_secs(5)).await;
    assert!(kept.is_alive());
    // ...and gone within a TTL (plus the store's expiry granularity) once keep-alives stop.
    f.b.close().await.unwrap();
    let e = next_event(&mut watch).await;
    assert_eq!((e.kind, e.kv.key.as_str()), (EventKind::Delete, "/l/kept"));
    drop(kept);
}

/// A detached lease lives only as long as someone renews it (a registry's heartbeats), and
/// renewing answers which leases are gone.
pub async fn detached_leases_follow_renewals(f: &CoordFixture) {
    let ctx = Context::new();
    let mut watch = f.a.watch(&ctx, "/d/", true, StartAt::Now).await.unwrap();
    let renewed =
        f.a.grant_detached_lease(&ctx, Duration::from_secs(2))
            .await
            .unwrap();
    let left =
        f.a.grant_detached_lease(&ctx, Duration::from_secs(2))
            .await
            .unwrap();
    f.a.put(&ctx, "/d/renewed", b"x".to_vec(), Some(renewed))
        .await
        .unwrap();
    f.a.put(&ctx, "/d/left", b"x".to_vec(), Some(left))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.kind, EventKind::Put);
    assert_eq!(next_event(&mut watch).await.kind, EventKind::Put);
    // Renewed from the other client (any node may take a heartbeat), the first outlives its
    // TTL; the second, left alone, expires.
    let started = std::time::Instant::now();
    let mut left_gone = false;
    while started.elapsed() < Duration::from_secs(5) {
        let ttls = f.b.renew_leases(&ctx, &[renewed]).await.unwrap();
        assert_eq!(ttls, [Some(Duration::from_secs(2))]);
        if !left_gone
            && let Ok(Some(e)) =
                tokio::time::timeout(Duration::from_millis(500), watch.next()).await
        {
            assert_eq!((e.kind, e.kv.key.as_str()), (EventKind::Delete, "/d/left"));
            left_gone = true;
        }
    }
    assert!(left_gone, "an unrenewed detached lease did not expire");
    let ttls = f.b.renew_leases(&ctx, &[left, renewed]).await.unwrap();
    assert_eq!(ttls, [None, Some(Duration::from_secs(2))]);
    assert!(f.b.renew_leases(&ctx, &[]).await.unwrap().is_empty());
    f.a.revoke_lease(&ctx, renewed).await.unwrap();
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.key.as_str()),
        (EventKind::Delete, "/d/renewed")
    );
}

/// A lease revoked behind its holder's back is reported lost (never silently recreated).
pub async fn lease_loss_is_reported(f: &CoordFixture) {
    let ctx = Context::new();
    let lease = f.a.grant_lease(&ctx, Duration::from_secs(1)).await.unwrap();
    f.b.revoke_lease(&ctx, lease.id()).await.unwrap();
    let loss = tokio::time::timeout(WAIT, lease.lost())
        .await
        .expect("loss reported");
    assert_eq!(loss, LeaseLoss::Expired);
    assert!(!lease.is_alive());
    let err =
        f.a.put(&ctx, "/x", b"v".to_vec(), Some(lease.id()))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound(_)), "{err}");
}

/// Locks exclude, hand over in order with growing fencing tokens, honour deadlines, and are
/// released when their holder dies.
pub async fn locks(f: &CoordFixture) {
    let ctx = Context::new();
    let lock_a = Arc::new(Lock::new(Arc::clone(&f.a), "jobs", Duration::from_secs(2)).unwrap());
    let lock_b = Arc::new(Lock::new(Arc::clone(&f.b), "jobs", Duration::from_secs(2)).unwrap());
    let inside = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let lock = Arc::clone(if i % 2 == 0 { &lock_a } else { &lock_b });
        let inside = Arc::clone(&inside);
        tasks.push(tokio::spawn(async move {
            let ctx = Context::new();
            let guard = lock.acquire(&ctx).await.unwrap();
            assert_eq!(
                inside.fetch_add(1, Ordering::SeqCst),
                0,
                "two holders at once"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            let token = guard.token();
            guard.unlock(&ctx).await.unwrap();
            token
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), 6, "every holder had its own fencing token");

    let held = lock_a.acquire(&ctx).await.unwrap();
    assert!(lock_b.try_acquire(&ctx).await.unwrap().is_none());
    let short = ctx.with_timeout(Duration::from_millis(300));
    let err = lock_b.acquire(&short).await.unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
    // The holder dies (its provider stops keeping the lease alive): the lock frees after the TTL.
    f.a.close().await.unwrap();
    drop(held);
    let waiting = ctx.with_timeout(WAIT);
    let next = lock_b.acquire(&waiting).await.unwrap();
    assert!(next.token() > *tokens.last().unwrap());
    next.unlock(&ctx).await.unwrap();
}

/// One leader at a time; observers follow; resignation hands over.
pub async fn election(f: &CoordFixture) {
    let ctx = Context::new();
    let ea = Election::new(Arc::clone(&f.a), "scheduler", Duration::from_secs(2)).unwrap();
    let eb = Election::new(Arc::clone(&f.b), "scheduler", Duration::from_secs(2)).unwrap();
    assert_eq!(ea.leader(&ctx).await.unwrap(), None);
    let mut observed = eb.observe(&ctx).await.unwrap();
    let leading = ea.campaign(&ctx, b"node-a".to_vec()).await.unwrap();
    assert!(leading.is_leader());
    let second = tokio::spawn(async move {
        let ctx = Context::new();
        eb.campaign(&ctx, b"node-b".to_vec()).await.unwrap()
    });
    let leader = tokio::time::timeout(WAIT, observed.wait_for(|l| l.is_some()))
        .await
        .unwrap()
        .unwrap()
        .clone();
    assert_eq!(leader.unwrap().value, b"node-a");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "a second leader while the first leads"
    );
    leading.resign(&ctx).await.unwrap();
    let b = tokio::time::timeout(WAIT, second).await.unwrap().unwrap();
    let leader = tokio::time::timeout(
        WAIT,
        observed.wait_for(|l| l.as_ref().is_some_and(|l| l.value == b"node-b")),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert_eq!(leader.unwrap().revision, b.revision());
    b.resign(&ctx).await.unwrap();
}

/// Register, discover, watch, deregister, expire.
pub async fn service_registry(f: &CoordFixture) {
    let ctx = Context::new();
    let registry = ServiceRegistry::new(Arc::clone(&f.a));
    let observer = ServiceRegistry::new(Arc::clone(&f.b));
    let mut watch = observer.watch(&ctx, "orders").await.unwrap();
    assert!(watch.current().is_empty());
    let initial = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        initial.is_empty(),
        "the first next() answers at once with the current instances"
    );
    let instance = |id: &str| ServiceInstance {
        service: "orders".into(),
        id: id.into(),
        address: format!("10.0.0.1:{}", 8000 + id.len()),
        metadata: [("zone".to_owned(), "a".to_owned())].into(),
    };
    let r1 = registry
        .register(&ctx, &instance("i1"), Duration::from_secs(2))
        .await
        .unwrap();
    let seen = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, vec![instance("i1")]);
    let r2 = registry
        .register(&ctx, &instance("i22"), Duration::from_secs(2))
        .await
        .unwrap();
    let seen = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        observer.discover(&ctx, "orders").await.unwrap(),
        vec![instance("i1"), instance("i22")]
    );
    r1.deregister(&ctx).await.unwrap();
    let seen = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, vec![instance("i22")]);
    // The process holding i22 dies: it disappears after its TTL.
    f.a.close().await.unwrap();
    let seen = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert!(seen.is_empty());
    drop(r2);
    let bad = ServiceInstance {
        id: "no spaces allowed".into(),
        ..instance("x")
    };
    assert!(
        observer
            .register(&ctx, &bad, Duration::from_secs(2))
            .await
            .is_err()
    );
}

/// Smallest free ids, distinct under concurrency, reused after release, bounded by `max`.
pub async fn instance_ids(f: &CoordFixture) {
    let ctx = Context::new();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let coord = Arc::clone(if i % 2 == 0 { &f.a } else { &f.b });
        tasks.push(tokio::spawn(async move {
            acquire_instance_id(coord, &Context::new(), "workers", 8, Duration::from_secs(5))
                .await
                .unwrap()
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.push(t.await.unwrap());
    }
    let mut ids: Vec<u32> = held.iter().map(|h| h.id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    let freed = held.remove(held.iter().position(|h| h.id() == 2).unwrap());
    freed.release(&ctx).await.unwrap();
    let again = acquire_instance_id(Arc::clone(&f.a), &ctx, "workers", 8, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(again.id(), 2, "the smallest free id is reused");
    let six = acquire_instance_id(Arc::clone(&f.a), &ctx, "workers", 8, Duration::from_secs(5))
        .await
        .unwrap();
    let seven = acquire_instance_id(Arc::clone(&f.a), &ctx, "workers", 8, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((six.id(), seven.id()), (6, 7));
    let err = acquire_instance_id(Arc::clone(&f.b), &ctx, "workers", 8, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoFreeId { max: 8, .. }), "{err}");
    // Losing the lease is signalled to the holder, and the id becomes free for others.
    let victim = held.pop().unwrap();
    assert!(victim.is_held());
    f.b.revoke_lease(&ctx, victim.lease_id()).await.unwrap();
    let loss = tokio::time::timeout(WAIT, victim.lost())
        .await
        .expect("loss reported");
    assert_eq!(loss, LeaseLoss::Expired);
    assert!(!victim.is_held());
    let reused = acquire_instance_id(Arc::clone(&f.b), &ctx, "workers", 8, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reused.id(), victim.id());
    // The old holder releasing late must not take the id from its new holder.
    let key = format!("/ids/workers/{:07}", victim.id());
    victim.release(&ctx).await.unwrap();
    assert!(
        f.a.get(&ctx, &key).await.unwrap().is_some(),
        "the new holder keeps its id"
    );
    assert!(reused.is_held());
}

/// Hot-reloaded configuration: valid updates swap atomically, invalid ones are rejected and the
/// last good value stays.
pub async fn config_watch(f: &CoordFixture) {
    #[derive(Debug, Deserialize, PartialEq, Default)]
    struct Limits {
        #[serde(default)]
        rules: std::collections::BTreeMap<String, Rule>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    struct Rule {
        rate: f64,
    }
    let ctx = Context::new();
    let prefix = keel_coord::config_prefix(Env::Production, "order", "ratelimit");
    f.b.put(
        &ctx,
        &format!("{prefix}rules/login"),
        br#"{"rate":0.5}"#.to_vec(),
        None,
    )
    .await
    .unwrap();
    let watch = ConfigWatch::<Limits>::start(
        &ctx,
        Arc::clone(&f.a),
        Env::Production,
        "order",
        "ratelimit",
        |l: &Limits| match l.rules.values().find(|r| r.rate <= 0.0) {
            Some(_) => Err("rate must be positive".into()),
            None => Ok(()),
        },
    )
    .await
    .unwrap();
    assert_eq!(watch.current().rules["login"].rate, 0.5);
    let mut updates = watch.subscribe();
    f.b.put(
        &ctx,
        &format!("{prefix}rules/search"),
        br#"{"rate":100}"#.to_vec(),
        None,
    )
    .await
    .unwrap();
    tokio::time::timeout(WAIT, updates.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(watch.current().rules.len(), 2);
    // Invalid by the validator, then not even JSON: both rejected, the last good value stays.
    f.b.put(
        &ctx,
        &format!("{prefix}rules/login"),
        br#"{"rate":-1}"#.to_vec(),
        None,
    )
    .await
    .unwrap();
    crate::eventually_async("rejection recorded", WAIT, || async { watch.last_error() }).await;
    assert_eq!(watch.current().rules["login"].rate, 0.5);
    f.b.put(
        &ctx,
        &format!("{prefix}rules/login"),
        b"{not json".to_vec(),
        None,
    )
    .await
    .unwrap();
    crate::eventually_async("parse failure recorded", WAIT, || async {
        watch.last_error().filter(|e| e.contains("not JSON"))
    })
    .await;
    assert_eq!(watch.current().rules["login"].rate, 0.5);
    // A valid value again is applied and clears the error.
    f.b.put(
        &ctx,
        &format!("{prefix}rules/login"),
        br#"{"rate":2}"#.to_vec(),
        None,
    )
    .await
    .unwrap();
    tokio::time::timeout(
        WAIT,
        updates.wait_for(|l| l.rules.get("login").is_some_and(|r| r.rate == 2.0)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(watch.last_error(), None);
    // Starting on an invalid configuration is refused.
    let err = ConfigWatch::<Limits>::start(
        &ctx,
        Arc::clone(&f.a),
        Env::Production,
        "order",
        "ratelimit",
        |_: &Limits| Err("nothing is good enough".into()),
    )
    .await
    .err()
    .expect("invalid start refused");
    assert!(err.to_string().contains("nothing is good enough"));
}

/// Generates one `#[tokio::test]` per contract case, each calling `$fixture().await`.
#[macro_export]
macro_rules! coord_contract {
    ($fixture:path) => {
        $crate::coord_contract!(@cases $fixture;
            kv_round_trip, compare_and_set, bad_input, watch_prefix, watch_from_revision_and_single_key,
            compaction_is_handled, leases_expire_and_revoke, lease_loss_is_reported,
            detached_leases_follow_renewals, locks, election,
            service_registry, instance_ids, config_watch);
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture().await else { return };
                $crate::contracts::coord::$case(&fixture).await;
                // Cases may close providers themselves; closing is idempotent.
                fixture.close().await;
            }
        )*
    };
}
