//! Which real services the tests may use, and what happens when one is missing.

use std::fmt;

/// A real service reachable over loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// etcd v3, `KEEL_TEST_ETCD` = `http://127.0.0.1:2379` (comma-separated endpoints allowed).
    Etcd,
    /// Redis, `KEEL_TEST_REDIS` = `redis://127.0.0.1:6379/`.
    Redis,
    /// PostgreSQL, `KEEL_TEST_POSTGRES` = `postgres://keel:keel@127.0.0.1:5432/keel?sslmode=disable`.
    Postgres,
    /// MySQL/MariaDB, `KEEL_TEST_MYSQL` = `mysql://keel:keel@127.0.0.1:3306/keel`.
    Mysql,
    /// A Kafka-API broker, `KEEL_TEST_KAFKA` = `127.0.0.1:9092`.
    Kafka,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 5] = [
        Backend::Etcd,
        Backend::Redis,
        Backend::Postgres,
        Backend::Mysql,
        Backend::Kafka,
    ];

    /// The environment variable holding the backend's URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Backend::Etcd => "KEEL_TEST_ETCD",
            Backend::Redis => "KEEL_TEST_REDIS",
            Backend::Postgres => "KEEL_TEST_POSTGRES",
            Backend::Mysql => "KEEL_TEST_MYSQL",
            Backend::Kafka => "KEEL_TEST_KAFKA",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Etcd => "etcd",
            Backend::Redis => "Redis",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL/MariaDB",
            Backend::Kafka => "Kafka",
        })
    }
}

/// True when running under CI (`CI=true` or `CI=1`).
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The URL of `backend`, or `None` (with a printed reason) when the test should skip.
///
/// # Panics
/// Under CI when the variable is missing or empty: a real-backend test must never skip there.
pub fn backend(backend: Backend) -> Option<String> {
    let var = backend.env_var();
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if is_ci() => panic!(
            "{var} is not set but CI=true: tests against {backend} must run in CI. \
             Start the services with `eval \"$(scripts/services.sh)\"` (scripts/test.sh does this)."
        ),
        _ => {
            eprintln!(
                "skipping: {var} is not set, so there is no {backend} to test against. \
                 Run `eval \"$(scripts/services.sh)\"` to start one."
            );
            None
        }
    }
}

/// `let url = require_backend!(Backend::Redis);` — the URL, or returns from the test (skip).
#[macro_export]
macro_rules! require_backend {
    ($backend:expr) => {
        match $crate::backend($backend) {
            Some(url) => url,
            None => return,
        }
    };
}
