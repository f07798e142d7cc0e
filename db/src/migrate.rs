//! Migrations: each component ships one sqlx migration directory per dialect and runs them at
//! start. Running twice is a no-op; a database migrated by newer code is refused.

use std::collections::BTreeSet;

use keel_clog::Context;
use sqlx::AnyConnection;
use sqlx::migrate::{Migrate, MigrateError, Migrator};

use crate::connect::unlimited_statement_sql;
use crate::{Db, Engine, Error, Result};

/// One component's migrations, for every dialect it supports.
///
/// ```ignore
/// // In the service crate (which depends on `sqlx` for the macro), with
/// // migrations/{postgres,mysql,sqlite}/0001_create_orders.sql and so on:
/// let migrations = keel_db::Migrations::new("orders")
///     .postgres(sqlx::migrate!("./migrations/postgres"))
///     .mysql(sqlx::migrate!("./migrations/mysql"))
///     .sqlite(sqlx::migrate!("./migrations/sqlite"));
/// db.migrate(&ctx, &migrations).await?;
/// ```
///
/// Each component records its migrations in its own table, `_sqlx_migrations_<component>`, so
/// several components (the config center and the registry in one `keel` binary) can share a
/// database without taking each other's migrations for unknown ones.
#[derive(Debug)]
pub struct Migrations {
    component: String,
    postgres: Option<Migrator>,
    mysql: Option<Migrator>,
    sqlite: Option<Migrator>,
}

/// What [`Db::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The component.
    pub component: String,
    /// Versions applied by this call (empty when the database was up to date).
    pub applied: Vec<i64>,
    /// The newest version applied to the database now.
    pub current: Option<i64>,
}

impl Migrations {
    /// No migrations yet for `component` (`[a-z0-9_]{1,40}`, e.g. `config_center`).
    pub fn new(component: &str) -> Self {
        Migrations {
            component: component.to_owned(),
            postgres: None,
            mysql: None,
            sqlite: None,
        }
    }

    /// The PostgreSQL migrations (`sqlx::migrate!("./migrations/postgres")`).
    pub fn postgres(mut self, migrator: Migrator) -> Self {
        self.postgres = Some(migrator);
        self
    }

    /// The MySQL/MariaDB migrations.
    pub fn mysql(mut self, migrator: Migrator) -> Self {
        self.mysql = Some(migrator);
        self
    }

    /// The SQLite migrations.
    pub fn sqlite(mut self, migrator: Migrator) -> Self {
        self.sqlite = Some(migrator);
        self
    }

    /// The same migrations without those above `version`: to test an upgrade (migrate to N,
    /// write old-shape data, migrate to the latest) or to play an older build.
    pub fn until(self, version: i64) -> Self {
        let cut = |m: Option<Migrator>| {
            m.map(|m| {
                Migrator::with_migrations(
                    m.iter()
                        .filter(|mig| mig.version <= version)
                        .cloned()
                        .collect(),
                )
            })
        };
        Migrations {
            component: self.component,
            postgres: cut(self.postgres),
            mysql: cut(self.mysql),
            sqlite: cut(self.sqlite),
        }
    }

    /// The component's name.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The table recording which migrations are applied.
    pub fn table(&self) -> String {
        format!("_sqlx_migrations_{}", self.component)
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Migration {
            component: self.component.clone(),
            reason: reason.into(),
        }
    }

    fn for_engine(&self, engine: Engine) -> Option<&Migrator> {
        match engine {
            Engine::Postgres => self.postgres.as_ref(),
            Engine::Mysql => self.mysql.as_ref(),
            Engine::Sqlite => self.sqlite.as_ref(),
        }
    }

    /// The up-migration versions of one dialect.
    fn versions(migrator: &Migrator) -> BTreeSet<i64> {
        migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect()
    }

    /// The component name is usable and every dialect has the same versions (a migration added
    /// for one dialect and forgotten for another is caught on the developer's machine, not in
    /// production on the other engine).
    pub fn check(&self) -> Result<()> {
        let c = &self.component;
        if c.is_empty()
            || c.len() > 40
            || !c
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        {
            return Err(self.error("the component name must be [a-z0-9_]{1,40}"));
        }
        let sets: Vec<(Engine, BTreeSet<i64>)> = [Engine::Postgres, Engine::Mysql, Engine::Sqlite]
            .into_iter()
            .filter_map(|e| self.for_engine(e).map(|m| (e, Self::versions(m))))
            .collect();
        if let Some((first_engine, first)) = sets.first() {
            for (engine, versions) in &sets[1..] {
                if versions != first {
                    return Err(self.error(format!(
                        "the {first_engine} migrations have versions {first:?} but the {engine} \
                         ones {versions:?}; every dialect needs the same versions"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Db {
    /// Applies `migrations`' pending versions for this database's dialect, under the migration
    /// lock (PostgreSQL advisory lock, MySQL `GET_LOCK`; SQLite's write lock), so that several
    /// instances starting together apply each migration once.
    ///
    /// Refuses, before changing anything, a database that has migrations this build does not
    /// know: [`Error::DatabaseNewerThanCode`] when they are newer than its newest, otherwise
    /// [`Error::Migration`]. A migration edited after it was applied (checksum) and one that
    /// failed half-way on MySQL (no transactional DDL) are errors too.
    ///
    /// The whole run is bounded by the Context's deadline only (not `statement_timeout`): a
    /// migration may legitimately take long.
    pub async fn migrate(&self, ctx: &Context, migrations: &Migrations) -> Result<MigrationReport> {
        migrations.check()?;
        let engine = self.engine();
        let Some(source) = migrations.for_engine(engine) else {
            return Err(migrations.error(format!("there are no {engine} migrations")));
        };
        // Our own copy: our table, and no locking inside sqlx (we hold the lock ourselves, to
        // check the applied versions under it).
        let mut migrator = Migrator::with_migrations(source.iter().cloned().collect());
        migrator.dangerous_set_table_name(migrations.table());
        migrator.set_locking(false);
        let known = Migrations::versions(&migrator);

        let mut conn = self.acquire(ctx).await?;
        let span = self.logger().span(ctx, "db.migrate");
        let run = tracing::Instrument::instrument(
            self.migrate_locked(&mut conn, migrations, &migrator, &known),
            span,
        );
        let out = match ctx.run(run).await {
            Ok(out) => out,
            Err(err) => Err(err.into()),
        };
        if out.is_err() && engine != Engine::Sqlite {
            // The session may still hold the migration lock or lifted limits; never reuse it.
            // (SQLite has neither, and closing `:memory:`'s only connection would lose it.)
            conn.close_on_drop();
        }
        let report = out?;
        if !report.applied.is_empty() {
            tracing::info!(
                ns = self.logger().namespace(),
                component = migrations.component(),
                applied = ?report.applied,
                current = ?report.current,
                "migrations applied"
            );
        }
        Ok(report)
    }

    async fn migrate_locked(
        &self,
        conn: &mut AnyConnection,
        migrations: &Migrations,
        migrator: &Migrator,
        known: &BTreeSet<i64>,
    ) -> Result<MigrationReport> {
        if self.engine() == Engine::Sqlite {
            // sqlx's SQLite migrations take no lock. One IMMEDIATE transaction around the whole
            // run serializes concurrent starters on the write lock and makes the run
            // all-or-nothing (each migration becomes a savepoint inside it).
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(|e| migrations.error(self.shared.map(e).to_string()))?;
            let report = self
                .migrate_steps(&mut tx, migrations, migrator, known)
                .await;
            return match report {
                Ok(report) => {
                    tx.commit()
                        .await
                        .map_err(|e| migrations.error(self.shared.map(e).to_string()))?;
                    Ok(report)
                }
                Err(err) => {
                    let _ = tx.rollback().await;
                    Err(err)
                }
            };
        }
        if let Some(sql) = unlimited_statement_sql(self.dialect()) {
            self.shared
                .execute_raw_unbounded(conn, sql)
                .await
                .map_err(|e| migrations.error(e.to_string()))?;
        }
        self.lock(conn, migrations).await?;
        let result = self.migrate_steps(conn, migrations, migrator, known).await;
        let unlocked = self.unlock(conn, migrations).await;
        let report = result?;
        unlocked?;
        self.shared
            .execute_raw_unbounded(conn, &self.session_sql)
            .await
            .map_err(|e| migrations.error(e.to_string()))?;
        Ok(report)
    }

    /// Takes the database-wide migration lock. PostgreSQL: sqlx's advisory lock. MySQL: our
    /// own `GET_LOCK` — sqlx asks for `GET_LOCK(name, -1)`, which MariaDB answers with NULL at
    /// once instead of waiting, so two instances would migrate together.
    async fn lock(&self, conn: &mut AnyConnection, migrations: &Migrations) -> Result<()> {
        if self.engine() != Engine::Mysql {
            return conn
                .lock()
                .await
                .map_err(|e| migrate_error(migrations, e, self));
        }
        let (got,): (Option<i64>,) = sqlx::query_as(MYSQL_LOCK)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| migrations.error(self.shared.map(e).to_string()))?;
        if got != Some(1) {
            return Err(migrations
                .error("could not take the migration lock (GET_LOCK returned no 1 within a day)"));
        }
        Ok(())
    }

    async fn unlock(&self, conn: &mut AnyConnection, migrations: &Migrations) -> Result<()> {
        if self.engine() != Engine::Mysql {
            return conn
                .unlock()
                .await
                .map_err(|e| migrate_error(migrations, e, self));
        }
        sqlx::query(MYSQL_UNLOCK)
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| migrations.error(self.shared.map(e).to_string()))
    }

    /// Under the lock: refuse unknown applied versions, apply the pending ones.
    async fn migrate_steps(
        &self,
        conn: &mut AnyConnection,
        migrations: &Migrations,
        migrator: &Migrator,
        known: &BTreeSet<i64>,
    ) -> Result<MigrationReport> {
        let table = migrations.table();
        let fail = |e: MigrateError| migrate_error(migrations, e, self);
        conn.ensure_migrations_table(&table).await.map_err(fail)?;
        if let Some(version) = conn.dirty_version(&table).await.map_err(fail)? {
            return Err(fail(MigrateError::Dirty(version)));
        }
        let before = applied_versions(conn, &table).await.map_err(fail)?;
        refuse_unknown(migrations, &before, known)?;
        migrator.run(&mut *conn).await.map_err(fail)?;
        let after = applied_versions(conn, &table).await.map_err(fail)?;
        Ok(MigrationReport {
            component: migrations.component().to_owned(),
            applied: after.difference(&before).copied().collect(),
            current: after.last().copied(),
        })
    }
}

async fn applied_versions(
    conn: &mut AnyConnection,
    table: &str,
) -> std::result::Result<BTreeSet<i64>, MigrateError> {
    Ok(conn
        .list_applied_migrations(table)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect())
}

/// A server-wide lock name per database, within MySQL's 64-character limit. The wait is
/// bounded by the caller's Context (a cut-off wait closes the connection, freeing its place).
const MYSQL_LOCK: &str =
    "SELECT GET_LOCK(CONCAT('keel_migrate_', SUBSTRING(SHA1(DATABASE()), 1, 32)), 86400)";
const MYSQL_UNLOCK: &str =
    "SELECT RELEASE_LOCK(CONCAT('keel_migrate_', SUBSTRING(SHA1(DATABASE()), 1, 32)))";

/// Applied versions the code does not know: newer → the database is newer than the code;
/// older → some other branch's migration.
fn refuse_unknown(
    migrations: &Migrations,
    applied: &BTreeSet<i64>,
    known: &BTreeSet<i64>,
) -> Result<()> {
    let unknown: Vec<i64> = applied.difference(known).copied().collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let newest_known = known.last().copied().unwrap_or(0);
    let newest_applied = applied.last().copied().unwrap_or(0);
    if newest_applied > newest_known {
        return Err(Error::DatabaseNewerThanCode {
            component: migrations.component().to_owned(),
            applied: newest_applied,
            known: newest_known,
            unknown,
        });
    }
    Err(migrations.error(format!(
        "the database has migrations {unknown:?} applied that this build does not have (but \
         nothing newer than its newest, {newest_known}): it was migrated from another branch. \
         Restore the missing migration files"
    )))
}

fn migrate_error(migrations: &Migrations, err: MigrateError, db: &Db) -> Error {
    let table = migrations.table();
    let reason = match err {
        MigrateError::VersionMismatch(v) => format!(
            "migration {v} was edited after it was applied (its checksum differs). Never change \
             an applied migration: revert the edit and add a new migration"
        ),
        MigrateError::Dirty(v) => format!(
            "migration {v} failed half-way on an earlier start (this engine cannot roll back DDL). \
             Repair the schema by hand, then delete the row of version {v} from {table}"
        ),
        MigrateError::VersionMissing(v) => format!(
            "migration {v} is applied but unknown to this build (another instance migrated \
             meanwhile?); deploy the newest release"
        ),
        MigrateError::ExecuteMigration(e, v) => format!(
            "migration {v} failed: {}",
            Error::from_sqlx(e, &db.shared.secrets)
        ),
        MigrateError::Execute(e) => Error::from_sqlx(e, &db.shared.secrets).to_string(),
        other => db.shared.secrets.scrub(&other.to_string()),
    };
    migrations.error(reason)
}

#[cfg(test)]
mod tests {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType};

    use super::*;

    fn migrator(versions: &[i64]) -> Migrator {
        Migrator::with_migrations(
            versions
                .iter()
                .map(|v| {
                    Migration::new(
                        *v,
                        "m".into(),
                        MigrationType::Simple,
                        "SELECT 1".into_sql_str(),
                        false,
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn every_dialect_needs_the_same_versions() {
        let ok = Migrations::new("orders")
            .postgres(migrator(&[1, 2]))
            .sqlite(migrator(&[1, 2]));
        ok.check().unwrap();
        assert_eq!(ok.table(), "_sqlx_migrations_orders");
        let forgotten = Migrations::new("orders")
            .postgres(migrator(&[1, 2]))
            .mysql(migrator(&[1]));
        let err = forgotten.check().unwrap_err().to_string();
        assert!(err.contains("same versions"), "{err}");
        for bad in ["", "Orders", "a-b", &"x".repeat(41)] {
            assert!(Migrations::new(bad).check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn until_keeps_older_migrations() {
        let m = Migrations::new("orders")
            .postgres(migrator(&[1, 2, 3]))
            .sqlite(migrator(&[1, 2, 3]))
            .until(2);
        let versions = Migrations::versions(m.for_engine(Engine::Sqlite).unwrap());
        assert_eq!(versions.into_iter().collect::<Vec<_>>(), vec![1, 2]);
        assert!(m.for_engine(Engine::Mysql).is_none());
    }

    #[test]
    fn unknown_applied_versions_are_classified() {
        let m = Migrations::new("orders");
        let known: BTreeSet<i64> = [1, 2].into();
        refuse_unknown(&m, &[1].into(), &known).unwrap();
        let err = refuse_unknown(&m, &[1, 2, 3, 4].into(), &known).unwrap_err();
        assert!(
            matches!(&err, Error::DatabaseNewerThanCode { applied: 4, known: 2, unknown, .. } if unknown == &vec![3, 4]),
            "{err}"
        );
        let err = refuse_unknown(&m, &[1, 5].into(), &[1, 2, 7].into()).unwrap_err();
        assert!(matches!(err, Error::Migration { .. }), "{err}");
    }
}
