//! Deadlines on single statements (client and server side), and instances that start at the
//! same time migrating one database.

mod common;

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use keel_db::{Db, Options, sqlx};

/// A statement still running at the Context's deadline is cut there; the pool recovers.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn statement_cut_at_deadline(db: &Db) {
    let sleep = match db.engine() {
        keel_db::Engine::Postgres => "SELECT 1 FROM pg_sleep(5)",
        _ => "SELECT SLEEP(5)",
    };
    let short = Context::new().with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = db
        .execute(&short, sqlx::query(sleep))
        .await
        .expect_err("cut at the deadline");
    assert!(matches!(err, keel_db::Error::DeadlineExceeded), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let health = db
        .health(&Context::new().with_timeout(Duration::from_secs(5)))
        .await
        .expect("the pool recovers");
    assert!(health.latency < Duration::from_secs(2), "{health:?}");
}

/// `statement_timeout` is also set on the server: a statement run on the raw pool (no client
/// bound) stops there.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn server_enforces_statement_timeout(url: &str) {
    let mut config = common::config(url);
    config.statement_timeout = Duration::from_millis(300);
    let ctx = Context::new().with_timeout(Duration::from_secs(20));
    let db = keel_db::new(&ctx, config, Options::default())
        .await
        .expect("open");
    let started = std::time::Instant::now();
    let out = match db.engine() {
        keel_db::Engine::Postgres => {
            sqlx::query("SELECT 1 FROM pg_sleep(3)")
                .execute(db.pool())
                .await
        }
        _ => {
            sqlx::query("SELECT SLEEP(3) FROM DUAL")
                .execute(db.pool())
                .await
        }
    };
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?} {out:?}",
        started.elapsed()
    );
    // Through keel-db the server's refusal is a deadline like the client's.
    let err = db
        .run(&ctx, async { out })
        .await
        .expect_err("stopped by the server");
    assert!(matches!(err, keel_db::Error::DeadlineExceeded), "{err}");
    db.close().await.expect("close");
}

/// Two instances starting together apply every migration exactly once.
async fn concurrent_starts_migrate_once(first: Arc<Db>, second: Arc<Db>) {
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let (ma, mb) = (common::migrations(), common::migrations());
    let (a, b) = tokio::join!(first.migrate(&ctx, &ma), second.migrate(&ctx, &mb));
    let (a, b) = (a.expect("first instance"), b.expect("second instance"));
    let mut applied = a.applied.clone();
    applied.extend(&b.applied);
    applied.sort_unstable();
    assert_eq!(applied, vec![1, 2], "{a:?} {b:?}");
    assert_eq!((a.current, b.current), (Some(2), Some(2)));
    let (rows,): (i64,) = first
        .fetch_one(
            &ctx,
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations_contract"),
        )
        .await
        .expect("count");
    assert_eq!(rows, 2);
}

/// The three cases that need a server engine, instantiated once per engine below.
macro_rules! server_engine_cases {
    ($module:ident, $feature:literal, $fixture:path, $backend:expr) => {
        #[cfg(feature = $feature)]
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn statement_deadline() {
                let Some(f) = $fixture("stmt_deadline").await else {
                    return;
                };
                statement_cut_at_deadline(&f.db).await;
                f.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server_statement_timeout() {
                let Some(url) = keel_testkit::backend($backend) else {
                    return;
                };
                server_enforces_statement_timeout(&url).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_migrations() {
                let Some(url) = keel_testkit::backend($backend) else {
                    return;
                };
                let fresh = common::fresh_database(&url, "concurrent_migrate").await;
                let ctx = Context::new().with_timeout(Duration::from_secs(20));
                let second = keel_db::new(&ctx, common::config(&fresh.url), Options::default())
                    .await
                    .expect("second instance");
                concurrent_starts_migrate_once(Arc::clone(&fresh.db), Arc::clone(&second)).await;
                second.close().await.expect("close");
                fresh.cleanup.await;
            }
        }
    };
}

server_engine_cases!(
    postgres,
    "postgres",
    common::postgres,
    keel_testkit::Backend::Postgres
);
server_engine_cases!(mysql, "mysql", common::mysql, keel_testkit::Backend::Mysql);

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_migrations() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Two providers on one file, as two processes would be.
    let open = || async {
        let mut config = keel_db::Config::for_env(keel_clog::Env::Development);
        config.data_dir = dir.path().to_path_buf();
        keel_db::new(&Context::new(), config, Options::default())
            .await
            .expect("open")
    };
    let (first, second) = (open().await, open().await);
    concurrent_starts_migrate_once(Arc::clone(&first), Arc::clone(&second)).await;
    second.close().await.expect("close");
    first.close().await.expect("close");
}
