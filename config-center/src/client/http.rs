//! The HTTP side: the config center's client endpoints, on keel-client-kit's
//! [`Transport`](keel_client_kit::Transport) (pooled HTTP/1 connections with failover between
//! nodes; a refusal is not a node failure).

use std::collections::BTreeMap;
use std::time::Duration;

use keel_client_kit::{Answer, Method, Polled as KitPolled, decode, percent_encode as encode};
use serde::{Deserialize, Serialize};

use super::config::ClientConfig;
use super::error::{Error, Result};
use crate::{Format, Namespace, NamespaceId};

const USER_AGENT: &str = concat!("keel-config-client/", env!("CARGO_PKG_VERSION"));

/// The config center's nodes and the connections to them.
pub(crate) struct Transport {
    kit: keel_client_kit::Transport,
}

/// What `GET .../configs` returned.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The release the client has is current.
    NotModified,
    /// The whole current release.
    Full {
        /// The namespace served (the client's, or the `default` cluster's).
        served: NamespaceId,
        release_key: String,
        configs: BTreeMap<String, String>,
        /// When the server says (newer servers may; today it does not).
        format: Option<Format>,
    },
    /// Only what changed since the client's release.
    Changes {
        served: NamespaceId,
        release_key: String,
        added: BTreeMap<String, String>,
        updated: BTreeMap<String, String>,
        deleted: Vec<String>,
    },
}

/// What a long poll returned.
#[derive(Debug)]
pub(crate) enum Polled {
    /// These namespaces (as the client named them) have a new release key.
    Changed(Vec<(String, String)>),
    /// Nothing changed within the timeout.
    Timeout,
    /// The node answered "no change" early: it is shutting down. It is skipped for a while
    /// and the next poll goes elsewhere.
    NodeLeaving(String),
}

#[derive(Deserialize)]
struct ConfigAnswer {
    namespace: NamespaceId,
    release_key: String,
    #[serde(default)]
    incremental: bool,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    added: BTreeMap<String, String>,
    #[serde(default)]
    updated: BTreeMap<String, String>,
    #[serde(default)]
    deleted: Vec<String>,
}

/// One namespace in a multi-namespace long poll.
#[derive(Serialize, Deserialize)]
struct Watch {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
    #[serde(rename = "releaseKey", alias = "release_key", default)]
    release_key: String,
}

impl Transport {
    /// A transport to `config.servers` (already validated).
    pub(crate) fn new(config: &ClientConfig) -> Self {
        Transport {
            kit: keel_client_kit::Transport::builder("config center", &config.servers)
                .user_agent(USER_AGENT)
                .request_timeout(config.request_timeout)
                .server_cooldown(config.server_cooldown)
                .build(),
        }
    }

    /// Reads a namespace's current release: all of it, or (with `known`) 304 or only the
    /// changes since `known`.
    pub(crate) async fn fetch_configs(
        &self,
        id: &NamespaceId,
        known: Option<&str>,
    ) -> Result<Fetched> {
        let mut path = format!("{}/configs", namespace_path(id));
        if let Some(known) = known.filter(|k| !k.is_empty()) {
            path.push_str("?releaseKey=");
            path.push_str(&encode(known));
            path.push_str("&incremental=true");
        }
        let data = match self.kit.call(Method::GET, &path, None).await? {
            Answer::NotModified => return Ok(Fetched::NotModified),
            Answer::Data(data) => data,
        };
        let answer: ConfigAnswer = decode(&path, data)?;
        Ok(if answer.incremental {
            Fetched::Changes {
                served: answer.namespace,
                release_key: answer.release_key,
                added: answer.added,
                updated: answer.updated,
                deleted: answer.deleted,
            }
        } else {
            Fetched::Full {
                served: answer.namespace,
                release_key: answer.release_key,
                configs: answer.configs,
                format: answer.format,
            }
        })
    }

    /// The format of a namespace (the served one: after cluster fallback).
    pub(crate) async fn fetch_format(&self, served: &NamespaceId) -> Result<Format> {
        let path = namespace_path(served);
        match self.kit.call(Method::GET, &path, None).await? {
            Answer::Data(data) => Ok(decode::<Namespace>(&path, data)?.format),
            Answer::NotModified => Err(Error::Unavailable(format!(
                "GET {path} answered 304 without being asked about a version"
            ))),
        }
    }

    /// Waits up to `timeout` for a release of any of `watches` (namespace id, release key the
    /// client has).
    pub(crate) async fn long_poll(
        &self,
        watches: &[(NamespaceId, String)],
        timeout: Duration,
    ) -> Result<Polled> {
        let body: Vec<Watch> = watches
            .iter()
            .map(|(id, key)| Watch {
                env: id.env.clone(),
                app: id.app.clone(),
                cluster: id.cluster.clone(),
                namespace: id.namespace.clone(),
                release_key: key.clone(),
            })
            .collect();
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::Config(format!("cannot encode the watch list: {e}")))?;
        let path = format!("/api/v1/notifications?timeout={}ms", timeout.as_millis());
        match self
            .kit
            .long_poll(Method::POST, &path, Some(body), timeout)
            .await?
        {
            KitPolled::Unchanged => Ok(Polled::Timeout),
            KitPolled::NodeLeaving(server) => Ok(Polled::NodeLeaving(server)),
            KitPolled::Changed(data) => {
                let changed: Vec<Watch> = decode(&path, data)?;
                Ok(Polled::Changed(
                    changed
                        .into_iter()
                        .map(|w| (w.namespace, w.release_key))
                        .collect(),
                ))
            }
        }
    }
}

fn namespace_path(id: &NamespaceId) -> String {
    // Names are validated to [A-Za-z0-9._-] (ClientConfig::validate, or the server's answer).
    format!(
        "/api/v1/envs/{}/apps/{}/clusters/{}/namespaces/{}",
        encode(&id.env),
        encode(&id.app),
        encode(&id.cluster),
        encode(&id.namespace)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_paths_encode_every_name() {
        let id = NamespaceId {
            env: "dev".into(),
            app: "shop".into(),
            cluster: "bj 1".into(),
            namespace: "a/b".into(),
        };
        assert_eq!(
            namespace_path(&id),
            "/api/v1/envs/dev/apps/shop/clusters/bj%201/namespaces/a%2Fb"
        );
    }
}
