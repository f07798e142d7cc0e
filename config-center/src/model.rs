//! The resources of the configuration center and the rules their names follow.
//!
//! Every resource lives in an environment (`/api/v1/envs/{env}/...`): an app, its clusters
//! (`default` is created with the app), their namespaces (`application` is created with the
//! app), the namespace's items (the working copy) and its releases (immutable snapshots that
//! clients read). Times are Unix milliseconds.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The cluster every app has.
pub const DEFAULT_CLUSTER: &str = "default";
/// The namespace every app has (in its `default` cluster).
pub const DEFAULT_NAMESPACE: &str = "application";
/// The one item of a namespace whose format is not `properties`.
pub const CONTENT_KEY: &str = "content";
/// Longest name of an env, app, cluster or namespace.
pub const MAX_NAME_LEN: usize = 64;
/// Longest item key.
pub const MAX_KEY_LEN: usize = 128;
/// Largest item value (and namespace content).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Checks a name against `[A-Za-z0-9._-]{1,64}`; `what` names it in the message.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    // `.` and `..` would be path segments, not names (and clients write files named after them).
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} name {name:?} must be 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '.', '_' or '-' (and not . or ..)"
        )))
    }
}

/// How a namespace's configuration is written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Key/value items.
    #[default]
    Properties,
    /// One JSON document (item `content`).
    Json,
    /// One YAML document (item `content`).
    Yaml,
    /// One XML document (item `content`).
    Xml,
    /// Free text (item `content`).
    Text,
}

impl Format {
    /// The name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Properties => "properties",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Xml => "xml",
            Format::Text => "text",
        }
    }

    /// Parses a stored or requested format name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "properties" => Format::Properties,
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            "xml" => Format::Xml,
            "text" => Format::Text,
            other => {
                return Err(Error::Invalid(format!(
                    "format {other:?} is not one of properties, json, yaml, xml, text"
                )));
            }
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a cluster is: env and app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterId {
    /// The environment.
    pub env: String,
    /// The app.
    pub app: String,
    /// The cluster.
    pub cluster: String,
}

/// Where a namespace is: env, app and cluster.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct NamespaceId {
    /// The environment.
    pub env: String,
    /// The app.
    pub app: String,
    /// The cluster.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
}

impl fmt::Display for NamespaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.env, self.app, self.cluster, self.namespace
        )
    }
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct App {
    /// The environment it lives in.
    pub env: String,
    /// Its name, unique in the env.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Who owns it (free text: a team, an email).
    pub owner: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
    /// When it was last changed (Unix ms).
    pub updated_at: i64,
    /// Who changed it last.
    pub updated_by: String,
}

/// What creating an app takes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewApp {
    /// The name (`[A-Za-z0-9._-]{1,64}`).
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Who owns it.
    #[serde(default)]
    pub owner: String,
}

/// What updating an app may change (fields left out stay).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppUpdate {
    /// A new description.
    pub description: Option<String>,
    /// A new owner.
    pub owner: Option<String>,
}

/// A cluster of an app (a data centre, a group of instances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cluster {
    /// The environment.
    pub env: String,
    /// The app.
    pub app: String,
    /// The name.
    pub name: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

/// A namespace: one configuration file of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Namespace {
    /// The environment.
    pub env: String,
    /// The app.
    pub app: String,
    /// The cluster.
    pub cluster: String,
    /// The name.
    pub name: String,
    /// How its configuration is written.
    pub format: Format,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

/// One key of a namespace's working copy (not visible to clients until released).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Free text.
    pub comment: String,
    /// Starts at 1 and grows by one per update; send it back to update only that version.
    pub version: i64,
    /// When it was last changed (Unix ms).
    pub updated_at: i64,
    /// Who changed it last.
    pub updated_by: String,
}

/// A write of one item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemWrite {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// Optimistic locking: update only if the item is at this version (0 = must not exist).
    #[serde(default)]
    pub version: Option<i64>,
}

/// An immutable snapshot of a namespace's items, as clients read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Release {
    /// Unique and opaque; clients send it back to ask what changed.
    pub release_key: String,
    /// The namespace.
    pub namespace: NamespaceId,
    /// A name given by whoever released.
    pub name: String,
    /// Free text.
    pub comment: String,
    /// Key → value, as released.
    pub configs: BTreeMap<String, String>,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// Who made it.
    pub created_by: String,
    /// For a rollback: the release whose configuration this one restores.
    pub rolled_back_from: Option<String>,
    /// For a release published as one text document (through the Nacos API) whose text
    /// `configs` does not hold byte for byte (a properties file: comments, order, escapes):
    /// that text. Text clients are served it; native clients read `configs`, what it parses to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_content: Option<String>,
    /// The type a document was declared as when published (`properties`, `json`, `html`, ...);
    /// `None` for releases of the working copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// Who gets a gray release: clients whose IP is listed (exactly, or inside a CIDR range such as
/// `10.1.0.0/16`) or who carry one of the labels. At least one rule is needed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrayRules {
    /// Client IPs or CIDR ranges.
    #[serde(default)]
    pub ips: Vec<String>,
    /// Client labels (what a client says it is: `canary`, `zone-a`).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Most entries in one rule list.
const MAX_GRAY_RULES: usize = 1_000;

impl GrayRules {
    /// Checks the rules, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.ips.is_empty() && self.labels.is_empty() {
            return Err(Error::Invalid(
                "a gray release needs rules: \"ips\" (addresses or CIDR ranges) and/or \"labels\""
                    .into(),
            ));
        }
        if self.ips.len() > MAX_GRAY_RULES || self.labels.len() > MAX_GRAY_RULES {
            return Err(Error::Invalid(format!(
                "at most {MAX_GRAY_RULES} ips and {MAX_GRAY_RULES} labels per gray release"
            )));
        }
        for ip in &self.ips {
            if parse_range(ip).is_none() {
                return Err(Error::Invalid(format!(
                    "gray rule ip {ip:?} is not an IP address or a CIDR range like 10.0.0.0/8"
                )));
            }
        }
        for label in &self.labels {
            validate_name("label", label)?;
        }
        Ok(())
    }

    /// Whether a client with `ip` (if known) and `labels` gets the gray release.
    pub fn matches(&self, ip: Option<IpAddr>, labels: &[String]) -> bool {
        let by_ip = ip.is_some_and(|ip| {
            self.ips
                .iter()
                .filter_map(|rule| parse_range(rule))
                .any(|(net, bits)| in_range(ip, net, bits))
        });
        by_ip || labels.iter().any(|l| self.labels.contains(l))
    }
}

/// `a.b.c.d`, `a.b.c.d/n`, or the IPv6 forms, as (network, prefix length).
fn parse_range(rule: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match rule.split_once('/') {
        Some((addr, bits)) => (addr.parse::<IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
        None => (rule.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            (u128::from(u32::from(ip)), u128::from(u32::from(net)), 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => (u128::from(ip), u128::from(net), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    if shift >= 128 {
        return true;
    }
    (ip >> shift) == (net >> shift)
}

/// A gray release: a snapshot served only to the clients its rules match, until it is merged
/// (it becomes a normal release) or abandoned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrayRelease {
    /// The snapshot (its `release_key` is what matching clients hold).
    pub release: Release,
    /// Who gets it.
    pub rules: GrayRules,
}

/// One audited write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Increasing id.
    pub id: i64,
    /// When (Unix ms).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What: `item.put`, `item.delete`, `release.create`, `release.rollback`, ...
    pub action: String,
    /// The item key or release key it concerns.
    pub target: String,
    /// Details (old and new values, release name), as JSON.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Which page of a list: `page` counts from 1, `size` is at most 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// The page, from 1.
    pub page: u32,
    /// Entries per page, 1 to 500.
    pub size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { page: 1, size: 20 }
    }
}

impl PageRequest {
    /// Largest page size.
    pub const MAX_SIZE: u32 = 500;

    /// Checks the bounds.
    pub fn validate(&self) -> Result<()> {
        if self.page == 0 || self.size == 0 || self.size > Self::MAX_SIZE {
            return Err(Error::Invalid(format!(
                "page must be at least 1 and size between 1 and {}; got page={} size={}",
                Self::MAX_SIZE,
                self.page,
                self.size
            )));
        }
        Ok(())
    }

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.size)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The entries of this page.
    pub items: Vec<T>,
    /// Entries in all pages.
    pub total: u64,
    /// This page's number.
    pub page: u32,
    /// The page size asked for.
    pub size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["a", "order-service", "v1.2_x", &"a".repeat(64)] {
            validate_name("app", ok).unwrap();
        }
        for bad in ["", "a b", "a/b", "é", ".", "..", &"a".repeat(65)] {
            let err = validate_name("app", bad).unwrap_err().to_string();
            assert!(err.contains("app name"), "{err}");
        }
    }

    #[test]
    fn gray_rules_match_ips_ranges_and_labels() {
        let rules = GrayRules {
            ips: vec![
                "10.1.0.0/16".into(),
                "192.168.1.7".into(),
                "fd00::/8".into(),
            ],
            labels: vec!["canary".into()],
        };
        rules.validate().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(rules.matches(ip("10.1.200.3"), &[]));
        assert!(!rules.matches(ip("10.2.0.1"), &[]));
        assert!(rules.matches(ip("192.168.1.7"), &[]));
        assert!(!rules.matches(ip("192.168.1.8"), &[]));
        assert!(rules.matches(ip("fd12::1"), &[]));
        assert!(rules.matches(None, &["canary".into()]));
        assert!(!rules.matches(None, &["stable".into()]));
        assert!(
            GrayRules {
                ips: vec!["0.0.0.0/0".into()],
                labels: vec![]
            }
            .matches(ip("8.8.8.8"), &[])
        );
        assert!(GrayRules::default().validate().is_err());
        let bad = GrayRules {
            ips: vec!["10.0.0.0/33".into()],
            labels: vec![],
        };
        assert!(bad.validate().unwrap_err().to_string().contains("CIDR"));
    }

    #[test]
    fn formats_round_trip() {
        for f in [
            Format::Properties,
            Format::Json,
            Format::Yaml,
            Format::Xml,
            Format::Text,
        ] {
            assert_eq!(Format::parse(f.as_str()).unwrap(), f);
        }
        assert!(Format::parse("ini").is_err());
    }
}
