//! The registry's resources — tenants, groups, services, instances — and the rules their names
//! and fields follow. Times are Unix milliseconds; durations travel as humantime strings
//! (`"5s"`, `"1m30s"`) or as integer milliseconds.

mod catalog;
mod health;
mod instance;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use catalog::{Group, GroupSettings, LoadBalance, Service, ServiceSettings};
pub use health::{CheckKind, HealthCheck, HealthStatus, defaults};
pub use instance::{
    Instance, InstanceStatus, InstanceView, NewInstance, instance_id, validate_host,
    validate_metadata, validate_port, validate_tags, validate_weight,
};

use crate::{Error, Result};

/// The tenant of a request without an `X-Tenant-Id` header.
pub const DEFAULT_TENANT: &str = "default";
/// The group of a service registered without `groupName`.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// Longest tenant, group or service name.
pub const MAX_NAME_LEN: usize = 128;
/// Most metadata entries on an instance or a service.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// Largest metadata (keys and values together) on an instance or a service, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Most tags on an instance.
pub const MAX_TAGS: usize = 32;
/// Largest weight an instance may have (0 takes it out of weighted choices).
pub const MAX_WEIGHT: f64 = 10_000.0;

/// Checks a tenant, group or service name against `[A-Za-z0-9._:-]{1,128}`; `what` names it.
///
/// `/` is excluded because names are segments of coord keys and URLs; `:` is allowed because
/// service names such as `providers:com.example.Api:1.0` are common in the Dubbo world.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {name:?} must be 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '.', '_', '-' or ':' (and not . or ..)"
        )))
    }
}

/// Where a service is: tenant, group and name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceId {
    /// The tenant (from `X-Tenant-Id`).
    pub tenant: String,
    /// The group.
    pub group: String,
    /// The service name.
    pub service: String,
}

impl ServiceId {
    /// A service id; not validated (see [`ServiceId::validate`]).
    pub fn new(
        tenant: impl Into<String>,
        group: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        ServiceId {
            tenant: tenant.into(),
            group: group.into(),
            service: service.into(),
        }
    }

    /// Checks the three names.
    pub fn validate(&self) -> Result<()> {
        validate_name("tenant", &self.tenant)?;
        validate_name("groupName", &self.group)?;
        validate_name("serviceName", &self.service)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.group, self.service)
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The entries of this page.
    pub items: Vec<T>,
    /// How many entries there are in all.
    pub total: u64,
    /// The page number, from 1.
    pub page: u32,
    /// The page size.
    pub size: u32,
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    #[test]
    fn instance_ids_are_stable_and_distinct() {
        let s = ServiceId::new("t", "g", "orders");
        assert_eq!(
            instance_id(&s, "10.0.0.1", 80),
            instance_id(&s, "10.0.0.1", 80)
        );
        assert_ne!(
            instance_id(&s, "10.0.0.1", 80),
            instance_id(&s, "10.0.0.1", 81)
        );
        let other_tenant = ServiceId::new("u", "g", "orders");
        assert_ne!(
            instance_id(&s, "10.0.0.1", 80),
            instance_id(&other_tenant, "10.0.0.1", 80)
        );
        assert_eq!(instance_id(&s, "h", 1).len(), 32);
        // Ids are stored: they must never change. (Python's uuid.uuid5 of the same name.)
        assert_eq!(
            instance_id(&s, "10.0.0.1", 8080),
            "d15f092e6b825bbeb4f80b78e45f6712"
        );
    }

    #[test]
    fn durations_accept_text_and_millis() {
        let h: HealthCheck =
            serde_json::from_str(r#"{"type":"ttl","interval":"2s","deleteTimeout":40000}"#)
                .unwrap();
        assert_eq!(h.interval(), Duration::from_secs(2));
        assert_eq!(h.delete_timeout(), Duration::from_secs(40));
        assert_eq!(h.unhealthy_timeout(), defaults::UNHEALTHY_TIMEOUT);
        let err =
            serde_json::from_str::<HealthCheck>(r#"{"type":"ttl","interval":"soon"}"#).unwrap_err();
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }

    #[test]
    fn bad_fields_say_what_to_fix() {
        assert!(validate_port(0).is_err());
        assert!(validate_port(65536).is_err());
        assert_eq!(validate_port(8080).unwrap(), 8080);
        assert!(validate_weight(-1.0).is_err());
        assert!(validate_weight(f64::NAN).is_err());
        assert!(validate_host("a b").is_err());
        assert!(validate_host("10.0.0.1").is_ok());
        assert!(validate_host("fe80::1").is_ok());
        assert!(validate_name("serviceName", "a/b").is_err());
        assert!(validate_name("serviceName", "providers:com.x.Api:1.0").is_ok());
        let big: BTreeMap<String, String> =
            (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert!(validate_metadata(&big).is_err());
        assert!(HealthCheck::of(CheckKind::Ttl).validate(false).is_err());
        let mut h = HealthCheck::of(CheckKind::Ttl);
        h.delete_timeout = Some(Duration::from_secs(5));
        assert!(
            h.validate(true)
                .unwrap_err()
                .to_string()
                .contains("deleteTimeout")
        );
    }
}
