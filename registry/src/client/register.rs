//! Registration: an instance registered by this client, its heartbeats, its status, and its
//! end (deregistration on request, on drop, or when the client closes).
//!
//! The heartbeat task beats at the interval the registry answers. When the registry says it
//! does not know the instance (code 20404: it expired during a pause or a partition, a node
//! lost its data, an operator removed it), the task registers it again with the same request
//! and then restores the status the application last asked for, since a registration comes
//! back `UP`. Status writes and re-registrations run one at a time, so a late write can never
//! undo a newer one, and none runs after the registration ended.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::error::{Error, Result};
use crate::{InstanceStatus, NewInstance};

/// The shortest heartbeat interval the client keeps, whatever a server answers: a guard
/// against a busy loop, well below the server's own minimum (500ms).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// An instance this client registered. While it lives the client heartbeats for it (ephemeral
/// instances) and registers it again if the registry forgets it.
///
/// It ends with [`deregister`](Self::deregister), with
/// [`RegistryClient::close`](super::RegistryClient::close), or when it is dropped: dropping
/// stops the heartbeats and deregisters in the background (best effort; an ephemeral instance
/// expires after its `deleteTimeout` anyway).
pub struct Registration {
    state: Arc<State>,
}

/// What the handle, its heartbeat task and the client's close share.
pub(crate) struct State {
    shared: Arc<Shared>,
    request: NewInstance,
    instance_id: Mutex<String>,
    interval_millis: AtomicU64,
    /// The status the application asked for last.
    wanted: Mutex<InstanceStatus>,
    /// `wanted` is not yet what the registry has (a failed write, a re-registration).
    status_pending: AtomicBool,
    /// Serialises status writes, re-registrations and the final DELETE.
    writes: tokio::sync::Mutex<()>,
    re_registrations: AtomicU64,
    /// Set once the registration ended: nothing registers the instance again after that.
    ended: AtomicBool,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("instance_id", &self.instance_id())
            .field("service", &self.state.request.service_name)
            .field("status", &self.status())
            .field("re_registrations", &self.re_registrations())
            .finish()
    }
}

impl Registration {
    /// Registers `request` and, for an ephemeral instance, starts heartbeating.
    pub(crate) async fn start(shared: Arc<Shared>, request: NewInstance) -> Result<Self> {
        let registered = shared.transport.register(&request).await?;
        let state = Arc::new(State {
            shared,
            request,
            instance_id: Mutex::new(registered.instance_id),
            interval_millis: AtomicU64::new(registered.heartbeat_interval_millis),
            wanted: Mutex::new(InstanceStatus::Up),
            status_pending: AtomicBool::new(false),
            writes: tokio::sync::Mutex::new(()),
            re_registrations: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
        });
        tracing::info!(
            service = %state.request.service_name,
            instance_id = %state.id(),
            heartbeat_interval_ms = registered.heartbeat_interval_millis,
            "instance registered"
        );
        // Persistent instances (interval 0) live until deleted: nothing to beat.
        if registered.heartbeat_interval_millis > 0 {
            let task = tokio::spawn(beat(Arc::clone(&state)));
            *lock(&state.task) = Some(task);
        }
        Ok(Registration { state })
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The instance's id (stable for the same tenant, group, service, host and port).
    pub fn instance_id(&self) -> String {
        self.state.id()
    }

    /// The registration request, as sent (and sent again on re-registration).
    pub fn request(&self) -> &NewInstance {
        &self.state.request
    }

    /// The status last asked for with [`set_status`](Self::set_status) (`UP` at first).
    pub fn status(&self) -> InstanceStatus {
        self.state.wanted()
    }

    /// The heartbeat interval the registry asked for; `None` for a persistent instance.
    pub fn heartbeat_interval(&self) -> Option<Duration> {
        match self.state.interval_millis.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// How many times the client registered the instance again because the registry no
    /// longer knew it.
    pub fn re_registrations(&self) -> u64 {
        self.state.re_registrations.load(Ordering::Relaxed)
    }

    /// Takes the instance in or out of traffic: `OUT_OF_SERVICE` (or `DOWN`) before a deploy
    /// drains it from discovery while it keeps heartbeating; `UP` brings it back. The status
    /// is remembered: should the registry forget the instance, it is restored after the
    /// re-registration. On an error the registry may not have it yet; for an ephemeral
    /// instance the heartbeat task keeps trying.
    pub async fn set_status(&self, status: InstanceStatus) -> Result<()> {
        self.state.check_open()?;
        *lock(&self.state.wanted) = status;
        self.state.status_pending.store(true, Ordering::Release);
        let _writing = self.state.writes.lock().await;
        self.state.write_status().await
    }

    /// Stops the heartbeats and removes the instance from the registry, waiting for the
    /// answer. An instance the registry no longer knows counts as removed.
    pub async fn deregister(self) -> Result<()> {
        self.state.deregister().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.state.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.state.stop.cancel();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let state = Arc::clone(&self.state);
                runtime.spawn(async move {
                    if let Err(e) = state.finish().await {
                        tracing::warn!(instance_id = %state.id(), error = %e, "cannot deregister the dropped instance; it expires after its deleteTimeout");
                    }
                });
            }
            Err(_) => {
                if let Some(task) = lock(&self.state.task).take() {
                    task.abort();
                }
                tracing::warn!(instance_id = %self.state.id(), "registration dropped outside a tokio runtime: not deregistered; it expires after its deleteTimeout");
            }
        }
    }
}

impl State {
    fn id(&self) -> String {
        lock(&self.instance_id).clone()
    }

    fn wanted(&self) -> InstanceStatus {
        *lock(&self.wanted)
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_millis.load(Ordering::Relaxed)).max(MIN_INTERVAL)
    }

    fn check_open(&self) -> Result<()> {
        if self.ended.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Ends the registration (once): stops the heartbeats, then deletes the instance.
    pub(crate) async fn deregister(&self) -> Result<()> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.cancel();
        self.finish().await
    }

    /// After `ended` is set and `stop` cancelled: waits for the heartbeat task (it finishes a
    /// write it started) and any status write in flight, then deletes the instance.
    async fn finish(&self) -> Result<()> {
        let task = lock(&self.task).take();
        if let Some(task) = task {
            // The task only ends by seeing `stop`; a JoinError would be a panic already logged.
            let _ = task.await;
        }
        let _writing = self.writes.lock().await;
        let id = self.id();
        match self.shared.transport.deregister(&id).await {
            Ok(()) => {
                tracing::info!(service = %self.request.service_name, instance_id = %id, "instance deregistered");
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One heartbeat, and whatever it calls for: registering again, restoring the status.
    /// `None` when `stop` came first.
    async fn beat_once(&self) -> Option<Result<()>> {
        let id = self.id();
        // Only the heartbeat itself is cut short by `stop`; the writes below finish, so that
        // a deregistration waiting for this task never races a registration in flight.
        let beat = tokio::select! {
            () = self.stop.cancelled() => return None,
            beat = self.shared.transport.heartbeat(&id) => beat,
        };
        Some(self.after_beat(beat).await)
    }

    async fn after_beat(&self, beat: Result<Duration>) -> Result<()> {
        match beat {
            Ok(interval) => {
                self.set_interval(interval);
            }
            Err(e) if e.is_register_again() => {
                tracing::warn!(service = %self.request.service_name, instance_id = %self.id(), "the registry no longer knows the instance (it expired or was removed); registering it again");
                let _writing = self.writes.lock().await;
                self.register_again().await?;
                if self.status_pending.load(Ordering::Acquire) {
                    self.write_status().await?;
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if self.status_pending.load(Ordering::Acquire) {
            let _writing = self.writes.lock().await;
            self.write_status().await?;
        }
        Ok(())
    }

    fn set_interval(&self, interval: Duration) {
        let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self.interval_millis.store(millis, Ordering::Relaxed);
    }

    /// Registers the same request again. The caller holds `writes`.
    async fn register_again(&self) -> Result<()> {
        self.check_open()?;
        let registered = self.shared.transport.register(&self.request).await?;
        *lock(&self.instance_id) = registered.instance_id;
        if registered.heartbeat_interval_millis > 0 {
            self.interval_millis
                .store(registered.heartbeat_interval_millis, Ordering::Relaxed);
        }
        self.re_registrations.fetch_add(1, Ordering::Relaxed);
        // A registration comes back UP; any other wanted status must be written again.
        self.status_pending
            .store(self.wanted() != InstanceStatus::Up, Ordering::Release);
        tracing::info!(service = %self.request.service_name, instance_id = %self.id(), "instance registered again");
        Ok(())
    }

    /// Writes the wanted status; when the registry does not know the instance, registers it
    /// again first (once). The caller holds `writes`.
    async fn write_status(&self) -> Result<()> {
        let mut registered_again = false;
        loop {
            self.check_open()?;
            let wanted = self.wanted();
            match self.shared.transport.set_status(&self.id(), wanted).await {
                Ok(()) => {
                    // A newer wish arrived meanwhile: its own call writes it.
                    self.status_pending
                        .store(self.wanted() != wanted, Ordering::Release);
                    return Ok(());
                }
                Err(e) if e.is_not_found() && !registered_again => {
                    self.register_again().await?;
                    registered_again = true;
                    if !self.status_pending.load(Ordering::Acquire) {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The heartbeat task: beat at the registry's interval; after a failure retry sooner
/// (doubling from `retry_interval`, never slower than the interval), until `stop`.
async fn beat(state: Arc<State>) {
    let config = &state.shared.config;
    let mut pause = config.retry_interval;
    let mut wait = state.interval();
    loop {
        tokio::select! {
            () = state.stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match state.beat_once().await {
            None => return,
            Some(Ok(())) => {
                pause = config.retry_interval;
                wait = state.interval();
            }
            Some(Err(e)) => {
                wait = pause.min(state.interval());
                tracing::warn!(service = %state.request.service_name, instance_id = %state.id(), error = %e, retry_in = ?wait, "heartbeat failed");
                pause = (pause * 2).min(config.max_retry_interval);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are replaced whole: a panic elsewhere cannot leave them half-written.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
