//! The deployment environment every keel crate derives its default configuration from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Which defaults a component starts from: `Config::for_env(Env::Development)` is a
/// standalone, chatty setup for a laptop; `Env::Production` is distributed and quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// A developer machine or a test: standalone backends, human-readable logs at debug.
    #[default]
    Development,
    /// A deployment: distributed backends, JSON logs at info.
    Production,
}

/// Where a provider keeps its state. Every stateful keel crate has a `mode` in its `Config`;
/// `Config::for_env(Env::Development)` picks `Standalone`, `Env::Production` `Distributed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// In this process: no external service, the same semantics as the distributed backend.
    Standalone,
    /// On the real engine (etcd, Redis, Kafka, ...), shared by every process using it.
    Distributed,
}

impl Env {
    /// Reads the environment from `KEEL_ENV` (`development`/`dev` or `production`/`prod`);
    /// development when unset.
    pub fn from_process_env() -> Result<Self, Error> {
        match std::env::var("KEEL_ENV") {
            Ok(value) => value.parse(),
            Err(_) => Ok(Env::Development),
        }
    }

    /// The lowercase name used in config keys (`/config/{env}/...`).
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Development => "development",
            Env::Production => "production",
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Env {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Env::Development),
            "production" | "prod" => Ok(Env::Production),
            other => Err(Error::InvalidConfig(format!(
                "unknown environment {other:?}; use \"development\" or \"production\""
            ))),
        }
    }
}
