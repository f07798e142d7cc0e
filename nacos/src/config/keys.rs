//! Nacos config keys onto keel's names: `tenant` → env, `group` → app, `dataId` → namespace
//! in the app's `default` cluster.
//!
//! Nacos allows `:` and longer names than keel's `[A-Za-z0-9._-]{1,64}`. A name that fits is
//! used as it is; any other gets a stable alias, `nx-` and 26 characters of the base32 of its
//! SHA-256, so it maps to the same keel name on every node without a lookup table.

use data_encoding::BASE32_NOPAD;
use keel_config_center::{DEFAULT_CLUSTER, NamespaceId, validate_name};
use sha2::{Digest, Sha256};

use crate::NacosSettings;
use crate::error::{NacosError, NacosResult};
use crate::params::Params;

/// Longest dataId Nacos accepts.
const MAX_DATA_ID: usize = 256;
/// Longest group Nacos accepts.
const MAX_GROUP: usize = 128;
/// Longest tenant (namespace id) Nacos accepts.
const MAX_TENANT: usize = 64;

/// A Nacos config resolved to keel's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigKey {
    /// Where it lives in keel.
    pub(crate) id: NamespaceId,
    /// The names as the client sent them (answers echo them).
    pub(crate) data_id: String,
    pub(crate) group: String,
    /// `""` for the public namespace.
    pub(crate) tenant: String,
}

/// Nacos 2.3's check of dataId and group: `[a-zA-Z0-9-_:.]`.
fn nacos_name_ok(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
}

/// The keel name of a Nacos name: itself when it fits keel's charset, else its alias.
pub(crate) fn keel_name(raw: &str) -> String {
    if validate_name("", raw).is_ok() {
        return raw.to_owned();
    }
    let digest = Sha256::digest(raw.as_bytes());
    let encoded = BASE32_NOPAD.encode(&digest).to_ascii_lowercase();
    format!("nx-{}", &encoded[..26])
}

/// The env of a tenant (`""` is the public namespace).
pub(crate) fn env_of(settings: &NacosSettings, tenant: &str) -> String {
    if tenant.is_empty() {
        settings.public_env.clone()
    } else {
        tenant.to_owned()
    }
}

/// `NamespaceUtil.processNamespaceParameter`: blank, `public` and `null` are the public
/// namespace (`""`); anything else must be `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn tenant(raw: Option<&str>) -> NacosResult<String> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() || raw.eq_ignore_ascii_case("public") || raw.eq_ignore_ascii_case("null") {
        return Ok(String::new());
    }
    if raw.len() > MAX_TENANT {
        return Err(NacosError::caused(format!(
            "too long tenant, over {MAX_TENANT}"
        )));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(NacosError::caused("invalid tenant"));
    }
    Ok(raw.to_owned())
}

/// A required config parameter: a missing one is the text Spring gives a missing
/// `@RequestParam` (with 400, not Nacos's 500: clients would take a 500 for a server outage).
fn required<'p>(params: &'p Params, name: &str) -> NacosResult<&'p str> {
    params.get(name).ok_or_else(|| {
        NacosError::caused(format!(
            "Required request parameter '{name}' for method parameter type String is not present"
        ))
    })
}

/// The config named by the request's `dataId`, `group` and `tenant`.
pub(crate) fn config_key(settings: &NacosSettings, params: &Params) -> NacosResult<ConfigKey> {
    let data_id = required(params, "dataId")?;
    let group = required(params, "group")?;
    let tenant = tenant(params.get("tenant"))?;
    resolve(settings, data_id, group, &tenant, &tenant)
}

/// A config named by its parts; `tenant` is normalized, `echo_tenant` what the client wrote.
pub(crate) fn resolve(
    settings: &NacosSettings,
    data_id: &str,
    group: &str,
    tenant: &str,
    echo_tenant: &str,
) -> NacosResult<ConfigKey> {
    if !nacos_name_ok(data_id, MAX_DATA_ID) {
        return Err(NacosError::illegal("dataId"));
    }
    if !nacos_name_ok(group, MAX_GROUP) {
        return Err(NacosError::illegal("group"));
    }
    Ok(ConfigKey {
        id: NamespaceId {
            env: env_of(settings, tenant),
            app: keel_name(group),
            cluster: DEFAULT_CLUSTER.to_owned(),
            namespace: keel_name(data_id),
        },
        data_id: data_id.to_owned(),
        group: group.to_owned(),
        tenant: echo_tenant.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_fit_are_kept_and_others_get_a_stable_alias() {
        assert_eq!(
            keel_name("application.properties"),
            "application.properties"
        );
        assert_eq!(keel_name("DEFAULT_GROUP"), "DEFAULT_GROUP");
        let alias = keel_name("providers:com.acme.Api:1.0");
        assert!(alias.starts_with("nx-") && alias.len() == 29, "{alias}");
        assert!(validate_name("", &alias).is_ok());
        assert_eq!(alias, keel_name("providers:com.acme.Api:1.0"));
        assert_ne!(alias, keel_name("providers:com.acme.Api:2.0"));
        assert!(keel_name(&"a".repeat(65)).starts_with("nx-"));
        assert!(keel_name("..").starts_with("nx-"));
    }

    #[test]
    fn tenants_and_names_are_checked_as_nacos_does() {
        assert_eq!(tenant(None).unwrap(), "");
        assert_eq!(tenant(Some("public")).unwrap(), "");
        assert_eq!(tenant(Some("NULL")).unwrap(), "");
        assert_eq!(tenant(Some("dev-1")).unwrap(), "dev-1");
        assert!(tenant(Some("a/b")).is_err());
        let settings = NacosSettings::default();
        let key = resolve(&settings, "d:1", "G", "", "").unwrap();
        assert_eq!(key.id.env, "public");
        assert_eq!(key.id.app, "G");
        assert!(key.id.namespace.starts_with("nx-"));
        assert!(resolve(&settings, "a b", "G", "", "").is_err());
        assert!(resolve(&settings, "d", "", "", "").is_err());
    }
}
