//! What the provider asks a backend to do. Keys here are full keys (namespace included) and
//! already validated; a backend only executes.

use std::time::Duration;

use crate::types::{Bucket, KeyTtl, TokenDecision};

/// One cache command.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Get(String),
    /// `SET key value [PX ttl] [NX]`; replies `Bool` (false when NX found the key).
    Set {
        key: String,
        value: Vec<u8>,
        ttl: Option<Duration>,
        only_if_absent: bool,
    },
    /// Set if absent, else return the existing value; replies `OptBytes(existing)`.
    SetIfAbsentGet {
        key: String,
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    IncrBy(String, i64),
    MGet(Vec<String>),
    MSet(Vec<(String, Vec<u8>)>),
    HSet(String, Vec<(String, Vec<u8>)>),
    HGet(String, String),
    HGetAll(String),
    HDel(String, Vec<String>),
    HIncrBy(String, String, i64),
    SAdd(String, Vec<String>),
    SRem(String, Vec<String>),
    SMembers(String),
    SIsMember(String, String),
    SCard(String),
    ZAdd(String, Vec<(f64, String)>),
    ZRem(String, Vec<String>),
    ZScore(String, String),
    /// Members by rank, `start..=stop`, negative counting from the end (as Redis).
    ZRangeByRank(String, i64, i64),
    /// Members with `min <= score <= max`, skipping `offset`, at most `count`.
    ZRangeByScore {
        key: String,
        min: f64,
        max: f64,
        offset: usize,
        count: Option<usize>,
    },
    ZCard(String),
    Del(Vec<String>),
    Exists(String),
    Expire(String, Duration),
    Persist(String),
    Ttl(String),
    /// Deletes `key` only if it holds `expected`.
    CompareAndDelete(String, Vec<u8>),
    /// Sets the TTL of `key` only if it holds `expected`.
    CompareAndExpire(String, Vec<u8>, Duration),
    TokenBucket(String, Bucket),
}

/// A backend's answer; the provider converts it to the method's return type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Bool(bool),
    Int(i64),
    OptBytes(Option<Vec<u8>>),
    ManyOptBytes(Vec<Option<Vec<u8>>>),
    Fields(Vec<(String, Vec<u8>)>),
    Members(Vec<String>),
    Scored(Vec<(String, f64)>),
    Score(Option<f64>),
    Ttl(KeyTtl),
    Decision(TokenDecision),
    Done,
}
