//! The keel Provider for ids: `new(ctx, config, opts)` → [`Provider`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use keel_clog::{Context, Logger};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::snowflake::{Snowflake, SnowflakeParts};
use crate::uuid_v7::UuidV7;
use crate::{Config, Error, Result};

/// Dependencies of the id generator.
#[derive(Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.uid`.
    pub logger: Logger,
    /// The coordination provider that allocates the worker id when `Config::coord_worker` is set.
    #[cfg(feature = "coord")]
    pub coord: Option<Arc<dyn keel_coord::Provider>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("logger", &self.logger)
            .finish_non_exhaustive()
    }
}

/// Issues Snowflake ids and UUIDv7 values.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The next Snowflake id: unique and increasing for this provider. Fails with
    /// [`Error::NoWorkerId`] while a coord-allocated worker id is lost.
    fn next_id(&self) -> Result<u64>;
    /// The next UUIDv7: increasing for this provider.
    fn next_uuid(&self) -> Result<Uuid>;
    /// The fields of a Snowflake id issued with this provider's epoch.
    fn decompose(&self, id: u64) -> SnowflakeParts;
    /// The worker id in this provider's Snowflake ids; `None` while none is held.
    fn worker_id(&self) -> Option<u16>;
    /// Stops issuing ids and gives back a coord-allocated worker id. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Builds the id provider from a validated `config`. With `coord_worker` set, waits until a
/// worker id is held.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<dyn Provider>> {
    Ok(Arc::new(
        Generator::start(ctx, config, opts, SystemClock).await?,
    ))
}

/// The provider with an injected clock, for tests of clock behaviour.
pub async fn with_clock<C: Clock>(
    config: Config,
    opts: Options,
    clock: C,
) -> Result<Arc<dyn Provider>> {
    Ok(Arc::new(
        Generator::start(&Context::new(), config, opts, clock).await?,
    ))
}

/// The Snowflake generator in use, swapped when the worker id changes.
pub(crate) struct WorkerSlot<C: Clock> {
    current: ArcSwapOption<Snowflake<C>>,
    /// The last state of generators retired with a lost worker id.
    retired: AtomicU64,
    epoch_ms: u64,
    max_backward: Duration,
    clock: C,
}

impl<C: Clock> WorkerSlot<C> {
    /// Starts issuing with `worker_id`, after every id issued before.
    pub(crate) fn install(&self, worker_id: u16) -> Result<()> {
        let generator = Snowflake::new(
            self.epoch_ms,
            worker_id,
            self.max_backward,
            self.clock.clone(),
        )?;
        let retired = self.retired.load(Ordering::Acquire);
        if retired != 0 {
            generator.resume_after(retired);
        }
        self.current.store(Some(Arc::new(generator)));
        Ok(())
    }

    /// Stops issuing until the next `install`.
    pub(crate) fn retire(&self) {
        if let Some(old) = self.current.swap(None) {
            self.retired.fetch_max(old.retire(), Ordering::AcqRel);
        }
    }
}

struct Generator<C: Clock> {
    slot: Arc<WorkerSlot<C>>,
    uuids: UuidV7,
    closed: AtomicBool,
    logger: Logger,
    #[cfg(feature = "coord")]
    worker: Option<crate::coord_worker::WorkerHolder>,
}

impl<C: Clock> Generator<C> {
    async fn start(ctx: &Context, config: Config, opts: Options, clock: C) -> Result<Self> {
        config.validate()?;
        let logger = opts.logger.named("uid");
        let slot = Arc::new(WorkerSlot {
            current: ArcSwapOption::empty(),
            retired: AtomicU64::new(0),
            epoch_ms: config.epoch_unix_ms()?,
            max_backward: config.max_clock_backward,
            clock,
        });
        #[cfg(feature = "coord")]
        let worker = match &config.coord_worker {
            Some(worker) => {
                let coord = opts.coord.clone().ok_or_else(|| {
                    Error::InvalidConfig("coord_worker is set but Options::coord is None".into())
                })?;
                Some(
                    crate::coord_worker::WorkerHolder::start(
                        ctx,
                        coord,
                        worker,
                        Arc::clone(&slot),
                        logger.clone(),
                    )
                    .await?,
                )
            }
            None => {
                slot.install(config.worker_id)?;
                None
            }
        };
        #[cfg(not(feature = "coord"))]
        slot.install(config.worker_id)?;
        logger.span(ctx, "new").in_scope(|| {
            let worker_id = slot.current.load().as_ref().map(|s| s.worker_id());
            tracing::info!(?worker_id, "id generator ready");
        });
        Ok(Generator {
            slot,
            uuids: UuidV7::new(),
            closed: AtomicBool::new(false),
            logger,
            #[cfg(feature = "coord")]
            worker,
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl<C: Clock> Provider for Generator<C> {
    fn next_id(&self) -> Result<u64> {
        self.check_open()?;
        let current = self.slot.current.load();
        let Some(generator) = current.as_ref() else {
            return Err(Error::NoWorkerId);
        };
        generator.next_id().inspect_err(|err| {
            if matches!(err, Error::ClockMovedBackwards { .. }) {
                tracing::error!(ns = self.logger.namespace(), %err, "not issuing ids");
            }
        })
    }

    fn next_uuid(&self) -> Result<Uuid> {
        self.check_open()?;
        Ok(self.uuids.next_uuid())
    }

    fn decompose(&self, id: u64) -> SnowflakeParts {
        crate::snowflake::decompose(self.slot.epoch_ms, id)
    }

    fn worker_id(&self) -> Option<u16> {
        self.slot.current.load().as_ref().map(|s| s.worker_id())
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.slot.retire();
        #[cfg(feature = "coord")]
        if let Some(worker) = &self.worker {
            worker.stop().await;
        }
        Ok(())
    }
}
