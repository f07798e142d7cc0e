//! Fixtures shared by keel-db's integration tests: a fresh database per test on every engine.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_db::sqlx::AssertSqlSafe;
use keel_db::{Config, Db, Engine, Migrations, Options};
use keel_testkit::contracts::db::DbFixture;
use keel_testkit::{Backend, Namespace, backend};

/// keel-db's test migrations, one directory per dialect.
pub(crate) fn migrations() -> Migrations {
    Migrations::new("contract")
        .postgres(sqlx::migrate!("./tests/migrations/postgres"))
        .mysql(sqlx::migrate!("./tests/migrations/mysql"))
        .sqlite(sqlx::migrate!("./tests/migrations/sqlite"))
}

/// A config for `url` with small pools and short timeouts, as tests want.
pub(crate) fn config(url: &str) -> Config {
    let mut config = Config::for_env(Env::Production).with_url(url);
    config.pool.max_connections = 4;
    config.pool.min_connections = 1;
    config.statement_timeout = Duration::from_secs(10);
    config.application_name = "keel-db-tests".into();
    config
}

fn setup_ctx() -> Context {
    Context::new().with_timeout(Duration::from_secs(30))
}

/// A SQLite file in a fresh temporary directory.
pub(crate) async fn sqlite_file(_case: &str) -> Option<DbFixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_env(Env::Development);
    config.data_dir = dir.path().join("data");
    let db = keel_db::new(&setup_ctx(), config, Options::default())
        .await
        .expect("sqlite file database");
    Some(DbFixture {
        db,
        migrations,
        concurrent: true,
        cleanup: Some(Box::pin(async move { drop(dir) })),
    })
}

/// A private SQLite `:memory:` database (one connection).
pub(crate) async fn sqlite_memory(_case: &str) -> Option<DbFixture> {
    let config = Config::for_env(Env::Development).with_url("sqlite::memory:");
    let db = keel_db::new(&setup_ctx(), config, Options::default())
        .await
        .expect("sqlite memory database");
    Some(DbFixture {
        db,
        migrations,
        concurrent: false,
        cleanup: None,
    })
}

/// `url` with its database name replaced by `database`.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let mut url = url::Url::parse(url).expect("backend URL parses");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// A database created for one test on the server of `admin_url`, and the future that drops it.
pub(crate) struct FreshDatabase {
    /// The provider on the new database.
    pub(crate) db: Arc<Db>,
    /// Its URL.
    pub(crate) url: String,
    /// Drops the database (best effort) and closes the admin connection.
    pub(crate) cleanup: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Creates `kt_<case>_<random>` on the server and opens it.
pub(crate) async fn fresh_database(admin_url: &str, case: &str) -> FreshDatabase {
    let ctx = setup_ctx();
    let mut admin_config = config(admin_url);
    admin_config.pool.max_connections = 1;
    let admin = keel_db::new(&ctx, admin_config, Options::default())
        .await
        .expect("admin connection to the test server");
    let name = Namespace::new(case).as_str().to_owned();
    admin
        .execute_raw(&ctx, AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create the test database");
    let url = with_database(admin_url, &name);
    let db = keel_db::new(&ctx, config(&url), Options::default())
        .await
        .expect("connect to the test database");
    let engine = db.engine();
    let closing = Arc::clone(&db);
    let cleanup = Box::pin(async move {
        let _ = closing.close().await;
        let drop = match engine {
            // FORCE ends connections still draining a cut-off statement.
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        let ctx = Context::new().with_timeout(Duration::from_secs(20));
        if let Err(err) = admin.execute_raw(&ctx, AssertSqlSafe(drop)).await {
            eprintln!("could not drop test database {name}: {err}");
        }
        let _ = admin.close().await;
    });
    FreshDatabase { db, url, cleanup }
}

/// A fresh PostgreSQL database (`KEEL_TEST_POSTGRES`).
pub(crate) async fn postgres(case: &str) -> Option<DbFixture> {
    let url = backend(Backend::Postgres)?;
    let fresh = fresh_database(&url, case).await;
    Some(DbFixture {
        db: fresh.db,
        migrations,
        concurrent: true,
        cleanup: Some(fresh.cleanup),
    })
}

/// A fresh MySQL/MariaDB database (`KEEL_TEST_MYSQL`).
pub(crate) async fn mysql(case: &str) -> Option<DbFixture> {
    let url = backend(Backend::Mysql)?;
    let fresh = fresh_database(&url, case).await;
    Some(DbFixture {
        db: fresh.db,
        migrations,
        concurrent: true,
        cleanup: Some(fresh.cleanup),
    })
}
