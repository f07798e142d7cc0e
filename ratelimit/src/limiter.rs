//! [`RateLimiter`]: the provider — rules from config or coord, checks local or distributed.

use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use keel_cache::Bucket;
use keel_clog::{Context, Logger, Mode};
use keel_coord::ConfigWatch;

use crate::compiled::{CompiledRule, RuleSet};
use crate::distributed::{BackendGate, bucket_key};
use crate::stats::{Counter, LogGate, Stats};
use crate::{Basis, Config, Decision, Error, FailPolicy, Options, Result, RuleMode, Rules};

/// How often a repeated warning (unknown rule, backend down) may be logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What coord holds: rules that add to or replace `Config::rules` by name, and optionally the
/// unknown-rule policy. Removing a rule from coord brings back the configured one (if any).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    #[serde(default)]
    unknown_rule: Option<FailPolicy>,
    #[serde(default)]
    rules: std::collections::BTreeMap<String, crate::Rule>,
}

impl Stored {
    /// `base` with these overrides applied.
    fn over(&self, base: &Rules) -> Rules {
        let mut merged = base.clone();
        if let Some(policy) = self.unknown_rule {
            merged.unknown_rule = policy;
        }
        merged
            .rules
            .extend(self.rules.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
    }
}

/// Token-bucket rate limits per resource and key.
///
/// Built by [`new`]; cheap to share (`Arc`). Dropping it stops the rule watch and the sweeper.
pub struct RateLimiter {
    rules: ArcSwap<RuleSet>,
    config: Config,
    cache: Option<Arc<dyn keel_cache::Provider>>,
    logger: Logger,
    gate: BackendGate,
    unknown_rule: Counter,
    unknown_log: LogGate,
    backend_log: LogGate,
    /// Follows the rules in coord; dropping it stops following.
    watch: Option<ConfigWatch<Stored>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("service", &self.config.service)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl Drop for RateLimiter {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Builds the rate limiter. `Config::rules` are the base; with `Options::coord`, the rules in
/// `/config/{env}/{service}/ratelimit/` are added to them (replacing same-named ones, and
/// `unknown_rule` if set) and followed: an invalid stored set fails `new`; an invalid update is
/// refused, logged and reported by [`RateLimiter::last_config_error`], and the last good set
/// stays.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<RateLimiter>> {
    config.validate()?;
    let logger = opts.logger.named("ratelimit");
    missing_cache(&config.rules, config.mode, opts.cache.is_some())
        .map_err(Error::InvalidConfig)?;
    let (rules, watch) = match &opts.coord {
        None => (config.rules.clone(), None),
        Some(coord) => {
            let (mode, has_cache) = (config.mode, opts.cache.is_some());
            let base = config.rules.clone();
            let watch = ConfigWatch::<Stored>::start(
                ctx,
                Arc::clone(coord),
                config.env,
                &config.service,
                "ratelimit",
                move |stored: &Stored| {
                    let rules = stored.over(&base);
                    rules.validate().map_err(|e| e.to_string())?;
                    missing_cache(&rules, mode, has_cache)
                },
            )
            .await?;
            (watch.current().over(&config.rules), Some(watch))
        }
    };
    let compiled = RuleSet::compile(&rules, None, config.mode, config.max_keys)?;
    let updates = watch.as_ref().map(ConfigWatch::subscribe);
    let sweep_interval = config.sweep_interval;
    let limiter = Arc::new_cyclic(|weak: &Weak<RateLimiter>| {
        let mut tasks = vec![tokio::spawn(sweep(weak.clone(), sweep_interval))];
        if let Some(updates) = updates {
            tasks.push(tokio::spawn(follow(weak.clone(), updates)));
        }
        RateLimiter {
            rules: ArcSwap::from_pointee(compiled),
            cache: opts.cache,
            logger,
            gate: BackendGate::new(),
            unknown_rule: Counter::default(),
            unknown_log: LogGate::new(WARN_EVERY),
            backend_log: LogGate::new(WARN_EVERY),
            watch,
            tasks,
            config,
        }
    });
    Ok(limiter)
}

/// Refuses distributed rules that would have no cache to run on.
fn missing_cache(rules: &Rules, mode: Mode, has_cache: bool) -> std::result::Result<(), String> {
    if mode == Mode::Standalone || has_cache {
        return Ok(());
    }
    match rules
        .rules
        .iter()
        .find(|(_, r)| r.mode == RuleMode::Distributed)
    {
        Some((name, _)) => Err(format!(
            "rule {name:?} is distributed but the rate limiter has no cache (set Options::cache, or run standalone)"
        )),
        None => Ok(()),
    }
}

/// Applies every accepted rule set until the limiter is dropped.
async fn follow(
    limiter: Weak<RateLimiter>,
    mut updates: tokio::sync::watch::Receiver<Arc<Stored>>,
) {
    while updates.changed().await.is_ok() {
        let stored = Arc::clone(&updates.borrow_and_update());
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        limiter.apply(&stored.over(&limiter.config.rules));
    }
}

/// Drops full (idle) local buckets every `interval` until the limiter is dropped.
async fn sweep(limiter: Weak<RateLimiter>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        for rule in limiter.rules.load().rules.values() {
            rule.local.sweep();
        }
    }
}

/// What is left to do once the in-memory part of a check is done.
enum Pending {
    Done(Decision),
    AskBackend(Arc<CompiledRule>),
}

impl RateLimiter {
    /// May one request for `key` on `resource` proceed? Takes one token when it may.
    // Not an `async fn`: returning `allow_n`'s future as is spares a second state machine.
    pub fn allow<'a>(
        &'a self,
        ctx: &'a Context,
        resource: &'a str,
        key: &'a str,
    ) -> impl Future<Output = Result<Decision>> + Send + 'a {
        self.allow_n(ctx, resource, key, 1)
    }

    /// May a request costing `n` tokens proceed? `n` must be between 1 and the rule's burst.
    ///
    /// Errors only for a wrong request or an ended `ctx`; an unknown rule or a backend that does
    /// not answer is decided by policy (see [`Basis`]).
    pub async fn allow_n(
        &self,
        ctx: &Context,
        resource: &str,
        key: &str,
        n: u32,
    ) -> Result<Decision> {
        let n = NonZeroU32::new(n)
            .ok_or_else(|| Error::InvalidRequest("a request takes at least 1 token".into()))?;
        match self.check_in_memory(resource, key, n)? {
            Pending::Done(decision) => Ok(decision),
            // Boxed so this future stays a few words: a local check (the hot path) then does
            // not build and move the backend call's large state; a Redis round trip dwarfs
            // the allocation.
            Pending::AskBackend(rule) => Box::pin(self.check_backend(ctx, &rule, key, n)).await,
        }
    }

    /// Decides without I/O where possible (local rules, unknown rules, a backend known down).
    fn check_in_memory(&self, resource: &str, key: &str, n: NonZeroU32) -> Result<Pending> {
        let rules = self.rules.load();
        let Some(rule) = rules.rules.get(resource) else {
            self.unknown_rule.add();
            let allowed = rules.unknown_rule == FailPolicy::Open;
            if let Some(held_back) = self.unknown_log.pass() {
                tracing::warn!(
                    ns = self.logger.namespace(),
                    resource,
                    allowed,
                    held_back,
                    "no rate-limit rule for this resource; unknown_rule decides"
                );
            }
            return Ok(Pending::Done(Decision::by_policy(
                allowed,
                Basis::UnknownRule,
                Duration::ZERO,
            )));
        };
        if rule.mode == RuleMode::Local {
            return self
                .check_local(rule, key, n, Basis::Limit)
                .map(Pending::Done);
        }
        if self.gate.is_down() {
            return self.fallback(rule, key, n).map(Pending::Done);
        }
        Ok(Pending::AskBackend(Arc::clone(rule)))
    }

    fn check_local(
        &self,
        rule: &CompiledRule,
        key: &str,
        n: NonZeroU32,
        basis: Basis,
    ) -> Result<Decision> {
        let answer = rule.local.check(key, n)?;
        rule.count(answer.allowed);
        Ok(Decision {
            allowed: answer.allowed,
            retry_after: answer.retry_after,
            remaining: Some(answer.remaining),
            basis,
        })
    }

    async fn check_backend(
        &self,
        ctx: &Context,
        rule: &CompiledRule,
        key: &str,
        n: NonZeroU32,
    ) -> Result<Decision> {
        let burst = rule.rule.effective_burst();
        if n.get() > burst {
            return Err(Error::InvalidRequest(format!(
                "asked for {n} tokens but the bucket of {:?} holds at most {burst}",
                rule.resource
            )));
        }
        let Some(cache) = &self.cache else {
            // `new` and the reload validator refuse distributed rules without a cache.
            return self.fallback(rule, key, n);
        };
        let bucket = Bucket {
            rate: rule.rule.rate,
            burst: f64::from(burst),
            cost: f64::from(n.get()),
        };
        let cache_key = bucket_key(&self.config.key_prefix, &rule.resource, key);
        let asked = tokio::time::timeout(
            self.config.backend_timeout,
            cache.token_bucket(ctx, &cache_key, bucket),
        )
        .await;
        let failure = match asked {
            Ok(Ok(answer)) => {
                self.gate.mark_up();
                rule.count(answer.allowed);
                return Ok(Decision {
                    allowed: answer.allowed,
                    retry_after: answer.retry_after,
                    remaining: Some(answer.remaining),
                    basis: Basis::Limit,
                });
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.config.backend_timeout),
        };
        // The caller gave up: that says nothing about the backend.
        if ctx.is_done() {
            return Err(Error::Cancelled);
        }
        self.gate.mark_down(self.config.backend_recheck);
        if let Some(held_back) = self.backend_log.pass() {
            tracing::warn!(
                ns = self.logger.namespace(),
                resource = rule.resource.as_str(),
                policy = ?rule.rule.on_backend_error,
                error = failure,
                held_back,
                "rate-limit backend failed; the rule's on_backend_error policy decides"
            );
        }
        self.fallback(rule, key, n)
    }

    /// The rule's `on_backend_error` answer.
    fn fallback(&self, rule: &CompiledRule, key: &str, n: NonZeroU32) -> Result<Decision> {
        rule.fallbacks.add();
        let decision = match rule.rule.on_backend_error {
            FailPolicy::Local => return self.check_local(rule, key, n, Basis::BackendUnavailable),
            FailPolicy::Open => {
                Decision::by_policy(true, Basis::BackendUnavailable, Duration::ZERO)
            }
            FailPolicy::Closed => Decision::by_policy(
                false,
                Basis::BackendUnavailable,
                self.config.backend_recheck,
            ),
        };
        rule.count(decision.allowed);
        Ok(decision)
    }

    /// Swaps in a validated rule set; rules that did not change keep their buckets.
    fn apply(&self, rules: &Rules) {
        let current = self.rules.load();
        match RuleSet::compile(
            rules,
            Some(&current),
            self.config.mode,
            self.config.max_keys,
        ) {
            Ok(next) => {
                let changed = current.changed(&next);
                self.rules.store(Arc::new(next));
                tracing::info!(
                    ns = self.logger.namespace(),
                    ?changed,
                    "rate-limit rules reloaded; changed rules start with full buckets"
                );
            }
            // Validation already passed, so this is only reachable through a governor refusal.
            Err(e) => tracing::warn!(
                ns = self.logger.namespace(),
                error = %e,
                "rate-limit rules refused; keeping the last good set"
            ),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Rules {
        let set = self.rules.load();
        Rules {
            unknown_rule: set.unknown_rule,
            rules: set
                .rules
                .iter()
                .map(|(name, rule)| (name.clone(), rule.rule.clone()))
                .collect(),
        }
    }

    /// Why the latest rule update from coord was refused, if it was (the last good set stays).
    pub fn last_config_error(&self) -> Option<String> {
        self.watch.as_ref().and_then(ConfigWatch::last_error)
    }

    /// What the limiter counted, for metrics. A rule's counts restart when the rule changes.
    pub fn stats(&self) -> Stats {
        let mut resources: Vec<_> = self
            .rules
            .load()
            .rules
            .values()
            .map(|rule| rule.stats())
            .collect();
        resources.sort_by(|a, b| a.resource.cmp(&b.resource));
        Stats {
            unknown_rule: self.unknown_rule.get(),
            resources,
        }
    }
}
