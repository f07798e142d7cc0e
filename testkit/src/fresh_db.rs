//! A database of its own for one test on a shared PostgreSQL or MySQL/MariaDB server, dropped
//! afterwards, so tests of every crate can run in parallel on the machine's one server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use keel_db::sqlx::AssertSqlSafe;
use keel_db::{Config, Db, Engine, Options};

use crate::Namespace;

/// A database created for one test, and the future that drops it.
pub struct FreshDatabase {
    /// The provider on the new database.
    pub db: Arc<Db>,
    /// Its URL.
    pub url: String,
    /// Closes the provider, drops the database (best effort) and closes the admin connection.
    pub cleanup: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for FreshDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshDatabase")
            .field("url", &keel_db::redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// `url` with its database name replaced by `database`.
///
/// # Panics
/// When `url` is not a URL (test setup).
pub fn with_database(url: &str, database: &str) -> String {
    // Only the path changes, and `database` is a `Namespace` name ([a-z0-9_]).
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Creates `kt_<case>_<random>` on the server of `admin_url` and opens it with `config`
/// (called with the admin URL, then with the new database's URL).
///
/// # Panics
/// When the server cannot be reached or refuses: a test's setup failing is a test failure.
pub async fn fresh_database(
    admin_url: &str,
    case: &str,
    config: impl Fn(&str) -> Config,
) -> FreshDatabase {
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
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

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn only_the_database_name_changes() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/keel?sslmode=disable", "kt_a"),
            "postgres://u:p@127.0.0.1:5432/kt_a?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "kt_b"),
            "mysql://root@127.0.0.1:3306/kt_b"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "kt_c"),
            "mysql://root@127.0.0.1:3306/kt_c"
        );
    }
}
