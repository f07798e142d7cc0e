//! Change events to keel-mq. Every node sees every change, so one node — the leader of an
//! election in coord — publishes them; when it dies another takes over after the election's
//! TTL. Events that happen during a hand-over may be published twice or, if the old leader
//! died mid-way, not at all: consumers that must not miss a change re-read the service (the
//! event carries its revision).

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use keel_coord::Election;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{CHANGE_TOPIC, Registry};

const ELECTION: &str = "keel-registry-events";
const ELECTION_TTL: Duration = Duration::from_secs(10);

pub(super) fn spawn(
    registry: &Arc<Registry>,
    mq: Arc<dyn keel_mq::Provider>,
    stop: CancellationToken,
) {
    let election = match Election::new(Arc::clone(&registry.coord), ELECTION, ELECTION_TTL) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "registry events: cannot set up the publisher election");
            return;
        }
    };
    let view = Arc::clone(&registry.view);
    let node = registry.node.clone();
    tokio::spawn(async move {
        let ctx = Context::new();
        loop {
            let leadership = tokio::select! {
                _ = stop.cancelled() => return,
                won = election.campaign(&ctx, node.clone().into_bytes()) => won,
            };
            let leadership = match leadership {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "registry events: campaign failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            tracing::info!(node, "registry events: this node publishes change events");
            let mut changes = view.subscribe_all();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        let _ = leadership.resign(&ctx).await;
                        return;
                    }
                    _ = leadership.lost() => break,
                    change = changes.recv() => match change {
                        Ok(change) => publish(&ctx, mq.as_ref(), &change),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "registry events: publisher fell behind; events skipped");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    });
}

fn publish(ctx: &Context, mq: &dyn keel_mq::Provider, change: &crate::ChangeEvent) {
    let payload = match serde_json::to_vec(change) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "registry events: cannot encode a change");
            return;
        }
    };
    // Keyed by service: one service's events stay in order.
    let key = change.service.to_string();
    let service = key.clone();
    mq.send_with_callback(
        ctx,
        CHANGE_TOPIC,
        keel_mq::Message::keyed(key, payload),
        Box::new(move |outcome| {
            if let Err(e) = outcome {
                tracing::warn!(service, error = %e, "registry change event not published");
            }
        }),
    );
}
