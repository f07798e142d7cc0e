//! [`RegistryStore`]: groups, services and persistent instances in a keel-db database (a
//! SQLite file in standalone mode, PostgreSQL or MySQL/MariaDB in distributed mode).
//! Ephemeral instances never come here: they live on coord leases.
//!
//! # Schema
//!
//! `migrations/{sqlite,postgres,mysql}/`, component `registry`: `reg_groups` → `reg_services`
//! → `reg_instances`, each child pointing at its parent's id. There is no `ON DELETE
//! CASCADE`: deleting a group that still has services, or a service that still has persistent
//! instances, is refused with [`Error::Conflict`](crate::Error::Conflict), and the foreign keys
//! stop anything that slips past that check. Unique constraints back every name and instance
//! id, so a race that slips past a check still cannot create a duplicate.
//!
//! # Locking
//!
//! Every write is one transaction that first locks the row it hangs off (`SELECT ... FOR
//! UPDATE`; SQLite transactions hold the database's write lock from `BEGIN IMMEDIATE`):
//! service creation locks the group, so "does it exist?" and "insert it" cannot interleave
//! with another creator or with the group's delete; instance writes and service updates and
//! deletes lock the service. On MySQL/MariaDB, whose REPEATABLE READ snapshot starts at the
//! first plain read, taking the lock first means that snapshot already sees every write that
//! held the lock before.

mod groups;
mod instances;
mod rows;
mod services;

use std::sync::Arc;

use keel_clog::Context;
use keel_db::{ConstraintKind, Db, Migrations};

use crate::{Error, Page, Result};

/// The migration component name: its history lives in `_sqlx_migrations_registry`.
const COMPONENT: &str = "registry";

/// The largest page a listing returns.
const MAX_PAGE_SIZE: u32 = 1000;

/// Groups, services and persistent instances, stored through keel-db.
///
/// Cheap to clone (it shares the database). Open it with [`RegistryStore::open`], which
/// brings the schema up to date; whoever created the [`Db`] closes it.
#[derive(Clone)]
pub struct RegistryStore {
    db: Arc<Db>,
}

impl std::fmt::Debug for RegistryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryStore")
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

impl RegistryStore {
    /// Runs the registry's migrations on `db` (a no-op when up to date; refused when a newer
    /// release migrated the database) and returns the store.
    pub async fn open(ctx: &Context, db: Arc<Db>) -> Result<Self> {
        db.migrate(ctx, &migrations()).await?;
        Ok(RegistryStore { db })
    }

    /// The database the store writes to.
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }
}

/// A unique-constraint violation becomes [`Error::Conflict`] with `message`; everything else
/// stays a storage error. Used where a concurrent writer may have created the same row.
fn conflict_on_unique(err: Error, message: impl FnOnce() -> String) -> Error {
    if is_unique_violation(&err) {
        Error::Conflict(message())
    } else {
        err
    }
}

/// Whether `err` is a unique-constraint violation.
fn is_unique_violation(err: &Error) -> bool {
    matches!(
        err,
        Error::Storage(keel_db::Error::Constraint {
            kind: ConstraintKind::Unique,
            ..
        })
    )
}

/// "service t/g/s does not exist".
fn service_missing(id: &crate::ServiceId) -> Error {
    Error::NotFound(format!("service {id} does not exist"))
}

/// "group t/g does not exist".
fn group_missing(tenant: &str, name: &str) -> Error {
    Error::NotFound(format!("group {tenant}/{name} does not exist"))
}

/// `LIMIT` and `OFFSET` of page `page` (from 1) of `size` entries (1 to [`MAX_PAGE_SIZE`]).
fn window(page: u32, size: u32) -> Result<(i64, i64)> {
    if page == 0 || size == 0 || size > MAX_PAGE_SIZE {
        return Err(Error::Invalid(format!(
            "page must be at least 1 and size between 1 and {MAX_PAGE_SIZE} (got page {page}, size {size})"
        )));
    }
    // u32 × u32 always fits in i64.
    Ok((i64::from(size), i64::from(page - 1) * i64::from(size)))
}

/// A page of `items` out of `total` (a `COUNT(*)`, never negative).
fn page_of<T>(items: Vec<T>, total: i64, page: u32, size: u32) -> Page<T> {
    Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        page,
        size,
    }
}
