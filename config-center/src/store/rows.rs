//! Table rows as read from the database, and their conversion into the crate's model types.
//! Rows decode by column name, so queries select these columns by name (`SELECT item_key, ...`).

use std::collections::BTreeMap;

use crate::{
    App, Cluster, Error, Format, HistoryEntry, Item, Namespace, NamespaceId, Release, Result,
};

/// A stored value that does not decode (written by something other than this store).
pub(super) fn corrupt(what: &str, err: impl std::fmt::Display) -> Error {
    Error::Storage(keel_db::Error::Decode(format!("{what}: {err}")))
}

/// A row of `cc_apps`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AppRow {
    pub(super) env: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) owner: String,
    pub(super) created_at: i64,
    pub(super) created_by: String,
    pub(super) updated_at: i64,
    pub(super) updated_by: String,
}

impl From<AppRow> for App {
    fn from(r: AppRow) -> Self {
        App {
            env: r.env,
            name: r.name,
            description: r.description,
            owner: r.owner,
            created_at: r.created_at,
            created_by: r.created_by,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

/// A row of `cc_clusters`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClusterRow {
    pub(super) name: String,
    pub(super) created_at: i64,
    pub(super) created_by: String,
}

impl ClusterRow {
    /// The model type, in app `app` of env `env`.
    pub(super) fn into_cluster(self, env: &str, app: &str) -> Cluster {
        Cluster {
            env: env.to_owned(),
            app: app.to_owned(),
            name: self.name,
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }
}

/// A row of `cc_namespaces`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct NamespaceRow {
    pub(super) name: String,
    pub(super) format: String,
    pub(super) created_at: i64,
    pub(super) created_by: String,
}

impl NamespaceRow {
    /// The model type, in cluster `cluster` of app `app` of env `env`.
    pub(super) fn into_namespace(self, env: &str, app: &str, cluster: &str) -> Result<Namespace> {
        Ok(Namespace {
            env: env.to_owned(),
            app: app.to_owned(),
            cluster: cluster.to_owned(),
            format: Format::parse(&self.format).map_err(|e| corrupt("namespace format", e))?,
            name: self.name,
            created_at: self.created_at,
            created_by: self.created_by,
        })
    }
}

/// A row of `cc_items`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ItemRow {
    pub(super) item_key: String,
    pub(super) item_value: String,
    pub(super) comment: String,
    pub(super) version: i64,
    pub(super) updated_at: i64,
    pub(super) updated_by: String,
}

impl From<ItemRow> for Item {
    fn from(r: ItemRow) -> Self {
        Item {
            key: r.item_key,
            value: r.item_value,
            comment: r.comment,
            version: r.version,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

/// A row of `cc_releases`; `configs` is the JSON object of key → value.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ReleaseRow {
    pub(super) release_key: String,
    pub(super) name: String,
    pub(super) comment: String,
    pub(super) configs: String,
    pub(super) created_at: i64,
    pub(super) created_by: String,
    pub(super) rolled_back_from: Option<String>,
    pub(super) raw_content: Option<String>,
    pub(super) content_type: Option<String>,
}

impl ReleaseRow {
    /// The model type, a release of namespace `id`.
    pub(super) fn into_release(self, id: &NamespaceId) -> Result<Release> {
        Ok(Release {
            configs: decode_configs(&self.configs)?,
            release_key: self.release_key,
            namespace: id.clone(),
            name: self.name,
            comment: self.comment,
            created_at: self.created_at,
            created_by: self.created_by,
            rolled_back_from: self.rolled_back_from,
            raw_content: self.raw_content,
            content_type: self.content_type,
        })
    }
}

/// A release's configuration as stored: a JSON object (keys sorted, so equal configurations
/// are equal texts).
pub(super) fn encode_configs(configs: &BTreeMap<String, String>) -> Result<String> {
    serde_json::to_string(configs).map_err(|e| corrupt("release configs", e))
}

pub(super) fn decode_configs(text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| corrupt("release configs", e))
}

/// A row of `cc_history`; `detail` is JSON.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct HistoryRow {
    pub(super) id: i64,
    pub(super) created_at: i64,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) target: String,
    pub(super) detail: String,
}

impl TryFrom<HistoryRow> for HistoryEntry {
    type Error = Error;

    fn try_from(r: HistoryRow) -> Result<Self> {
        Ok(HistoryEntry {
            detail: serde_json::from_str(&r.detail).map_err(|e| corrupt("history detail", e))?,
            id: r.id,
            at: r.created_at,
            actor: r.actor,
            action: r.action,
            target: r.target,
        })
    }
}
