//! Key rules, shared by every backend so that bad input fails the same way everywhere.

use std::time::Duration;

use crate::{Error, Result};

/// Longest key (namespace included).
pub const MAX_KEY_BYTES: usize = 1024;

/// A key: 1..=1024 bytes of printable ASCII without spaces.
pub(crate) fn validate_key(key: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidKey {
            key: key.chars().take(128).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("empty; use a path such as \"/config/app/x\"");
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid("longer than 1024 bytes");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid("only printable ASCII without spaces or control characters is allowed");
    }
    Ok(())
}

/// A TTL: whole seconds (rounded up, as etcd leases are), between 1 s and one day.
pub(crate) fn ttl_seconds(ttl: Duration) -> Result<i64> {
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(86_400) {
        return Err(Error::InvalidTtl(ttl));
    }
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    Ok(secs as i64)
}

/// Prefixes user keys with the provider's namespace and strips it from keys coming back.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    prefix: String,
}

impl Namespace {
    pub(crate) fn new(prefix: &str) -> Self {
        Namespace {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn full(&self, key: &str) -> Result<String> {
        validate_key(key)?;
        let full = format!("{}{}", self.prefix, key);
        validate_key(&full)?;
        Ok(full)
    }

    pub(crate) fn strip(&self, full: String) -> String {
        match full.strip_prefix(&self.prefix) {
            Some(rest) => rest.to_owned(),
            None => full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("/a/b").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("/a b").is_err());
        assert!(validate_key("/a\n").is_err());
        assert!(validate_key("/é").is_err());
        assert!(validate_key(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn ttls_round_up_to_seconds() {
        assert_eq!(ttl_seconds(Duration::from_millis(1500)).unwrap(), 2);
        assert_eq!(ttl_seconds(Duration::from_secs(3)).unwrap(), 3);
        assert!(ttl_seconds(Duration::ZERO).is_err());
        assert!(ttl_seconds(Duration::from_millis(999)).is_err());
        assert!(ttl_seconds(Duration::from_secs(86_401)).is_err());
    }

    #[test]
    fn namespace_round_trip() {
        let ns = Namespace::new("/t1");
        assert_eq!(ns.full("/a").unwrap(), "/t1/a");
        assert_eq!(ns.strip("/t1/a".into()), "/a");
    }
}
