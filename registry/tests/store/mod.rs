//! The RegistryStore suite shared by every engine: fixtures (a fresh database per case) and
//! the macro that turns each case of [`suite`] into a test.
// Each test binary uses only its own engine's fixture.
#![allow(dead_code)]

pub(crate) mod suite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_db::{Config, Db, Options};
use keel_registry::RegistryStore;

/// One case's store on a fresh, empty database.
pub(crate) struct Fixture {
    /// The store under test (migrated).
    pub(crate) store: RegistryStore,
    /// Drops the test database or removes the temporary directory.
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Fixture {
    /// Closes the database and cleans up (best effort).
    pub(crate) async fn close(self) {
        self.store.db().close().await.expect("close is idempotent");
        if let Some(cleanup) = self.cleanup {
            cleanup.await;
        }
    }
}

/// A Context for one step of a test: generous, but a hang still fails.
pub(crate) fn ctx() -> Context {
    Context::new().with_timeout(Duration::from_secs(30))
}

/// Small pools and a statement limit, as tests want.
pub(crate) fn config(url: &str) -> Config {
    let mut config = Config::for_env(Env::Production).with_url(url);
    config.pool.max_connections = 8;
    config.pool.min_connections = 1;
    config.statement_timeout = Duration::from_secs(20);
    config.application_name = "keel-registry-tests".into();
    config
}

/// The store on `db`, opened twice: opening again is a no-op, as when several nodes start.
async fn store_on(db: Arc<Db>) -> RegistryStore {
    let store = RegistryStore::open(&ctx(), Arc::clone(&db))
        .await
        .expect("migrations apply");
    RegistryStore::open(&ctx(), db)
        .await
        .expect("migrations are idempotent");
    store
}

/// The configuration of a SQLite file database in `dir` (the standalone backend).
pub(crate) fn sqlite_config(dir: &std::path::Path) -> Config {
    let mut config = Config::for_env(Env::Development);
    config.data_dir = dir.to_path_buf();
    config.pool.max_connections = 8;
    config
}

/// A SQLite file in a fresh temporary directory.
pub(crate) async fn sqlite_file(_case: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = keel_db::new(&ctx(), sqlite_config(dir.path()), Options::default())
        .await
        .expect("sqlite file database");
    Some(Fixture {
        store: store_on(db).await,
        cleanup: Some(Box::pin(async move { drop(dir) })),
    })
}

/// A fresh database on the server of `admin_url` (see keel-testkit), with the store opened
/// on it; the database is dropped at cleanup.
async fn fresh_database(admin_url: &str, case: &str) -> Fixture {
    let fresh = keel_testkit::fresh_database(admin_url, case, config).await;
    Fixture {
        store: store_on(fresh.db).await,
        cleanup: Some(fresh.cleanup),
    }
}

/// A fresh PostgreSQL database (`KEEL_TEST_POSTGRES`); `None` skips (never under CI).
pub(crate) async fn postgres(case: &str) -> Option<Fixture> {
    let url = keel_testkit::backend(keel_testkit::Backend::Postgres)?;
    Some(fresh_database(&url, case).await)
}

/// A fresh MySQL/MariaDB database (`KEEL_TEST_MYSQL`); `None` skips (never under CI).
pub(crate) async fn mysql(case: &str) -> Option<Fixture> {
    let url = keel_testkit::backend(keel_testkit::Backend::Mysql)?;
    Some(fresh_database(&url, case).await)
}

/// Every case of [`suite`] as a test on the fixture function `$fixture`.
macro_rules! store_suite {
    ($fixture:path) => {
        store_suite!(@cases $fixture;
            service_lifecycle,
            duplicate_service_conflicts,
            concurrent_ensure_service_creates_once,
            concurrent_create_service_has_one_winner,
            ensure_service_racing_delete_group_always_succeeds,
            service_creates_its_group,
            not_found_names_the_thing,
            list_services_paginates_by_group_and_name,
            tenants_are_isolated,
            group_lifecycle,
            delete_group_refused_while_it_has_services,
            list_groups_paginates_by_name,
            put_instance_upserts,
            put_instance_needs_its_service,
            delete_service_refused_with_persistent_instances,
            all_listings_cover_every_tenant,
            bad_input_is_invalid);
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture(stringify!($case)).await else { return };
                store::suite::$case(&fixture).await;
                fixture.close().await;
            }
        )*
    };
}
pub(crate) use store_suite;
