//! The keel Provider for ids: `new(ctx, config, opts)` → [`Provider`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use keel_clog::{Context, Logger};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::snowflake::{Snowflake, SnowflakeParts};
use crate::uuid_v7::UuidV7;
use crate::{Config, Error, Result};

/// Dependencies of the id generator.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.uid`.
    pub logger: Logger,
}

/// Issues Snowflake ids and UUIDv7 values.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The next Snowflake id: unique and increasing for this provider.
    fn next_id(&self) -> Result<u64>;
    /// The next UUIDv7: increasing for this provider.
    fn next_uuid(&self) -> Result<Uuid>;
    /// The fields of a Snowflake id issued with this provider's epoch.
    fn decompose(&self, id: u64) -> SnowflakeParts;
    /// The worker id in this provider's Snowflake ids.
    fn worker_id(&self) -> u16;
    /// Stops issuing ids. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Builds the id provider from a validated `config`.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<dyn Provider>> {
    Ok(Arc::new(Generator::new(ctx, config, opts, SystemClock)?))
}

/// The provider with an injected clock, for tests of clock behaviour.
pub fn with_clock<C: Clock>(config: Config, opts: Options, clock: C) -> Result<Arc<dyn Provider>> {
    Ok(Arc::new(Generator::new(
        &Context::new(),
        config,
        opts,
        clock,
    )?))
}

struct Generator<C: Clock> {
    snowflake: Snowflake<C>,
    uuids: UuidV7,
    closed: AtomicBool,
    logger: Logger,
}

impl<C: Clock> Generator<C> {
    fn new(ctx: &Context, config: Config, opts: Options, clock: C) -> Result<Self> {
        config.validate()?;
        let logger = opts.logger.named("uid");
        let snowflake = Snowflake::new(
            config.epoch_unix_ms()?,
            config.worker_id,
            config.max_clock_backward,
            clock,
        )?;
        logger.span(ctx, "new").in_scope(|| {
            tracing::info!(worker_id = config.worker_id, "id generator ready");
        });
        Ok(Generator {
            snowflake,
            uuids: UuidV7::new(),
            closed: AtomicBool::new(false),
            logger,
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
        self.snowflake.next_id().inspect_err(|err| {
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
        self.snowflake.decompose(id)
    }

    fn worker_id(&self) -> u16 {
        self.snowflake.worker_id()
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}
