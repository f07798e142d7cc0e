//! Services and groups: their settings and the rules those follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ServiceId;
use super::instance::validate_metadata;
use crate::{Error, HealthCheck, Result};

/// How a client SDK picks an instance when the call does not say.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalance {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// At random, in proportion to weight.
    WeightedRandom,
    /// The instance with the fewest requests in flight from this client.
    LeastOutstanding,
    /// The same key always goes to the same instance while it lives.
    ConsistentHash,
}

impl LoadBalance {
    /// The name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalance::RoundRobin => "round_robin",
            LoadBalance::WeightedRandom => "weighted_random",
            LoadBalance::LeastOutstanding => "least_outstanding",
            LoadBalance::ConsistentHash => "consistent_hash",
        }
    }
}

/// A service's settings (`POST /api/v1/services`, `PUT /api/v1/services/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Tenant, group and name.
    #[serde(flatten)]
    pub id: ServiceId,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// 0 to 1: when the healthy share of the instances falls below it, discovery answers every
    /// instance (marked) rather than pile the load on the few healthy ones. 0 disables it.
    pub protect_threshold: f64,
    /// The health check of instances that register without one.
    pub default_health_check: Option<HealthCheck>,
    /// The default load-balancing strategy of client SDKs.
    pub load_balance: LoadBalance,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// The writable fields of a service; `None` keeps the current value (on create, the default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSettings {
    /// Labels.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// 0 to 1.
    #[serde(default)]
    pub protect_threshold: Option<f64>,
    /// The default health check.
    #[serde(default)]
    pub default_health_check: Option<HealthCheck>,
    /// The default load-balancing strategy.
    #[serde(default)]
    pub load_balance: Option<LoadBalance>,
}

impl ServiceSettings {
    /// Checks the fields that are set.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = &self.metadata {
            validate_metadata(m)?;
        }
        if let Some(t) = self.protect_threshold
            && !(t.is_finite() && (0.0..=1.0).contains(&t))
        {
            return Err(Error::Invalid(format!(
                "protectThreshold {t} must be between 0 and 1"
            )));
        }
        if let Some(h) = &self.default_health_check {
            // A service default may serve ephemeral and persistent instances alike; the ttl
            // rule is enforced when an instance picks it up.
            h.validate(true)?;
        }
        Ok(())
    }
}

/// A group of services in a tenant; it may restrict who registers into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The tenant.
    pub tenant: String,
    /// The group name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Tokens allowed to register into the group (`Authorization: Bearer <token>`); empty
    /// lets anyone register. Never returned by the API, only counted.
    #[serde(skip_serializing, default)]
    pub register_tokens: Vec<String>,
    /// How many register tokens the group has.
    #[serde(default)]
    pub register_token_count: usize,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// The writable fields of a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSettings {
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Tokens allowed to register; `[]` opens the group to anyone.
    #[serde(default)]
    pub register_tokens: Option<Vec<String>>,
}

impl GroupSettings {
    /// Checks the fields that are set.
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = &self.description
            && d.len() > 1024
        {
            return Err(Error::Invalid(
                "description must be at most 1024 bytes".into(),
            ));
        }
        if let Some(tokens) = &self.register_tokens {
            if tokens.len() > 64 {
                return Err(Error::Invalid(
                    "at most 64 registerTokens are allowed".into(),
                ));
            }
            if tokens
                .iter()
                .any(|t| t.len() < 8 || t.len() > 256 || t.bytes().any(|b| b <= b' '))
            {
                return Err(Error::Invalid(
                    "each register token must be 8 to 256 bytes without spaces".into(),
                ));
            }
        }
        Ok(())
    }
}
