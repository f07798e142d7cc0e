//! [`Config`]: what to log, how, and where — with per-environment defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Env, Error, Result};

/// Line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One human-readable line per event.
    Console,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Output {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, rotated by size: when writing a line would take it past `max_bytes`, `app.log`
    /// becomes `app.log.1` (older ones shift to `.2`, `.3`, ...) and at most `keep` rotated
    /// files are kept.
    File {
        /// The live file.
        path: PathBuf,
        /// Size that triggers rotation, in bytes (at least 4096).
        max_bytes: u64,
        /// How many rotated files to keep (0 keeps none).
        keep: usize,
    },
}

/// Span export over OTLP/gRPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Collector endpoint, e.g. `http://127.0.0.1:4317`.
    pub endpoint: String,
    /// How long one export may take.
    #[serde(with = "humantime_serde", default = "default_otlp_timeout")]
    pub timeout: Duration,
}

fn default_otlp_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Static logging configuration. Change the level at run time through
/// [`crate::LevelHandle`], not by rebuilding this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The service name written on every line and used as the OpenTelemetry `service.name`.
    pub service: String,
    /// A level (`debug`) or filter directives (`info,keel_db=debug`).
    pub level: String,
    /// Line format.
    pub format: Format,
    /// Destination.
    pub output: Output,
    /// OpenTelemetry span export; off when `None`. Needs the `otlp` cargo feature.
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
}

impl Config {
    /// Development: console lines at `debug` on stderr. Production: JSON lines at `info` on
    /// stdout. Both name the service `keel` until told otherwise.
    pub fn for_env(env: Env) -> Self {
        match env {
            Env::Development => Config {
                service: "keel".into(),
                level: "debug".into(),
                format: Format::Console,
                output: Output::Stderr,
                otlp: None,
            },
            Env::Production => Config {
                service: "keel".into(),
                level: "info".into(),
                format: Format::Json,
                output: Output::Stdout,
                otlp: None,
            },
        }
    }

    /// The same config with another service name.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        if self.service.trim().is_empty() {
            return Err(Error::InvalidConfig(
                "service must not be empty; it is written on every log line".into(),
            ));
        }
        crate::level::parse_filter(&self.level)?;
        if let Output::File {
            path,
            max_bytes,
            keep,
        } = &self.output
        {
            if path.as_os_str().is_empty() {
                return Err(Error::InvalidConfig("output.path must not be empty".into()));
            }
            if *max_bytes < 4096 {
                return Err(Error::InvalidConfig(format!(
                    "output.max_bytes is {max_bytes}; use at least 4096 so a line fits in a file"
                )));
            }
            if *keep > 10_000 {
                return Err(Error::InvalidConfig(format!(
                    "output.keep is {keep}; keep at most 10000 rotated files"
                )));
            }
        }
        if let Some(otlp) = &self.otlp {
            if !(otlp.endpoint.starts_with("http://") || otlp.endpoint.starts_with("https://")) {
                return Err(Error::InvalidConfig(format!(
                    "otlp.endpoint {:?} must start with http:// or https://",
                    otlp.endpoint
                )));
            }
            if otlp.timeout.is_zero() {
                return Err(Error::InvalidConfig("otlp.timeout must be positive".into()));
            }
            if !cfg!(feature = "otlp") {
                return Err(Error::InvalidConfig(
                    "otlp is configured but keel-clog was built without its `otlp` feature".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_defaults_are_valid_and_differ() {
        let dev = Config::for_env(Env::Development);
        let prod = Config::for_env(Env::Production);
        dev.validate().unwrap();
        prod.validate().unwrap();
        assert_eq!(dev.format, Format::Console);
        assert_eq!(dev.level, "debug");
        assert_eq!(prod.format, Format::Json);
        assert_eq!(prod.level, "info");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut c = Config::for_env(Env::Production);
        c.level = "loud".into();
        assert!(c.validate().unwrap_err().to_string().contains("loud"));
        let mut c = Config::for_env(Env::Production);
        c.service = " ".into();
        assert!(c.validate().unwrap_err().to_string().contains("service"));
        let mut c = Config::for_env(Env::Production);
        c.output = Output::File {
            path: "x.log".into(),
            max_bytes: 10,
            keep: 1,
        };
        assert!(c.validate().unwrap_err().to_string().contains("max_bytes"));
        let mut c = Config::for_env(Env::Production);
        c.otlp = Some(OtlpConfig {
            endpoint: "127.0.0.1:4317".into(),
            timeout: Duration::from_secs(1),
        });
        assert!(c.validate().unwrap_err().to_string().contains("http://"));
    }

    #[test]
    fn deserializes_from_json_with_humantime() {
        let c: Config = serde_json::from_str(
            r#"{"service":"order","level":"info","format":"json",
                "output":{"kind":"file","path":"/tmp/o.log","max_bytes":1048576,"keep":3},
                "otlp":{"endpoint":"http://127.0.0.1:4317","timeout":"2s"}}"#,
        )
        .unwrap();
        assert_eq!(c.otlp.unwrap().timeout, Duration::from_secs(2));
    }
}
