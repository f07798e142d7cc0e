//! Fixtures shared by keel-db's integration tests: a fresh database per test on every engine.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use keel_clog::{Context, Env};
use keel_db::{Config, Migrations, Options};
use keel_testkit::contracts::db::DbFixture;
use keel_testkit::{Backend, backend};

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

pub(crate) use keel_testkit::FreshDatabase;

/// Creates `kt_<case>_<random>` on the server and opens it with the tests' config.
pub(crate) async fn fresh_database(admin_url: &str, case: &str) -> FreshDatabase {
    keel_testkit::fresh_database(admin_url, case, config).await
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
