//! The standalone backend: Redis semantics in process.
//!
//! Every command runs under one lock, so multi-key commands and the atomic primitives
//! (compare-and-delete, set-if-absent, token bucket) are atomic exactly as Lua scripts are on
//! Redis. Keys expire at their deadline (an index of deadlines is swept on every command, so
//! expired keys do not linger); beyond `max_entries` the least recently used keys are evicted,
//! like Redis's `allkeys-lru`.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lru::LruCache;

use super::Backend;
use super::zset::ZSet;
use crate::command::{Command, Reply};
use crate::types::{KeyTtl, bucket_step};
use crate::{Error, Result};

enum Value {
    Str(Vec<u8>),
    Hash(HashMap<String, Vec<u8>>),
    Set(BTreeSet<String>),
    ZSet(ZSet),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "sorted set",
        }
    }

    fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}

struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

struct State {
    entries: LruCache<String, Entry>,
    expiries: BTreeSet<(Instant, String)>,
}

/// A shared in-process cache store: give the same one to several providers (through
/// `Options::standalone`) and they see the same keys, as several processes on one Redis do.
#[derive(Clone)]
pub struct StandaloneStore {
    inner: std::sync::Arc<StandaloneCache>,
}

impl std::fmt::Debug for StandaloneStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneStore")
            .field("max_entries", &self.inner.max_entries)
            .finish()
    }
}

impl StandaloneStore {
    /// A store keeping at most `max_entries` keys (least recently used evicted first).
    pub fn new(max_entries: usize) -> Self {
        StandaloneStore {
            inner: std::sync::Arc::new(StandaloneCache::new(max_entries)),
        }
    }
}

#[async_trait]
impl Backend for StandaloneStore {
    async fn execute(&self, command: Command) -> Result<Reply> {
        self.inner.execute(command).await
    }

    async fn close(&self) {}
}

/// The in-process cache store.
pub(crate) struct StandaloneCache {
    state: Mutex<State>,
    max_entries: usize,
}

impl StandaloneCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        StandaloneCache {
            state: Mutex::new(State {
                entries: LruCache::unbounded(),
                expiries: BTreeSet::new(),
            }),
            max_entries: NonZeroUsize::new(max_entries).map_or(1, NonZeroUsize::get),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Commands finish their mutation before anything can panic; a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn wrong_type(key: &str, expected: &'static str, actual: &Value) -> Error {
    Error::WrongType {
        key: key.to_owned(),
        expected,
        actual: actual.type_name(),
    }
}

impl State {
    fn sweep(&mut self, now: Instant) {
        while let Some((deadline, _)) = self.expiries.first() {
            if *deadline > now {
                break;
            }
            let Some((deadline, key)) = self.expiries.pop_first() else {
                break;
            };
            if self
                .entries
                .peek(&key)
                .is_some_and(|e| e.expires_at == Some(deadline))
            {
                self.entries.pop(&key);
            }
        }
    }

    fn set_expiry(&mut self, key: &str, expires_at: Option<Instant>) {
        if let Some(entry) = self.entries.peek_mut(key) {
            if let Some(old) = entry.expires_at.take() {
                self.expiries.remove(&(old, key.to_owned()));
            }
            entry.expires_at = expires_at;
            if let Some(new) = expires_at {
                self.expiries.insert((new, key.to_owned()));
            }
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.entries.pop(key) {
            Some(entry) => {
                if let Some(at) = entry.expires_at {
                    self.expiries.remove(&(at, key.to_owned()));
                }
                true
            }
            None => false,
        }
    }

    /// Stores a value, keeping the key's TTL when `keep_ttl`.
    fn put(&mut self, key: &str, value: Value, ttl: Option<Duration>, keep_ttl: bool, max: usize) {
        let old_expiry = self.entries.peek(key).and_then(|e| e.expires_at);
        let expires_at = match (ttl, keep_ttl) {
            (Some(ttl), _) => Some(Instant::now() + ttl),
            (None, true) => old_expiry,
            (None, false) => None,
        };
        if let Some(old) = old_expiry {
            self.expiries.remove(&(old, key.to_owned()));
        }
        self.entries
            .put(key.to_owned(), Entry { value, expires_at });
        if let Some(at) = expires_at {
            self.expiries.insert((at, key.to_owned()));
        }
        while self.entries.len() > max {
            let Some((evicted, entry)) = self.entries.pop_lru() else {
                break;
            };
            if let Some(at) = entry.expires_at {
                self.expiries.remove(&(at, evicted));
            }
        }
    }

    fn get(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Drops a collection that became empty (Redis deletes empty hashes, sets and sorted sets).
    fn drop_if_empty(&mut self, key: &str) {
        if self
            .entries
            .peek(key)
            .is_some_and(|e| e.value.is_empty_collection())
        {
            self.remove(key);
        }
    }
}

impl State {
    /// The value at `key`, created with `make` when absent (counted against `max_entries`).
    fn get_or_create(
        &mut self,
        key: &str,
        make: impl FnOnce() -> Value,
        max: usize,
    ) -> Result<&mut Value> {
        if !self.entries.contains(key) {
            self.put(key, make(), None, false, max);
        }
        // The key just written is the most recently used, so eviction never takes it.
        self.get(key)
            .ok_or_else(|| Error::Unavailable(format!("{key:?} was evicted as it was created")))
    }
}

fn hash_of<'a>(key: &str, value: &'a mut Value) -> Result<&'a mut HashMap<String, Vec<u8>>> {
    match value {
        Value::Hash(h) => Ok(h),
        other => Err(wrong_type(key, "hash", other)),
    }
}

fn set_of<'a>(key: &str, value: &'a mut Value) -> Result<&'a mut BTreeSet<String>> {
    match value {
        Value::Set(s) => Ok(s),
        other => Err(wrong_type(key, "set", other)),
    }
}

fn zset_of<'a>(key: &str, value: &'a mut Value) -> Result<&'a mut ZSet> {
    match value {
        Value::ZSet(z) => Ok(z),
        other => Err(wrong_type(key, "sorted set", other)),
    }
}

/// A missing key reads as an empty collection; another type is an error.
fn as_hash<'a>(
    key: &str,
    value: Option<&'a mut Value>,
) -> Result<Option<&'a mut HashMap<String, Vec<u8>>>> {
    value.map(|v| hash_of(key, v)).transpose()
}

fn as_set<'a>(key: &str, value: Option<&'a mut Value>) -> Result<Option<&'a mut BTreeSet<String>>> {
    value.map(|v| set_of(key, v)).transpose()
}

fn as_zset<'a>(key: &str, value: Option<&'a mut Value>) -> Result<Option<&'a mut ZSet>> {
    value.map(|v| zset_of(key, v)).transpose()
}

fn parse_int(raw: &[u8], key: impl FnOnce() -> String) -> Result<i64> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Error::NotAnInteger { key: key() })
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[async_trait]
impl Backend for StandaloneCache {
    async fn execute(&self, command: Command) -> Result<Reply> {
        let mut state = self.lock();
        state.sweep(Instant::now());
        let max = self.max_entries;
        let reply = match command {
            Command::Get(key) => match state.get(&key) {
                Some(Value::Str(v)) => Reply::OptBytes(Some(v.clone())),
                Some(other) => return Err(wrong_type(&key, "string", other)),
                None => Reply::OptBytes(None),
            },
            Command::Set {
                key,
                value,
                ttl,
                only_if_absent,
            } => {
                if only_if_absent && state.entries.contains(&key) {
                    Reply::Bool(false)
                } else {
                    state.put(&key, Value::Str(value), ttl, false, max);
                    Reply::Bool(true)
                }
            }
            Command::SetIfAbsentGet { key, value, ttl } => match state.get(&key) {
                Some(Value::Str(existing)) => Reply::OptBytes(Some(existing.clone())),
                Some(other) => return Err(wrong_type(&key, "string", other)),
                None => {
                    state.put(&key, Value::Str(value), ttl, false, max);
                    Reply::OptBytes(None)
                }
            },
            Command::IncrBy(key, delta) => {
                let current = match state.get(&key) {
                    Some(Value::Str(v)) => parse_int(v, || key.clone())?,
                    Some(other) => return Err(wrong_type(&key, "string", other)),
                    None => 0,
                };
                let next = current
                    .checked_add(delta)
                    .ok_or_else(|| Error::NotAnInteger { key: key.clone() })?;
                state.put(
                    &key,
                    Value::Str(next.to_string().into_bytes()),
                    None,
                    true,
                    max,
                );
                Reply::Int(next)
            }
            Command::MGet(keys) => Reply::ManyOptBytes(
                keys.iter()
                    .map(|k| match state.get(k) {
                        Some(Value::Str(v)) => Some(v.clone()),
                        _ => None, // Redis MGET answers nil for other types too
                    })
                    .collect(),
            ),
            Command::MSet(pairs) => {
                for (key, value) in pairs {
                    state.put(&key, Value::Str(value), None, false, max);
                }
                Reply::Done
            }
            Command::HSet(key, fields) => {
                let value = state.get_or_create(&key, || Value::Hash(HashMap::new()), max)?;
                let hash = hash_of(&key, value)?;
                Reply::Int(
                    fields
                        .into_iter()
                        .filter(|(f, v)| hash.insert(f.clone(), v.clone()).is_none())
                        .count() as i64,
                )
            }
            Command::HGet(key, field) => Reply::OptBytes(
                as_hash(&key, state.get(&key))?.and_then(|h| h.get(&field).cloned()),
            ),
            Command::HGetAll(key) => {
                let mut fields: Vec<(String, Vec<u8>)> = as_hash(&key, state.get(&key))?
                    .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                fields.sort();
                Reply::Fields(fields)
            }
            Command::HDel(key, fields) => {
                let removed = as_hash(&key, state.get(&key))?.map_or(0, |h| {
                    fields.iter().filter(|f| h.remove(*f).is_some()).count()
                });
                state.drop_if_empty(&key);
                Reply::Int(removed as i64)
            }
            Command::HIncrBy(key, field, delta) => {
                let value = state.get_or_create(&key, || Value::Hash(HashMap::new()), max)?;
                let hash = hash_of(&key, value)?;
                let name = || format!("{key}.{field}");
                let current = hash.get(&field).map_or(Ok(0), |v| parse_int(v, name))?;
                let next = current
                    .checked_add(delta)
                    .ok_or_else(|| Error::NotAnInteger { key: name() })?;
                hash.insert(field.clone(), next.to_string().into_bytes());
                Reply::Int(next)
            }
            Command::SAdd(key, members) => {
                let value = state.get_or_create(&key, || Value::Set(BTreeSet::new()), max)?;
                let set = set_of(&key, value)?;
                Reply::Int(
                    members
                        .into_iter()
                        .filter(|m| set.insert(m.clone()))
                        .count() as i64,
                )
            }
            Command::SRem(key, members) => {
                let removed = as_set(&key, state.get(&key))?
                    .map_or(0, |s| members.iter().filter(|m| s.remove(*m)).count());
                state.drop_if_empty(&key);
                Reply::Int(removed as i64)
            }
            Command::SMembers(key) => Reply::Members(
                as_set(&key, state.get(&key))?
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
            ),
            Command::SIsMember(key, member) => {
                Reply::Bool(as_set(&key, state.get(&key))?.is_some_and(|s| s.contains(&member)))
            }
            Command::SCard(key) => {
                Reply::Int(as_set(&key, state.get(&key))?.map_or(0, |s| s.len() as i64))
            }
            Command::ZAdd(key, members) => {
                let value = state.get_or_create(&key, || Value::ZSet(ZSet::default()), max)?;
                let z = zset_of(&key, value)?;
                Reply::Int(
                    members
                        .into_iter()
                        .filter(|(score, m)| z.add(*score, m.clone()))
                        .count() as i64,
                )
            }
            Command::ZRem(key, members) => {
                let removed = as_zset(&key, state.get(&key))?
                    .map_or(0, |z| members.iter().filter(|m| z.remove(m)).count());
                state.drop_if_empty(&key);
                Reply::Int(removed as i64)
            }
            Command::ZScore(key, member) => {
                Reply::Score(as_zset(&key, state.get(&key))?.and_then(|z| z.score(&member)))
            }
            Command::ZRangeByRank(key, start, stop) => Reply::Scored(
                as_zset(&key, state.get(&key))?
                    .map(|z| z.range_by_rank(start, stop))
                    .unwrap_or_default(),
            ),
            Command::ZRangeByScore {
                key,
                min,
                max: high,
                offset,
                count,
            } => Reply::Scored(
                as_zset(&key, state.get(&key))?
                    .map(|z| z.range_by_score(min, high, offset, count))
                    .unwrap_or_default(),
            ),
            Command::ZCard(key) => {
                Reply::Int(as_zset(&key, state.get(&key))?.map_or(0, |z| z.len() as i64))
            }
            Command::Del(keys) => {
                Reply::Int(keys.iter().filter(|k| state.remove(k)).count() as i64)
            }
            Command::Exists(key) => Reply::Bool(state.entries.contains(&key)),
            Command::Expire(key, ttl) => {
                let exists = state.entries.contains(&key);
                if exists {
                    state.set_expiry(&key, Some(Instant::now() + ttl));
                }
                Reply::Bool(exists)
            }
            Command::Persist(key) => {
                let had_ttl = state
                    .entries
                    .peek(&key)
                    .is_some_and(|e| e.expires_at.is_some());
                if had_ttl {
                    state.set_expiry(&key, None);
                }
                Reply::Bool(had_ttl)
            }
            Command::Ttl(key) => Reply::Ttl(match state.entries.peek(&key) {
                None => KeyTtl::Missing,
                Some(Entry {
                    expires_at: None, ..
                }) => KeyTtl::Persistent,
                Some(Entry {
                    expires_at: Some(at),
                    ..
                }) => KeyTtl::Expires(at.saturating_duration_since(Instant::now())),
            }),
            Command::CompareAndDelete(key, expected) => {
                let matches = matches!(state.entries.peek(&key), Some(Entry { value: Value::Str(v), .. }) if *v == expected);
                if matches {
                    state.remove(&key);
                }
                Reply::Bool(matches)
            }
            Command::CompareAndExpire(key, expected, ttl) => {
                let matches = matches!(state.entries.peek(&key), Some(Entry { value: Value::Str(v), .. }) if *v == expected);
                if matches {
                    state.set_expiry(&key, Some(Instant::now() + ttl));
                }
                Reply::Bool(matches)
            }
            Command::TokenBucket(key, bucket) => {
                let previous = match state.get(&key) {
                    Some(Value::Hash(h)) => {
                        let read = |f: &str| {
                            h.get(f)
                                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<f64>().ok())
                        };
                        read("tokens").zip(read("ts").map(|ts| ts as i64))
                    }
                    Some(other) => return Err(wrong_type(&key, "hash", other)),
                    None => None,
                };
                let (decision, (tokens, ts)) = bucket_step(&bucket, previous, now_micros());
                let fields = HashMap::from([
                    ("tokens".to_owned(), tokens.to_string().into_bytes()),
                    ("ts".to_owned(), ts.to_string().into_bytes()),
                ]);
                state.put(
                    &key,
                    Value::Hash(fields),
                    Some(bucket.idle_ttl()),
                    false,
                    max,
                );
                Reply::Decision(decision)
            }
        };
        Ok(reply)
    }

    async fn close(&self) {}
}
