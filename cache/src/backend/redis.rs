//! The distributed backend on Redis: one `ConnectionManager` (reconnects by itself after a
//! server restart), plain commands, and Lua scripts for the atomic primitives (`Script` loads
//! them with EVALSHA and falls back to EVAL on NOSCRIPT, e.g. after a restart).

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, RedisError, Script, cmd};

use super::Backend;
use crate::command::{Command, Reply};
use crate::redact::redact_url;
use crate::types::{KeyTtl, TokenDecision};
use crate::{Config, Error, Result};

/// Sets a string only if the key is absent; otherwise returns the existing value.
const SET_IF_ABSENT_GET: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return v end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return false
";

/// Deletes a string key only if it holds ARGV[1] (token-checked lock release).
const COMPARE_AND_DELETE: &str = r"
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Sets the TTL of a string key only if it holds ARGV[1] (token-checked lock renewal).
const COMPARE_AND_EXPIRE: &str = r"
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// The token bucket on the server's clock; mirrors `types::bucket_step` line by line.
/// KEYS[1] = bucket; ARGV = rate, burst, cost, key TTL in ms. Public (as
/// `keel_cache::TOKEN_BUCKET_SCRIPT`) so benchmarks can compare with a raw EVALSHA of it.
pub(crate) const TOKEN_BUCKET: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return {allowed, string.format('%.17g', tokens), wait}
";

pub(crate) struct RedisCache {
    connection: ConnectionManager,
    set_if_absent_get: Script,
    compare_and_delete: Script,
    compare_and_expire: Script,
    token_bucket: Script,
}

impl RedisCache {
    pub(crate) async fn connect(config: &Config) -> Result<Self> {
        let shown = redact_url(&config.url);
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            Error::InvalidConfig(format!("redis url {shown}: {}", redact(&e, &config.url)))
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.request_timeout))
            .set_number_of_retries(2);
        let connection = tokio::time::timeout(
            config.connect_timeout,
            ConnectionManager::new_with_config(client, manager_config),
        )
        .await
        .map_err(|_| {
            Error::Unavailable(format!(
                "connecting to redis {shown} took longer than {:?}",
                config.connect_timeout
            ))
        })?
        .map_err(|e| {
            Error::Unavailable(format!(
                "connecting to redis {shown}: {}",
                redact(&e, &config.url)
            ))
        })?;
        Ok(RedisCache {
            connection,
            set_if_absent_get: Script::new(SET_IF_ABSENT_GET),
            compare_and_delete: Script::new(COMPARE_AND_DELETE),
            compare_and_expire: Script::new(COMPARE_AND_EXPIRE),
            token_bucket: Script::new(TOKEN_BUCKET),
        })
    }

    async fn query<T: redis::FromRedisValue>(&self, key: &str, command: &Cmd) -> Result<T> {
        let mut connection = self.connection.clone();
        command
            .query_async(&mut connection)
            .await
            .map_err(|e| map_error(key, e))
    }
}

/// The error's text with any password from `url` removed.
fn redact(err: &RedisError, url: &str) -> String {
    let text = err.to_string();
    match url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
    {
        Some((userinfo, _)) => match userinfo.split_once(':') {
            Some((_, password)) if !password.is_empty() => text.replace(password, "***"),
            _ => text,
        },
        None => text,
    }
}

fn map_error(key: &str, err: RedisError) -> Error {
    match err.code() {
        Some("WRONGTYPE") => Error::WrongType {
            key: key.to_owned(),
            expected: "the command's type",
            actual: "different type",
        },
        Some("ERR")
            if err.to_string().contains("not an integer")
                || err.to_string().contains("overflow") =>
        {
            Error::NotAnInteger {
                key: key.to_owned(),
            }
        }
        _ => Error::Unavailable(format!("redis: {err}")),
    }
}

fn score_arg(score: f64) -> String {
    if score == f64::INFINITY {
        "+inf".into()
    } else if score == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        score.to_string()
    }
}

fn millis(d: std::time::Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

fn pairs_with_scores(flat: Vec<(String, f64)>) -> Reply {
    Reply::Scored(flat)
}

#[async_trait]
impl Backend for RedisCache {
    async fn execute(&self, command: Command) -> Result<Reply> {
        Ok(match command {
            Command::Get(key) => Reply::OptBytes(self.query(&key, cmd("GET").arg(&key)).await?),
            Command::Set {
                key,
                value,
                ttl,
                only_if_absent,
            } => {
                let mut c = cmd("SET");
                c.arg(&key).arg(value);
                if let Some(ttl) = ttl {
                    c.arg("PX").arg(millis(ttl));
                }
                if only_if_absent {
                    c.arg("NX");
                }
                let ok: Option<String> = self.query(&key, &c).await?;
                Reply::Bool(ok.is_some())
            }
            Command::SetIfAbsentGet { key, value, ttl } => {
                let ttl_ms = ttl.map_or(0, millis);
                let mut connection = self.connection.clone();
                let existing: Option<Vec<u8>> = self
                    .set_if_absent_get
                    .key(&key)
                    .arg(value)
                    .arg(ttl_ms)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| map_error(&key, e))?;
                Reply::OptBytes(existing)
            }
            Command::IncrBy(key, delta) => {
                Reply::Int(self.query(&key, cmd("INCRBY").arg(&key).arg(delta)).await?)
            }
            Command::MGet(keys) => {
                let first = keys.first().cloned().unwrap_or_default();
                Reply::ManyOptBytes(self.query(&first, cmd("MGET").arg(&keys)).await?)
            }
            Command::MSet(pairs) => {
                let first = pairs.first().map(|(k, _)| k.clone()).unwrap_or_default();
                let mut c = cmd("MSET");
                for (k, v) in pairs {
                    c.arg(k).arg(v);
                }
                let () = self.query(&first, &c).await?;
                Reply::Done
            }
            Command::HSet(key, fields) => {
                let mut c = cmd("HSET");
                c.arg(&key);
                for (f, v) in fields {
                    c.arg(f).arg(v);
                }
                Reply::Int(self.query(&key, &c).await?)
            }
            Command::HGet(key, field) => {
                Reply::OptBytes(self.query(&key, cmd("HGET").arg(&key).arg(field)).await?)
            }
            Command::HGetAll(key) => {
                let mut fields: Vec<(String, Vec<u8>)> =
                    self.query(&key, cmd("HGETALL").arg(&key)).await?;
                fields.sort();
                Reply::Fields(fields)
            }
            Command::HDel(key, fields) => {
                Reply::Int(self.query(&key, cmd("HDEL").arg(&key).arg(fields)).await?)
            }
            Command::HIncrBy(key, field, delta) => Reply::Int(
                self.query(&key, cmd("HINCRBY").arg(&key).arg(field).arg(delta))
                    .await?,
            ),
            Command::SAdd(key, members) => {
                Reply::Int(self.query(&key, cmd("SADD").arg(&key).arg(members)).await?)
            }
            Command::SRem(key, members) => {
                Reply::Int(self.query(&key, cmd("SREM").arg(&key).arg(members)).await?)
            }
            Command::SMembers(key) => {
                let mut members: Vec<String> = self.query(&key, cmd("SMEMBERS").arg(&key)).await?;
                members.sort();
                Reply::Members(members)
            }
            Command::SIsMember(key, member) => Reply::Bool(
                self.query(&key, cmd("SISMEMBER").arg(&key).arg(member))
                    .await?,
            ),
            Command::SCard(key) => Reply::Int(self.query(&key, cmd("SCARD").arg(&key)).await?),
            Command::ZAdd(key, members) => {
                let mut c = cmd("ZADD");
                c.arg(&key);
                for (score, m) in members {
                    c.arg(score_arg(score)).arg(m);
                }
                Reply::Int(self.query(&key, &c).await?)
            }
            Command::ZRem(key, members) => {
                Reply::Int(self.query(&key, cmd("ZREM").arg(&key).arg(members)).await?)
            }
            Command::ZScore(key, member) => Reply::Score(
                self.query(&key, cmd("ZSCORE").arg(&key).arg(member))
                    .await?,
            ),
            Command::ZRangeByRank(key, start, stop) => pairs_with_scores(
                self.query(
                    &key,
                    cmd("ZRANGE")
                        .arg(&key)
                        .arg(start)
                        .arg(stop)
                        .arg("WITHSCORES"),
                )
                .await?,
            ),
            Command::ZRangeByScore {
                key,
                min,
                max,
                offset,
                count,
            } => {
                let mut c = cmd("ZRANGEBYSCORE");
                c.arg(&key)
                    .arg(score_arg(min))
                    .arg(score_arg(max))
                    .arg("WITHSCORES");
                if offset > 0 || count.is_some() {
                    c.arg("LIMIT")
                        .arg(offset)
                        .arg(count.map_or(-1, |n| n as i64));
                }
                pairs_with_scores(self.query(&key, &c).await?)
            }
            Command::ZCard(key) => Reply::Int(self.query(&key, cmd("ZCARD").arg(&key)).await?),
            Command::Del(keys) => {
                let first = keys.first().cloned().unwrap_or_default();
                Reply::Int(self.query(&first, cmd("DEL").arg(&keys)).await?)
            }
            Command::Exists(key) => {
                let n: i64 = self.query(&key, cmd("EXISTS").arg(&key)).await?;
                Reply::Bool(n > 0)
            }
            Command::Expire(key, ttl) => Reply::Bool(
                self.query(&key, cmd("PEXPIRE").arg(&key).arg(millis(ttl)))
                    .await?,
            ),
            Command::Persist(key) => Reply::Bool(self.query(&key, cmd("PERSIST").arg(&key)).await?),
            Command::Ttl(key) => {
                let ms: i64 = self.query(&key, cmd("PTTL").arg(&key)).await?;
                Reply::Ttl(match ms {
                    -2 => KeyTtl::Missing,
                    -1 => KeyTtl::Persistent,
                    ms => KeyTtl::Expires(std::time::Duration::from_millis(ms.max(0) as u64)),
                })
            }
            Command::CompareAndDelete(key, expected) => {
                let mut connection = self.connection.clone();
                let n: i64 = self
                    .compare_and_delete
                    .key(&key)
                    .arg(expected)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| map_error(&key, e))?;
                Reply::Bool(n > 0)
            }
            Command::CompareAndExpire(key, expected, ttl) => {
                let mut connection = self.connection.clone();
                let n: i64 = self
                    .compare_and_expire
                    .key(&key)
                    .arg(expected)
                    .arg(millis(ttl))
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| map_error(&key, e))?;
                Reply::Bool(n > 0)
            }
            Command::TokenBucket(key, bucket) => {
                let mut connection = self.connection.clone();
                let (allowed, remaining, wait_us): (i64, String, i64) = self
                    .token_bucket
                    .key(&key)
                    .arg(bucket.rate)
                    .arg(bucket.burst)
                    .arg(bucket.cost)
                    .arg(millis(bucket.idle_ttl()))
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| map_error(&key, e))?;
                Reply::Decision(TokenDecision {
                    allowed: allowed == 1,
                    remaining: remaining.parse().unwrap_or(0.0),
                    retry_after: std::time::Duration::from_micros(wait_us.max(0) as u64),
                })
            }
        })
    }

    async fn close(&self) {
        // The connection closes when the last clone of the manager is dropped.
    }
}
