//! What an operator may choose about the Nacos API.

use std::time::Duration;

/// Settings of the Nacos API.
///
/// Build it from [`NacosSettings::default`] and change the fields you need (the struct may
/// grow, e.g. when auth can be turned on).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NacosSettings {
    /// The keel registry tenant that Nacos's public namespace (`namespaceId` empty or
    /// `public`) maps to. Default `default`, keel's own default tenant, so services registered
    /// natively without `X-Tenant-Id` are visible to Nacos clients and the other way round.
    /// A Nacos request naming this tenant literally as its `namespaceId` is refused, because it
    /// would silently share the public namespace.
    pub public_tenant: String,
    /// The lifetime a login answer announces (`tokenTtl`); clients log in again before it
    /// passes. Default 18000 s, Nacos's.
    pub token_ttl: Duration,
}

impl Default for NacosSettings {
    fn default() -> Self {
        NacosSettings {
            public_tenant: keel_registry::DEFAULT_TENANT.to_owned(),
            token_ttl: Duration::from_secs(18_000),
        }
    }
}
