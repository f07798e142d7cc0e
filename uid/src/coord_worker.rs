//! Worker ids from keel-coord (feature `coord`): held under a lease, and when the lease is lost
//! the generator stops issuing ids until it holds a valid id again.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Logger};
use keel_coord::{InstanceId, Provider as Coord, acquire_instance_id};
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::config::CoordWorker;
use crate::provider::WorkerSlot;
use crate::{Error, Result};

/// The background task holding the worker id.
pub(crate) struct WorkerHolder {
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

async fn acquire(
    coord: &Arc<dyn Coord>,
    ctx: &Context,
    worker: &CoordWorker,
) -> keel_coord::Result<InstanceId> {
    acquire_instance_id(
        Arc::clone(coord),
        ctx,
        &worker.service,
        u32::from(worker.max_workers),
        worker.lease_ttl,
    )
    .await
}

impl WorkerHolder {
    /// Acquires a worker id (failing if none can be had now), installs it, and keeps watching it.
    pub(crate) async fn start<C: Clock>(
        ctx: &Context,
        coord: Arc<dyn Coord>,
        worker: &CoordWorker,
        slot: Arc<WorkerSlot<C>>,
        logger: Logger,
    ) -> Result<Self> {
        let held = acquire(&coord, ctx, worker)
            .await
            .map_err(|e| Error::Coord(e.to_string()))?;
        slot.install(held.id() as u16)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(hold(coord, worker.clone(), slot, held, stop_rx, logger));
        Ok(WorkerHolder {
            stop: std::sync::Mutex::new(Some(stop_tx)),
            task: std::sync::Mutex::new(Some(task)),
        })
    }

    /// Stops the task and releases the id.
    pub(crate) async fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for WorkerHolder {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

async fn hold<C: Clock>(
    coord: Arc<dyn Coord>,
    worker: CoordWorker,
    slot: Arc<WorkerSlot<C>>,
    mut held: InstanceId,
    mut stop: oneshot::Receiver<()>,
    logger: Logger,
) {
    let ns = logger.namespace().to_owned();
    loop {
        tokio::select! {
            _ = &mut stop => {
                let _ = held.release(&Context::new().with_timeout(Duration::from_secs(5))).await;
                return;
            }
            loss = held.lost() => {
                // Stop first: another process may be given this id as soon as the store agrees.
                slot.retire();
                tracing::error!(ns, worker_id = held.id(), ?loss, "worker id lease lost; not issuing ids until a new worker id is held");
            }
        }
        let mut backoff = Duration::from_millis(100);
        held = loop {
            let ctx = Context::new().with_timeout(Duration::from_secs(10));
            tokio::select! {
                _ = &mut stop => return,
                attempt = acquire(&coord, &ctx, &worker) => match attempt {
                    Ok(held) => break held,
                    Err(err) => {
                        tracing::warn!(ns, %err, ?backoff, "acquiring a new worker id failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                },
            }
        };
        match slot.install(held.id() as u16) {
            Ok(()) => tracing::info!(
                ns,
                worker_id = held.id(),
                "issuing ids again with a new worker id"
            ),
            Err(err) => tracing::error!(ns, %err, "cannot use the new worker id"),
        }
    }
}
