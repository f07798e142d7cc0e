//! How an instance's health is decided: the check kinds, their timings and defaults, and the
//! health an instance has.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How the registry decides whether an instance is healthy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// The instance sends heartbeats; missing them makes it unhealthy, then removes it
    /// (ephemeral instances only).
    #[default]
    Ttl,
    /// The registry GETs `http://host:port{path}`; a 2xx answer is healthy.
    Http,
    /// The registry opens a TCP connection to `host:port`; connecting is healthy.
    Tcp,
    /// Nothing checks it; health changes only through `PUT /instances/{id}/health`.
    None,
}

impl CheckKind {
    /// The name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Ttl => "ttl",
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::None => "none",
        }
    }

    /// Whether the registry probes the instance itself.
    pub fn is_active(self) -> bool {
        matches!(self, CheckKind::Http | CheckKind::Tcp)
    }
}

/// Defaults of [`HealthCheck`].
pub mod defaults {
    use std::time::Duration;

    /// Heartbeat interval told to ephemeral instances.
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
    /// No heartbeat for this long → UNHEALTHY.
    pub const UNHEALTHY_TIMEOUT: Duration = Duration::from_secs(15);
    /// No heartbeat for this long → removed.
    pub const DELETE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Interval between active probes.
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);
    /// How long one active probe may take.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
    /// Path an HTTP probe GETs.
    pub const PROBE_PATH: &str = "/health";
}

/// How an instance's health is decided, with its timings.
///
/// For `ttl`, `interval` is the heartbeat interval told to the client, and
/// `unhealthyTimeout`/`deleteTimeout` say when missed heartbeats make it UNHEALTHY and then
/// remove it. For `http`/`tcp`, `interval` and `timeout` pace the probes and `path` is what an
/// HTTP probe GETs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// `ttl` (default for ephemeral instances), `http`, `tcp` or `none` (default for
    /// persistent ones).
    #[serde(rename = "type")]
    pub kind: CheckKind,
    /// HTTP probe path (default `/health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Heartbeat or probe interval.
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "5s")]
    pub interval: Option<Duration>,
    /// Probe timeout.
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "2s")]
    pub timeout: Option<Duration>,
    /// Missed heartbeats for this long → UNHEALTHY (ttl only).
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "15s")]
    pub unhealthy_timeout: Option<Duration>,
    /// Missed heartbeats for this long → removed (ttl only).
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "30s")]
    pub delete_timeout: Option<Duration>,
}

impl HealthCheck {
    /// A check of this kind with every timing at its default.
    pub fn of(kind: CheckKind) -> Self {
        HealthCheck {
            kind,
            path: None,
            interval: None,
            timeout: None,
            unhealthy_timeout: None,
            delete_timeout: None,
        }
    }

    /// The heartbeat or probe interval in force.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(match self.kind {
            CheckKind::Ttl => defaults::HEARTBEAT_INTERVAL,
            _ => defaults::PROBE_INTERVAL,
        })
    }

    /// The probe timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(defaults::PROBE_TIMEOUT)
    }

    /// The HTTP probe path in force.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or(defaults::PROBE_PATH)
    }

    /// The unhealthy timeout in force.
    pub fn unhealthy_timeout(&self) -> Duration {
        self.unhealthy_timeout
            .unwrap_or(defaults::UNHEALTHY_TIMEOUT)
    }

    /// The delete timeout in force.
    pub fn delete_timeout(&self) -> Duration {
        self.delete_timeout.unwrap_or(defaults::DELETE_TIMEOUT)
    }

    /// Checks the timings and the path; `ephemeral` says what the instance is.
    pub fn validate(&self, ephemeral: bool) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.kind == CheckKind::Ttl && !ephemeral {
            return bad("healthCheck.type \"ttl\" needs an ephemeral instance: a persistent one is never expired, use http, tcp or none".into());
        }
        let within = |name: &str, d: Duration, min: Duration, max: Duration| {
            if d < min || d > max {
                Err(Error::Invalid(format!(
                    "healthCheck.{name} {} must be between {} and {}",
                    humantime::format_duration(d),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                )))
            } else {
                Ok(())
            }
        };
        let second = Duration::from_secs(1);
        let hour = Duration::from_secs(3600);
        within(
            "interval",
            self.interval(),
            Duration::from_millis(500),
            hour,
        )?;
        within(
            "timeout",
            self.timeout(),
            Duration::from_millis(10),
            Duration::from_secs(60),
        )?;
        // Leases are granted in whole seconds.
        within("unhealthyTimeout", self.unhealthy_timeout(), second, hour)?;
        within("deleteTimeout", self.delete_timeout(), second, 24 * hour)?;
        if self.kind == CheckKind::Ttl && self.delete_timeout() < self.unhealthy_timeout() {
            return bad(format!(
                "healthCheck.deleteTimeout {} must not be shorter than unhealthyTimeout {}",
                humantime::format_duration(self.delete_timeout()),
                humantime::format_duration(self.unhealthy_timeout())
            ));
        }
        if let Some(path) = &self.path
            && (!path.starts_with('/') || path.len() > 512 || path.bytes().any(|b| b <= b' '))
        {
            return bad(format!(
                "healthCheck.path {path:?} must start with '/', have no spaces and be at most 512 bytes"
            ));
        }
        Ok(())
    }
}

/// What the last health decision was.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    /// Healthy.
    #[default]
    Healthy,
    /// Unhealthy.
    Unhealthy,
}

impl HealthStatus {
    /// `Healthy` when `healthy`.
    pub fn from_bool(healthy: bool) -> Self {
        if healthy {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        }
    }
}

/// Serde for `Option<Duration>` as a humantime string, accepting integer milliseconds too.
pub(crate) mod duration_field {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Millis(ms)) => Ok(Some(Duration::from_millis(ms))),
            Some(Raw::Text(text)) => humantime::parse_duration(&text).map(Some).map_err(|e| {
                serde::de::Error::custom(format!(
                    "duration {text:?} is not valid ({e}); write it like \"5s\", \"1m30s\" or as milliseconds"
                ))
            }),
        }
    }
}
