//! The keel-db contract: every engine (SQLite file, SQLite `:memory:`, PostgreSQL,
//! MySQL/MariaDB) must pass every case here.
//!
//! Instantiate with [`crate::db_contract!`] and a fixture function
//! `async fn(case: &str) -> Option<DbFixture>` (`None` = skip, see [`crate::backend`]). Each
//! case gets a fresh, empty database.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_clog::Context;
use keel_db::sqlx::migrate::{Migration, MigrationType, Migrator};
use keel_db::sqlx::{self, SqlSafeStr};
use keel_db::{ConstraintKind, Db, Error, Migrations};
use tokio::sync::oneshot;

/// One fresh database for one contract case.
pub struct DbFixture {
    /// The provider under test, on an empty database.
    pub db: Arc<Db>,
    /// keel-db's test migrations (`db/tests/migrations/{postgres,mysql,sqlite}`), component
    /// `contract`: 1 creates `kv` and `items`, 2 creates `accounts`.
    pub migrations: fn() -> Migrations,
    /// Whether two connections can work at once (`false` for SQLite `:memory:`, which has one).
    pub concurrent: bool,
    /// Runs after the case: drops the test database, removes the temporary directory.
    pub cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl DbFixture {
    /// Closes the provider and cleans up (best effort).
    pub async fn close(self) {
        self.db.close().await.expect("close is idempotent");
        if let Some(cleanup) = self.cleanup {
            cleanup.await;
        }
    }

    async fn schema(&self) {
        let report = self
            .db
            .migrate(&Context::new(), &(self.migrations)())
            .await
            .expect("test migrations apply");
        assert_eq!(report.current, Some(2));
    }
}

const WAIT: Duration = Duration::from_secs(15);

fn ctx() -> Context {
    Context::new().with_timeout(WAIT)
}

/// Migrations apply once; the second run is a no-op.
pub async fn migrations_apply_once(f: &DbFixture) {
    let ctx = ctx();
    let first = f.db.migrate(&ctx, &(f.migrations)()).await.unwrap();
    assert_eq!(first.component, "contract");
    assert_eq!(first.applied, vec![1, 2]);
    assert_eq!(first.current, Some(2));
    let second = f.db.migrate(&ctx, &(f.migrations)()).await.unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.current, Some(2));
    // An upgrade in two steps applies the rest.
    let exists = f.db.dialect().table_exists();
    let count = |table: &'static str| {
        let sql = exists.clone();
        let db = Arc::clone(&f.db);
        let ctx = ctx.clone();
        async move {
            let (n,): (i64,) = db
                .fetch_one(&ctx, sqlx::query_as(sql).bind(table))
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(count("accounts").await, 1);
    assert_eq!(count("_sqlx_migrations_contract").await, 1);
    assert_eq!(count("no_such_table").await, 0);
}

/// A database migrated by newer code refuses to start with a clear error, and changes nothing.
pub async fn newer_database_is_refused(f: &DbFixture) {
    let ctx = ctx();
    f.db.migrate(&ctx, &(f.migrations)().until(1))
        .await
        .unwrap();
    let report = f.db.migrate(&ctx, &(f.migrations)()).await.unwrap();
    assert_eq!(report.applied, vec![2], "upgrade from 1 to 2");
    let err =
        f.db.migrate(&ctx, &(f.migrations)().until(1))
            .await
            .unwrap_err();
    match &err {
        Error::DatabaseNewerThanCode {
            component,
            applied,
            known,
            unknown,
        } => {
            assert_eq!(
                (component.as_str(), *applied, *known, unknown.as_slice()),
                ("contract", 2, 1, &[2][..])
            );
        }
        other => panic!("expected DatabaseNewerThanCode, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("newer release") && text.contains("migration 2"),
        "{text}"
    );
    // The pool is fine afterwards.
    f.db.health(&ctx).await.unwrap();
}

fn runtime_migrations(component: &str, migrations: &[(i64, &'static str)]) -> Migrations {
    let make = || {
        Migrator::with_migrations(
            migrations
                .iter()
                .map(|(version, sql)| {
                    Migration::new(
                        *version,
                        format!("step {version}").into(),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect(),
        )
    };
    Migrations::new(component)
        .postgres(make())
        .mysql(make())
        .sqlite(make())
}

/// An applied migration that was edited, or one from another branch, is refused; components
/// keep separate histories in one database.
pub async fn edited_or_foreign_migrations_are_refused(f: &DbFixture) {
    let ctx = ctx();
    let v1 = runtime_migrations(
        "edits",
        &[(1, "CREATE TABLE edited (id BIGINT PRIMARY KEY)")],
    );
    assert_eq!(f.db.migrate(&ctx, &v1).await.unwrap().applied, vec![1]);
    // Another component with the same version numbers is independent.
    let other = runtime_migrations(
        "other",
        &[(1, "CREATE TABLE other_t (id BIGINT PRIMARY KEY)")],
    );
    assert_eq!(f.db.migrate(&ctx, &other).await.unwrap().applied, vec![1]);

    let edited = runtime_migrations(
        "edits",
        &[(1, "CREATE TABLE edited (id BIGINT PRIMARY KEY, x BIGINT)")],
    );
    let err = f.db.migrate(&ctx, &edited).await.unwrap_err();
    assert!(
        matches!(&err, Error::Migration { reason, .. } if reason.contains("edited after it was applied")),
        "{err}"
    );
    let foreign = runtime_migrations(
        "edits",
        &[(2, "CREATE TABLE foreign_t (id BIGINT PRIMARY KEY)")],
    );
    let err = f.db.migrate(&ctx, &foreign).await.unwrap_err();
    assert!(
        matches!(&err, Error::Migration { reason, .. } if reason.contains("another branch")),
        "{err}"
    );
    // A failing migration reports its version and the database's reason.
    let broken = runtime_migrations(
        "edits",
        &[
            (1, "CREATE TABLE edited (id BIGINT PRIMARY KEY)"),
            (2, "CREATE TABLE broken (id BIGINT PRIMARY KEY"),
        ],
    );
    let err = f.db.migrate(&ctx, &broken).await.unwrap_err();
    assert!(err.to_string().contains("migration 2 failed"), "{err}");
    let bad_name = Migrations::new("Bad Name");
    assert!(f.db.migrate(&ctx, &bad_name).await.is_err());
}

type ItemRow = (i64, String, Option<i16>, Option<Vec<u8>>, f64);

/// Inserts with generated ids, typed reads, updates and deletes with affected-row counts.
pub async fn statements_round_trip(f: &DbFixture) {
    f.schema().await;
    let ctx = ctx();
    let db = &f.db;
    let d = db.dialect();
    let insert = d
        .insert("items", &["name", "flag", "data", "score"], Some("id"))
        .unwrap();
    let a = db
        .insert_returning_id(
            &ctx,
            sqlx::query(insert.clone())
                .bind("alpha")
                .bind(Some(1_i16))
                .bind(Some(vec![0_u8, 1, 255]))
                .bind(1.5_f64),
        )
        .await
        .unwrap();
    let b = db
        .insert_returning_id(
            &ctx,
            sqlx::query(insert)
                .bind("beta?")
                .bind(None::<i16>)
                .bind(None::<Vec<u8>>)
                .bind(-2.0_f64),
        )
        .await
        .unwrap();
    assert!(b > a && a > 0, "generated ids increase: {a}, {b}");

    let rows: Vec<ItemRow> = db
        .fetch_all(
            &ctx,
            sqlx::query_as(d.sql(
                "SELECT id, name, flag, data, score FROM items WHERE name <> '?' ORDER BY id",
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (a, "alpha".into(), Some(1), Some(vec![0, 1, 255]), 1.5),
            (b, "beta?".into(), None, None, -2.0),
        ]
    );
    let one: Option<(String,)> = db
        .fetch_optional(
            &ctx,
            sqlx::query_as(d.sql("SELECT name FROM items WHERE id = ? AND score < ?"))
                .bind(b)
                .bind(0.0_f64),
        )
        .await
        .unwrap();
    assert_eq!(one, Some(("beta?".into(),)));
    let none: Option<(String,)> = db
        .fetch_optional(
            &ctx,
            sqlx::query_as(d.sql("SELECT name FROM items WHERE id = ?")).bind(b + 1000),
        )
        .await
        .unwrap();
    assert_eq!(none, None);
    let err = db
        .fetch_one::<(String,)>(
            &ctx,
            sqlx::query_as(d.sql("SELECT name FROM items WHERE id = ?")).bind(-1_i64),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err}");

    let updated = db
        .execute(
            &ctx,
            sqlx::query(d.sql("UPDATE items SET score = score + ? WHERE id IN (?, ?)"))
                .bind(1.0_f64)
                .bind(a)
                .bind(b),
        )
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 2);
    let deleted = db
        .execute(
            &ctx,
            sqlx::query(d.sql("DELETE FROM items WHERE id = ?")).bind(a),
        )
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    let (count,): (i64,) = db
        .fetch_one(&ctx, sqlx::query_as("SELECT COUNT(*) FROM items"))
        .await
        .unwrap();
    assert_eq!(count, 1);
}

/// Upsert inserts, then updates only the named columns; with no update columns it keeps the
/// row.
pub async fn upsert(f: &DbFixture) {
    f.schema().await;
    let ctx = ctx();
    let d = f.db.dialect();
    let get = || async {
        f.db.fetch_one::<(String, i64)>(
            &ctx,
            sqlx::query_as(d.sql("SELECT v, n FROM kv WHERE k = ?")).bind("key"),
        )
        .await
        .unwrap()
    };
    let update_v = d.upsert("kv", &["k", "v", "n"], &["k"], &["v"]).unwrap();
    for (v, n) in [("one", 1_i64), ("two", 2)] {
        f.db.execute(
            &ctx,
            sqlx::query(update_v.clone()).bind("key").bind(v).bind(n),
        )
        .await
        .unwrap();
    }
    assert_eq!(get().await, ("two".into(), 1), "v updated, n kept");
    let keep = d.upsert("kv", &["k", "v", "n"], &["k"], &[]).unwrap();
    f.db.execute(
        &ctx,
        sqlx::query(keep.clone())
            .bind("key")
            .bind("three")
            .bind(3_i64),
    )
    .await
    .unwrap();
    assert_eq!(
        get().await,
        ("two".into(), 1),
        "insert-if-absent keeps the row"
    );
    f.db.execute(
        &ctx,
        sqlx::query(keep).bind("other").bind("new").bind(3_i64),
    )
    .await
    .unwrap();
    let (count,): (i64,) =
        f.db.fetch_one(&ctx, sqlx::query_as("SELECT COUNT(*) FROM kv"))
            .await
            .unwrap();
    assert_eq!(count, 2);
}

/// Constraint violations and rejected statements are told apart.
pub async fn errors_are_classified(f: &DbFixture) {
    f.schema().await;
    let ctx = ctx();
    let d = f.db.dialect();
    let insert = d.insert("kv", &["k", "v"], None).unwrap();
    f.db.execute(&ctx, sqlx::query(insert.clone()).bind("dup").bind("1"))
        .await
        .unwrap();
    let err =
        f.db.execute(&ctx, sqlx::query(insert.clone()).bind("dup").bind("2"))
            .await
            .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Constraint {
                kind: ConstraintKind::Unique,
                ..
            }
        ),
        "{err}"
    );
    let err =
        f.db.execute(&ctx, sqlx::query(insert).bind("null").bind(None::<String>))
            .await
            .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Constraint {
                kind: ConstraintKind::NotNull,
                ..
            }
        ),
        "{err}"
    );
    let err =
        f.db.execute(&ctx, sqlx::query("SELEKT nonsense"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Query { .. }), "{err}");
    let err =
        f.db.execute(&ctx, sqlx::query("SELECT * FROM no_such_table"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Query { .. }), "{err}");
    let err = d.quote_ident("kv; DROP TABLE kv").unwrap_err();
    assert!(matches!(err, Error::InvalidIdentifier { .. }), "{err}");
}

async fn balance(f: &DbFixture, id: i64) -> Option<i64> {
    let d = f.db.dialect();
    f.db.fetch_optional::<(i64,)>(
        &ctx(),
        sqlx::query_as(d.sql("SELECT balance FROM accounts WHERE id = ?")).bind(id),
    )
    .await
    .unwrap()
    .map(|(b,)| b)
}

async fn open_account(f: &DbFixture, id: i64, balance: i64) {
    let sql =
        f.db.dialect()
            .insert("accounts", &["id", "owner", "balance"], None)
            .unwrap();
    f.db.execute(
        &ctx(),
        sqlx::query(sql).bind(id).bind("owner").bind(balance),
    )
    .await
    .unwrap();
}

/// `Ok` commits everything the closure did, atomically.
pub async fn transaction_commits_on_ok(f: &DbFixture) {
    f.schema().await;
    open_account(f, 1, 100).await;
    open_account(f, 2, 0).await;
    let ctx = &ctx();
    let moved =
        f.db.transaction(ctx, |tx| {
            Box::pin(async move {
                let take = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = balance - ? WHERE id = ?");
                let give = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = balance + ? WHERE id = ?");
                tx.execute(ctx, sqlx::query(take).bind(30_i64).bind(1_i64))
                    .await?;
                tx.execute(ctx, sqlx::query(give).bind(30_i64).bind(2_i64))
                    .await?;
                let (left,): (i64,) = tx
                    .fetch_one(
                        ctx,
                        sqlx::query_as(
                            tx.dialect()
                                .sql("SELECT balance FROM accounts WHERE id = ?"),
                        )
                        .bind(1_i64),
                    )
                    .await?;
                Ok::<_, Error>(left)
            })
        })
        .await
        .unwrap();
    assert_eq!(moved, 70, "reads inside see the transaction's writes");
    assert_eq!(balance(f, 1).await, Some(70));
    assert_eq!(balance(f, 2).await, Some(30));
}

/// An application error rolls everything back and comes back unchanged.
pub async fn transaction_rolls_back_on_err(f: &DbFixture) {
    #[derive(Debug)]
    enum AppError {
        Insufficient,
        // Carried for the Debug output of a failing assertion.
        Db(#[allow(dead_code)] Error),
    }
    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            AppError::Db(e)
        }
    }
    f.schema().await;
    open_account(f, 1, 10).await;
    let ctx = &ctx();
    let out: Result<(), AppError> =
        f.db.transaction(ctx, |tx| {
            Box::pin(async move {
                let sql = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = balance - ? WHERE id = ?");
                tx.execute(ctx, sqlx::query(sql).bind(50_i64).bind(1_i64))
                    .await?;
                let insert = tx
                    .dialect()
                    .insert("accounts", &["id", "owner", "balance"], None)?;
                tx.execute(ctx, sqlx::query(insert).bind(9_i64).bind("x").bind(1_i64))
                    .await?;
                Err(AppError::Insufficient)
            })
        })
        .await;
    assert!(matches!(out, Err(AppError::Insufficient)), "{out:?}");
    assert_eq!(balance(f, 1).await, Some(10));
    assert_eq!(balance(f, 9).await, None);
    // A database error inside is an Err too.
    let out: Result<(), Error> =
        f.db.transaction(ctx, |tx| {
            Box::pin(async move {
                let sql = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = 0 WHERE id = ?");
                tx.execute(ctx, sqlx::query(sql).bind(1_i64)).await?;
                tx.execute(ctx, sqlx::query("SELECT * FROM no_such_table"))
                    .await?;
                Ok(())
            })
        })
        .await;
    assert!(matches!(out, Err(Error::Query { .. })), "{out:?}");
    assert_eq!(balance(f, 1).await, Some(10));
    // The pool still has its connection back.
    f.db.health(ctx).await.unwrap();
}

/// A panic inside rolls back, then continues to the caller.
pub async fn transaction_rolls_back_on_panic(f: &DbFixture) {
    f.schema().await;
    open_account(f, 1, 10).await;
    let db = Arc::clone(&f.db);
    let task = tokio::spawn(async move {
        let ctx = &ctx();
        let _: Result<(), Error> = db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let sql = tx
                        .dialect()
                        .sql("UPDATE accounts SET balance = 0 WHERE id = ?");
                    tx.execute(ctx, sqlx::query(sql).bind(1_i64)).await?;
                    panic!("boom inside the transaction");
                })
            })
            .await;
    });
    let err = task.await.expect_err("the panic reaches the caller");
    assert!(err.is_panic());
    assert_eq!(balance(f, 1).await, Some(10));
    f.db.health(&ctx()).await.unwrap();
}

/// A transaction that outlives its Context fails with `DeadlineExceeded` and never commits,
/// even when its statement was blocked on another transaction's lock (or, with one
/// connection, never got one).
pub async fn transaction_cut_by_deadline_never_commits(f: &DbFixture) {
    f.schema().await;
    open_account(f, 1, 100).await;
    let (locked_tx, locked_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let db = Arc::clone(&f.db);
    let holder = tokio::spawn(async move {
        let ctx = &ctx();
        db.transaction(ctx, |tx| {
            Box::pin(async move {
                let sql = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = 1 WHERE id = ?");
                tx.execute(ctx, sqlx::query(sql).bind(1_i64)).await?;
                let _ = locked_tx.send(());
                let _ = release_rx.await;
                Err::<(), Error>(Error::NotFound)
            })
        })
        .await
    });
    tokio::time::timeout(WAIT, locked_rx)
        .await
        .expect("holder took the lock")
        .expect("holder alive");

    let short = &Context::new().with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let out: Result<(), Error> =
        f.db.transaction(short, |tx| {
            Box::pin(async move {
                let sql = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = 2 WHERE id = ?");
                tx.execute(short, sqlx::query(sql).bind(1_i64)).await?;
                Ok(())
            })
        })
        .await;
    assert!(matches!(out, Err(Error::DeadlineExceeded)), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the deadline cut the wait: {:?}",
        started.elapsed()
    );
    let _ = release_tx.send(());
    let held = holder.await.expect("holder task");
    assert!(matches!(held, Err(Error::NotFound)), "{held:?}");

    // Neither transaction committed. Taking the row lock waits for any leftover of the cut one.
    let ctx = &ctx();
    let seen =
        f.db.transaction(ctx, |tx| {
            Box::pin(async move {
                let lock = tx
                    .dialect()
                    .sql("UPDATE accounts SET owner = owner WHERE id = ?");
                tx.execute(ctx, sqlx::query(lock).bind(1_i64)).await?;
                let (b,): (i64,) = tx
                    .fetch_one(
                        ctx,
                        sqlx::query_as(
                            tx.dialect()
                                .sql("SELECT balance FROM accounts WHERE id = ?"),
                        )
                        .bind(1_i64),
                    )
                    .await?;
                Ok::<_, Error>(b)
            })
        })
        .await
        .unwrap();
    assert_eq!(seen, 100);
}

/// A cancelled or expired Context fails fast with distinct errors and does not hurt the pool.
pub async fn cancelled_and_expired_contexts(f: &DbFixture) {
    f.schema().await;
    let cancelled = Context::new();
    cancelled.cancel();
    let err =
        f.db.execute(&cancelled, sqlx::query("SELECT 1"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let err =
        f.db.transaction(&cancelled, |_tx| Box::pin(async { Ok::<(), Error>(()) }))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let expired = Context::new().with_timeout(Duration::ZERO);
    let err =
        f.db.fetch_all::<(i64,)>(&expired, sqlx::query_as("SELECT 1"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
    let err =
        f.db.run(&expired, async { Ok::<_, sqlx::Error>(1) })
            .await
            .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
    // A cancellation arriving mid-transaction rolls it back.
    open_account(f, 1, 5).await;
    let live = &Context::new();
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let canceller = live.clone();
    tokio::spawn(async move {
        let _ = started_rx.await;
        canceller.cancel();
    });
    let out: Result<(), Error> =
        f.db.transaction(live, |tx| {
            Box::pin(async move {
                let sql = tx
                    .dialect()
                    .sql("UPDATE accounts SET balance = 0 WHERE id = ?");
                tx.execute(live, sqlx::query(sql).bind(1_i64)).await?;
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
                Ok(())
            })
        })
        .await;
    assert!(matches!(out, Err(Error::Cancelled)), "{out:?}");
    let five = crate::eventually_async("the cancelled transaction rolled back", WAIT, || async {
        // With a single connection the background rollback has to finish first.
        f.db.fetch_optional::<(i64,)>(
            &Context::new().with_timeout(Duration::from_secs(2)),
            sqlx::query_as(
                f.db.dialect()
                    .sql("SELECT balance FROM accounts WHERE id = ?"),
            )
            .bind(1_i64),
        )
        .await
        .ok()
        .flatten()
    })
    .await;
    assert_eq!(five, (5,));
}

/// Other connections do not see a transaction's writes before it commits.
pub async fn uncommitted_writes_are_invisible(f: &DbFixture) {
    if !f.concurrent {
        eprintln!("single-connection database: isolation between connections does not apply");
        return;
    }
    f.schema().await;
    let (written_tx, written_rx) = oneshot::channel::<()>();
    let (commit_tx, commit_rx) = oneshot::channel::<()>();
    let db = Arc::clone(&f.db);
    let writer = tokio::spawn(async move {
        let ctx = &ctx();
        db.transaction(ctx, |tx| {
            Box::pin(async move {
                let sql = tx.dialect().insert("kv", &["k", "v"], None)?;
                tx.execute(ctx, sqlx::query(sql).bind("iso").bind("x"))
                    .await?;
                let _ = written_tx.send(());
                let _ = commit_rx.await;
                Ok::<_, Error>(())
            })
        })
        .await
    });
    written_rx.await.expect("writer wrote");
    let ctx = ctx();
    let read = || async {
        f.db.fetch_optional::<(String,)>(
            &ctx,
            sqlx::query_as(f.db.dialect().sql("SELECT v FROM kv WHERE k = ?")).bind("iso"),
        )
        .await
        .unwrap()
    };
    assert_eq!(read().await, None, "uncommitted write visible");
    let _ = commit_tx.send(());
    writer.await.expect("writer task").expect("commit");
    assert_eq!(read().await, Some(("x".into(),)));
}

/// The dialect's helpers produce SQL the server accepts and that means the same everywhere.
pub async fn dialect_on_the_server(f: &DbFixture) {
    f.schema().await;
    let ctx = ctx();
    let d = f.db.dialect();
    let now_sql = format!("SELECT {}", d.now_millis());
    let (now,): (i64,) =
        f.db.fetch_one(&ctx, sqlx::query_as(sqlx::AssertSqlSafe(now_sql)))
            .await
            .unwrap();
    let local = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - local).abs() < 60_000,
        "server {now} vs local {local}"
    );

    // Quoted identifiers and table templates work; RETURNING is used only where supported.
    let create = d
        .sql_for_table(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
            "orders_03",
        )
        .unwrap();
    f.db.execute_raw(&ctx, create).await.unwrap();
    let insert = d
        .sql_for_table("INSERT INTO {table} (id, v) VALUES (?, ?)", "orders_03")
        .unwrap();
    f.db.execute(&ctx, sqlx::query(insert).bind(7_i64).bind("seven"))
        .await
        .unwrap();
    let select = format!(
        "SELECT v FROM {} WHERE id = {}{}",
        d.quote_ident("orders_03").unwrap(),
        d.placeholder(1),
        d.for_update()
    );
    let ctx_ref = &ctx;
    let v =
        f.db.transaction(ctx_ref, |tx| {
            Box::pin(async move {
                tx.fetch_one::<(String,)>(
                    ctx_ref,
                    sqlx::query_as(sqlx::AssertSqlSafe(select)).bind(7_i64),
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(v.0, "seven");
    let ddl = format!(
        "CREATE TABLE auto_ids (id {}, v VARCHAR(20))",
        d.auto_id_column()
    );
    f.db.execute_raw(&ctx, sqlx::AssertSqlSafe(ddl))
        .await
        .unwrap();
    let insert = d.insert("auto_ids", &["v"], Some("id")).unwrap();
    let first =
        f.db.insert_returning_id(&ctx, sqlx::query(insert.clone()).bind("a"))
            .await
            .unwrap();
    let second =
        f.db.insert_returning_id(&ctx, sqlx::query(insert).bind("b"))
            .await
            .unwrap();
    assert_eq!(second, first + 1);
}

/// Health reports the pool; close is idempotent and later calls fail with `Closed`.
pub async fn health_and_close(f: &DbFixture) {
    let ctx = ctx();
    let health = f.db.health(&ctx).await.unwrap();
    assert!(health.connections >= 1, "{health:?}");
    assert!(health.max_connections >= health.connections);
    assert_eq!(health.engine, f.db.engine());
    assert!(!health.server_version.is_empty());
    f.db.close().await.unwrap();
    f.db.close().await.unwrap();
    assert!(f.db.is_closed());
    let err =
        f.db.execute(&ctx, sqlx::query("SELECT 1"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
    let err = f.db.health(&ctx).await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
}

/// Generates one `#[tokio::test]` per contract case, each calling `$fixture(case_name).await`
/// for a fresh database.
#[macro_export]
macro_rules! db_contract {
    ($fixture:path) => {
        $crate::db_contract!(@cases $fixture;
            migrations_apply_once, newer_database_is_refused,
            edited_or_foreign_migrations_are_refused, statements_round_trip, upsert,
            errors_are_classified, transaction_commits_on_ok, transaction_rolls_back_on_err,
            transaction_rolls_back_on_panic, transaction_cut_by_deadline_never_commits,
            cancelled_and_expired_contexts, uncommitted_writes_are_invisible,
            dialect_on_the_server, health_and_close);
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture(stringify!($case)).await else { return };
                $crate::contracts::db::$case(&fixture).await;
                fixture.close().await;
            }
        )*
    };
}
