//! Table rows as read from the database, and their conversion into the crate's model types.
//! Rows decode by column name, so queries select these columns by name (the
//! `*_columns!` macros, which `concat!` can splice into a `&'static str` statement).

use std::collections::BTreeMap;

use crate::{Error, Group, HealthCheck, Instance, LoadBalance, Result, Service, ServiceId};

/// The columns of [`GroupRow`], for `concat!`.
macro_rules! group_columns {
    () => {
        "id, tenant, name, description, register_tokens, created_at, updated_at"
    };
}
pub(super) use group_columns;

/// The columns of [`ServiceRow`], for `concat!`.
macro_rules! service_columns {
    () => {
        "id, tenant, group_name, name, metadata, protect_threshold, default_health_check, \
         load_balance, created_at, updated_at"
    };
}
pub(super) use service_columns;

/// A stored value that does not decode (written by something other than this store).
pub(super) fn corrupt(what: &str, err: impl std::fmt::Display) -> Error {
    Error::Storage(keel_db::Error::Decode(format!("{what}: {err}")))
}

/// A row of `reg_groups`; `register_tokens` is a JSON array.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct GroupRow {
    pub(super) id: i64,
    pub(super) tenant: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) register_tokens: String,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

impl TryFrom<GroupRow> for Group {
    type Error = Error;

    fn try_from(r: GroupRow) -> Result<Self> {
        let register_tokens: Vec<String> = serde_json::from_str(&r.register_tokens)
            .map_err(|e| corrupt("group register_tokens", e))?;
        Ok(Group {
            register_token_count: register_tokens.len(),
            register_tokens,
            tenant: r.tenant,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A group's register tokens as stored.
pub(super) fn encode_tokens(tokens: &[String]) -> Result<String> {
    serde_json::to_string(tokens).map_err(|e| corrupt("group register_tokens", e))
}

/// A row of `reg_services`; `metadata` and `default_health_check` are JSON.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ServiceRow {
    pub(super) id: i64,
    pub(super) tenant: String,
    pub(super) group_name: String,
    pub(super) name: String,
    pub(super) metadata: String,
    pub(super) protect_threshold: f64,
    pub(super) default_health_check: Option<String>,
    pub(super) load_balance: String,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

impl TryFrom<ServiceRow> for Service {
    type Error = Error;

    fn try_from(r: ServiceRow) -> Result<Self> {
        let default_health_check = match &r.default_health_check {
            Some(text) => Some(
                serde_json::from_str::<HealthCheck>(text)
                    .map_err(|e| corrupt("service default_health_check", e))?,
            ),
            None => None,
        };
        // `as_str()` names are the serde names, so serde parses them and a new variant needs
        // no change here.
        let load_balance: LoadBalance =
            serde_json::from_value(serde_json::Value::String(r.load_balance))
                .map_err(|e| corrupt("service load_balance", e))?;
        Ok(Service {
            metadata: decode_metadata(&r.metadata)?,
            id: ServiceId::new(r.tenant, r.group_name, r.name),
            protect_threshold: r.protect_threshold,
            default_health_check,
            load_balance,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Service metadata as stored: a JSON object (keys sorted, so equal maps are equal texts).
pub(super) fn encode_metadata(metadata: &BTreeMap<String, String>) -> Result<String> {
    serde_json::to_string(metadata).map_err(|e| corrupt("service metadata", e))
}

fn decode_metadata(text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| corrupt("service metadata", e))
}

/// A service's default health check as stored (`NULL` for none).
pub(super) fn encode_health_check(check: Option<&HealthCheck>) -> Result<Option<String>> {
    check
        .map(|c| serde_json::to_string(c).map_err(|e| corrupt("service default_health_check", e)))
        .transpose()
}

/// A persistent instance as stored: the whole record as JSON.
pub(super) fn encode_instance(instance: &Instance) -> Result<String> {
    serde_json::to_string(instance).map_err(|e| corrupt("instance", e))
}

/// The instance a `body` column holds.
pub(super) fn decode_instance(body: &str) -> Result<Instance> {
    serde_json::from_str(body).map_err(|e| corrupt("instance", e))
}
