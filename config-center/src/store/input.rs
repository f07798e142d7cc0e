//! Checks the store makes itself, although the API validates first: they keep every engine
//! storing exactly the same thing, so nothing is accepted on one engine and mangled or
//! refused on another.

use crate::{Error, MAX_KEY_LEN, MAX_VALUE_BYTES, Result, validate_name};

/// Longest release key, in characters (the column is `VARCHAR(191)`).
pub(super) const MAX_RELEASE_KEY_LEN: usize = 128;

/// A name of an env, app, cluster or namespace: `[A-Za-z0-9._-]{1,64}`.
pub(super) fn name(what: &str, value: &str) -> Result<()> {
    validate_name(what, value)
}

/// Free text (a value, comment, description, actor): at most [`MAX_VALUE_BYTES`] and no NUL
/// character, which PostgreSQL cannot store in text.
pub(super) fn text(what: &str, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::Invalid(format!(
            "{what} is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(Error::Invalid(format!(
            "{what} contains a NUL character, which cannot be stored"
        )));
    }
    Ok(())
}

/// A key that is compared and indexed (an item key, a release key): 1 to `max` characters,
/// no NUL, and no trailing space — MySQL's collations pad with spaces, so there `"a"` and
/// `"a "` would be one key.
fn indexed(what: &str, value: &str, max: usize) -> Result<()> {
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(Error::Invalid(format!(
            "{what} must be 1 to {max} characters; got {chars}"
        )));
    }
    if value.ends_with(' ') {
        return Err(Error::Invalid(format!(
            "{what} {value:?} must not end with a space"
        )));
    }
    text(what, value)
}

/// An item key: also no whitespace or control characters (keys end up in properties files,
/// environment variables and URLs).
pub(super) fn item_key(key: &str) -> Result<()> {
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::Invalid(format!(
            "item key {key:?} must not contain whitespace or control characters"
        )));
    }
    indexed("item key", key, MAX_KEY_LEN)
}

/// A release key.
pub(super) fn release_key(key: &str) -> Result<()> {
    indexed("release key", key, MAX_RELEASE_KEY_LEN)
}

/// An expected item version: `None` (any), `Some(0)` (absent) or a positive version.
pub(super) fn expected_version(version: Option<i64>) -> Result<()> {
    match version {
        Some(v) if v < 0 => Err(Error::Invalid(format!(
            "version {v} is negative: send the version you read, or 0 for a new item"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_would_differ_between_engines_are_refused() {
        item_key("a.b-c_d").unwrap();
        item_key("db.url").unwrap();
        item_key(&"é".repeat(MAX_KEY_LEN)).unwrap();
        for bad in ["", "a ", "a\0b", "bad key", "tab\tkey"] {
            assert!(matches!(item_key(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
        assert!(item_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        release_key("20240101-abc").unwrap();
        assert!(release_key("").is_err());
    }

    #[test]
    fn text_limits() {
        text("value", &"v".repeat(MAX_VALUE_BYTES)).unwrap();
        assert!(text("value", &"v".repeat(MAX_VALUE_BYTES + 1)).is_err());
        let err = text("comment", "a\0").unwrap_err().to_string();
        assert!(err.contains("comment") && err.contains("NUL"), "{err}");
        expected_version(None).unwrap();
        expected_version(Some(0)).unwrap();
        assert!(expected_version(Some(-1)).is_err());
    }
}
