//! The distributed backend on etcd v3 (etcd-client). A thin mapping: the semantics (revisions,
//! leases, compaction) are etcd's own, which the standalone backend reproduces.

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, WatchOptions,
};
use tokio::sync::mpsc;

use super::{Backend, CasOp, RawWatch};
use crate::types::{EventKind, Expect, KeyValue, LeaseId, Listing, WatchEvent};
use crate::{Config, Error, Result};

pub(crate) struct EtcdBackend {
    client: Client,
}

fn unavailable(context: &str, err: etcd_client::Error) -> Error {
    let text = err.to_string();
    if text.contains("lease not found") {
        // The id is not in the message; callers that know it replace this.
        return Error::LeaseNotFound(0);
    }
    if text.contains("required revision has been compacted") {
        return Error::Compacted {
            requested: 0,
            compact_revision: 0,
        };
    }
    Error::Unavailable(format!("etcd {context}: {text}"))
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> i64 {
    header.map_or(0, |h| h.revision())
}

fn to_kv(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

impl EtcdBackend {
    pub(crate) async fn connect(config: &Config) -> Result<Self> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true)
            // Fail fast on a member cut off from the quorum instead of serving stale state.
            .with_require_leader(true);
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            options = options.with_user(user.clone(), password.clone());
        }
        let mut client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|e| {
                Error::Unavailable(format!("connecting to etcd {:?}: {e}", config.endpoints))
            })?;
        // Prove the cluster answers before reporting success.
        client.status().await.map_err(|e| {
            Error::Unavailable(format!("etcd {:?} does not answer: {e}", config.endpoints))
        })?;
        Ok(EtcdBackend { client })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }
}

#[async_trait]
impl Backend for EtcdBackend {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .client()
            .get(key, None)
            .await
            .map_err(|e| unavailable("get", e))?;
        Ok(resp.kvs().first().map(to_kv))
    }

    async fn range(&self, prefix: &str) -> Result<Listing> {
        let resp = self
            .client()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| unavailable("range", e))?;
        Ok(Listing {
            kvs: resp.kvs().iter().map(to_kv).collect(),
            revision: header_revision(resp.header()),
        })
    }

    async fn keys_at(&self, key: &str, prefix: bool, revision: i64) -> Result<Vec<String>> {
        let mut options = GetOptions::new()
            .with_keys_only()
            .with_revision(revision.max(1));
        if prefix {
            options = options.with_prefix();
        }
        let resp = self.client().get(key, Some(options)).await.map_err(|e| {
            match unavailable("range", e) {
                Error::Compacted { .. } => Error::Compacted {
                    requested: revision,
                    compact_revision: 0,
                },
                other => other,
            }
        })?;
        Ok(resp
            .kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
            .collect())
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<i64> {
        let options = (lease != 0).then(|| PutOptions::new().with_lease(lease));
        let resp = self.client().put(key, value, options).await.map_err(|e| {
            match unavailable("put", e) {
                Error::LeaseNotFound(_) => Error::LeaseNotFound(lease),
                other => other,
            }
        })?;
        Ok(header_revision(resp.header()))
    }

    async fn delete(&self, key: &str) -> Result<Option<i64>> {
        let resp = self
            .client()
            .delete(key, None)
            .await
            .map_err(|e| unavailable("delete", e))?;
        Ok((resp.deleted() > 0).then(|| header_revision(resp.header())))
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expect: Expect,
        op: CasOp,
    ) -> Result<std::result::Result<i64, i64>> {
        let compare = Compare::mod_revision(key, CompareOp::Equal, expect.as_revision());
        let (then, lease) = match op {
            CasOp::Put { value, lease } => {
                let options = (lease != 0).then(|| PutOptions::new().with_lease(lease));
                (TxnOp::put(key, value, options), lease)
            }
            CasOp::Delete => (TxnOp::delete(key, None), 0),
        };
        let txn = Txn::new()
            .when(vec![compare])
            .and_then(vec![then])
            .or_else(vec![TxnOp::get(key, None)]);
        let resp = self
            .client()
            .txn(txn)
            .await
            .map_err(|e| match unavailable("txn", e) {
                Error::LeaseNotFound(_) => Error::LeaseNotFound(lease),
                other => other,
            })?;
        if resp.succeeded() {
            return Ok(Ok(header_revision(resp.header())));
        }
        let actual = resp
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                etcd_client::TxnOpResponse::Get(get) => {
                    Some(get.kvs().first().map_or(0, |kv| kv.mod_revision()))
                }
                _ => None,
            })
            .unwrap_or(0);
        Ok(Err(actual))
    }

    async fn watch(
        &self,
        key: &str,
        prefix: bool,
        start_revision: i64,
    ) -> Result<mpsc::Receiver<RawWatch>> {
        let mut options = WatchOptions::new().with_start_revision(start_revision);
        if prefix {
            options = options.with_prefix();
        }
        let mut stream = self
            .client()
            .watch(key, Some(options))
            .await
            .map_err(|e| unavailable("watch", e))?;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    _ = tx.closed() => return,
                    message = stream.message() => message,
                };
                let item = match message {
                    Ok(Some(resp)) if resp.compact_revision() > 0 => {
                        RawWatch::Compacted(resp.compact_revision())
                    }
                    Ok(Some(resp)) if resp.canceled() => RawWatch::Broken(format!(
                        "etcd cancelled the watch: {}",
                        resp.cancel_reason()
                    )),
                    Ok(Some(resp)) => {
                        if resp.events().is_empty() {
                            continue;
                        }
                        let events = resp
                            .events()
                            .iter()
                            .filter_map(|e| {
                                let kv = e.kv()?;
                                let kind = match e.event_type() {
                                    etcd_client::EventType::Put => EventKind::Put,
                                    etcd_client::EventType::Delete => EventKind::Delete,
                                };
                                Some(WatchEvent {
                                    kind,
                                    kv: to_kv(kv),
                                })
                            })
                            .collect();
                        RawWatch::Events(events)
                    }
                    Ok(None) => RawWatch::Broken("etcd closed the watch stream".into()),
                    Err(err) => RawWatch::Broken(err.to_string()),
                };
                let last = !matches!(item, RawWatch::Events(_));
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(rx)
    }

    async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId> {
        let resp = self
            .client()
            .lease_grant(ttl_secs, None)
            .await
            .map_err(|e| unavailable("lease grant", e))?;
        Ok(resp.id())
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Option<i64>> {
        let attempt = async {
            let (mut keeper, mut stream) = self.client().lease_keep_alive(lease).await?;
            keeper.keep_alive().await?;
            stream.message().await
        };
        match attempt.await {
            Ok(Some(resp)) if resp.ttl() > 0 => Ok(Some(resp.ttl())),
            Ok(Some(_)) => Ok(None),
            Ok(None) => Err(Error::Unavailable(
                "etcd closed the keep-alive stream".into(),
            )),
            // etcd answers a keep-alive for a revoked or expired lease with "lease not found".
            Err(e) => match unavailable("lease keep-alive", e) {
                Error::LeaseNotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn lease_keep_alive_many(&self, leases: &[LeaseId]) -> Result<Vec<Option<i64>>> {
        // etcd-client's keeper renews one lease id per stream; run up to 64 of them at once
        // over the one HTTP/2 connection rather than one after another.
        const IN_FLIGHT: usize = 64;
        let mut ttls = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(IN_FLIGHT) {
            let mut set = tokio::task::JoinSet::new();
            for (i, &lease) in chunk.iter().enumerate() {
                let backend = EtcdBackend {
                    client: self.client(),
                };
                set.spawn(async move { (i, backend.lease_keep_alive(lease).await) });
            }
            let mut answers = vec![None; chunk.len()];
            while let Some(joined) = set.join_next().await {
                let (i, answer) =
                    joined.map_err(|e| Error::Unavailable(format!("lease keep-alive: {e}")))?;
                answers[i] = answer?;
            }
            ttls.extend(answers);
        }
        Ok(ttls)
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        match self.client().lease_revoke(lease).await {
            Ok(_) => Ok(()),
            Err(e) => Err(match unavailable("lease revoke", e) {
                Error::LeaseNotFound(_) => Error::LeaseNotFound(lease),
                other => other,
            }),
        }
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.client()
            .compact(revision, None)
            .await
            .map(|_| ())
            .map_err(|e| match unavailable("compact", e) {
                Error::Compacted { .. } => Error::Compacted {
                    requested: revision,
                    compact_revision: 0,
                },
                other => other,
            })
    }

    async fn close(&self) {
        // The gRPC channel closes when the last clone of the client is dropped.
    }
}
