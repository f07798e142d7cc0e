//! The keel-once contract: every backend must pass every case here.
//!
//! Instantiate with [`crate::once_contract!`] and a fixture function returning
//! `Option<OnceFixture>` (`None` = skip, see [`crate::backend`]). Fixtures use a `lock_ttl` of
//! 1 s so the crash case stays short.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keel_clog::Context;
use keel_once::{Error, OnceExt, Provider};

use crate::{Namespace, eventually_async};

/// Two providers sharing one store (as two processes on one Redis), and a key namespace.
pub struct OnceFixture {
    /// The first provider.
    pub a: Arc<dyn Provider>,
    /// A second provider on the same store.
    pub b: Arc<dyn Provider>,
    /// Unique prefix for this test's keys.
    pub namespace: Namespace,
}

impl OnceFixture {
    /// Closes both providers.
    pub async fn close(self) {
        self.a.close().await.expect("close a");
        self.b.close().await.expect("close b");
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.namespace)
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// 50 concurrent callers over two providers: the work runs exactly once, everyone gets its result.
pub async fn concurrent_callers_run_once(f: &OnceFixture) {
    let key = f.key("pay");
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (once, key, runs) = (
            Arc::clone(if i % 2 == 0 { &f.a } else { &f.b }),
            key.clone(),
            Arc::clone(&runs),
        );
        tasks.push(tokio::spawn(async move {
            once.execute(&Context::new(), &key, HOUR, || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, std::io::Error>(format!("receipt-{i}"))
            })
            .await
            .unwrap()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the work ran exactly once");
    assert!(
        results.iter().all(|r| *r == results[0]),
        "everyone got the same result: {results:?}"
    );
}

/// Later callers get the cached result until the TTL; then the work runs again.
pub async fn cached_until_ttl(f: &OnceFixture) {
    let ctx = Context::new();
    let key = f.key("ttl");
    let ttl = Duration::from_millis(300);
    let first: u32 =
        f.a.execute(&ctx, &key, ttl, || async { Ok::<_, std::io::Error>(1) })
            .await
            .unwrap();
    let cached: u32 =
        f.b.execute(&ctx, &key, ttl, || async { Ok::<_, std::io::Error>(2) })
            .await
            .unwrap();
    assert_eq!((first, cached), (1, 1));
    eventually_async("the result to expire", Duration::from_secs(10), || async {
        let v: u32 =
            f.a.execute(&ctx, &key, ttl, || async { Ok::<_, std::io::Error>(3) })
                .await
                .unwrap();
        (v == 3).then_some(())
    })
    .await;
}

/// A failed run caches nothing; the next call runs the work again.
pub async fn failures_are_not_cached(f: &OnceFixture) {
    let ctx = Context::new();
    let key = f.key("flaky");
    let err =
        f.a.execute(&ctx, &key, HOUR, || async {
            Err::<u32, _>(std::io::Error::other("gateway down"))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Failed { .. }) && err.to_string().contains("gateway down"),
        "{err}"
    );
    let v: u32 =
        f.b.execute(&ctx, &key, HOUR, || async { Ok::<_, std::io::Error>(7) })
            .await
            .unwrap();
    assert_eq!(v, 7);
}

/// A runner that dies mid-run: its placeholder expires and another caller runs the work.
pub async fn crashed_runner_is_replaced(f: &OnceFixture) {
    let key = f.key("crash");
    let started = Arc::new(AtomicUsize::new(0));
    let signal = Arc::clone(&started);
    let (a, k) = (Arc::clone(&f.a), key.clone());
    let runner = tokio::spawn(async move {
        let _: Result<u32, _> = a
            .execute(&Context::new(), &k, HOUR, || async move {
                signal.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<u32, std::io::Error>>().await
            })
            .await;
    });
    eventually_async(
        "the first runner to start",
        Duration::from_secs(10),
        || async { (started.load(Ordering::SeqCst) == 1).then_some(()) },
    )
    .await;
    runner.abort(); // the process dies: no more renewals
    let v: u32 =
        f.b.execute(&Context::new(), &key, HOUR, || async {
            Ok::<_, std::io::Error>(42)
        })
        .await
        .unwrap();
    assert_eq!(
        v, 42,
        "another caller ran the work after the placeholder expired"
    );
}

/// do_once reports whether it ran; clear forgets the result.
pub async fn do_once_and_clear(f: &OnceFixture) {
    let ctx = Context::new();
    let key = f.key("mail");
    let ok = || async { Ok::<_, std::io::Error>(()) };
    assert!(f.a.do_once(&ctx, &key, HOUR, ok).await.unwrap());
    assert!(!f.b.do_once(&ctx, &key, HOUR, ok).await.unwrap());
    assert!(f.b.clear(&ctx, &key).await.unwrap());
    assert!(!f.b.clear(&ctx, &key).await.unwrap());
    assert!(f.a.do_once(&ctx, &key, HOUR, ok).await.unwrap());
}

/// Waiting for someone else's run is bounded by the caller's Context.
pub async fn waiting_is_bounded(f: &OnceFixture) {
    let key = f.key("slow");
    let (a, k) = (Arc::clone(&f.a), key.clone());
    let slow = tokio::spawn(async move {
        a.execute(&Context::new(), &k, HOUR, || async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<_, std::io::Error>(1u32)
        })
        .await
        .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let impatient = Context::new().with_timeout(Duration::from_millis(200));
    let err =
        f.b.execute(&impatient, &key, HOUR, || async {
            Ok::<_, std::io::Error>(2u32)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded | Error::WaitTimeout { .. }),
        "{err}"
    );
    assert_eq!(slow.await.unwrap(), 1);
}

/// Key and result limits give clear errors; an oversized result is not cached.
pub async fn limits(f: &OnceFixture) {
    let ctx = Context::new();
    let err =
        f.a.do_once(&ctx, &"k".repeat(300), HOUR, || async {
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidKey { .. }) && err.to_string().contains("max_key_bytes"),
        "{err}"
    );
    assert!(matches!(
        f.a.do_once(&ctx, "", HOUR, || async { Ok::<_, std::io::Error>(()) })
            .await
            .unwrap_err(),
        Error::InvalidKey { .. }
    ));
    let key = f.key("big");
    let err =
        f.a.execute(&ctx, &key, HOUR, || async {
            Ok::<_, std::io::Error>("x".repeat(2 * 1024 * 1024))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResultTooLarge { .. }), "{err}");
    let v: String =
        f.b.execute(&ctx, &key, HOUR, || async {
            Ok::<_, std::io::Error>("small".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(v, "small", "the oversized result was not cached");
    assert!(matches!(
        f.a.do_once(&ctx, &key, Duration::ZERO, || async {
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap_err(),
        Error::InvalidTtl(_)
    ));
}

/// Generates one `#[tokio::test]` per contract case, each calling `$fixture().await`.
#[macro_export]
macro_rules! once_contract {
    ($fixture:path) => {
        $crate::once_contract!(@cases $fixture;
            concurrent_callers_run_once, cached_until_ttl, failures_are_not_cached,
            crashed_runner_is_replaced, do_once_and_clear, waiting_is_bounded, limits);
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture().await else { return };
                $crate::contracts::once::$case(&fixture).await;
                fixture.close().await;
            }
        )*
    };
}
