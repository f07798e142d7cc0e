//! [`Breakers`]: named breakers whose policies come from config and from coord, reloaded
//! without resetting the breakers whose policy did not change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use keel_clog::{Context, Env, Logger};
use keel_coord::{ConfigWatch, Provider as Coord};
use serde::Serialize;

use crate::breaker::{Breaker, State};
use crate::clock::{Clock, MonotonicClock};
use crate::{ConfigError, Policies};

/// Static settings: the service (for the coord key) and the policies used until coord says
/// otherwise (or always, without coord).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The service whose breakers these are.
    pub service: String,
    /// The environment (for the coord key `/config/{env}/{service}/breaker/`).
    pub env: Env,
    /// Policies in force until (or without) coord.
    pub policies: Policies,
}

impl Config {
    /// The default policy for every breaker, in `env`.
    pub fn for_env(env: Env) -> Self {
        Config {
            service: "keel".into(),
            env,
            policies: Policies::default(),
        }
    }
}

/// Dependencies of the breakers.
#[derive(Clone, Default)]
pub struct Options {
    /// Parent logger; breakers log under `<namespace>.breaker`.
    pub logger: Logger,
    /// Where policies live (`/config/{env}/{service}/breaker/`); `None` keeps `Config::policies`.
    pub coord: Option<Arc<dyn Coord>>,
    /// The clock; `None` is the monotonic clock (tests inject a manual one).
    pub clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("logger", &self.logger)
            .finish_non_exhaustive()
    }
}

/// One breaker's state, for metrics and status pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerStatus {
    /// The name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// How many times it opened.
    pub times_opened: u64,
    /// How many calls it rejected.
    pub rejections: u64,
}

/// Named breakers sharing one policy set.
pub struct Breakers {
    policies: ArcSwap<Policies>,
    breakers: Mutex<HashMap<String, Arc<Breaker>>>,
    clock: Arc<dyn Clock>,
    /// Follows the policies in coord; dropping it stops following.
    watch: Option<ConfigWatch<Policies>>,
}

impl std::fmt::Debug for Breakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breakers").finish_non_exhaustive()
    }
}

/// Builds the breakers; with `Options::coord`, loads and follows the policies stored there
/// (an invalid stored policy set fails `new`; an invalid update is rejected and the last good
/// set stays).
pub async fn new(
    ctx: &Context,
    config: Config,
    opts: Options,
) -> Result<Arc<Breakers>, ConfigError> {
    config.policies.validate()?;
    let clock = opts
        .clock
        .unwrap_or_else(|| Arc::new(MonotonicClock::default()));
    let Some(coord) = opts.coord else {
        return Ok(Arc::new(Breakers::build(config.policies, clock, None)));
    };
    let watch = ConfigWatch::<Policies>::start(
        ctx,
        coord,
        config.env,
        &config.service,
        "breaker",
        |p: &Policies| p.validate().map_err(|e| e.to_string()),
    )
    .await?;
    let initial = (*watch.current()).clone();
    let mut updates = watch.subscribe();
    let breakers = Arc::new(Breakers::build(initial, clock, Some(watch)));
    let weak = Arc::downgrade(&breakers);
    tokio::spawn(async move {
        while updates.changed().await.is_ok() {
            let policies = (**updates.borrow_and_update()).clone();
            let Some(breakers) = weak.upgrade() else {
                return;
            };
            breakers.apply(policies);
        }
    });
    Ok(breakers)
}

impl Breakers {
    fn build(
        policies: Policies,
        clock: Arc<dyn Clock>,
        watch: Option<ConfigWatch<Policies>>,
    ) -> Self {
        Breakers {
            policies: ArcSwap::from_pointee(policies),
            breakers: Mutex::new(HashMap::new()),
            clock,
            watch,
        }
    }

    /// The breaker `name`, created with its policy on first use.
    pub fn get(&self, name: &str) -> Arc<Breaker> {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = breakers.get(name) {
            return Arc::clone(b);
        }
        let policy = self.policies.load().for_breaker(name).clone();
        let breaker = Arc::new(Breaker::new(name, policy, Arc::clone(&self.clock)));
        breakers.insert(name.to_owned(), Arc::clone(&breaker));
        breaker
    }

    /// Swaps in a new (validated) policy set: breakers whose policy changed start afresh with
    /// it; the others keep their state and counts.
    pub(crate) fn apply(&self, policies: Policies) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        for (name, breaker) in breakers.iter_mut() {
            let policy = policies.for_breaker(name);
            if policy != breaker.policy() {
                tracing::info!(
                    breaker = name.as_str(),
                    "policy changed; breaker restarts closed"
                );
                *breaker = Arc::new(Breaker::new(name, policy.clone(), Arc::clone(&self.clock)));
            }
        }
        self.policies.store(Arc::new(policies));
    }

    /// Why the latest policy update from coord was rejected, if it was (the last good set stays).
    pub fn last_config_error(&self) -> Option<String> {
        self.watch.as_ref().and_then(ConfigWatch::last_error)
    }

    /// Every breaker's state, sorted by name.
    pub fn statuses(&self) -> Vec<BreakerStatus> {
        let breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let mut statuses: Vec<BreakerStatus> = breakers
            .values()
            .map(|b| BreakerStatus {
                name: b.name().to_owned(),
                state: b.state(),
                times_opened: b.times_opened(),
                rejections: b.rejections(),
            })
            .collect();
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        statuses
    }
}
