//! The keel-cache contract: every backend must pass every case here, with the same answers.
//!
//! Instantiate with [`crate::cache_contract!`] and a fixture function returning
//! `Option<CacheFixture>` (`None` = skip, see [`crate::backend`]).

use std::sync::Arc;
use std::time::Duration;

use keel_cache::{Bucket, CacheLock, Error, KeyTtl, Provider};
use keel_clog::Context;

use crate::eventually_async;

/// Providers on one store (as processes on one Redis).
pub struct CacheFixture {
    /// The first provider.
    pub a: Arc<dyn Provider>,
    /// A second provider on `a`'s store with the same namespace: it sees `a`'s keys.
    pub b: Arc<dyn Provider>,
    /// A provider on the same store with another namespace: it must not see `a`'s keys.
    pub other: Arc<dyn Provider>,
}

impl CacheFixture {
    /// Closes every provider.
    pub async fn close(self) {
        for p in [self.a, self.b, self.other] {
            p.close().await.expect("close");
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// get / set / set_nx / set_if_absent_get / incr / mget / mset, with misses as `None`.
pub async fn strings(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert_eq!(
        c.get(&ctx, "s:missing").await.unwrap(),
        None,
        "a miss is None, not an error"
    );
    c.set(&ctx, "s:k", b"v1".to_vec(), None).await.unwrap();
    assert_eq!(f.b.get(&ctx, "s:k").await.unwrap(), Some(b"v1".to_vec()));
    assert_eq!(
        f.other.get(&ctx, "s:k").await.unwrap(),
        None,
        "namespaces do not collide"
    );
    assert!(!c.set_nx(&ctx, "s:k", b"v2".to_vec(), None).await.unwrap());
    assert!(c.set_nx(&ctx, "s:new", b"n".to_vec(), None).await.unwrap());
    assert_eq!(
        c.set_if_absent_get(&ctx, "s:k", b"x".to_vec(), None)
            .await
            .unwrap(),
        Some(b"v1".to_vec())
    );
    assert_eq!(
        c.set_if_absent_get(&ctx, "s:fresh", b"x".to_vec(), None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(c.get(&ctx, "s:fresh").await.unwrap(), Some(b"x".to_vec()));
    assert_eq!(c.incr_by(&ctx, "s:n", 5).await.unwrap(), 5);
    assert_eq!(c.incr_by(&ctx, "s:n", -7).await.unwrap(), -2);
    let err = c.incr_by(&ctx, "s:k", 1).await.unwrap_err();
    assert!(matches!(err, Error::NotAnInteger { .. }), "{err}");
    c.set(&ctx, "s:max", i64::MAX.to_string().into_bytes(), None)
        .await
        .unwrap();
    assert!(matches!(
        c.incr_by(&ctx, "s:max", 1).await.unwrap_err(),
        Error::NotAnInteger { .. }
    ));
    c.mset(&ctx, &[("s:m1", b"1".to_vec()), ("s:m2", b"2".to_vec())])
        .await
        .unwrap();
    assert_eq!(
        c.mget(&ctx, &["s:m1", "s:nope", "s:m2"]).await.unwrap(),
        vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]
    );
    // Binary values survive untouched.
    let binary: Vec<u8> = (0..=255).collect();
    c.set(&ctx, "s:bin", binary.clone(), None).await.unwrap();
    assert_eq!(c.get(&ctx, "s:bin").await.unwrap(), Some(binary));
}

/// Hashes, including type errors and the disappearance of emptied hashes.
pub async fn hashes(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert_eq!(c.hget(&ctx, "h", "f").await.unwrap(), None);
    assert!(c.hgetall(&ctx, "h").await.unwrap().is_empty());
    assert_eq!(
        c.hset(&ctx, "h", &[("b", b"2".to_vec()), ("a", b"1".to_vec())])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        c.hset(&ctx, "h", &[("a", b"one".to_vec())]).await.unwrap(),
        0,
        "update, not new"
    );
    assert_eq!(
        f.b.hget(&ctx, "h", "a").await.unwrap(),
        Some(b"one".to_vec())
    );
    assert_eq!(
        c.hgetall(&ctx, "h").await.unwrap(),
        vec![
            ("a".to_owned(), b"one".to_vec()),
            ("b".to_owned(), b"2".to_vec())
        ]
    );
    assert_eq!(c.hincr_by(&ctx, "h", "hits", 3).await.unwrap(), 3);
    assert!(matches!(
        c.hincr_by(&ctx, "h", "a", 1).await.unwrap_err(),
        Error::NotAnInteger { .. }
    ));
    assert_eq!(
        c.hdel(&ctx, "h", &["a", "b", "hits", "zzz"]).await.unwrap(),
        3
    );
    assert!(
        !c.exists(&ctx, "h").await.unwrap(),
        "an emptied hash disappears"
    );
    c.set(&ctx, "h:str", b"x".to_vec(), None).await.unwrap();
    let err = c.hget(&ctx, "h:str", "f").await.unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");
    assert!(matches!(c.get(&ctx, "h:str").await, Ok(Some(_))));
    c.hset(&ctx, "h:typed", &[("f", b"v".to_vec())])
        .await
        .unwrap();
    assert!(matches!(
        c.get(&ctx, "h:typed").await.unwrap_err(),
        Error::WrongType { .. }
    ));
}

/// Sets.
pub async fn sets(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert!(c.smembers(&ctx, "set").await.unwrap().is_empty());
    assert_eq!(c.sadd(&ctx, "set", &["b", "a", "b"]).await.unwrap(), 2);
    assert_eq!(c.sadd(&ctx, "set", &["a", "c"]).await.unwrap(), 1);
    assert_eq!(f.b.smembers(&ctx, "set").await.unwrap(), ["a", "b", "c"]);
    assert!(c.sismember(&ctx, "set", "c").await.unwrap());
    assert!(!c.sismember(&ctx, "set", "z").await.unwrap());
    assert_eq!(c.scard(&ctx, "set").await.unwrap(), 3);
    assert_eq!(c.srem(&ctx, "set", &["a", "b", "c", "d"]).await.unwrap(), 3);
    assert!(!c.exists(&ctx, "set").await.unwrap());
}

/// Sorted sets: ranks (negative too), score ranges with limits and infinities.
pub async fn sorted_sets(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert_eq!(
        c.zadd(
            &ctx,
            "z",
            &[(3.0, "c"), (1.0, "a"), (2.0, "b"), (2.0, "bb")]
        )
        .await
        .unwrap(),
        4
    );
    assert_eq!(
        c.zadd(&ctx, "z", &[(0.5, "c")]).await.unwrap(),
        0,
        "re-score, not new"
    );
    let names = |v: Vec<(String, f64)>| v.into_iter().map(|(m, _)| m).collect::<Vec<_>>();
    assert_eq!(
        names(c.zrange(&ctx, "z", 0, -1).await.unwrap()),
        ["c", "a", "b", "bb"]
    );
    assert_eq!(
        c.zrange(&ctx, "z", -2, -1).await.unwrap(),
        vec![("b".to_owned(), 2.0), ("bb".to_owned(), 2.0)]
    );
    assert!(c.zrange(&ctx, "z", 10, 20).await.unwrap().is_empty());
    assert_eq!(
        names(
            c.zrange_by_score(&ctx, "z", 1.0, 2.0, 0, None)
                .await
                .unwrap()
        ),
        ["a", "b", "bb"]
    );
    assert_eq!(
        names(
            c.zrange_by_score(&ctx, "z", f64::NEG_INFINITY, f64::INFINITY, 1, Some(2))
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
    assert_eq!(c.zscore(&ctx, "z", "c").await.unwrap(), Some(0.5));
    assert_eq!(c.zscore(&ctx, "z", "nope").await.unwrap(), None);
    assert_eq!(f.b.zcard(&ctx, "z").await.unwrap(), 4);
    assert!(matches!(
        c.zadd(&ctx, "z", &[(f64::NAN, "x")]).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert_eq!(c.zrem(&ctx, "z", &["a", "b", "bb", "c"]).await.unwrap(), 4);
    assert!(!c.exists(&ctx, "z").await.unwrap());
}

/// TTLs: set, read, persist, expiry; SET replaces the TTL, INCR keeps it.
pub async fn ttls(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert_eq!(c.ttl(&ctx, "t").await.unwrap(), KeyTtl::Missing);
    assert!(
        !c.expire(&ctx, "t", Duration::from_secs(5)).await.unwrap(),
        "no key, no TTL"
    );
    c.set(&ctx, "t", b"v".to_vec(), Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(
        matches!(c.ttl(&ctx, "t").await.unwrap(), KeyTtl::Expires(d) if d > Duration::from_secs(25))
    );
    c.set(&ctx, "t", b"v".to_vec(), None).await.unwrap();
    assert_eq!(
        c.ttl(&ctx, "t").await.unwrap(),
        KeyTtl::Persistent,
        "SET without TTL clears it"
    );
    c.set(&ctx, "n", b"1".to_vec(), Some(Duration::from_secs(30)))
        .await
        .unwrap();
    c.incr_by(&ctx, "n", 1).await.unwrap();
    assert!(
        matches!(c.ttl(&ctx, "n").await.unwrap(), KeyTtl::Expires(_)),
        "INCR keeps the TTL"
    );
    assert!(c.persist(&ctx, "n").await.unwrap());
    assert_eq!(c.ttl(&ctx, "n").await.unwrap(), KeyTtl::Persistent);
    c.sadd(&ctx, "gone", &["m"]).await.unwrap();
    assert!(
        c.expire(&ctx, "gone", Duration::from_millis(50))
            .await
            .unwrap()
    );
    c.set(
        &ctx,
        "gone2",
        b"v".to_vec(),
        Some(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    eventually_async("keys to expire", WAIT, || async {
        let gone =
            !c.exists(&ctx, "gone").await.unwrap() && c.get(&ctx, "gone2").await.unwrap().is_none();
        gone.then_some(())
    })
    .await;
    assert_eq!(c.ttl(&ctx, "gone").await.unwrap(), KeyTtl::Missing);
    assert_eq!(c.del(&ctx, &["t", "n", "nope"]).await.unwrap(), 2);
}

/// compare-and-delete / compare-and-expire, and set-if-absent under concurrency.
pub async fn atomic_primitives(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    c.set(&ctx, "cad", b"mine".to_vec(), None).await.unwrap();
    assert!(!c.compare_and_delete(&ctx, "cad", b"theirs").await.unwrap());
    assert!(
        !c.compare_and_expire(&ctx, "cad", b"theirs", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert_eq!(c.ttl(&ctx, "cad").await.unwrap(), KeyTtl::Persistent);
    assert!(
        c.compare_and_expire(&ctx, "cad", b"mine", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(matches!(
        c.ttl(&ctx, "cad").await.unwrap(),
        KeyTtl::Expires(_)
    ));
    assert!(c.compare_and_delete(&ctx, "cad", b"mine").await.unwrap());
    assert!(!c.compare_and_delete(&ctx, "cad", b"mine").await.unwrap());
    c.hset(&ctx, "cad:hash", &[("f", b"mine".to_vec())])
        .await
        .unwrap();
    assert!(
        !c.compare_and_delete(&ctx, "cad:hash", b"mine")
            .await
            .unwrap(),
        "other types never match"
    );

    let mut tasks = Vec::new();
    for i in 0..20 {
        let p = Arc::clone(if i % 2 == 0 { &f.a } else { &f.b });
        tasks.push(tokio::spawn(async move {
            p.set_if_absent_get(
                &Context::new(),
                "once",
                format!("runner-{i}").into_bytes(),
                None,
            )
            .await
            .unwrap()
        }));
    }
    let mut winners = 0;
    let mut seen = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            None => winners += 1,
            Some(existing) => seen.push(existing),
        }
    }
    assert_eq!(winners, 1, "exactly one caller sets the value");
    let stored = c.get(&ctx, "once").await.unwrap().unwrap();
    assert!(
        seen.iter().all(|v| *v == stored),
        "everyone else sees the winner's value"
    );
}

/// The token bucket: burst, refusal with retry-after, refill, fractional rates, exact limits
/// under concurrency, and keys that expire.
pub async fn token_bucket(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    let slow = Bucket {
        rate: 0.5,
        burst: 2.0,
        cost: 1.0,
    };
    assert!(c.token_bucket(&ctx, "tb:slow", slow).await.unwrap().allowed);
    let second = c.token_bucket(&ctx, "tb:slow", slow).await.unwrap();
    assert!(second.allowed && second.remaining < 1.0);
    let denied = f.b.token_bucket(&ctx, "tb:slow", slow).await.unwrap();
    assert!(!denied.allowed, "the second provider shares the bucket");
    assert!(
        denied.retry_after > Duration::from_millis(1500)
            && denied.retry_after <= Duration::from_secs(2),
        "{denied:?}"
    );
    assert!(
        matches!(c.ttl(&ctx, "tb:slow").await.unwrap(), KeyTtl::Expires(d) if d <= Duration::from_secs(5))
    );

    let fast = Bucket {
        rate: 50.0,
        burst: 1.0,
        cost: 1.0,
    };
    assert!(c.token_bucket(&ctx, "tb:fast", fast).await.unwrap().allowed);
    let refill = eventually_async("a refill", WAIT, || async {
        c.token_bucket(&ctx, "tb:fast", fast)
            .await
            .unwrap()
            .allowed
            .then_some(())
    });
    refill.await;

    let exact = Bucket {
        rate: 0.001,
        burst: 10.0,
        cost: 1.0,
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let p = Arc::clone(if i % 2 == 0 { &f.a } else { &f.b });
        tasks.push(tokio::spawn(async move {
            p.token_bucket(&Context::new(), "tb:exact", exact)
                .await
                .unwrap()
                .allowed
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(
        allowed, 10,
        "a burst of 10 admits exactly 10 concurrent callers"
    );

    let costly = Bucket {
        rate: 1.0,
        burst: 5.0,
        cost: 5.0,
    };
    assert!(
        c.token_bucket(&ctx, "tb:costly", costly)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        !c.token_bucket(&ctx, "tb:costly", costly)
            .await
            .unwrap()
            .allowed
    );
    let bad = Bucket {
        rate: 1.0,
        burst: 1.0,
        cost: 2.0,
    };
    assert!(matches!(
        c.token_bucket(&ctx, "tb:bad", bad).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    c.set(&ctx, "tb:string", b"x".to_vec(), None).await.unwrap();
    assert!(matches!(
        c.token_bucket(&ctx, "tb:string", slow).await.unwrap_err(),
        Error::WrongType { .. }
    ));
}

/// The token-checked lock.
pub async fn locks(f: &CacheFixture) {
    let ctx = Context::new();
    let lock_a = CacheLock::new(Arc::clone(&f.a), "job", Duration::from_millis(300)).unwrap();
    let lock_b = CacheLock::new(Arc::clone(&f.b), "job", Duration::from_millis(300)).unwrap();
    let held = lock_a.try_acquire(&ctx).await.unwrap().expect("free lock");
    assert!(lock_b.try_acquire(&ctx).await.unwrap().is_none());
    assert!(held.renew(&ctx).await.unwrap());
    let waiter = tokio::spawn(async move {
        let ctx = Context::new().with_timeout(Duration::from_secs(10));
        lock_b.acquire(&ctx).await.unwrap()
    });
    assert!(held.release(&ctx).await.unwrap());
    let second = tokio::time::timeout(WAIT, waiter).await.unwrap().unwrap();
    // The second holder lets its lock expire; a third takes it; the second can no longer
    // renew or release what is not its own.
    let lock_c = CacheLock::new(Arc::clone(&f.a), "job", Duration::from_secs(5)).unwrap();
    let third = eventually_async("the expired lock to be free", WAIT, || async {
        lock_c.try_acquire(&ctx).await.unwrap()
    })
    .await;
    assert!(!second.renew(&ctx).await.unwrap());
    assert!(!second.release(&ctx).await.unwrap());
    assert!(third.release(&ctx).await.unwrap());
    let short = ctx.with_timeout(Duration::from_millis(100));
    let lock_d = CacheLock::new(Arc::clone(&f.a), "busy", Duration::from_secs(5)).unwrap();
    let _busy = lock_d.try_acquire(&ctx).await.unwrap().unwrap();
    assert!(matches!(
        lock_d.acquire(&short).await.unwrap_err(),
        Error::DeadlineExceeded
    ));
}

/// Bad input gets clear errors before reaching the backend.
pub async fn bad_input(f: &CacheFixture) {
    let ctx = Context::new();
    let c = &f.a;
    assert!(matches!(
        c.get(&ctx, "").await.unwrap_err(),
        Error::InvalidKey { .. }
    ));
    assert!(matches!(
        c.get(&ctx, &"k".repeat(2000)).await.unwrap_err(),
        Error::InvalidKey { .. }
    ));
    let err = c
        .set(&ctx, "big", vec![0; 17 * 1024 * 1024], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_value_bytes"), "{err}");
    assert!(matches!(
        c.set(&ctx, "k", vec![], Some(Duration::ZERO))
            .await
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        c.sadd(&ctx, "k", &[]).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        c.del(&ctx, &[]).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        c.zrange_by_score(&ctx, "z", f64::NAN, 1.0, 0, None)
            .await
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(CacheLock::new(Arc::clone(c), "", Duration::from_secs(1)).is_err());
    let expired = ctx.with_timeout(Duration::ZERO);
    assert!(matches!(
        c.get(&expired, "k").await.unwrap_err(),
        Error::DeadlineExceeded
    ));
    f.other.close().await.unwrap();
    assert!(matches!(
        f.other.get(&ctx, "k").await.unwrap_err(),
        Error::Closed
    ));
}

/// Generates one `#[tokio::test]` per contract case, each calling `$fixture().await`.
#[macro_export]
macro_rules! cache_contract {
    ($fixture:path) => {
        $crate::cache_contract!(@cases $fixture;
            strings, hashes, sets, sorted_sets, ttls, atomic_primitives, token_bucket, locks, bad_input);
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture().await else { return };
                $crate::contracts::cache::$case(&fixture).await;
                fixture.close().await;
            }
        )*
    };
}
