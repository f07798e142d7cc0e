//! The HTTP side: the registry's instance and discovery endpoints, on keel-client-kit's
//! [`Transport`](keel_client_kit::Transport) (pooled HTTP/1 connections with failover between
//! nodes; a refusal is not a node failure). Every request the client sends is idempotent
//! (registering the same address finds the same instance), so sending it again to the next
//! node is safe.

use std::time::Duration;

use keel_client_kit::{HeaderName, HeaderValue, Method, Polled, decode, percent_encode as encode};
use serde::Deserialize;

use super::config::ClientConfig;
use super::error::{Error, Result};
use crate::{Discovery, InstanceStatus, NewInstance};

const USER_AGENT: &str = concat!("keel-registry-client/", env!("CARGO_PKG_VERSION"));
const TENANT: HeaderName = HeaderName::from_static("x-tenant-id");
const AUTHORIZATION: HeaderName = HeaderName::from_static("authorization");

/// The registry's nodes and the connections to them.
pub(crate) struct Transport {
    kit: keel_client_kit::Transport,
}

/// What a discovery read returned.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The service's instances (for a long poll: a revision other than the one sent).
    Changed(Discovery),
    /// Nothing changed within the wait.
    NotModified,
    /// The node answered "no change" early: it is shutting down. It is skipped for a while
    /// and the next poll goes elsewhere.
    NodeLeaving(String),
}

/// The answer to a registration (mirrors the server's `Registered`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Registered {
    pub(crate) instance_id: String,
    /// 0 for persistent instances, which send no heartbeats.
    #[serde(default)]
    pub(crate) heartbeat_interval_millis: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Beat {
    heartbeat_interval_millis: u64,
}

impl Transport {
    /// A transport to `config.servers` (already validated, so the headers are valid).
    pub(crate) fn new(config: &ClientConfig) -> Result<Self> {
        let header = |what: &str, value: String| {
            let mut value = HeaderValue::try_from(value)
                .map_err(|e| Error::Config(format!("{what} cannot be sent as a header: {e}")))?;
            value.set_sensitive(what == "token");
            Ok::<_, Error>(value)
        };
        let mut kit = keel_client_kit::Transport::builder("registry", &config.servers)
            .user_agent(USER_AGENT)
            .request_timeout(config.request_timeout)
            .server_cooldown(config.server_cooldown);
        if let Some(tenant) = &config.tenant {
            kit = kit.header(TENANT, header("tenant", tenant.clone())?);
        }
        if let Some(token) = &config.token {
            kit = kit.header(AUTHORIZATION, header("token", format!("Bearer {token}"))?);
        }
        Ok(Transport { kit: kit.build() })
    }

    /// `POST /api/v1/instances`.
    pub(crate) async fn register(&self, instance: &NewInstance) -> Result<Registered> {
        let path = "/api/v1/instances";
        let body = serde_json::to_vec(instance)
            .map_err(|e| Error::Invalid(format!("cannot encode the registration: {e}")))?;
        let data = self.kit.data(Method::POST, path, Some(body)).await?;
        Ok(decode(path, data)?)
    }

    /// `PUT /api/v1/instances/{id}/heartbeat`: the interval to keep. An instance the registry
    /// does not know is [`Error::is_register_again`].
    pub(crate) async fn heartbeat(&self, id: &str) -> Result<Duration> {
        let path = format!("/api/v1/instances/{}/heartbeat", encode(id));
        let data = self.kit.data(Method::PUT, &path, None).await?;
        let beat: Beat = decode(&path, data)?;
        Ok(Duration::from_millis(beat.heartbeat_interval_millis))
    }

    /// `PUT /api/v1/instances/{id}/status`.
    pub(crate) async fn set_status(&self, id: &str, status: InstanceStatus) -> Result<()> {
        let path = format!("/api/v1/instances/{}/status", encode(id));
        let body = serde_json::to_vec(&serde_json::json!({ "status": status }))
            .map_err(|e| Error::Invalid(format!("cannot encode the status: {e}")))?;
        self.kit.data(Method::PUT, &path, Some(body)).await?;
        Ok(())
    }

    /// `DELETE /api/v1/instances/{id}`.
    pub(crate) async fn deregister(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/instances/{}", encode(id));
        self.kit.data(Method::DELETE, &path, None).await?;
        Ok(())
    }

    /// `GET /api/v1/services/{name}/instances` (UP and healthy instances, as the server's
    /// default filter and protect threshold decide); with `poll`, a long poll: waits up to
    /// the duration for a revision other than the one given.
    pub(crate) async fn instances(
        &self,
        service: &str,
        group: &str,
        poll: Option<(i64, Duration)>,
    ) -> Result<Fetched> {
        let mut path = format!(
            "/api/v1/services/{}/instances?groupName={}",
            encode(service),
            encode(group)
        );
        let Some((revision, wait)) = poll else {
            let data = self.kit.data(Method::GET, &path, None).await?;
            return Ok(Fetched::Changed(decode(&path, data)?));
        };
        path.push_str(&format!("&revision={revision}&wait={}ms", wait.as_millis()));
        Ok(
            match self.kit.long_poll(Method::GET, &path, None, wait).await? {
                Polled::Changed(data) => Fetched::Changed(decode(&path, data)?),
                Polled::Unchanged => Fetched::NotModified,
                Polled::NodeLeaving(server) => Fetched::NodeLeaving(server),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_and_token_headers_are_checked() {
        let config = ClientConfig {
            servers: vec!["http://127.0.0.1:8848".into()],
            tenant: Some("shop".into()),
            token: Some("s3cret".into()),
            ..ClientConfig::default()
        };
        assert!(Transport::new(&config).is_ok());
        let bad = ClientConfig {
            token: Some("a\nb".into()),
            ..config
        };
        let err = Transport::new(&bad).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("token cannot be sent as a header")),
            "{err:?}"
        );
    }
}
