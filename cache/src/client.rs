//! The one implementation of [`Provider`]: validates input, applies the namespace and the
//! Context deadline, sends a [`Command`] to the backend and types its reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keel_clog::{Context, Logger};

use crate::backend::Backend;
use crate::command::{Command, Reply};
use crate::provider::{MAX_KEY_BYTES, Provider};
use crate::types::{Bucket, KeyTtl, TokenDecision};
use crate::{Error, Result};

/// Longest hash field or set member.
const MAX_MEMBER_BYTES: usize = 64 * 1024;

pub(crate) struct Cache {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) namespace: String,
    pub(crate) request_timeout: Duration,
    pub(crate) max_value_bytes: usize,
    pub(crate) logger: Logger,
    pub(crate) closed: AtomicBool,
}

fn unexpected(reply: Reply) -> Error {
    Error::Unavailable(format!("unexpected reply from the backend: {reply:?}"))
}

fn check_member(what: &'static str, value: &str) -> Result<()> {
    if value.len() > MAX_MEMBER_BYTES {
        return Err(Error::InvalidKey {
            key: value.chars().take(64).collect(),
            reason: what,
        });
    }
    Ok(())
}

fn check_ttl(ttl: Duration) -> Result<()> {
    if ttl < Duration::from_millis(1) || ttl > Duration::from_secs(10 * 365 * 86_400) {
        return Err(Error::InvalidArgument(format!(
            "TTL {ttl:?} must be between 1ms and 10 years"
        )));
    }
    Ok(())
}

impl Cache {
    fn key(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(Error::InvalidKey {
                key: String::new(),
                reason: "empty",
            });
        }
        let full = format!("{}{key}", self.namespace);
        if full.len() > MAX_KEY_BYTES {
            return Err(Error::InvalidKey {
                key: key.chars().take(64).collect(),
                reason: "longer than 1024 bytes with the namespace",
            });
        }
        Ok(full)
    }

    /// Validates a string write (key, value size, TTL) and returns the full key.
    fn write(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<String> {
        let full = self.key(key)?;
        self.value(key, value)?;
        ttl.map_or(Ok(()), check_ttl)?;
        Ok(full)
    }

    fn keys(&self, keys: &[&str]) -> Result<Vec<String>> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument("at least one key is needed".into()));
        }
        keys.iter().map(|k| self.key(k)).collect()
    }

    fn value(&self, key: &str, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(Error::ValueTooLarge {
                key: key.to_owned(),
                size: value.len(),
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }

    fn members(&self, members: &[&str]) -> Result<Vec<String>> {
        if members.is_empty() {
            return Err(Error::InvalidArgument(
                "at least one member or field is needed".into(),
            ));
        }
        members
            .iter()
            .map(|m| {
                check_member("member or field longer than 64 KiB", m).map(|()| (*m).to_owned())
            })
            .collect()
    }

    async fn run(&self, ctx: &Context, command: Command) -> Result<Reply> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        match ctx
            .with_timeout(self.request_timeout)
            .run(self.backend.execute(command))
            .await
        {
            Ok(reply) => reply,
            Err(keel_clog::Error::Cancelled) => Err(Error::Cancelled),
            Err(_) => Err(Error::DeadlineExceeded),
        }
    }

    async fn int(&self, ctx: &Context, command: Command) -> Result<i64> {
        match self.run(ctx, command).await? {
            Reply::Int(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn count(&self, ctx: &Context, command: Command) -> Result<u64> {
        Ok(self.int(ctx, command).await?.max(0) as u64)
    }

    async fn boolean(&self, ctx: &Context, command: Command) -> Result<bool> {
        match self.run(ctx, command).await? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    async fn opt_bytes(&self, ctx: &Context, command: Command) -> Result<Option<Vec<u8>>> {
        match self.run(ctx, command).await? {
            Reply::OptBytes(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    async fn scored(&self, ctx: &Context, command: Command) -> Result<Vec<(String, f64)>> {
        match self.run(ctx, command).await? {
            Reply::Scored(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    async fn members_reply(&self, ctx: &Context, command: Command) -> Result<Vec<String>> {
        match self.run(ctx, command).await? {
            Reply::Members(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }
}

#[async_trait]
impl Provider for Cache {
    async fn get(&self, ctx: &Context, key: &str) -> Result<Option<Vec<u8>>> {
        self.opt_bytes(ctx, Command::Get(self.key(key)?)).await
    }

    async fn set(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let full = self.write(key, &value, ttl)?;
        self.boolean(
            ctx,
            Command::Set {
                key: full,
                value,
                ttl,
                only_if_absent: false,
            },
        )
        .await?;
        Ok(())
    }

    async fn set_nx(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let full = self.write(key, &value, ttl)?;
        self.boolean(
            ctx,
            Command::Set {
                key: full,
                value,
                ttl,
                only_if_absent: true,
            },
        )
        .await
    }

    async fn set_if_absent_get(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>> {
        let full = self.write(key, &value, ttl)?;
        self.opt_bytes(
            ctx,
            Command::SetIfAbsentGet {
                key: full,
                value,
                ttl,
            },
        )
        .await
    }

    async fn incr_by(&self, ctx: &Context, key: &str, delta: i64) -> Result<i64> {
        self.int(ctx, Command::IncrBy(self.key(key)?, delta)).await
    }

    async fn mget(&self, ctx: &Context, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        match self.run(ctx, Command::MGet(self.keys(keys)?)).await? {
            Reply::ManyOptBytes(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    async fn mset(&self, ctx: &Context, pairs: &[(&str, Vec<u8>)]) -> Result<()> {
        if pairs.is_empty() {
            return Err(Error::InvalidArgument(
                "mset needs at least one pair".into(),
            ));
        }
        let mut full = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            self.value(k, v)?;
            full.push((self.key(k)?, v.clone()));
        }
        self.run(ctx, Command::MSet(full)).await?;
        Ok(())
    }

    async fn hset(&self, ctx: &Context, key: &str, fields: &[(&str, Vec<u8>)]) -> Result<u64> {
        let full = self.key(key)?;
        let names: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
        let names = self.members(&names)?;
        let mut pairs = Vec::with_capacity(fields.len());
        for (name, (_, v)) in names.into_iter().zip(fields) {
            self.value(key, v)?;
            pairs.push((name, v.clone()));
        }
        self.count(ctx, Command::HSet(full, pairs)).await
    }

    async fn hget(&self, ctx: &Context, key: &str, field: &str) -> Result<Option<Vec<u8>>> {
        check_member("field longer than 64 KiB", field)?;
        self.opt_bytes(ctx, Command::HGet(self.key(key)?, field.to_owned()))
            .await
    }

    async fn hgetall(&self, ctx: &Context, key: &str) -> Result<Vec<(String, Vec<u8>)>> {
        match self.run(ctx, Command::HGetAll(self.key(key)?)).await? {
            Reply::Fields(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    async fn hdel(&self, ctx: &Context, key: &str, fields: &[&str]) -> Result<u64> {
        self.count(ctx, Command::HDel(self.key(key)?, self.members(fields)?))
            .await
    }

    async fn hincr_by(&self, ctx: &Context, key: &str, field: &str, delta: i64) -> Result<i64> {
        check_member("field longer than 64 KiB", field)?;
        self.int(
            ctx,
            Command::HIncrBy(self.key(key)?, field.to_owned(), delta),
        )
        .await
    }

    async fn sadd(&self, ctx: &Context, key: &str, members: &[&str]) -> Result<u64> {
        self.count(ctx, Command::SAdd(self.key(key)?, self.members(members)?))
            .await
    }

    async fn srem(&self, ctx: &Context, key: &str, members: &[&str]) -> Result<u64> {
        self.count(ctx, Command::SRem(self.key(key)?, self.members(members)?))
            .await
    }

    async fn smembers(&self, ctx: &Context, key: &str) -> Result<Vec<String>> {
        self.members_reply(ctx, Command::SMembers(self.key(key)?))
            .await
    }

    async fn sismember(&self, ctx: &Context, key: &str, member: &str) -> Result<bool> {
        check_member("member longer than 64 KiB", member)?;
        self.boolean(ctx, Command::SIsMember(self.key(key)?, member.to_owned()))
            .await
    }

    async fn scard(&self, ctx: &Context, key: &str) -> Result<u64> {
        self.count(ctx, Command::SCard(self.key(key)?)).await
    }

    async fn zadd(&self, ctx: &Context, key: &str, members: &[(f64, &str)]) -> Result<u64> {
        let full = self.key(key)?;
        if members.iter().any(|(s, _)| s.is_nan()) {
            return Err(Error::InvalidArgument(
                "a sorted-set score must not be NaN".into(),
            ));
        }
        let names: Vec<&str> = members.iter().map(|(_, m)| *m).collect();
        let names = self.members(&names)?;
        let scored = members.iter().map(|(s, _)| *s).zip(names).collect();
        self.count(ctx, Command::ZAdd(full, scored)).await
    }

    async fn zrem(&self, ctx: &Context, key: &str, members: &[&str]) -> Result<u64> {
        self.count(ctx, Command::ZRem(self.key(key)?, self.members(members)?))
            .await
    }

    async fn zscore(&self, ctx: &Context, key: &str, member: &str) -> Result<Option<f64>> {
        check_member("member longer than 64 KiB", member)?;
        match self
            .run(ctx, Command::ZScore(self.key(key)?, member.to_owned()))
            .await?
        {
            Reply::Score(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    async fn zrange(
        &self,
        ctx: &Context,
        key: &str,
        start: i64,
        stop: i64,
    ) -> Result<Vec<(String, f64)>> {
        self.scored(ctx, Command::ZRangeByRank(self.key(key)?, start, stop))
            .await
    }

    async fn zrange_by_score(
        &self,
        ctx: &Context,
        key: &str,
        min: f64,
        max: f64,
        offset: usize,
        count: Option<usize>,
    ) -> Result<Vec<(String, f64)>> {
        if min.is_nan() || max.is_nan() {
            return Err(Error::InvalidArgument(
                "score bounds must not be NaN".into(),
            ));
        }
        let key = self.key(key)?;
        self.scored(
            ctx,
            Command::ZRangeByScore {
                key,
                min,
                max,
                offset,
                count,
            },
        )
        .await
    }

    async fn zcard(&self, ctx: &Context, key: &str) -> Result<u64> {
        self.count(ctx, Command::ZCard(self.key(key)?)).await
    }

    async fn del(&self, ctx: &Context, keys: &[&str]) -> Result<u64> {
        self.count(ctx, Command::Del(self.keys(keys)?)).await
    }

    async fn exists(&self, ctx: &Context, key: &str) -> Result<bool> {
        self.boolean(ctx, Command::Exists(self.key(key)?)).await
    }

    async fn expire(&self, ctx: &Context, key: &str, ttl: Duration) -> Result<bool> {
        check_ttl(ttl)?;
        self.boolean(ctx, Command::Expire(self.key(key)?, ttl))
            .await
    }

    async fn persist(&self, ctx: &Context, key: &str) -> Result<bool> {
        self.boolean(ctx, Command::Persist(self.key(key)?)).await
    }

    async fn ttl(&self, ctx: &Context, key: &str) -> Result<KeyTtl> {
        match self.run(ctx, Command::Ttl(self.key(key)?)).await? {
            Reply::Ttl(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    async fn compare_and_delete(&self, ctx: &Context, key: &str, expected: &[u8]) -> Result<bool> {
        self.boolean(
            ctx,
            Command::CompareAndDelete(self.key(key)?, expected.to_vec()),
        )
        .await
    }

    async fn compare_and_expire(
        &self,
        ctx: &Context,
        key: &str,
        expected: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        check_ttl(ttl)?;
        self.boolean(
            ctx,
            Command::CompareAndExpire(self.key(key)?, expected.to_vec(), ttl),
        )
        .await
    }

    async fn token_bucket(
        &self,
        ctx: &Context,
        key: &str,
        bucket: Bucket,
    ) -> Result<TokenDecision> {
        bucket.validate()?;
        match self
            .run(ctx, Command::TokenBucket(self.key(key)?, bucket))
            .await?
        {
            Reply::Decision(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    fn logger(&self) -> &Logger {
        &self.logger
    }

    async fn close(&self) -> Result<()> {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.backend.close().await;
        }
        Ok(())
    }
}
