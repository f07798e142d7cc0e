//! `GET /api/v1/ws`: a WebSocket on which a client subscribes to namespaces and receives each
//! release as it happens, with the changes since the release it had.
//!
//! Client → server (text frames, JSON):
//! `{"subscribe":[{"env","app","cluster","namespace","releaseKey"}]}` (releaseKey optional: the
//! client's current release; a client that is behind gets an event at once) and
//! `{"unsubscribe":[{"env","app","cluster","namespace"}]}`.
//!
//! Server → client: `{"type":"release","namespace":{...},"release_key","since","added",
//! "updated","deleted"}` per change (the full configuration in `added` when the client had no
//! release or one the server no longer knows), `{"type":"subscribed","count":N}` after each
//! subscribe, `{"type":"error","message"}` for a bad frame (the socket stays open).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::future::select_all;
use keel_clog::Context;
use serde::Deserialize;
use tokio::sync::watch;

use super::envelope::{ApiError, Peer, QueryParams, client_id};
use super::namespaces::NamespacePath;
use crate::service::{ConfigAnswer, ConfigCenter};
use crate::{ClientId, Error, NamespaceId};

/// Most namespaces one socket may follow.
const MAX_SUBSCRIPTIONS: usize = 1_000;

#[derive(Deserialize)]
struct Target {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
    #[serde(default, alias = "releaseKey")]
    release_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Frame {
    #[serde(default)]
    subscribe: Vec<Target>,
    #[serde(default)]
    unsubscribe: Vec<Target>,
}

/// One followed namespace: what the client has, and the channel announcing what is current.
struct Subscription {
    known: String,
    /// The namespace token last looked at (see `Served::token`).
    token: String,
    current: watch::Receiver<Option<String>>,
}

/// `?ip=&label=`: who the socket's client is, for gray releases.
#[derive(Deserialize)]
pub(crate) struct Identity {
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

pub(crate) async fn upgrade(
    State(center): State<Arc<ConfigCenter>>,
    QueryParams(identity): QueryParams<Identity>,
    peer: Peer,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let client = client_id(identity.ip.as_deref(), identity.label.as_deref(), &peer)?;
    Ok(upgrade.on_upgrade(move |socket| follow(center, client, socket)))
}

async fn follow(center: Arc<ConfigCenter>, client: ClientId, mut socket: WebSocket) {
    let mut subscriptions: HashMap<NamespaceId, Subscription> = HashMap::new();
    let shutdown = center.shutdown_context();
    loop {
        // Send what changed before waiting again.
        for (asked, sub) in &mut subscriptions {
            // The token changes with anything the namespace serves; whether this client's
            // release changed is for `event` to say.
            let token = sub.current.borrow_and_update().clone().unwrap_or_default();
            if token.is_empty() || token == sub.token {
                continue;
            }
            sub.token = token;
            match event(&center, asked, &sub.known, &client).await {
                Ok(Some((text, key))) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    sub.known = key;
                }
                Ok(None) => {}
                Err(e) => {
                    if send_error(&mut socket, &e.to_string()).await.is_err() {
                        return;
                    }
                }
            }
        }
        let changed = async {
            if subscriptions.is_empty() {
                std::future::pending::<()>().await;
            }
            let _ = select_all(
                subscriptions
                    .values_mut()
                    .map(|s| Box::pin(s.current.changed())),
            )
            .await;
        };
        tokio::select! {
            () = changed => {}
            _ = shutdown.done() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = apply(&center, &mut subscriptions, &text).await {
                        if send_error(&mut socket, &e.to_string()).await.is_err() {
                            return;
                        }
                    } else {
                        let ack = serde_json::json!({"type": "subscribed", "count": subscriptions.len()});
                        if socket.send(Message::Text(ack.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // pings are answered by axum; binary frames are ignored
            }
        }
    }
}

async fn send_error(socket: &mut WebSocket, message: &str) -> Result<(), axum::Error> {
    let frame = serde_json::json!({"type": "error", "message": message});
    socket.send(Message::Text(frame.to_string().into())).await
}

async fn apply(
    center: &ConfigCenter,
    subscriptions: &mut HashMap<NamespaceId, Subscription>,
    text: &str,
) -> Result<(), Error> {
    let frame: Frame = serde_json::from_str(text).map_err(|e| {
        Error::Invalid(format!(
            "frames are {{\"subscribe\":[{{\"env\",\"app\",\"cluster\",\"namespace\",\"releaseKey\"}}]}} or {{\"unsubscribe\":[...]}}: {e}"
        ))
    })?;
    for target in frame.unsubscribe {
        let id =
            NamespacePath::from_parts(target.env, target.app, target.cluster, target.namespace)?;
        subscriptions.remove(&id);
    }
    if subscriptions.len() + frame.subscribe.len() > MAX_SUBSCRIPTIONS {
        return Err(Error::Invalid(format!(
            "one socket follows at most {MAX_SUBSCRIPTIONS} namespaces"
        )));
    }
    for target in frame.subscribe {
        let known = target.release_key.unwrap_or_default();
        let id =
            NamespacePath::from_parts(target.env, target.app, target.cluster, target.namespace)?;
        let current = center.subscribe(&Context::new(), &id).await?;
        subscriptions.insert(
            id,
            Subscription {
                known,
                token: String::new(),
                current,
            },
        );
    }
    Ok(())
}

/// The event telling a client holding `known` what changed in `asked`, and the key it leads to.
async fn event(
    center: &ConfigCenter,
    asked: &NamespaceId,
    known: &str,
    client: &ClientId,
) -> Result<Option<(String, String)>, Error> {
    let known = (!known.is_empty()).then_some(known);
    let answer = center
        .client_config(&Context::new(), asked, known, true, client)
        .await?;
    let frame = match answer {
        ConfigAnswer::NotModified => return Ok(None),
        ConfigAnswer::Full(release) => serde_json::json!({
            "type": "release",
            "namespace": release.namespace,
            "release_key": release.release_key,
            "since": known,
            "added": release.configs,
            "updated": {},
            "deleted": [],
            "full": true,
        }),
        ConfigAnswer::Changes(changes) => serde_json::json!({
            "type": "release",
            "namespace": changes.namespace,
            "release_key": changes.release_key,
            "since": changes.since,
            "added": changes.added,
            "updated": changes.updated,
            "deleted": changes.deleted,
            "full": false,
        }),
    };
    let key = frame["release_key"].as_str().unwrap_or_default().to_owned();
    Ok(Some((frame.to_string(), key)))
}
