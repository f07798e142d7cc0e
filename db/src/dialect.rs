//! Every difference between PostgreSQL, MySQL/MariaDB and SQLite that keel-db or a service has
//! to care about, in one place: placeholders, identifier quoting, upsert, `RETURNING`, the
//! current time, row locks, auto-increment keys and how a transaction begins. Callers ask the
//! [`Dialect`] instead of branching on the engine themselves.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::{Error, Result};

/// The database engine behind a [`crate::Db`], chosen by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// PostgreSQL (`postgres://`, `postgresql://`; cargo feature `postgres`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`; cargo feature `mysql`).
    Mysql,
    /// SQLite (`sqlite://path`, `sqlite::memory:`; cargo feature `sqlite`, on by default).
    Sqlite,
}

impl Engine {
    /// The cargo feature of keel-db that compiles this engine's driver in.
    pub fn feature(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }

    /// Whether this build has the engine's driver.
    pub fn is_compiled_in(self) -> bool {
        match self {
            Engine::Postgres => cfg!(feature = "postgres"),
            Engine::Mysql => cfg!(feature = "mysql"),
            Engine::Sqlite => cfg!(feature = "sqlite"),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Mysql => "MySQL/MariaDB",
            Engine::Sqlite => "SQLite",
        })
    }
}

/// Which kind of statement a `RETURNING` clause would be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturningFor {
    /// `INSERT ... RETURNING`.
    Insert,
    /// `UPDATE ... RETURNING`.
    Update,
    /// `DELETE ... RETURNING`.
    Delete,
}

/// A SQL text produced by the [`Dialect`] from a `&'static str` template (plus validated
/// identifiers), so it is as safe to execute as the literal it came from. Pass it to
/// `sqlx::query` like a string literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql(String);

impl Sql {
    /// The SQL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SqlSafeStr for Sql {
    fn into_sql_str(self) -> SqlStr {
        // Safe by construction: a static template with `?` rewritten and identifiers validated.
        AssertSqlSafe(self.0).into_sql_str()
    }
}

/// The SQL dialect of one database server: engine, flavour (MariaDB or MySQL) and version.
///
/// Portable SQL in keel is written with `?` placeholders; [`Dialect::sql`] rewrites them to
/// `$1, $2, ...` for PostgreSQL.
///
/// ```
/// use keel_db::{Dialect, Engine};
///
/// let pg = Dialect::new(Engine::Postgres);
/// assert_eq!(pg.sql("SELECT v FROM kv WHERE k = ? AND v <> '?'").as_str(),
///            "SELECT v FROM kv WHERE k = $1 AND v <> '?'");
/// let upsert = Dialect::new(Engine::Mysql).upsert("kv", &["k", "v"], &["k"], &["v"]).unwrap();
/// assert_eq!(upsert.as_str(),
///            "INSERT INTO `kv` (`k`, `v`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    engine: Engine,
    mariadb: bool,
    version: String,
    numeric_version: (u32, u32, u32),
}

/// The longest identifier accepted everywhere (PostgreSQL truncates at 63 bytes, MySQL at 64).
pub const MAX_IDENTIFIER_LEN: usize = 63;

impl Dialect {
    /// The dialect of `engine` with the newest features assumed (a live [`crate::Db`] knows the
    /// real server version: use `db.dialect()`).
    pub fn new(engine: Engine) -> Self {
        Dialect {
            engine,
            mariadb: false,
            version: String::new(),
            numeric_version: (u32::MAX, 0, 0),
        }
    }

    /// The dialect of a server that reported `version` (`SELECT version()` and friends).
    pub fn for_server(engine: Engine, version: &str) -> Self {
        Dialect {
            engine,
            mariadb: engine == Engine::Mysql && version.to_ascii_lowercase().contains("mariadb"),
            version: version.to_owned(),
            numeric_version: parse_version(version),
        }
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// True for MariaDB (which speaks the MySQL protocol but differs in features).
    pub fn is_mariadb(&self) -> bool {
        self.mariadb
    }

    /// The server's version string as it reported it (empty for [`Dialect::new`]).
    pub fn server_version(&self) -> &str {
        &self.version
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.numeric_version.0, self.numeric_version.1) >= (major, minor)
    }

    /// The placeholder for the `n`-th (1-based) bind parameter.
    pub fn placeholder(&self, n: usize) -> String {
        match self.engine {
            Engine::Postgres => format!("${n}"),
            Engine::Mysql | Engine::Sqlite => "?".to_owned(),
        }
    }

    /// Portable SQL (with `?` placeholders) in this dialect. `?` inside string literals,
    /// quoted identifiers and comments is left alone.
    pub fn sql(&self, portable: &'static str) -> Sql {
        Sql(self.rewrite_placeholders(portable))
    }

    /// Like [`Dialect::sql`], with every `{table}` in the template replaced by `table`, quoted
    /// (for sharded or per-tenant tables such as `orders_03`).
    pub fn sql_for_table(&self, template: &'static str, table: &str) -> Result<Sql> {
        let quoted = self.quote_ident(table)?;
        Ok(Sql(self.rewrite_placeholders(
            &template.replace("{table}", &quoted),
        )))
    }

    fn rewrite_placeholders(&self, sql: &str) -> String {
        if self.engine != Engine::Postgres {
            return sql.to_owned();
        }
        rewrite_question_marks(sql)
    }

    /// `ident` quoted for this dialect (`"name"` or `` `name` ``). Identifiers are restricted
    /// to `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_IDENTIFIER_LEN`] bytes, so that quoting can
    /// never be escaped and the same name works on every engine.
    pub fn quote_ident(&self, ident: &str) -> Result<String> {
        validate_identifier(ident)?;
        Ok(match self.engine {
            Engine::Mysql => format!("`{ident}`"),
            Engine::Postgres | Engine::Sqlite => format!("\"{ident}\""),
        })
    }

    fn quote_list(&self, idents: &[&str]) -> Result<Vec<String>> {
        idents.iter().map(|i| self.quote_ident(i)).collect()
    }

    fn placeholders(&self, count: usize) -> String {
        (1..=count)
            .map(|n| self.placeholder(n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `INSERT INTO table (columns) VALUES (...)`, with `RETURNING returning` appended when
    /// the server supports it (see [`crate::Db::insert_returning_id`], which reads the id
    /// either way).
    pub fn insert(&self, table: &str, columns: &[&str], returning: Option<&str>) -> Result<Sql> {
        if columns.is_empty() {
            return Err(Error::InvalidConfig(
                "an INSERT needs at least one column".into(),
            ));
        }
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.quote_ident(table)?,
            self.quote_list(columns)?.join(", "),
            self.placeholders(columns.len())
        );
        if let Some(column) = returning {
            let column = self.quote_ident(column)?;
            if self.supports_returning(ReturningFor::Insert) {
                sql.push_str(" RETURNING ");
                sql.push_str(&column);
            }
        }
        Ok(Sql(sql))
    }

    /// Insert-or-update in one statement: a row is inserted with `columns`; when it collides on
    /// the unique key `conflict`, the `update` columns take the new values. With `update`
    /// empty the existing row is kept unchanged ("insert if absent").
    ///
    /// PostgreSQL and SQLite use `ON CONFLICT (...) DO UPDATE SET c = excluded.c`; MySQL and
    /// MariaDB `ON DUPLICATE KEY UPDATE c = VALUES(c)` (MySQL applies it to whichever unique
    /// key collides, so give such tables a single unique key). Affected-row counts differ: MySQL
    /// reports 2 for an update and 0 for an unchanged row.
    pub fn upsert(
        &self,
        table: &str,
        columns: &[&str],
        conflict: &[&str],
        update: &[&str],
    ) -> Result<Sql> {
        if conflict.is_empty() {
            return Err(Error::InvalidConfig(
                "an upsert needs the columns of the unique key it may collide on".into(),
            ));
        }
        for c in conflict.iter().chain(update) {
            if !columns.contains(c) {
                return Err(Error::InvalidConfig(format!(
                    "upsert column {c:?} is not among the inserted columns {columns:?}"
                )));
            }
        }
        let insert = self.insert(table, columns, None)?;
        let update_q = self.quote_list(update)?;
        let tail = match self.engine {
            Engine::Postgres | Engine::Sqlite => {
                let target = self.quote_list(conflict)?.join(", ");
                if update_q.is_empty() {
                    format!(" ON CONFLICT ({target}) DO NOTHING")
                } else {
                    let sets: Vec<String> = update_q
                        .iter()
                        .map(|c| format!("{c} = excluded.{c}"))
                        .collect();
                    format!(" ON CONFLICT ({target}) DO UPDATE SET {}", sets.join(", "))
                }
            }
            Engine::Mysql => {
                if update_q.is_empty() {
                    // A no-op assignment rather than INSERT IGNORE, which would also swallow
                    // unrelated errors (bad values, foreign keys) as warnings.
                    let key = self.quote_ident(conflict[0])?;
                    format!(" ON DUPLICATE KEY UPDATE {key} = {key}")
                } else {
                    let sets: Vec<String> = update_q
                        .iter()
                        .map(|c| format!("{c} = VALUES({c})"))
                        .collect();
                    format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
                }
            }
        };
        Ok(Sql(insert.0 + &tail))
    }

    /// Whether `RETURNING` works on this kind of statement: always on PostgreSQL, on SQLite
    /// 3.35+, on MariaDB 10.5+ for INSERT and DELETE only, never on MySQL.
    pub fn supports_returning(&self, statement: ReturningFor) -> bool {
        match self.engine {
            Engine::Postgres => true,
            Engine::Sqlite => self.at_least(3, 35),
            Engine::Mysql => {
                self.mariadb && statement != ReturningFor::Update && self.at_least(10, 5)
            }
        }
    }

    /// A SQL expression for the current time as a BIGINT of Unix milliseconds (the portable way
    /// keel stores times: the `Any` driver has no timestamp types).
    pub fn now_millis(&self) -> &'static str {
        match self.engine {
            Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Engine::Mysql => "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)",
            Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        }
    }

    /// The clause that locks selected rows until the transaction ends: ` FOR UPDATE`, or empty
    /// on SQLite, where the transaction already holds the database's write lock (keel begins
    /// SQLite transactions with `BEGIN IMMEDIATE`).
    pub fn for_update(&self) -> &'static str {
        match self.engine {
            Engine::Postgres | Engine::Mysql => " FOR UPDATE",
            Engine::Sqlite => "",
        }
    }

    /// Column DDL for a 64-bit auto-increment primary key.
    pub fn auto_id_column(&self) -> &'static str {
        match self.engine {
            Engine::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            Engine::Mysql => "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            // INTEGER PRIMARY KEY is SQLite's 64-bit rowid; AUTOINCREMENT never reuses ids.
            Engine::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        }
    }

    /// The statement that opens a transaction. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with
    /// "database is locked" when another writer got in between, whatever the busy timeout.
    pub(crate) fn begin_statement(&self) -> Option<&'static str> {
        match self.engine {
            Engine::Sqlite => Some("BEGIN IMMEDIATE"),
            Engine::Postgres | Engine::Mysql => None,
        }
    }

    /// A query counting tables named by the one bind parameter in the current database/schema.
    pub fn table_exists(&self) -> Sql {
        Sql(match self.engine {
            Engine::Postgres => "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
                .to_owned(),
            Engine::Mysql => "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?"
                .to_owned(),
            Engine::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?".to_owned()
            }
        })
    }

    /// The query that reports the server version.
    pub(crate) fn version_query(engine: Engine) -> &'static str {
        match engine {
            Engine::Postgres => "SHOW server_version",
            Engine::Mysql => "SELECT VERSION()",
            Engine::Sqlite => "SELECT sqlite_version()",
        }
    }
}

/// Checks that `ident` is a plain identifier (see [`Dialect::quote_ident`]).
pub fn validate_identifier(ident: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidIdentifier {
            ident: ident.to_owned(),
            reason,
        })
    };
    let mut chars = ident.chars();
    match chars.next() {
        None => return invalid("it is empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return invalid("it must start with a letter or '_'");
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return invalid("only ASCII letters, digits and '_' are allowed");
    }
    if ident.len() > MAX_IDENTIFIER_LEN {
        return invalid("it is longer than 63 bytes");
    }
    Ok(())
}

/// `?` → `$1, $2, ...` outside string literals, quoted identifiers and comments.
fn rewrite_question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                // Copy up to the closing quote; a doubled quote is an escaped one and simply
                // closes and reopens, which copying char by char handles.
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut prev = '\0';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// `"15.4 (Debian ...)"`, `"10.11.6-MariaDB-0+deb12u1"`, `"3.45.1"` → (major, minor, patch).
fn parse_version(version: &str) -> (u32, u32, u32) {
    let digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = digits.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals_and_comments() {
        let pg = Dialect::new(Engine::Postgres);
        assert_eq!(
            pg.sql("SELECT '?', \"a?\", x FROM t -- ?\nWHERE a = ? /* ? */ AND b = ?")
                .as_str(),
            "SELECT '?', \"a?\", x FROM t -- ?\nWHERE a = $1 /* ? */ AND b = $2"
        );
        assert_eq!(
            pg.sql("SELECT 'it''s ?' , ?").as_str(),
            "SELECT 'it''s ?' , $1"
        );
        let my = Dialect::new(Engine::Mysql);
        assert_eq!(my.sql("SELECT ? , ?").as_str(), "SELECT ? , ?");
        assert_eq!(pg.placeholder(3), "$3");
        assert_eq!(Dialect::new(Engine::Sqlite).placeholder(3), "?");
    }

    #[test]
    fn identifiers_are_validated_and_quoted() {
        assert_eq!(
            Dialect::new(Engine::Postgres)
                .quote_ident("orders_03")
                .unwrap(),
            "\"orders_03\""
        );
        assert_eq!(
            Dialect::new(Engine::Mysql)
                .quote_ident("orders_03")
                .unwrap(),
            "`orders_03`"
        );
        for bad in ["", "1abc", "a-b", "a\"b", "a`b", "a b", &"x".repeat(64)] {
            assert!(
                matches!(
                    Dialect::new(Engine::Sqlite).quote_ident(bad),
                    Err(Error::InvalidIdentifier { .. })
                ),
                "{bad:?}"
            );
        }
        let sql = Dialect::new(Engine::Postgres)
            .sql_for_table("SELECT * FROM {table} WHERE id = ?", "orders_03")
            .unwrap();
        assert_eq!(sql.as_str(), "SELECT * FROM \"orders_03\" WHERE id = $1");
    }

    #[test]
    fn upserts_per_engine() {
        let cols = ["k", "v", "n"];
        assert_eq!(
            Dialect::new(Engine::Postgres)
                .upsert("kv", &cols, &["k"], &["v", "n"])
                .unwrap()
                .as_str(),
            "INSERT INTO \"kv\" (\"k\", \"v\", \"n\") VALUES ($1, $2, $3) \
             ON CONFLICT (\"k\") DO UPDATE SET \"v\" = excluded.\"v\", \"n\" = excluded.\"n\""
        );
        assert_eq!(
            Dialect::new(Engine::Sqlite)
                .upsert("kv", &cols, &["k"], &[])
                .unwrap()
                .as_str(),
            "INSERT INTO \"kv\" (\"k\", \"v\", \"n\") VALUES (?, ?, ?) ON CONFLICT (\"k\") DO NOTHING"
        );
        assert_eq!(
            Dialect::new(Engine::Mysql)
                .upsert("kv", &cols, &["k"], &[])
                .unwrap()
                .as_str(),
            "INSERT INTO `kv` (`k`, `v`, `n`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `k` = `k`"
        );
        assert!(
            Dialect::new(Engine::Mysql)
                .upsert("kv", &cols, &["zz"], &[])
                .is_err()
        );
        assert!(
            Dialect::new(Engine::Mysql)
                .upsert("kv", &cols, &[], &["v"])
                .is_err()
        );
    }

    #[test]
    fn returning_depends_on_engine_flavour_and_version() {
        let maria = Dialect::for_server(Engine::Mysql, "10.11.6-MariaDB-0+deb12u1");
        assert!(maria.is_mariadb());
        assert!(maria.supports_returning(ReturningFor::Insert));
        assert!(maria.supports_returning(ReturningFor::Delete));
        assert!(!maria.supports_returning(ReturningFor::Update));
        let old_maria = Dialect::for_server(Engine::Mysql, "10.4.2-MariaDB");
        assert!(!old_maria.supports_returning(ReturningFor::Insert));
        let mysql = Dialect::for_server(Engine::Mysql, "8.0.36");
        assert!(!mysql.is_mariadb());
        assert!(!mysql.supports_returning(ReturningFor::Insert));
        assert!(
            Dialect::for_server(Engine::Postgres, "15.4 (Debian 15.4-1)")
                .supports_returning(ReturningFor::Update)
        );
        assert!(
            !Dialect::for_server(Engine::Sqlite, "3.31.1").supports_returning(ReturningFor::Insert)
        );
        assert!(
            Dialect::for_server(Engine::Sqlite, "3.45.1").supports_returning(ReturningFor::Insert)
        );
        let insert = maria.insert("users", &["name"], Some("id")).unwrap();
        assert_eq!(
            insert.as_str(),
            "INSERT INTO `users` (`name`) VALUES (?) RETURNING `id`"
        );
        let insert = mysql.insert("users", &["name"], Some("id")).unwrap();
        assert_eq!(insert.as_str(), "INSERT INTO `users` (`name`) VALUES (?)");
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("15.4 (Debian 15.4-1.pgdg120+1)"), (15, 4, 0));
        assert_eq!(parse_version("10.11.6-MariaDB-0+deb12u1"), (10, 11, 6));
        assert_eq!(parse_version("garbage"), (0, 0, 0));
    }
}
