//! [`RuleSet`]: the rules in force, ready to check — swapped whole on every reload.

use std::collections::HashMap;
use std::sync::Arc;

use keel_clog::Mode;

use crate::local::LocalLimiter;
use crate::stats::{Counter, ResourceStats};
use crate::{Error, FailPolicy, Rule, RuleMode, Rules};

/// One resource's rule with its buckets and counters.
pub(crate) struct CompiledRule {
    pub(crate) resource: String,
    pub(crate) rule: Rule,
    /// The mode actually used (standalone runs distributed rules locally).
    pub(crate) mode: RuleMode,
    /// Local buckets: the rule's own in local mode, the `on_backend_error: local` fallback in
    /// distributed mode. Empty maps cost a few hundred bytes.
    pub(crate) local: LocalLimiter,
    pub(crate) allowed: Counter,
    pub(crate) denied: Counter,
    pub(crate) fallbacks: Counter,
}

impl CompiledRule {
    fn new(resource: &str, rule: &Rule, mode: Mode, max_keys: usize) -> Result<Self, Error> {
        Ok(CompiledRule {
            resource: resource.to_owned(),
            rule: rule.clone(),
            mode: match mode {
                Mode::Standalone => RuleMode::Local,
                Mode::Distributed => rule.mode,
            },
            local: LocalLimiter::new(rule, max_keys, Default::default())?,
            allowed: Counter::default(),
            denied: Counter::default(),
            fallbacks: Counter::default(),
        })
    }

    pub(crate) fn count(&self, allowed: bool) {
        if allowed {
            self.allowed.add();
        } else {
            self.denied.add();
        }
    }

    pub(crate) fn stats(&self) -> ResourceStats {
        ResourceStats {
            resource: self.resource.clone(),
            allowed: self.allowed.get(),
            denied: self.denied.get(),
            backend_fallbacks: self.fallbacks.get(),
            local_keys: self.local.len(),
            evicted_keys: self.local.evicted(),
        }
    }
}

/// The rules in force.
pub(crate) struct RuleSet {
    pub(crate) unknown_rule: FailPolicy,
    /// By resource. foldhash, not SipHash: resource names come from the rules and the code,
    /// never from clients, and this lookup is on every check.
    pub(crate) rules: HashMap<String, Arc<CompiledRule>, foldhash::fast::RandomState>,
}

impl RuleSet {
    /// Compiles `rules` (already validated). A rule equal to the one in `previous` keeps its
    /// buckets and counters, so a reload restarts only the rules that changed.
    pub(crate) fn compile(
        rules: &Rules,
        previous: Option<&RuleSet>,
        mode: Mode,
        max_keys: usize,
    ) -> Result<Self, Error> {
        let mut compiled = HashMap::with_capacity_and_hasher(rules.rules.len(), Default::default());
        for (resource, rule) in &rules.rules {
            let kept = previous
                .and_then(|p| p.rules.get(resource))
                .filter(|old| old.rule == *rule);
            let entry = match kept {
                Some(old) => Arc::clone(old),
                None => Arc::new(CompiledRule::new(resource, rule, mode, max_keys)?),
            };
            compiled.insert(resource.clone(), entry);
        }
        Ok(RuleSet {
            unknown_rule: rules.unknown_rule,
            rules: compiled,
        })
    }

    /// The resources whose rule differs between `self` and `next` (added, changed, removed).
    pub(crate) fn changed(&self, next: &RuleSet) -> Vec<String> {
        let mut names: Vec<String> = next
            .rules
            .iter()
            .filter(|(name, rule)| {
                self.rules
                    .get(*name)
                    .is_none_or(|old| !Arc::ptr_eq(old, rule))
            })
            .map(|(name, _)| name.clone())
            .chain(
                self.rules
                    .keys()
                    .filter(|name| !next.rules.contains_key(*name))
                    .cloned(),
            )
            .collect();
        names.sort();
        names
    }
}
