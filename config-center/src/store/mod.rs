//! [`ConfigStore`]: the configuration center's data in a keel-db database (a SQLite file by
//! default, PostgreSQL or MySQL/MariaDB in distributed mode).
//!
//! # Schema
//!
//! `migrations/{sqlite,postgres,mysql}/`, component `config_center`: `cc_apps` →
//! `cc_clusters` → `cc_namespaces` → (`cc_items`, `cc_releases`), each child deleted with its
//! parent by `ON DELETE CASCADE`, plus `cc_history` (no foreign key: the audit trail outlives
//! what it describes). Unique constraints back every name, item key and release key, so a
//! race that slips past a check still cannot create a duplicate: it becomes
//! [`Error::Conflict`](crate::Error::Conflict).
//!
//! # Locking
//!
//! Every write is one transaction that first locks its app's row (`SELECT ... FOR UPDATE`;
//! SQLite transactions hold the database's write lock from `BEGIN IMMEDIATE`). Writes inside
//! one app are therefore serialized, which is what makes optimistic item versions, release
//! snapshots and deletes exact without engine-specific isolation levels. It also matters on
//! MySQL/MariaDB, whose REPEATABLE READ snapshot starts at the first plain read: taking the
//! lock first means that snapshot already sees every write that held the lock before.
//! Configuration writes are rare next to reads, so the coarse lock costs nothing that shows.

mod apps;
mod clusters;
mod conn;
mod documents;
pub use documents::{DocumentWrite, SERVING_ACTIONS};
mod gray;
pub use gray::{GrayDocument, NewGray};
mod history;
mod input;
mod items;
mod locate;
mod namespaces;
mod releases;
mod rows;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use keel_clog::Context;
use keel_db::{ConstraintKind, Db, Migrations};

use crate::{Error, Page, PageRequest, Result};

/// The migration component name: its history lives in `_sqlx_migrations_config_center`.
const COMPONENT: &str = "config_center";

/// Apps, clusters, namespaces, items, releases and history, stored through keel-db.
///
/// Cheap to clone (it shares the database). Open it with [`ConfigStore::open`], which brings
/// the schema up to date; whoever created the [`Db`] closes it.
#[derive(Clone)]
pub struct ConfigStore {
    db: Arc<Db>,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore")
            .field("db", &self.db.url())
            .finish()
    }
}

/// The schema, for every engine. All three dialects are embedded whatever the cargo features:
/// they are only SQL text, and `Migrations` checks that every dialect has the same versions.
fn migrations() -> Migrations {
    Migrations::new(COMPONENT)
        .sqlite(sqlx::migrate!("./migrations/sqlite"))
        .postgres(sqlx::migrate!("./migrations/postgres"))
        .mysql(sqlx::migrate!("./migrations/mysql"))
}

impl ConfigStore {
    /// Runs the config center's migrations on `db` (a no-op when up to date; refused when a
    /// newer release migrated the database) and returns the store.
    pub async fn open(ctx: &Context, db: Arc<Db>) -> Result<Self> {
        db.migrate(ctx, &migrations()).await?;
        Ok(ConfigStore { db })
    }

    /// The database the store writes to.
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }
}

/// The current time in Unix milliseconds. The node's clock, not the database's: times are
/// informational, never used to order anything (ids do that).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A unique-constraint violation becomes [`Error::Conflict`] with `message`; everything else
/// stays a storage error. Used where a concurrent writer may have created the same row.
fn conflict_on_unique(err: Error, message: impl FnOnce() -> String) -> Error {
    match err {
        Error::Storage(keel_db::Error::Constraint {
            kind: ConstraintKind::Unique,
            ..
        }) => Error::Conflict(message()),
        other => other,
    }
}

/// `LIMIT` and `OFFSET` of a validated page request.
fn window(page: PageRequest) -> Result<(i64, i64)> {
    page.validate()?;
    let offset = i64::try_from(page.offset())
        .map_err(|_| Error::Invalid(format!("page {} is too far", page.page)))?;
    Ok((i64::from(page.size), offset))
}

/// A page of `items` out of `total` (a `COUNT(*)`, never negative).
fn page_of<T>(items: Vec<T>, total: i64, page: PageRequest) -> Page<T> {
    Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        page: page.page,
        size: page.size,
    }
}
