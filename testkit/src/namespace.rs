//! Unique names that keep parallel tests out of each other's data.

use std::fmt;

/// A name unique to one test run: `kt_<test>_<random>`, lowercase, `[a-z0-9_]`, at most 48
/// characters — valid as a key prefix, a PostgreSQL/MySQL database name and a Kafka topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// A fresh namespace for the test named `test`.
    pub fn new(test: &str) -> Self {
        let mut cleaned: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        cleaned.truncate(30);
        let suffix: u64 = rand::random();
        Namespace(format!("kt_{cleaned}_{:012x}", suffix & 0xffff_ffff_ffff))
    }

    /// The bare name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key prefix: `/<name>/`.
    pub fn key_prefix(&self) -> String {
        format!("/{}/", self.0)
    }

    /// A topic or table name derived from this namespace: `<name>_<suffix>`.
    pub fn child(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.0)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
