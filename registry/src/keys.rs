//! Where the registry keeps its live state in keel-coord.
//!
//! ```text
//! /keel/registry/i/{tenant}/{group}/{service}/{id}  instance record (JSON); ephemeral ones are
//!                                                  attached to a lease of `deleteTimeout`
//! /keel/registry/b/{tenant}/{group}/{service}/{id}  heartbeat marker of a ttl-checked instance,
//!                                                  attached to a lease of `unhealthyTimeout`:
//!                                                  present = healthy
//! /keel/registry/s/{tenant}/{group}/{service}       service settings (JSON), mirrored from the database
//! /keel/registry/g/{tenant}/{group}                 group settings (JSON), mirrored from the database
//! ```
//!
//! Heartbeats renew both leases, so the store itself — etcd in a cluster — marks an instance
//! unhealthy and later removes it when they stop, whichever node accepted it and whether or
//! not that node still lives. Names cannot contain `/` (see
//! [`validate_name`](crate::validate_name)), so splitting a key on `/` is exact.

use crate::ServiceId;

/// The prefix every node watches.
pub(crate) const ROOT: &str = "/keel/registry/";

/// What a key under [`ROOT`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegistryKey {
    /// An instance record.
    Instance(ServiceId, String),
    /// A heartbeat marker.
    Beat(ServiceId, String),
    /// A service's settings.
    Service(ServiceId),
    /// A group's settings: tenant and group.
    Group(String, String),
}

pub(crate) fn instance_key(service: &ServiceId, id: &str) -> String {
    format!(
        "{ROOT}i/{}/{}/{}/{id}",
        service.tenant, service.group, service.service
    )
}

pub(crate) fn beat_key(service: &ServiceId, id: &str) -> String {
    format!(
        "{ROOT}b/{}/{}/{}/{id}",
        service.tenant, service.group, service.service
    )
}

pub(crate) fn service_key(service: &ServiceId) -> String {
    format!(
        "{ROOT}s/{}/{}/{}",
        service.tenant, service.group, service.service
    )
}

pub(crate) fn group_key(tenant: &str, group: &str) -> String {
    format!("{ROOT}g/{tenant}/{group}")
}

/// Reads a key back; `None` for anything else under the root (written by a newer version).
pub(crate) fn parse(key: &str) -> Option<RegistryKey> {
    let rest = key.strip_prefix(ROOT)?;
    let mut parts = rest.split('/');
    let kind = parts.next()?;
    let parts: Vec<&str> = parts.collect();
    let service = |p: &[&str]| ServiceId::new(p[0], p[1], p[2]);
    match (kind, parts.len()) {
        ("i", 4) => Some(RegistryKey::Instance(service(&parts), parts[3].to_owned())),
        ("b", 4) => Some(RegistryKey::Beat(service(&parts), parts[3].to_owned())),
        ("s", 3) => Some(RegistryKey::Service(service(&parts))),
        ("g", 2) => Some(RegistryKey::Group(parts[0].to_owned(), parts[1].to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let s = ServiceId::new("t", "g", "providers:a.B:1");
        assert_eq!(
            parse(&instance_key(&s, "abc")),
            Some(RegistryKey::Instance(s.clone(), "abc".into()))
        );
        assert_eq!(
            parse(&beat_key(&s, "abc")),
            Some(RegistryKey::Beat(s.clone(), "abc".into()))
        );
        assert_eq!(
            parse(&service_key(&s)),
            Some(RegistryKey::Service(s.clone()))
        );
        assert_eq!(
            parse(&group_key("t", "g")),
            Some(RegistryKey::Group("t".into(), "g".into()))
        );
        assert_eq!(parse("/keel/registry/x/1"), None);
        assert_eq!(parse("/other"), None);
    }
}
