//! The ConfigStore suite shared by every engine: fixtures (a fresh database per case) and the
//! macro that turns each case of [`suite`] into a test.
// Each test binary uses only its own engine's fixture.
#![allow(dead_code)]

pub(crate) mod suite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_config_center::ConfigStore;
use keel_db::{Config, Db, Options};

/// One case's store on a fresh, empty database.
pub(crate) struct Fixture {
    /// The store under test (migrated).
    pub(crate) store: ConfigStore,
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
    config.application_name = "keel-config-center-tests".into();
    config
}

async fn store_on(db: Arc<Db>) -> ConfigStore {
    let store = ConfigStore::open(&ctx(), Arc::clone(&db))
        .await
        .expect("migrations apply");
    // Opening again is a no-op, as when several nodes start.
    ConfigStore::open(&ctx(), db)
        .await
        .expect("migrations are idempotent");
    store
}

/// A SQLite file in a fresh temporary directory (the standalone backend).
pub(crate) async fn sqlite_file(_case: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_env(Env::Development);
    config.data_dir = dir.path().to_path_buf();
    config.pool.max_connections = 8;
    let db = keel_db::new(&ctx(), config, Options::default())
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
            create_app_creates_default_cluster_and_namespace,
            app_conflicts_and_not_found,
            names_are_case_sensitive,
            update_app_changes_only_given_fields,
            list_apps_paginates_by_name,
            clusters,
            namespaces,
            not_found_names_the_missing_level,
            item_versions_and_optimistic_locking,
            non_properties_namespace_holds_only_content,
            concurrent_put_with_same_version_has_one_winner,
            concurrent_create_app_has_one_winner,
            concurrent_writes_across_namespaces_all_commit,
            release_is_a_snapshot,
            an_idempotency_key_makes_one_release,
            release_keys_are_unique,
            list_releases_newest_first,
            rollback_restores_an_older_release,
            gray_releases_replace_merge_and_abandon,
            publishing_a_document_creates_replaces_and_releases,
            gray_documents_and_deletes,
            history_records_writes_newest_first,
            delete_app_cascades,
            delete_app_racing_writes_leaves_nothing,
            delete_cluster_and_namespace_cascade,
            values_up_to_the_limit_round_trip,
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
