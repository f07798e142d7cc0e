//! Checks of what clients send: item keys and values, and namespace content in its format
//! (an invalid document is refused with where it is wrong).

use crate::model::{CONTENT_KEY, MAX_KEY_LEN, MAX_VALUE_BYTES};
use crate::{Error, Format, Result};

/// Checks an item key of a `properties` namespace.
pub(crate) fn item_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Error::Invalid(format!(
            "item key must be 1 to {MAX_KEY_LEN} bytes; got {} bytes",
            key.len()
        )));
    }
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::Invalid(format!(
            "item key {key:?} must not contain whitespace or control characters"
        )));
    }
    Ok(())
}

/// Checks an item for a namespace of `format`.
pub(crate) fn item(format: Format, key: &str, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::Invalid(format!(
            "value of {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    if format == Format::Properties {
        return item_key(key);
    }
    if key != CONTENT_KEY {
        return Err(Error::Invalid(format!(
            "a {format} namespace holds one item, {CONTENT_KEY:?}, with the whole document; got key {key:?}"
        )));
    }
    content(format, value)
}

/// Checks a whole document against its format.
pub(crate) fn content(format: Format, text: &str) -> Result<()> {
    let invalid = |why: String| {
        Err(Error::Invalid(format!(
            "content is not valid {format}: {why}"
        )))
    };
    match format {
        Format::Properties | Format::Text => Ok(()),
        Format::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => Ok(()),
            Err(e) => invalid(format!("{e}")),
        },
        Format::Yaml => match yaml_rust2::YamlLoader::load_from_str(text) {
            Ok(_) => Ok(()),
            Err(e) => invalid(format!(
                "{} at line {} column {}",
                e.info(),
                e.marker().line(),
                e.marker().col() + 1
            )),
        },
        Format::Xml => match roxmltree::Document::parse(text) {
            Ok(_) => Ok(()),
            Err(e) => invalid(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_checked_and_errors_say_where() {
        content(Format::Json, r#"{"a": [1, 2]}"#).unwrap();
        let err = content(Format::Json, "{\"a\": [1, 2}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1 column"), "{err}");
        content(Format::Yaml, "a:\n  b: 1\n").unwrap();
        let err = content(Format::Yaml, "a: [1, 2\nb: 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line"), "{err}");
        content(Format::Xml, "<a><b/></a>").unwrap();
        let err = content(Format::Xml, "<a><b></a>").unwrap_err().to_string();
        assert!(err.contains("1:"), "{err}");
    }

    #[test]
    fn items_follow_their_namespace_format() {
        item(Format::Properties, "db.url", "x").unwrap();
        assert!(item(Format::Properties, "bad key", "x").is_err());
        assert!(item(Format::Properties, "", "x").is_err());
        assert!(item(Format::Json, "other", "{}").is_err());
        item(Format::Json, CONTENT_KEY, "{}").unwrap();
        assert!(item(Format::Json, CONTENT_KEY, "{").is_err());
    }
}
