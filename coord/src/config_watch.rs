//! [`ConfigWatch`]: run-time configuration stored in coord, validated and swapped whole.
//!
//! Components keep rules that change at run time (rate limits, breaker policies, the log level)
//! under `/config/{env}/{service}/{component}/`. Every key below that prefix holds a JSON value;
//! the keys nest by `/` into one JSON object that is deserialized into `T`:
//!
//! ```text
//! /config/production/order/ratelimit/default        → {"rate": 100}
//! /config/production/order/ratelimit/rules/login    → {"rate": 0.5, "burst": 3}
//! ⇒ {"default": {"rate": 100}, "rules": {"login": {"rate": 0.5, "burst": 3}}}
//! ```
//!
//! Each change (all keys of one revision together) rebuilds `T`; if it does not parse or the
//! validator rejects it, the last good value stays, the reason is logged and kept in
//! [`ConfigWatch::last_error`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use keel_clog::{Context, Env, LevelHandle};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::lock::check_name;
use crate::provider::{Provider, StartAt};
use crate::types::EventKind;
use crate::{Error, Result};

/// The prefix of a component's run-time configuration.
pub fn config_prefix(env: Env, service: &str, component: &str) -> String {
    format!("/config/{env}/{service}/{component}/")
}

type Validator<T> = dyn Fn(&T) -> std::result::Result<(), String> + Send + Sync;

/// A validated configuration of type `T`, kept current from coord.
pub struct ConfigWatch<T> {
    prefix: String,
    current: Arc<ArcSwap<T>>,
    updates: watch::Receiver<Arc<T>>,
    last_error: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> Drop for ConfigWatch<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn build<T: DeserializeOwned>(
    prefix: &str,
    entries: &BTreeMap<String, Vec<u8>>,
    validate: &Validator<T>,
) -> std::result::Result<T, String> {
    let mut root = Map::new();
    for (key, raw) in entries {
        let relative = key.strip_prefix(prefix).unwrap_or(key);
        let value: Value =
            serde_json::from_slice(raw).map_err(|e| format!("{key}: not JSON: {e}"))?;
        let mut parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
        let Some(leaf) = parts.pop() else { continue };
        let mut node = &mut root;
        for part in parts {
            let child = node
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            node = child
                .as_object_mut()
                .ok_or_else(|| format!("{key}: {part:?} is both a value and a folder"))?;
        }
        if node.insert(leaf.to_owned(), value).is_some() {
            return Err(format!("{key}: {leaf:?} is both a value and a folder"));
        }
    }
    let value: T = serde_json::from_value(Value::Object(root))
        .map_err(|e| format!("does not match the expected shape: {e}"))?;
    validate(&value)?;
    Ok(value)
}

impl<T: DeserializeOwned + Send + Sync + 'static> ConfigWatch<T> {
    /// Loads `/config/{env}/{service}/{component}/` (empty means `{}`, so `T`'s serde defaults
    /// apply), validates it and keeps following it. Fails if the stored configuration is
    /// invalid right now: a component must not start on rules nobody checked.
    pub async fn start(
        ctx: &Context,
        coord: Arc<dyn Provider>,
        env: Env,
        service: &str,
        component: &str,
        validate: impl Fn(&T) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Result<Self> {
        check_name("service", service)?;
        check_name("component", component)?;
        let prefix = config_prefix(env, service, component);
        let validate: Arc<Validator<T>> = Arc::new(validate);
        let listing = coord.list(ctx, &prefix).await?;
        let mut entries: BTreeMap<String, Vec<u8>> = listing
            .kvs
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect();
        let initial =
            build(&prefix, &entries, validate.as_ref()).map_err(|reason| Error::InvalidValue {
                prefix: prefix.clone(),
                reason,
            })?;
        let initial = Arc::new(initial);
        let current = Arc::new(ArcSwap::new(Arc::clone(&initial)));
        let (tx, updates) = watch::channel(initial);
        let last_error = Arc::new(Mutex::new(None));
        let mut changes = coord
            .watch(ctx, &prefix, true, StartAt::Revision(listing.revision + 1))
            .await?;
        let logger = coord.logger().clone();
        let task = tokio::spawn({
            let (prefix, current, last_error) = (
                prefix.clone(),
                Arc::clone(&current),
                Arc::clone(&last_error),
            );
            async move {
                while let Some(batch) = changes.next_batch().await {
                    for event in batch {
                        match event.kind {
                            EventKind::Put => entries.insert(event.kv.key, event.kv.value),
                            EventKind::Delete => entries.remove(&event.kv.key),
                        };
                    }
                    let mut error = last_error.lock().unwrap_or_else(|p| p.into_inner());
                    match build(&prefix, &entries, validate.as_ref()) {
                        Ok(value) => {
                            let value = Arc::new(value);
                            current.store(Arc::clone(&value));
                            let _ = tx.send(value);
                            *error = None;
                            tracing::info!(
                                ns = logger.namespace(),
                                prefix,
                                "configuration updated"
                            );
                        }
                        Err(reason) => {
                            tracing::warn!(
                                ns = logger.namespace(),
                                prefix,
                                reason,
                                "rejected a configuration update; keeping the last good one"
                            );
                            *error = Some(reason);
                        }
                    }
                }
            }
        });
        Ok(ConfigWatch {
            prefix,
            current,
            updates,
            last_error,
            task,
        })
    }
}

impl<T> ConfigWatch<T> {
    /// The current value (cheap: an atomic load).
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// A receiver notified with every accepted value.
    pub fn subscribe(&self) -> watch::Receiver<Arc<T>> {
        self.updates.clone()
    }

    /// Why the latest update was rejected, if it was.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The watched prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The log level stored at `/config/{env}/{service}/clog/level` (a JSON string such as
/// `"debug"` or `"info,keel_db=trace"`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LogLevel {
    /// The directive; absent means "leave the level as configured at start".
    #[serde(default)]
    pub level: Option<String>,
}

/// Applies the log level stored in coord to `handle` now and on every valid change. Invalid
/// levels are rejected (the current level stays). Keep the returned watch alive.
pub async fn bind_log_level(
    ctx: &Context,
    coord: Arc<dyn Provider>,
    env: Env,
    service: &str,
    handle: LevelHandle,
) -> Result<ConfigWatch<LogLevel>> {
    let watch = ConfigWatch::<LogLevel>::start(ctx, coord, env, service, "clog", |l: &LogLevel| {
        match &l.level {
            Some(level) => keel_clog::validate_level(level).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    })
    .await?;
    let mut updates = watch.subscribe();
    let apply = move |l: &LogLevel| {
        if let Some(level) = &l.level
            && let Err(err) = handle.set(level)
        {
            tracing::warn!(%err, "could not apply the log level from coord");
        }
    };
    apply(&watch.current());
    tokio::spawn(async move {
        while updates.changed().await.is_ok() {
            let level = Arc::clone(&updates.borrow_and_update());
            apply(&level);
        }
    });
    Ok(watch)
}
